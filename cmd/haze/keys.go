package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"haze/store"
)

func keysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create, list and revoke API keys"}
	var dataDir, name, role, id string
	addDataDir := func(c *cobra.Command) {
		c.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
		addCatalogFlag(c.Flags())
	}

	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key; it is printed once, on the last line of stdout",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || role == "" {
				return errors.New("--name and --role are required")
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				return createKey(cmd.Context(), cat, name, role, cmd.OutOrStdout(),
					cmd.ErrOrStderr())
			})
		},
	}
	addDataDir(create)
	create.Flags().StringVar(&name, "name", "", "principal the key authenticates as (required)")
	create.Flags().StringVar(&role, "role", "", "role: "+strings.Join(store.Roles, ", ")+" (required)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never the keys themselves)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				return listKeys(cmd.Context(), cat, cmd.OutOrStdout())
			})
		},
	}
	addDataDir(list)

	revoke := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke one API key by --id, or every key of a --name",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (id == "") == (name == "") {
				return errors.New("give exactly one of --id and --name")
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				return revokeKeys(cmd.Context(), cat, id, name, cmd.OutOrStdout())
			})
		},
	}
	addDataDir(revoke)
	revoke.Flags().StringVar(&id, "id", "", "ID of the key to revoke (key_...)")
	revoke.Flags().StringVar(&name, "name", "", "name whose keys to revoke")

	cmd.AddCommand(create, list, revoke)
	return cmd
}

// cliAudit records an act of the command line in the audit log.
func cliAudit(ctx context.Context, cat *store.Catalog, action, detail string) error {
	_, err := cat.AppendAudit(ctx, nil, store.AuditEntry{Principal: store.CLIPrincipal,
		Role: store.RoleAdmin, Action: action, Outcome: store.OutcomeAllowed, Detail: detail})
	if err != nil {
		return fmt.Errorf("recording %s in the audit log: %w", action, err)
	}
	return nil
}

func createKey(ctx context.Context, cat *store.Catalog, name, role string, out,
	msg io.Writer) error {
	secret, k, err := cat.CreateKey(ctx, name, role)
	if err != nil {
		return err
	}
	// A key the audit log does not know of must not be used.
	if err := cliAudit(ctx, cat, "keys.create",
		fmt.Sprintf("key %s role %s name %s", k.ID, k.Role, k.Name)); err != nil {
		if _, rerr := cat.RevokeKey(ctx, k.ID); rerr != nil {
			return fmt.Errorf("%w; key %s could not be revoked: %v", err, k.ID, rerr)
		}
		return fmt.Errorf("%w; key %s was revoked", err, k.ID)
	}

	fmt.Fprintf(msg, "created key %s for %s, role %s.\n", k.ID, k.Name, k.Role)
	fmt.Fprintln(msg, "The key follows. Store it now: it is not shown again, "+
		"and haze keeps only its hash.")
	fmt.Fprintln(out, secret)
	return nil
}

func listKeys(ctx context.Context, cat *store.Catalog, out io.Writer) error {
	keys, err := cat.Keys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role,
			k.CreatedAt.Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

func revokeKeys(ctx context.Context, cat *store.Catalog, id, name string, out io.Writer) error {
	// Find the keys about to go, so that --id never matches a name nor
	// --name an ID, and the audit entry names each key with its role.
	keys, err := cat.Keys(ctx)
	if err != nil {
		return err
	}
	var revoking []string
	for _, k := range keys {
		if k.RevokedAt == nil && ((id != "" && k.ID == id) || (id == "" && k.Name == name)) {
			revoking = append(revoking, k.ID+" role "+k.Role)
		}
	}
	target, what := id, "key "+id
	if id == "" {
		target, what = name, "keys of "+name
	}
	if len(revoking) == 0 {
		return fmt.Errorf("no valid %s: %w", what, store.ErrNotFound)
	}

	n, err := cat.RevokeKey(ctx, target)
	if err != nil {
		return err
	}
	detail := "revoked " + strings.Join(revoking, ", ")
	if id == "" {
		detail += " (name " + name + ")"
	}
	if err := cliAudit(ctx, cat, "keys.revoke", detail); err != nil {
		return fmt.Errorf("%d key(s) revoked, but %w", n, err)
	}
	fmt.Fprintf(out, "revoked %d key(s): %s\n", n, strings.Join(revoking, ", "))
	return nil
}
