package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"haze/internal/pgtest"
	"haze/store"
)

// replicaDataset is the dataset of the replica benchmark, published from
// an export of cfg.replicaRows rows and reused between runs.
const replicaDataset = "bench_replicas"

// replicaQuery is the question of the replica benchmark, as serverQuery.
const replicaQuery = `SELECT cabin, COUNT(*) AS bookings FROM bench_replicas GROUP BY cabin`

// benchReplicas measures haze on a PostgreSQL catalog: query throughput
// of one and of two `haze serve` processes sharing it, and the cost of
// one charge transaction on the embedded DuckDB ledger and on the
// PostgreSQL one. It starts a throwaway PostgreSQL server with fsync on,
// and skips, saying why, without the PostgreSQL binaries.
func benchReplicas(ctx context.Context, cfg config) error {
	if cfg.replicaRequests <= 0 && cfg.ledgerCharges <= 0 {
		return nil
	}
	if _, err := pgtest.BinDir(); err != nil {
		fmt.Printf("\nreplicas on PostgreSQL: SKIPPED: %v\n", err)
		return nil
	}
	pg, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	defer pg.Stop()

	if cfg.replicaRequests > 0 {
		if err := benchReplicaThroughput(ctx, cfg, pg); err != nil {
			return err
		}
	}
	if cfg.ledgerCharges > 0 {
		if err := benchLedger(ctx, cfg, pg); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
	}
	return nil
}

// benchReplicaThroughput runs the HTTP load on one, then two, haze serve
// processes over one PostgreSQL catalog, and checks the ledger after each.
func benchReplicaThroughput(ctx context.Context, cfg config, pg *pgtest.Server) error {
	dataDir := filepath.Join(cfg.dir, "data")
	if err := ensureReplicaDataset(ctx, cfg); err != nil {
		return err
	}
	url, err := pg.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	admin, err := store.OpenURL(ctx, url, dataDir)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := copyVersions(ctx, dataDir, admin); err != nil {
		return err
	}

	fmt.Printf("\nreplicas on one PostgreSQL catalog: %d requests from %d concurrent clients, "+
		"1 in %d repeated, %d-row dataset\n", cfg.replicaRequests, cfg.httpClients, cachedEvery,
		cfg.replicaRows)
	var throughput []float64
	for _, n := range []int{1, 2} {
		var bases []string
		for i := range n {
			base, stop, err := startServe(ctx, cfg, url, dataDir, i)
			if err != nil {
				return err
			}
			defer stop()
			bases = append(bases, base)
		}
		name, key, err := benchAnalyst(ctx, admin, replicaDataset)
		if err != nil {
			return err
		}
		rcfg := cfg
		rcfg.httpRequests = cfg.replicaRequests
		results, wall, err := loadServer(ctx, rcfg, bases, key, replicaQuery)
		if err != nil {
			return err
		}
		var all []time.Duration
		fresh, spent := 0, 0.0
		for _, r := range results {
			all = append(all, r.latency)
			spent += r.answer.Spent.Epsilon
			if !r.answer.Cached {
				fresh++
			}
		}
		rps := float64(len(results)) / wall.Seconds()
		throughput = append(throughput, rps)
		fmt.Printf("  %d replica(s): %8.1f req/s   p50 %7.1f ms   p99 %7.1f ms\n", n, rps,
			ms(quantile(all, 0.5)), ms(quantile(all, 0.99)))
		if err := checkLedger(ctx, admin.DB(), name, fresh, spent); err != nil {
			return err
		}
		if _, err := admin.RevokeKey(ctx, name); err != nil {
			return err
		}
	}
	fmt.Printf("  ratio 2 replicas/1 replica: %.2fx; ledger matched the answers both times\n",
		throughput[1]/throughput[0])
	return nil
}

// ensureReplicaDataset publishes the replica benchmark's dataset into the
// bench data dir's embedded catalog, unless it is there already.
func ensureReplicaDataset(ctx context.Context, cfg config) error {
	cat, err := store.Open(ctx, filepath.Join(cfg.dir, "data"))
	if err != nil {
		return err
	}
	_, err = cat.Current(ctx, replicaDataset)
	cat.Close()
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	path, err := export(ctx, cfg, cfg.replicaRows)
	if err != nil {
		return err
	}
	_, err = runJob(cfg, path, replicaDataset, false)
	return err
}

