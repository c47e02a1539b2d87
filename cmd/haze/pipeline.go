package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"haze/pipeline"
	"haze/store"
)

func pipelineCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "pipeline", Short: "Run pseudonymisation jobs"}

	var cfg pipelineConfig
	runCmd := &cobra.Command{
		Use:   "run",
		Short: "Run a job spec: an export in, a pseudonymised dataset out",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPipeline(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	runCmd.Flags().StringVar(&cfg.job, "job", "", "job spec file (YAML, required)")
	runCmd.Flags().StringVar(&cfg.dataDir, "data-dir", defaultDataDir(),
		"data directory holding the catalog and datasets ($"+EnvDataDir+")")
	addCatalogFlag(runCmd.Flags())
	runCmd.Flags().StringVar(&cfg.memoryLimit, "memory-limit", "512MB", "DuckDB memory limit")
	runCmd.Flags().IntVar(&cfg.workers, "workers", 0, "transform workers (0: one per CPU)")
	cmd.AddCommand(runCmd)
	return cmd
}

type pipelineConfig struct {
	job, dataDir, memoryLimit string
	workers                   int
}

func runPipeline(ctx context.Context, cfg pipelineConfig, out io.Writer) error {
	if cfg.job == "" {
		return errors.New("--job is required")
	}
	spec, err := pipeline.Load(cfg.job)
	if err != nil {
		return err
	}
	cat, err := store.OpenURL(ctx, catalogURL(), cfg.dataDir)
	if err != nil {
		return err
	}
	defer cat.Close()

	opts := pipeline.Options{Workers: cfg.workers, MemoryLimit: cfg.memoryLimit, Logger: newLogger()}
	if interactive() {
		opts.Progress = os.Stderr
	}
	m, err := pipeline.Run(ctx, spec, cat, opts)
	if m != nil {
		m.Summary(out)
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", spec.Name, err)
	}
	return nil
}
