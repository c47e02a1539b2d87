package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"haze/anonymize"
	"haze/queries"
	"haze/store"
)

// benchQuery is the marketing question of the DP query benchmark, over
// the dataset it names.
const benchQuery = `SELECT destination, COUNT(*) AS bookings, SUM(fare_amount) AS revenue,
	AVG(ancillary_amount) AS avg_ancillary FROM %s GROUP BY destination`

// benchQueries measures the p50 latency of a fresh DP query against the
// same bounded SQL run directly in DuckDB, without noise, ledger or
// parsing, on the plain dataset the pipeline benchmark published; and the
// same DP query on the encrypted dataset against the plain one.
func benchQueries(ctx context.Context, cfg config) error {
	cat, err := store.Open(ctx, filepath.Join(cfg.dir, "data"))
	if err != nil {
		return err
	}
	defer cat.Close()
	for _, ds := range []string{"bench", "bench_plain"} {
		if err := cat.SetGrant(ctx, "bench", ds, store.Amount{Epsilon: 1e9, Delta: 1}); err != nil {
			return err
		}
	}
	ring, err := anonymize.LoadKeyring(filepath.Join(cfg.dir, "keys", "keyring.json"))
	if err != nil {
		return err
	}
	eng, err := queries.NewEngine(cat, queries.Config{Keyring: ring})
	if err != nil {
		return err
	}
	defer eng.Close()
	direct, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer direct.Close()

	// Every DP query is fresh: a different ε makes a different fingerprint,
	// so nothing comes from the cache of this run or of an earlier one.
	base := 0.5 + rand.Float64()*1e-3
	req := func(i int, dataset string) queries.Request {
		return queries.Request{Principal: "bench", SQL: fmt.Sprintf(benchQuery, dataset),
			Options: queries.Options{Epsilon: base + float64(i)*1e-9}}
	}
	var dpTimes, encTimes, sqlTimes []time.Duration
	for i := range cfg.queries {
		bounded, err := eng.Plan(ctx, req(i, "bench_plain"))
		if err != nil {
			return err
		}
		start := time.Now()
		rows, err := direct.QueryContext(ctx, bounded)
		if err != nil {
			return fmt.Errorf("bounded SQL: %w", err)
		}
		for rows.Next() {
		}
		rows.Close()
		sqlTimes = append(sqlTimes, time.Since(start))

		// The plain and the encrypted dataset take turns going first.
		plainThenEncrypted := []struct {
			dataset string
			times   *[]time.Duration
		}{{"bench_plain", &dpTimes}, {"bench", &encTimes}}
		if i%2 == 1 {
			slices.Reverse(plainThenEncrypted)
		}
		for _, side := range plainThenEncrypted {
			start = time.Now()
			a, err := eng.Query(ctx, req(i, side.dataset))
			if err != nil {
				return fmt.Errorf("dp query on %s: %w", side.dataset, err)
			}
			if a.Cached {
				return fmt.Errorf("dp query %d on %s came from the cache", i, side.dataset)
			}
			*side.times = append(*side.times, time.Since(start))
		}
	}

	d, s, e := p50(dpTimes), p50(sqlTimes), p50(encTimes)
	fmt.Printf("\nDP query on the %d-row dataset: COUNT, SUM, AVG by destination (%d alternating runs)\n",
		cfg.rows, cfg.queries)
	fmt.Printf("  %-44s p50 %8.1f ms\n", "haze DP query (parse, plan, noise, ledger)", ms(d))
	fmt.Printf("  %-44s p50 %8.1f ms\n", "same bounded SQL in DuckDB, no noise", ms(s))
	fmt.Printf("  ratio: %.2fx (target <= 1.30x)\n", d.Seconds()/s.Seconds())
	fmt.Printf("  %-44s p50 %8.1f ms\n", "haze DP query on the encrypted dataset", ms(e))
	fmt.Printf("  encryption at rest: %.2fx the plain dataset (target <= 1.10x)\n",
		e.Seconds()/d.Seconds())
	return nil
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
