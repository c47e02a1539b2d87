package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"haze/queries"
	"haze/store"
)

// benchQuery is the marketing question of the DP query benchmark.
const benchQuery = `SELECT destination, COUNT(*) AS bookings, SUM(fare_amount) AS revenue,
	AVG(ancillary_amount) AS avg_ancillary FROM bench GROUP BY destination`

// benchQueries measures the p50 latency of a fresh DP query against the
// same bounded SQL run directly in DuckDB, without noise, ledger or
// parsing. It reads the dataset the pipeline benchmark published.
func benchQueries(ctx context.Context, cfg config) error {
	cat, err := store.Open(ctx, filepath.Join(cfg.dir, "data"))
	if err != nil {
		return err
	}
	defer cat.Close()
	if err := cat.SetGrant(ctx, "bench", "bench", store.Amount{Epsilon: 1e9, Delta: 1}); err != nil {
		return err
	}
	eng, err := queries.NewEngine(cat, queries.Config{})
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
	// so nothing comes from the cache.
	req := func(i int) queries.Request {
		return queries.Request{Principal: "bench", SQL: benchQuery,
			Options: queries.Options{Epsilon: 0.5 + float64(i)*1e-9}}
	}
	var dpTimes, sqlTimes []time.Duration
	for i := range cfg.queries {
		bounded, err := eng.Plan(ctx, req(i))
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

		start = time.Now()
		if _, err := eng.Query(ctx, req(i)); err != nil {
			return fmt.Errorf("dp query: %w", err)
		}
		dpTimes = append(dpTimes, time.Since(start))
	}

	d, s := p50(dpTimes), p50(sqlTimes)
	fmt.Printf("\nDP query on the %d-row dataset: COUNT, SUM, AVG by destination (%d alternating runs)\n",
		cfg.rows, cfg.queries)
	fmt.Printf("  %-44s p50 %8.1f ms\n", "haze DP query (parse, plan, noise, ledger)", ms(d))
	fmt.Printf("  %-44s p50 %8.1f ms\n", "same bounded SQL in DuckDB, no noise", ms(s))
	fmt.Printf("  ratio: %.2fx (target <= 1.30x)\n", d.Seconds()/s.Seconds())
	return nil
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
