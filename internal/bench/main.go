// Command bench measures haze against baselines on this machine and prints
// the figures. Every comparison runs both sides in the same process run,
// alternating, and reports their ratio, because shared machines are noisy.
//
// It is run by `make bench`; see -help for sizes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"haze/anonymize"
	"haze/pipeline/synth"
)

type config struct {
	haze     string // path of the haze binary
	hazeBeam string // path of the haze-beam binary
	suite    string // all, or beam for the Beam comparison only
	dir      string // work folder, kept between runs to reuse exports
	rows     int    // rows of the pipeline comparison export
	rssRows  int    // rows of the memory check export; 0 skips it
	rounds   int    // alternating rounds per comparison
	queries  int    // DP queries measured

	fedPartners, fedCells int // size of the federated round

	httpClients  int // concurrent clients of the HTTP benchmark
	httpRequests int // queries sent over HTTP; 0 skips the benchmark

	replicaRequests int // queries sent to replicas on PostgreSQL; 0 skips them
	replicaRows     int // rows of the replica benchmark's dataset
	ledgerCharges   int // charges timed per round on each ledger; 0 skips

	only map[string]bool // the parts to run; empty: all
}

// parts are the benchmark's parts, in the order they run.
var parts = []string{"pipeline", "queries", "server", "federated", "memory", "replicas"}

// runs reports whether part is to run.
func (c config) runs(part string) bool { return len(c.only) == 0 || c.only[part] }

func main() {
	var cfg config
	flag.StringVar(&cfg.haze, "haze", "bin/haze", "haze binary to measure")
	flag.StringVar(&cfg.hazeBeam, "haze-beam", "bin/haze-beam", "haze-beam binary (suite beam)")
	flag.StringVar(&cfg.suite, "suite", "all", "all, or beam: the Beam job next to the local pipeline")
	flag.StringVar(&cfg.dir, "dir", "build/bench", "work folder (exports are reused)")
	flag.IntVar(&cfg.rows, "rows", 2_000_000, "rows of the export for the pipeline comparison")
	flag.IntVar(&cfg.rssRows, "rss-rows", 10_000_000, "rows of the export for the memory check (0 skips)")
	flag.IntVar(&cfg.rounds, "rounds", 2, "alternating rounds per comparison")
	flag.IntVar(&cfg.queries, "queries", 21, "DP queries measured (p50)")
	flag.IntVar(&cfg.fedPartners, "fed-partners", 50, "partners of the federated round")
	flag.IntVar(&cfg.fedCells, "fed-cells", 10_000, "cells of the federated round (even)")
	flag.IntVar(&cfg.httpClients, "http-clients", 16, "concurrent clients of the HTTP benchmark")
	flag.IntVar(&cfg.httpRequests, "http-requests", 400, "queries sent over HTTP (0 skips)")
	flag.IntVar(&cfg.replicaRequests, "replica-requests", 400,
		"queries sent to 1 and to 2 replicas on PostgreSQL (0 skips)")
	flag.IntVar(&cfg.replicaRows, "replica-rows", 200_000, "rows of the replica benchmark's dataset")
	flag.IntVar(&cfg.ledgerCharges, "ledger-charges", 300,
		"charges timed per round on the DuckDB and PostgreSQL ledgers (0 skips)")
	only := flag.String("only", "", "comma-separated parts to run, of "+strings.Join(parts, ",")+
		" (default all; queries and server read the dataset pipeline publishes)")
	flag.Parse()
	if *only != "" {
		cfg.only = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			if !slices.Contains(parts, p) {
				fmt.Fprintf(os.Stderr, "bench: -only %s: use parts of %s\n", p, strings.Join(parts, ","))
				os.Exit(2)
			}
			cfg.only[p] = true
		}
	}

	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	ring := filepath.Join(cfg.dir, "keys", "keyring.json")
	if _, err := os.Stat(ring); os.IsNotExist(err) {
		if _, err := anonymize.InitKeyring(ring, []string{"crm-2026"}); err != nil {
			return err
		}
	}
	// A keyring kept from before encryption at rest gains a master key.
	if r, err := anonymize.LoadKeyring(ring); err != nil {
		return err
	} else if _, err := r.Master(); err != nil {
		if _, err := anonymize.Rotate(ring, anonymize.PurposeMaster, anonymize.MasterName); err != nil {
			return err
		}
	}

	fmt.Printf("haze bench on %s\n\n", time.Now().UTC().Format(time.RFC3339))
	if cfg.suite == "beam" {
		return benchBeam(ctx, cfg)
	}
	steps := []struct {
		part string
		run  func(context.Context, config) error
	}{
		{"pipeline", benchPipeline}, {"queries", benchQueries}, {"server", benchServer},
		{"federated", benchFederated}, {"memory", benchMemory}, {"replicas", benchReplicas},
	}
	for _, s := range steps {
		if !cfg.runs(s.part) {
			continue
		}
		if s.part == "memory" && cfg.rssRows <= 0 {
			continue
		}
		if err := s.run(ctx, cfg); err != nil {
			return fmt.Errorf("%s: %w", s.part, err)
		}
	}
	return nil
}

// export returns a generated CSV export of rows, writing it once.
func export(ctx context.Context, cfg config, rows int) (string, error) {
	path := filepath.Join(cfg.dir, "exports", fmt.Sprintf("crm-%d.csv", rows))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	if _, err := synth.WriteFile(ctx, path, synth.Options{Rows: rows, Seed: 2026}); err != nil {
		return "", err
	}
	fmt.Printf("generated %s in %.1fs\n", path, time.Since(start).Seconds())
	return path, nil
}
