package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runBeamJob runs haze-beam on the bench job over export on prism, with
// one worker process limited to workers cores (GOMAXPROCS) and shards.
func runBeamJob(cfg config, export, dataset string, workers int, shardMB int64) (time.Duration, error) {
	abs, err := filepath.Abs(export)
	if err != nil {
		return 0, err
	}
	spec := filepath.Join(cfg.dir, "job-"+dataset+".yaml")
	if err := os.WriteFile(spec, []byte(fmt.Sprintf(benchSpec, abs, dataset, false)), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.Command(cfg.hazeBeam, "pipeline", "run", "--job", spec,
		"--data-dir", filepath.Join(cfg.dir, "data"), "--workers", fmt.Sprint(workers),
		"--shard-mb", fmt.Sprint(shardMB))
	cmd.Env = append(os.Environ(), "CI=1", fmt.Sprintf("GOMAXPROCS=%d", workers))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("haze-beam pipeline run: %v\n%s", err, out.String())
	}
	return time.Since(start), nil
}

// benchBeam times the Beam job on prism with one and two workers next to
// the local pipeline, alternating the three.
func benchBeam(ctx context.Context, cfg config) error {
	path, err := export(ctx, cfg, cfg.rows)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	// At least eight shards, so that two workers have work to share.
	shardMB := max(1, info.Size()/8/(1<<20))

	var local, one, two []time.Duration
	for range cfg.rounds {
		l, err := runJob(cfg, path, "bench", false)
		if err != nil {
			return err
		}
		local = append(local, l.wall)
		b1, err := runBeamJob(cfg, path, "bench_beam", 1, shardMB)
		if err != nil {
			return err
		}
		one = append(one, b1)
		b2, err := runBeamJob(cfg, path, "bench_beam", 2, shardMB)
		if err != nil {
			return err
		}
		two = append(two, b2)
	}

	l, b1, b2 := best(local), best(one), best(two)
	rows := float64(cfg.rows)
	fmt.Printf("\nbeam job on %d CSV rows, prism, %d MiB shards (best of %d alternating rounds)\n",
		cfg.rows, shardMB, cfg.rounds)
	fmt.Printf("  %-44s %8.2fs %12.0f rows/s\n", "haze pipeline run (local, all cores)",
		l.Seconds(), rows/l.Seconds())
	fmt.Printf("  %-44s %8.2fs %12.0f rows/s %10.0f rows/s/worker\n", "haze-beam on prism, 1 worker",
		b1.Seconds(), rows/b1.Seconds(), rows/b1.Seconds())
	fmt.Printf("  %-44s %8.2fs %12.0f rows/s %10.0f rows/s/worker\n", "haze-beam on prism, 2 workers",
		b2.Seconds(), rows/b2.Seconds(), rows/b2.Seconds()/2)
	fmt.Printf("  ratio beam(1 worker)/local: %.2fx, beam(2 workers)/local: %.2fx, "+
		"speed-up 1 -> 2 workers: %.2fx\n", b1.Seconds()/l.Seconds(), b2.Seconds()/l.Seconds(),
		b1.Seconds()/b2.Seconds())
	return nil
}