// copyVersions publishes the replica dataset's versions of the embedded
// catalog in dataDir into cat; the Parquet files stay where they are.
func copyVersions(ctx context.Context, dataDir string, cat *store.Catalog) error {
	embedded, err := store.Open(ctx, dataDir)
	if err != nil {
		return err
	}
	versions, err := embedded.Versions(ctx, replicaDataset)
	embedded.Close()
	if err != nil {
		return err
	}
	for _, v := range versions {
		if err := cat.Publish(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// benchAnalyst creates a fresh analyst with a large grant on dataset.
func benchAnalyst(ctx context.Context, cat *store.Catalog, dataset string) (name, key string,
	err error) {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name = "bench-replica-" + hex.EncodeToString(suffix)
	if key, _, err = cat.CreateKey(ctx, name, store.RoleAnalyst); err != nil {
		return "", "", err
	}
	err = cat.SetGrant(ctx, name, dataset, store.Amount{Epsilon: 1e6, Delta: 1})
	return name, key, err
}

// checkLedger compares a principal's ledger with the answers it got.
func checkLedger(ctx context.Context, db *sql.DB, name string, fresh int, spent float64) error {
	var rows int
	var charged float64
	if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(epsilon), 0)
		FROM ledger WHERE principal = ?`, name).Scan(&rows, &charged); err != nil {
		return fmt.Errorf("reading the ledger: %w", err)
	}
	if rows != fresh || math.Abs(charged-spent) > 1e-6 {
		return fmt.Errorf("ledger holds %d charges for ε=%g, the answers report %d fresh for ε=%g",
			rows, charged, fresh, spent)
	}
	return nil
}

// startServe starts `haze serve` on the catalog URL (passed in the
// environment, not on the command line) and waits until it is ready.
func startServe(ctx context.Context, cfg config, url, dataDir string, i int) (string, func(),
	error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(cfg.dir, fmt.Sprintf("replica-%d.log", i))
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(cfg.haze, "serve", "--data-dir", dataDir, "--addr", addr,
		"--rate", "1000000", "--burst", "1000000",
		"--keyring", filepath.Join(cfg.dir, "keys", "keyring.json"))
	cmd.Env = append(os.Environ(), "CI=1", store.EnvCatalog+"="+url)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		logFile.Close()
	}

	base := "http://" + addr
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, stop, nil
			}
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			stop()
			return "", nil, fmt.Errorf("haze serve did not become ready (see %s)", logPath)
		}
		select {
		case <-ctx.Done():
			stop()
			return "", nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a loopback TCP port that was free when asked.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// benchLedger times charge transactions, each with its audit entry as the
// query route writes it, on a fresh DuckDB catalog and a fresh
// PostgreSQL one, alternating rounds, and prints the best of each.
func benchLedger(ctx context.Context, cfg config, pg *pgtest.Server) error {
	url, err := pg.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cfg.dir, "ledger-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	duck, err := store.Open(ctx, filepath.Join(dir, "duckdb"))
	if err != nil {
		return err
	}
	defer duck.Close()
	pgCat, err := store.OpenURL(ctx, url, filepath.Join(dir, "pg"))
	if err != nil {
		return err
	}
	defer pgCat.Close()

	perCharge := map[string][]time.Duration{}
	for round := range cfg.rounds {
		for _, side := range []struct {
			name string
			cat  *store.Catalog
		}{{"duckdb", duck}, {"postgres", pgCat}} {
			d, err := timeCharges(ctx, side.cat, round, cfg.ledgerCharges)
			if err != nil {
				return fmt.Errorf("%s: %w", side.name, err)
			}
			perCharge[side.name] = append(perCharge[side.name], d)
		}
	}
	d, p := best(perCharge["duckdb"]), best(perCharge["postgres"])
	fmt.Printf("\nledger: one charge transaction (balance, ledger row, audit entry, commit), "+
		"%d in a row, best of %d rounds\n", cfg.ledgerCharges, cfg.rounds)
	fmt.Printf("  %-28s %8.0f µs per charge\n", "embedded DuckDB", us(d))
	fmt.Printf("  %-28s %8.0f µs per charge\n", "PostgreSQL (fsync on)", us(p))
	fmt.Printf("  ratio PostgreSQL/DuckDB: %.2fx\n", p.Seconds()/d.Seconds())
	return nil
}

// timeCharges makes n fresh charges one after another and returns the
// mean time of one.
func timeCharges(ctx context.Context, cat *store.Catalog, round, n int) (time.Duration, error) {
	principal := fmt.Sprintf("ledger-%d", round)
	if err := cat.SetGrant(ctx, principal, "bench", store.Amount{Epsilon: 1e9, Delta: 1}); err != nil {
		return 0, err
	}
	allow := func(b store.Balance, cost store.Amount) error {
		if b.Granted == nil || b.Spent.Epsilon+cost.Epsilon > b.Granted.Epsilon {
			return errors.New("over budget")
		}
		return nil
	}
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("%s-%d", principal, i)
		ch := store.Charge{ID: id, Principal: principal, Dataset: "bench", Version: 1,
			Fingerprint: id, Query: replicaQuery, Cost: store.Amount{Epsilon: 0.1},
			Answer: []byte(`{"rows":[]}`)}
		_, _, err := cat.Charge(ctx, ch, allow, func(tx *sql.Tx, _ []byte, _ bool) error {
			_, err := cat.AppendAudit(ctx, tx, store.AuditEntry{Principal: principal,
				Role: store.RoleAnalyst, Action: "query", Dataset: "bench", Query: replicaQuery,
				Epsilon: 0.1, Outcome: store.OutcomeAllowed, Detail: "answered"})
			return err
		})
		if err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// us returns d in microseconds.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
