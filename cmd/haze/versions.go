package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

func datasetVersionsCommand() *cobra.Command {
	var dataDir, dataset, keyring string
	cmd := &cobra.Command{
		Use:   "versions",
		Short: "List a dataset's versions and which are readable, plain or shredded",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataset == "" {
				return errors.New("--dataset is required")
			}
			ring, err := optionalKeyring(keyring)
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				states, err := pipeline.VersionStates(cmd.Context(), cat, ring, dataset)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "VERSION\tCURRENT\tCREATED\tROWS\tENCRYPTION\tMASTER KEY\tSTATE")
				for _, s := range states {
					current := ""
					if s.Current {
						current = "yes"
					}
					state := s.State
					if s.State == pipeline.StateShredded {
						state += " " + s.ShreddedAt.Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.Version, current,
						s.CreatedAt.Format(time.DateTime), s.Rows, s.Encryption,
						dash(s.MasterKeyID), state)
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	f.StringVar(&dataset, "dataset", "", "dataset (required)")
	f.StringVar(&keyring, "keyring", "", "keyring, to check that each data key opens ($"+
		anonymize.EnvKeyring+")")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
