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

func auditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the hash-chained audit log"}
	var dataDir, head string
	var after int64
	var limit int
	addDataDir := func(c *cobra.Command) {
		c.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
		addCatalogFlag(c.Flags())
	}

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit chain; exit 1 naming the first flawed entry",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				return verifyAudit(cmd.Context(), cat, head, cmd.OutOrStdout())
			})
		},
	}
	addDataDir(verify)
	verify.Flags().StringVar(&head, "head", "",
		"a head hash kept from `haze audit head`: the chain must still contain it")

	headCmd := &cobra.Command{
		Use:   "head",
		Short: "Print the last entry's seq and hash, to keep outside the data dir",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				seq, hash, err := cat.AuditHead(cmd.Context())
				if err != nil {
					return err
				}
				if seq == 0 {
					hash = store.GenesisHash
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d %s\n", seq, hash)
				return nil
			})
		},
	}
	addDataDir(headCmd)

	list := &cobra.Command{
		Use:   "list",
		Short: "List audit entries in order",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if after < 0 || limit < 0 {
				return errors.New("--after and --limit must be >= 0")
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				return listAudit(cmd.Context(), cat, after, limit, cmd.OutOrStdout())
			})
		},
	}
	addDataDir(list)
	list.Flags().Int64Var(&after, "after", 0, "only entries with seq above this")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many entries (0: all)")

	cmd.AddCommand(verify, headCmd, list)
	return cmd
}

func verifyAudit(ctx context.Context, cat *store.Catalog, head string, out io.Writer) error {
	p, err := cat.VerifyAudit(ctx, head)
	if err != nil {
		return err
	}
	if p != nil {
		fmt.Fprintf(out, "audit chain broken: %s\n", p)
		return errSilent
	}
	seq, hash, err := cat.AuditHead(ctx)
	if err != nil {
		return err
	}
	if seq == 0 {
		hash = store.GenesisHash
	}
	fmt.Fprintf(out, "audit chain intact: %d entries, head %s\n", seq, hash)
	return nil
}

func listAudit(ctx context.Context, cat *store.Catalog, after int64, limit int,
	out io.Writer) error {
	entries, err := cat.Audit(ctx, after, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tPRINCIPAL\tROLE\tACTION\tDATASET\tε\tδ\tOUTCOME\tDETAIL\tQUERY")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%g\t%g\t%s\t%s\t%s\n", e.Seq,
			e.At.Format(time.RFC3339), cell(e.Principal, 32), cell(e.Role, 16), cell(e.Action, 32),
			cell(e.Dataset, 32), e.Epsilon, e.Delta, cell(e.Outcome, 16), cell(e.Detail, 60),
			cell(e.Query, 60))
	}
	return tw.Flush()
}

// cell makes s fit one table cell: on one line, at most n runes, "-" when
// empty.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
