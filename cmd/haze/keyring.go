package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"haze/anonymize"
)

func keyringCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keyring", Short: "Manage keyring files of named secret keys"}

	var out string
	var names []string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a keyring file with fresh random keys (mode 0600, never overwritten)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			ring, err := anonymize.InitKeyring(out, names)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s with keys: %v\n", out, ring.LogValue())
			return nil
		},
	}
	initCmd.Flags().StringVar(&out, "out", "", "keyring file to create (required)")
	initCmd.Flags().StringSliceVar(&names, "key", []string{"main"}, "names of the keys to create")
	cmd.AddCommand(initCmd)
	return cmd
}
