package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"haze/pipeline/synth"
)

func genCommand() *cobra.Command {
	var opts synth.Options
	var out, format string
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Write a synthetic airline CRM booking export",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			opts.Format = synth.Format(format)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			st, err := synth.WriteFile(cmd.Context(), out, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d bookings of %d passengers (%d dirty)\n",
				out, st.Rows, st.Passengers, st.DirtyRows)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.Rows, "rows", 200_000, "number of booking rows")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "random seed: same seed, same bytes")
	cmd.Flags().StringVar(&out, "out", "", "file to write (required)")
	cmd.Flags().StringVar(&format, "format", "csv", "csv, parquet or ndjson")
	cmd.Flags().BoolVar(&opts.Dirty, "dirty", false, "mix in the defects of real exports")
	return cmd
}
