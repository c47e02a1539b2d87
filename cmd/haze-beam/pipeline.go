package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"haze/pipeline/beamjob"
	"haze/store"
)

type pipelineConfig struct {
	job, dataDir, keyring, runner, memoryLimit string
	workers                                    int
	shardMB                                    int64
	shardRows                                  int64
}

func pipelineCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "pipeline", Short: "Run pseudonymisation jobs on Beam"}
	var cfg pipelineConfig
	run := &cobra.Command{
		Use:   "run --job FILE [flags] [-- beam flags]",
		Short: "Run a job spec on Beam: an export in, a pseudonymised dataset out",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := initBeam(args); err != nil {
				return err
			}
			return runPipeline(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := run.Flags()
	f.StringVar(&cfg.job, "job", "", "job spec file (YAML, required)")
	f.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(),
		"data directory holding the catalog and datasets ($"+EnvDataDir+")")
	f.StringVar(&cfg.keyring, "keyring", "", "keyring file on the launcher and every worker "+
		"(default: the spec's, or $HAZE_KEYRING)")
	f.StringVar(&cfg.runner, "runner", "prism", "Beam runner: prism, flink, spark, dataflow, universal")
	f.IntVar(&cfg.workers, "workers", 0, "shards one worker process works on at once (0: no limit)")
	f.Int64Var(&cfg.shardMB, "shard-mb", 64, "CSV and NDJSON shard size in MiB")
	f.Int64Var(&cfg.shardRows, "shard-rows", 500_000, "Parquet shard size in rows (whole row groups)")
	f.StringVar(&cfg.memoryLimit, "memory-limit", "256MB", "DuckDB memory limit per shard reader")
	cmd.AddCommand(run)
	return cmd
}

func runPipeline(ctx context.Context, cfg pipelineConfig, out io.Writer) error {
	if cfg.job == "" {
		return errors.New("--job is required")
	}
	if cfg.shardMB <= 0 || cfg.shardRows <= 0 {
		return errors.New("--shard-mb and --shard-rows must be > 0")
	}
	cat, err := store.Open(ctx, cfg.dataDir)
	if err != nil {
		return err
	}
	defer cat.Close()

	m, err := beamjob.Run(ctx, cfg.job, cat, beamjob.Options{Runner: cfg.runner,
		Workers: cfg.workers, ShardBytes: cfg.shardMB << 20, ShardRows: cfg.shardRows,
		MemoryLimit: cfg.memoryLimit, KeyringPath: cfg.keyring, Logger: newLogger()})
	if m != nil {
		m.Summary(out)
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", cfg.job, err)
	}
	return nil
}
