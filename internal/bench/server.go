package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"haze/anonymize"
	"haze/queries"
	"haze/server"
	"haze/store"
)

// serverQuery is the light question of the HTTP benchmark: counts by cabin
// over public groups, so each answer costs exactly its ε.
const serverQuery = `SELECT cabin, COUNT(*) AS bookings FROM bench GROUP BY cabin`

var serverCabins = []string{"economy", "premium_economy", "business", "first"}

// cachedEvery makes one request in cachedEvery repeat the same query,
// which after its first release comes from the ledger at no cost.
const cachedEvery = 2

// httpAnswer is what the benchmark reads of an answer.
type httpAnswer struct {
	Cached bool `json:"cached"`
	Spent  struct {
		Epsilon float64 `json:"epsilon"`
	} `json:"spent"`
}

// httpResult is one request of the benchmark.
type httpResult struct {
	latency time.Duration
	answer  httpAnswer
	err     error
}

// benchServer measures the query API over HTTP: an in-process server on
// loopback, cfg.httpClients concurrent analysts sharing one key, and
// cfg.httpRequests queries, half of them repeats. It then checks the
// budget: the ledger must hold one charge per fresh answer, summing to
// the ε the answers reported. It reads the dataset the pipeline benchmark
// published.
func benchServer(ctx context.Context, cfg config) error {
	if cfg.httpRequests <= 0 {
		return nil
	}
	if cfg.httpClients < 1 {
		return errors.New("http-clients must be >= 1")
	}
	cat, err := store.Open(ctx, filepath.Join(cfg.dir, "data"))
	if err != nil {
		return err
	}
	defer cat.Close()
	ring, err := anonymize.LoadKeyring(filepath.Join(cfg.dir, "keys", "keyring.json"))
	if err != nil {
		return err
	}
	eng, err := queries.NewEngine(cat, queries.Config{Keyring: ring})
	if err != nil {
		return err
	}
	defer eng.Close()

	// A fresh analyst per run, so the ledger figures are this run's only.
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "bench-http-" + hex.EncodeToString(suffix)
	key, _, err := cat.CreateKey(ctx, name, store.RoleAnalyst)
	if err != nil {
		return err
	}
	if err := cat.SetGrant(ctx, name, "bench", store.Amount{Epsilon: 1e6, Delta: 1}); err != nil {
		return err
	}

	// The server, on loopback, with a rate limit no client reaches.
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", RatePerSecond: 1e6, Burst: 1 << 20,
		Logger: slog.New(slog.DiscardHandler)}, cat, eng)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	shutdown := sync.OnceValue(func() error {
		cancel()
		return <-served
	})
	defer shutdown()

	results, wall, err := loadServer(ctx, cfg, []string{"http://" + ln.Addr().String()}, key,
		serverQuery)
	if err != nil {
		return err
	}
	if err := shutdown(); err != nil {
		return fmt.Errorf("stopping the server: %w", err)
	}

	// Latency and throughput.
	var all, fresh, cached []time.Duration
	var spent float64
	for _, r := range results {
		all = append(all, r.latency)
		spent += r.answer.Spent.Epsilon
		if r.answer.Cached {
			cached = append(cached, r.latency)
		} else {
			fresh = append(fresh, r.latency)
		}
	}
	fmt.Printf("\nHTTP query API: %d requests from %d concurrent clients, 1 in %d repeated\n",
		len(results), cfg.httpClients, cachedEvery)
	fmt.Printf("  throughput %8.1f req/s over %.2fs\n", float64(len(results))/wall.Seconds(),
		wall.Seconds())
	fmt.Printf("  %-24s p50 %8.1f ms   p99 %8.1f ms\n", "all", ms(quantile(all, 0.5)),
		ms(quantile(all, 0.99)))
	fmt.Printf("  %-24s p50 %8.1f ms   p99 %8.1f ms   (%d)\n", "fresh (charged)",
		ms(quantile(fresh, 0.5)), ms(quantile(fresh, 0.99)), len(fresh))
	fmt.Printf("  %-24s p50 %8.1f ms   p99 %8.1f ms   (%d)\n", "released before (free)",
		ms(quantile(cached, 0.5)), ms(quantile(cached, 0.99)), len(cached))

	// The budget: what the ledger charged against what the answers said.
	var rows int
	var charged float64
	if err := cat.DB().QueryRowContext(ctx, `SELECT count(*), coalesce(sum(epsilon), 0)
		FROM ledger WHERE principal = ?`, name).Scan(&rows, &charged); err != nil {
		return fmt.Errorf("reading the ledger: %w", err)
	}
	fmt.Printf("  ledger: %d charges, ε=%.6f; answers: %d fresh, spent ε=%.6f\n",
		rows, charged, len(fresh), spent)
	if rows != len(fresh) || math.Abs(charged-spent) > 1e-6 {
		return fmt.Errorf("ledger holds %d charges for ε=%g, the answers report %d fresh for ε=%g",
			rows, charged, len(fresh), spent)
	}
	fmt.Println("  budget check: ledger matches the answers")

	// The key served this run only.
	if _, err := cat.RevokeKey(ctx, name); err != nil {
		return err
	}
	return nil
}

// loadServer sends cfg.httpRequests queries (query, at ε varied to keep
// them fresh) from cfg.httpClients goroutines, spread over the servers at
// bases in turn, and returns every result with the wall time. The first
// error stops the run.
func loadServer(ctx context.Context, cfg config, bases []string, key, query string) ([]httpResult,
	time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.httpClients}}
	defer client.CloseIdleConnections()

	// Fresh queries differ by ε; a random offset keeps them fresh against
	// answers released by earlier runs on the same dataset version.
	var b [2]byte
	rand.Read(b[:])
	offset := float64(int(b[0])<<8|int(b[1])) * 1e-9

	results := make([]httpResult, cfg.httpRequests)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.httpClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(results) || failed.Load() {
					return
				}
				eps := 0.1
				if i%cachedEvery != 0 {
					eps = 0.2 + offset + float64(i)*1e-6
				}
				results[i] = queryServer(ctx, client, bases[i%len(bases)], key, query, eps)
				if results[i].err != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	for _, r := range results {
		if r.err != nil {
			return nil, 0, r.err
		}
	}
	return results, wall, nil
}

// queryServer sends one query and times it.
func queryServer(ctx context.Context, client *http.Client, base, key, query string,
	eps float64) httpResult {
	body, _ := json.Marshal(map[string]any{"sql": query, "epsilon": eps,
		"public_groups": map[string][]string{"cabin": serverCabins}})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/query", bytes.NewReader(body))
	if err != nil {
		return httpResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return httpResult{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	r := httpResult{latency: time.Since(start), err: err}
	if err != nil {
		return r
	}
	if resp.StatusCode != http.StatusOK {
		r.err = fmt.Errorf("query answered %d: %s", resp.StatusCode, data)
		return r
	}
	if err := json.Unmarshal(data, &r.answer); err != nil {
		r.err = fmt.Errorf("decoding answer: %w", err)
	}
	return r
}

// quantile returns the q-quantile of d (nearest rank), 0 when d is empty.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
