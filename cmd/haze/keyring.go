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

func keyringCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keyring", Short: "Manage keyring files of named secret keys"}

	var out string
	var names []string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a keyring file with fresh random keys and a master key (mode 0600, never overwritten)",
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
	cmd.AddCommand(initCmd, keyringListCommand(), keyringRotateCommand(), keyringRetireCommand())
	return cmd
}

func keyringListCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the keyring's keys by ID, purpose and age (never their secrets)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ring, err := loadKeyring(path)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPURPOSE\tCREATED\tPRIMARY")
			for _, k := range ring.Keys() {
				primary := ""
				if p, _ := primaryOf(ring, k); p.ID() == k.ID() {
					primary = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID(), k.Purpose(),
					k.Created().Format(time.DateTime), primary)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&path, "keyring", "", "keyring file ($"+anonymize.EnvKeyring+")")
	return cmd
}

func primaryOf(ring *anonymize.Keyring, k anonymize.Key) (anonymize.Key, error) {
	if k.Purpose() == anonymize.PurposeMaster {
		return ring.Master()
	}
	return ring.Key(k.Name())
}

func keyringRotateCommand() *cobra.Command {
	var path, name, dataDir string
	var master bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Add a new primary key of a name, or a new master key that rewraps every data key",
		Long: "rotate --name N adds a new primary key N: later jobs use it, published versions " +
			"keep the key they were written with. rotate --master adds a new master key and " +
			"rewraps the data keys of every version in --data-dir under it, without rewriting " +
			"any file; the old master can then be retired with haze keyring retire.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if master == (name != "") {
				return errors.New("give either --name or --master")
			}
			resolved, err := anonymize.ResolvePath(path)
			if err != nil {
				return err
			}
			if !master {
				k, err := anonymize.Rotate(resolved, anonymize.PurposeToken, name)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s, now the primary key %q\n", k.ID(), name)
				return nil
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				k, n, err := pipeline.RotateMaster(cmd.Context(), cat, resolved)
				if err != nil {
					return err
				}
				if _, err := cat.AppendAudit(cmd.Context(), nil, store.AuditEntry{
					Principal: store.CLIPrincipal, Role: store.RoleAdmin, Action: "keyring.rotate",
					Outcome: store.OutcomeAllowed,
					Detail:  fmt.Sprintf("new master %s, %d data keys rewrapped", k.ID(), n)}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added master %s and rewrapped %d data keys\n", k.ID(), n)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "keyring", "", "keyring file ($"+anonymize.EnvKeyring+")")
	f.StringVar(&name, "name", "", "name of the token key to rotate")
	f.BoolVar(&master, "master", false, "rotate the master key and rewrap the data keys")
	f.StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory whose data keys to rewrap ($"+
		EnvDataDir+")")
	return cmd
}

func keyringRetireCommand() *cobra.Command {
	var path, id, dataDir string
	cmd := &cobra.Command{
		Use:   "retire",
		Short: "Remove a key no dataset version of --data-dir needs any more",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--id is required (see haze keyring list)")
			}
			resolved, err := anonymize.ResolvePath(path)
			if err != nil {
				return err
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				if err := pipeline.RetireKey(cmd.Context(), cat, resolved, id); err != nil {
					return err
				}
				if _, err := cat.AppendAudit(cmd.Context(), nil, store.AuditEntry{
					Principal: store.CLIPrincipal, Role: store.RoleAdmin, Action: "keyring.retire",
					Outcome: store.OutcomeAllowed, Detail: "retired " + id}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "retired %s\n", id)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "keyring", "", "keyring file ($"+anonymize.EnvKeyring+")")
	f.StringVar(&id, "id", "", "ID of the key to retire (required)")
	f.StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	return cmd
}
