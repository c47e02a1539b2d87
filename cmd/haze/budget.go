package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"haze/dp"
	"haze/queries"
	"haze/store"
)

func budgetCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "budget", Short: "Grant, cap and show privacy budgets"}
	var dataDir, name, dataset string
	var eps, delta float64
	addCommon := func(c *cobra.Command) {
		c.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
		addCatalogFlag(c.Flags())
		c.Flags().StringVar(&dataset, "dataset", "", "dataset")
	}

	grant := &cobra.Command{
		Use:   "grant",
		Short: "Set a principal's total budget (ε, δ) on a dataset",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || dataset == "" {
				return errors.New("--name and --dataset are required")
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				if err := checkAmount(eps, delta); err != nil {
					return err
				}
				if err := requireDataset(cmd.Context(), cat, dataset); err != nil {
					return err
				}
				if err := cat.SetGrant(cmd.Context(), name, dataset, store.Amount{Epsilon: eps, Delta: delta}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "granted %s ε=%g δ=%g on %s\n", name, eps, delta, dataset)
				return nil
			})
		},
	}
	addCommon(grant)
	grant.Flags().StringVar(&name, "name", "", "principal (an analyst's key name)")
	grant.Flags().Float64Var(&eps, "epsilon", 0, "total ε (required)")
	grant.Flags().Float64Var(&delta, "delta", 0, "total δ")

	capCmd := &cobra.Command{
		Use:   "cap",
		Short: "Set a dataset's total budget over all principals together",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataset == "" {
				return errors.New("--dataset is required")
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				if err := checkAmount(eps, delta); err != nil {
					return err
				}
				if err := requireDataset(cmd.Context(), cat, dataset); err != nil {
					return err
				}
				if err := cat.SetCap(cmd.Context(), dataset, store.Amount{Epsilon: eps, Delta: delta}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "capped %s at ε=%g δ=%g\n", dataset, eps, delta)
				return nil
			})
		},
	}
	addCommon(capCmd)
	capCmd.Flags().Float64Var(&eps, "epsilon", 0, "total ε (required)")
	capCmd.Flags().Float64Var(&delta, "delta", 0, "total δ")

	show := &cobra.Command{
		Use:   "show",
		Short: "Show grants and caps with what was spent",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				return showBudgets(cmd.Context(), cat, name, dataset, cmd.OutOrStdout())
			})
		},
	}
	addCommon(show)
	show.Flags().StringVar(&name, "name", "", "only this principal")

	cmd.AddCommand(grant, capCmd, show)
	return cmd
}

func checkAmount(eps, delta float64) error {
	if err := (dp.Budget{Epsilon: eps, Delta: delta}).Validate(); err != nil {
		return fmt.Errorf("--%w", err)
	}
	return nil
}

func requireDataset(ctx context.Context, cat *store.Catalog, name string) error {
	if _, err := cat.Current(ctx, name); err != nil {
		return err
	}
	return nil
}

// withCatalog opens the catalog, the embedded one of dataDir or the one
// --catalog names, for f.
func withCatalog(ctx context.Context, dataDir string, f func(*store.Catalog) error) error {
	cat, err := store.OpenURL(ctx, catalogURL(), dataDir)
	if err != nil {
		return err
	}
	defer cat.Close()
	return f(cat)
}

// withEngine opens the catalog of dataDir and a query engine over it for
// f; the keyring at keyringPath (or $HAZE_KEYRING), when there is one,
// opens encrypted datasets.
func withEngine(ctx context.Context, dataDir, keyringPath string, limits queries.Limits,
	f func(*store.Catalog, *queries.Engine) error) error {
	ring, err := optionalKeyring(keyringPath)
	if err != nil {
		return err
	}
	return withCatalog(ctx, dataDir, func(cat *store.Catalog) error {
		eng, err := queries.NewEngine(cat, queries.Config{Limits: limits, Keyring: ring})
		if err != nil {
			return err
		}
		defer eng.Close()
		return f(cat, eng)
	})
}

func showBudgets(ctx context.Context, cat *store.Catalog, name, dataset string, out io.Writer) error {
	grants, err := cat.Grants(ctx, name, dataset)
	if err != nil {
		return err
	}
	caps, err := cat.Caps(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tDATASET\tε GRANTED\tε SPENT\tε LEFT\tδ GRANTED\tδ SPENT")
	for _, g := range grants {
		fmt.Fprintf(tw, "%s\t%s\t%g\t%.4g\t%.4g\t%g\t%.3g\n", g.Principal, g.Dataset,
			g.Granted.Epsilon, g.Spent.Epsilon, math.Max(0, g.Granted.Epsilon-g.Spent.Epsilon),
			g.Granted.Delta, g.Spent.Delta)
	}
	for _, c := range caps {
		if dataset != "" && c.Dataset != dataset {
			continue
		}
		fmt.Fprintf(tw, "(cap, all)\t%s\t%g\t%.4g\t%.4g\t%g\t%.3g\n", c.Dataset, c.Cap.Epsilon,
			c.Spent.Epsilon, math.Max(0, c.Cap.Epsilon-c.Spent.Epsilon), c.Cap.Delta, c.Spent.Delta)
	}
	return tw.Flush()
}
