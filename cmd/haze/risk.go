package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

func riskCommand() *cobra.Command {
	var dataDir, dataset, keyring string
	var spec anonymize.RiskSpec
	cmd := &cobra.Command{
		Use:   "risk",
		Short: "Report re-identification risk (k-anonymity, l-diversity) of a published dataset",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataset == "" {
				return errors.New("--dataset is required")
			}
			ring, err := optionalKeyring(keyring)
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				v, err := cat.Current(cmd.Context(), dataset)
				if err != nil {
					return err
				}
				r, err := pipeline.AssessVersion(cmd.Context(), cat, ring, v, spec)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "dataset %s version %d\n", dataset, v.Version)
				r.WriteTable(cmd.OutOrStdout())
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	addCatalogFlag(f)
	f.StringVar(&dataset, "dataset", "", "dataset (required)")
	f.StringVar(&keyring, "keyring", "", "keyring file, for encrypted datasets ($"+
		anonymize.EnvKeyring+")")
	f.StringSliceVar(&spec.QuasiIdentifiers, "qi", nil, "quasi-identifier columns (required)")
	f.Int64Var(&spec.K, "k", 5, "smallest class size wanted, in people")
	f.StringVar(&spec.Sensitive, "sensitive", "", "column whose diversity per class is reported")
	return cmd
}
