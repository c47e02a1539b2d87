package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

// datasetCmd is the parent of the commands that act on one published
// dataset as a whole; each subcommand is built by its own function.
func datasetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dataset", Short: "Act on published datasets"}
	cmd.AddCommand(datasetRekeyCmd(), datasetVersionsCommand())
	return cmd
}

// datasetRekeyCmd builds `haze dataset rekey`.
func datasetRekeyCmd() *cobra.Command {
	var dataDir, dataset, keyring string
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Move a dataset's encrypt columns to its key's primary key, as a new version",
		Long: "Re-encrypts the tokens of the current version's encrypt columns under the\n" +
			"primary key of the dataset's key name (after haze keyring rotate) and\n" +
			"publishes them atomically as a new version recording the new key ID.\n" +
			"Pseudonymized columns cannot be moved without the source: a dataset with\n" +
			"one is refused; re-run its job instead.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataset == "" {
				return fmt.Errorf("--dataset is required")
			}
			ring, err := loadKeyring(keyring)
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				r, err := pipeline.Rekey(cmd.Context(), cat, ring, dataset)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if r.Version == 0 {
					fmt.Fprintf(out, "%s: version %d is already under the primary key %s\n",
						r.Dataset, r.From, r.ToKey)
					return nil
				}
				detail := fmt.Sprintf("version %d to %d, key %s to %s, columns %s", r.From,
					r.Version, r.FromKey, r.ToKey, strings.Join(r.Columns, ","))
				if _, err := cat.AppendAudit(cmd.Context(), nil, store.AuditEntry{
					Principal: store.CLIPrincipal, Role: store.RoleAdmin, Action: "dataset.rekey",
					Dataset: r.Dataset, Outcome: store.OutcomeAllowed, Detail: detail}); err != nil {
					return fmt.Errorf("recording the rekey in the audit log: %w", err)
				}
				fmt.Fprintf(out, "%s: version %d published under %s (%d rows, columns %s); "+
					"version %d stays under %s\n", r.Dataset, r.Version, r.ToKey, r.Rows,
					strings.Join(r.Columns, ", "), r.From, r.FromKey)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	cmd.Flags().StringVar(&dataset, "dataset", "", "dataset to rekey (required)")
	cmd.Flags().StringVar(&keyring, "keyring", "", "keyring file (default $"+anonymize.EnvKeyring+")")
	return cmd
}
