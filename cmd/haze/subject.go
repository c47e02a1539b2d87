package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

func subjectCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "subject", Short: "Data-subject rights over published datasets"}
	var dataDir, id, keyring string
	find := &cobra.Command{
		Use:   "find",
		Short: "Count a subject's rows per dataset and version (GDPR Art. 15), printing no data",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--id is required")
			}
			path, err := anonymize.ResolvePath(keyring)
			if err != nil {
				return err
			}
			ring, err := anonymize.LoadKeyring(path)
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				hits, err := pipeline.FindSubject(cmd.Context(), cat, ring, id)
				if err != nil {
					return err
				}
				if _, err := cat.AppendAudit(cmd.Context(), nil, store.AuditEntry{
					Principal: store.CLIPrincipal, Role: store.RoleAdmin, Action: "subject.find",
					Outcome: store.OutcomeAllowed, Detail: fmt.Sprintf("%d dataset versions searched", len(hits))}); err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "DATASET\tVERSION\tCURRENT\tROWS")
				for _, h := range hits {
					fmt.Fprintf(tw, "%s\t%d\t%v\t%d\n", h.Dataset, h.Version, h.Current, h.Rows)
				}
				return tw.Flush()
			})
		},
	}
	find.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	find.Flags().StringVar(&id, "id", "", "the subject's identifier in clear, as in the exports (required)")
	find.Flags().StringVar(&keyring, "keyring", "", "keyring file (default $"+anonymize.EnvKeyring+")")
	cmd.AddCommand(find)
	return cmd
}
