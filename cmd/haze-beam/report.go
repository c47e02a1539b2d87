package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/queries"
	"haze/queries/beamreport"
	"haze/store"
)

type reportConfig struct {
	spec, dataDir, as, runner, format string
	keyring                           string
	maxEpsilon                        float64
}

func reportCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Run DP reports on Beam with Privacy on Beam"}
	var cfg reportConfig
	run := &cobra.Command{
		Use:   "run --spec FILE --as NAME [flags] [-- beam flags]",
		Short: "Compute a report spec's aggregates with DP, charge the budget, record the answer",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := initBeam(args); err != nil {
				return err
			}
			return runReport(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := run.Flags()
	f.StringVar(&cfg.spec, "spec", "", "report spec file (YAML, required)")
	f.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	f.StringVar(&cfg.as, "as", "", "principal whose budget is charged (required)")
	f.StringVar(&cfg.runner, "runner", "prism", "Beam runner: prism, flink, spark, dataflow, universal")
	f.StringVar(&cfg.keyring, "keyring", os.Getenv(anonymize.EnvKeyring), "keyring file on the "+
		"launcher and every worker, which opens the dataset's data key ($"+anonymize.EnvKeyring+")")
	f.StringVar(&cfg.format, "format", "table", "table or json")
	f.Float64Var(&cfg.maxEpsilon, "max-epsilon", 1, "per-report ε cap (as haze query's)")
	cmd.AddCommand(run)
	return cmd
}

func runReport(ctx context.Context, cfg reportConfig, out io.Writer) error {
	switch {
	case cfg.spec == "":
		return errors.New("--spec is required")
	case cfg.as == "":
		return errors.New("--as is required: the principal whose budget is charged")
	case cfg.format != "table" && cfg.format != "json":
		return fmt.Errorf("--format %q is not one of table, json", cfg.format)
	}
	spec, err := beamreport.Load(cfg.spec)
	if err != nil {
		return err
	}
	cat, err := store.Open(ctx, cfg.dataDir)
	if err != nil {
		return err
	}
	defer cat.Close()
	var ring *anonymize.Keyring
	if cfg.keyring != "" {
		if ring, err = anonymize.LoadKeyring(cfg.keyring); err != nil {
			return err
		}
	}
	eng, err := queries.NewEngine(cat, queries.Config{Keyring: ring,
		Limits: queries.Limits{MaxEpsilon: cfg.maxEpsilon}})
	if err != nil {
		return err
	}
	defer eng.Close()

	a, err := beamreport.Run(ctx, spec, cat, eng, beamreport.Options{Principal: cfg.as,
		Runner: cfg.runner, Logger: newLogger(), KeyringPath: cfg.keyring,
		Audit: func(tx *sql.Tx, a *queries.Answer) error {
			detail := "report " + spec.Name + ": answered on beam"
			if a.Cached {
				detail = "report " + spec.Name + ": released before, no charge"
			}
			_, err := cat.AppendAudit(ctx, tx, store.AuditEntry{Principal: cfg.as, Role: "analyst",
				Action: "query", Dataset: a.Dataset, Query: a.Query, Epsilon: a.Spent.Epsilon,
				Delta: a.Spent.Delta, Outcome: store.OutcomeAllowed, Detail: detail})
			return err
		}})
	if err != nil {
		var qe *queries.Error
		if errors.As(err, &qe) {
			return fmt.Errorf("%s (%s)", qe.Message, qe.Code)
		}
		return err
	}
	if cfg.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	}
	a.WriteTable(out)
	fmt.Fprintf(out, "\nrecorded as query %s; the same answer, free: haze query --as %s --epsilon %g",
		a.QueryID, cfg.as, spec.Epsilon)
	if spec.Delta > 0 {
		fmt.Fprintf(out, " --delta %g", spec.Delta)
	}
	fmt.Fprintf(out, " [bounds and groups as in the spec] %q\n", a.Query)
	return nil
}
