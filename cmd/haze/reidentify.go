package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

// reidentifyCommand builds `haze reidentify`.
func reidentifyCommand() *cobra.Command {
	var dataDir, keyring string
	var req pipeline.ReidentifyRequest
	cmd := &cobra.Command{
		Use:   "reidentify",
		Short: "Print the value behind an encrypt token, with a reason, audited",
		Long: "Decrypts one token of an encrypt column with the key the dataset version\n" +
			"records. Columns of other actions are refused. Every attempt is audited\n" +
			"with who asked, why, the dataset, version and column, and a short hash of\n" +
			"the token; never the token or the value.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case req.Dataset == "":
				return errors.New("--dataset is required")
			case req.Column == "":
				return errors.New("--column is required")
			case req.Token == "":
				return errors.New("--token is required")
			case req.Reason == "":
				return errors.New("--reason is required: say why the value is needed")
			}
			ring, err := loadKeyring(keyring)
			if err != nil {
				return err
			}
			req.Role = store.RoleAdmin
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				value, err := pipeline.Reidentify(cmd.Context(), cat, ring, req)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), value)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	f.StringVar(&keyring, "keyring", "", "keyring file (default $"+anonymize.EnvKeyring+")")
	f.StringVar(&req.Dataset, "dataset", "", "dataset the token was seen in (required)")
	f.StringVar(&req.Column, "column", "", "its column, whose action must be encrypt (required)")
	f.StringVar(&req.Token, "token", "", "the token (required)")
	f.StringVar(&req.Reason, "reason", "", "why the value is needed, for the audit log (required)")
	f.IntVar(&req.Version, "version", 0, "dataset version (default: the current one)")
	f.StringVar(&req.Principal, "as", defaultPrincipal(), "who asks, for the audit log")
	return cmd
}
