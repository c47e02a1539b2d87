package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/federated"
	"haze/queries"
	"haze/store"
)

func federatedCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "federated", Short: "Alliance statistics by masked secure sum"}
	cmd.AddCommand(identityCommand(), partnerCommand(), roundCommand(), submitCommand(),
		resultCommand(), localCommand())
	return cmd
}

func identityCommand() *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Make a partner's key pair (mode 0600) and print its public half",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || out == "" {
				return errors.New("--name and --out are required")
			}
			id, err := federated.NewIdentity(name)
			if err != nil {
				return err
			}
			if err := id.Save(out); err != nil {
				return err
			}
			pub, err := json.MarshalIndent(id.Public(), "", "  ")
			if err != nil {
				return err
			}
			pubPath := strings.TrimSuffix(out, ".json") + ".pub.json"
			if err := os.WriteFile(pubPath, append(pub, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private, 0600) and %s (public: give it to the coordinator)\n",
				out, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "partner name, such as the airline's code (required)")
	cmd.Flags().StringVar(&out, "out", "", "identity file to create (required)")
	return cmd
}

func partnerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "partner", Short: "Register partners with the coordinator's catalog"}
	var dataDir, public string
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a partner's public keys (file from `federated identity`)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(public)
			if err != nil {
				return fmt.Errorf("--public: %w", err)
			}
			var p federated.Partner
			if err := json.Unmarshal(data, &p); err != nil {
				return fmt.Errorf("--public %s is not a partner's public record", public)
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				if err := federated.RegisterPartner(cmd.Context(), cat, p); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "registered partner %s\n", p.Name)
				return nil
			})
		},
	}
	add.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "coordinator's data directory")
	addCatalogFlag(add.Flags())
	add.Flags().StringVar(&public, "public", "", "the partner's public record (required)")
	cmd.AddCommand(add)
	return cmd
}

func roundCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "round", Short: "Open federated rounds"}
	var dataDir, id, period, statistic string
	var partners []string
	var minPartners int
	var eps, delta float64
	var within time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Open a round over registered partners",
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(statistic)
			if err != nil {
				return fmt.Errorf("--statistic: %w", err)
			}
			var st federated.Statistic
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&st); err != nil {
				return fmt.Errorf("--statistic %s: %w", statistic, err)
			}
			return withCatalog(cmd.Context(), dataDir, func(cat *store.Catalog) error {
				r, err := federated.RoundFromRegistry(cmd.Context(), cat, id, period, partners,
					minPartners, eps, delta, st, time.Now().Add(within).UTC())
				if err != nil {
					return err
				}
				co := federated.NewCoordinator(federated.NewCatalogStore(cat), time.Now)
				if err := co.Open(cmd.Context(), r); err != nil {
					return err
				}
				if _, err := cat.AppendAudit(cmd.Context(), nil, store.AuditEntry{
					Principal: store.CLIPrincipal, Role: store.RoleAdmin, Action: "rounds.create",
					Dataset: st.Dataset, Outcome: store.OutcomeAllowed, Detail: "round " + r.ID}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "opened round %s (%d cells, %d partners, hash %s)\n",
					r.ID, r.Cells(), len(r.Roster), r.Hash()[:16])
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&dataDir, "data-dir", defaultDataDir(), "coordinator's data directory")
	addCatalogFlag(f)
	f.StringVar(&id, "id", "", "round id (required; a re-run needs a new one)")
	f.StringVar(&period, "period", "", "period aggregated, such as 2026-11 (required)")
	f.StringSliceVar(&partners, "partners", nil, "registered partner names (at least 3)")
	f.IntVar(&minPartners, "min-partners", 3, "fewest partners per released cell")
	f.Float64Var(&eps, "epsilon", 1, "ε of the whole statistic")
	f.Float64Var(&delta, "delta", 1e-6, "δ of the whole statistic (> 0: Gaussian noise)")
	f.StringVar(&statistic, "statistic", "", "JSON file of the statistic (dataset, aggregates, groups)")
	f.DurationVar(&within, "deadline", time.Hour, "time partners have to submit")
	cmd.AddCommand(create)
	return cmd
}

type submitConfig struct {
	coordinator, key, identity, round, dataDir string
	keyring                                    string
	maxEpsilon                                 float64
}

func submitCommand() *cobra.Command {
	var cfg submitConfig
	cmd := &cobra.Command{
		Use:   "submit",
		Short: "Compute this partner's aggregate locally, noise and mask it, sign and submit it",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSubmit(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.coordinator, "coordinator", os.Getenv("HAZE_URL"), "coordinator URL ($HAZE_URL)")
	f.StringVar(&cfg.key, "key", os.Getenv("HAZE_API_KEY"), "this partner's API key ($HAZE_API_KEY)")
	f.StringVar(&cfg.identity, "identity", "", "this partner's identity file (required)")
	f.StringVar(&cfg.round, "round", "", "round id (required)")
	f.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(), "this partner's own data directory")
	f.StringVar(&cfg.keyring, "keyring", "", "this partner's keyring, for its encrypted "+
		"datasets ($"+anonymize.EnvKeyring+")")
	addCatalogFlag(f)
	f.Float64Var(&cfg.maxEpsilon, "max-epsilon", 2, "refuse rounds that spend more ε than this")
	return cmd
}

func runSubmit(ctx context.Context, cfg submitConfig, out io.Writer) error {
	id, err := federated.LoadIdentity(cfg.identity)
	if err != nil {
		return err
	}
	// Check the round before computing anything on our data.
	r, err := fetchRound(ctx, cfg)
	if err != nil {
		return err
	}
	mine := id.Public()
	inRoster := false
	for _, p := range r.Roster {
		inRoster = inRoster || p.Equal(mine)
	}
	switch {
	case !inRoster:
		return fmt.Errorf("partner %s with these keys is not in round %s's roster", mine.Name, r.ID)
	case r.Epsilon > cfg.maxEpsilon:
		return fmt.Errorf("round %s spends ε=%g, above --max-epsilon %g", r.ID, r.Epsilon, cfg.maxEpsilon)
	case r.MinPartners < federated.MinRoster:
		return fmt.Errorf("round %s releases cells of fewer than %d partners", r.ID, federated.MinRoster)
	}

	return withEngine(ctx, cfg.dataDir, cfg.keyring, queries.Limits{}, func(cat *store.Catalog, eng *queries.Engine) error {
		exact, contributes, err := federated.LocalAggregate(ctx, eng, cat, r)
		if err != nil {
			return err
		}
		sub, err := federated.Prepare(id, r, exact, contributes)
		if err != nil {
			return err
		}
		if err := apiCall(ctx, cfg.coordinator, cfg.key, http.MethodPost,
			"/v1/rounds/"+cfg.round+"/submissions", sub, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s submitted %d masked cells to round %s\n", mine.Name, len(exact), r.ID)
		return nil
	})
}

// fetchRound reads a round from the coordinator and checks that its hash
// matches its description.
func fetchRound(ctx context.Context, cfg submitConfig) (federated.Round, error) {
	var rec federated.Record
	if err := apiCall(ctx, cfg.coordinator, cfg.key, http.MethodGet, "/v1/rounds/"+cfg.round,
		nil, &rec); err != nil {
		return federated.Round{}, err
	}
	if err := rec.Round.Validate(); err != nil {
		return federated.Round{}, fmt.Errorf("the coordinator's round is invalid: %w", err)
	}
	if rec.Hash != rec.Round.Hash() {
		return federated.Round{}, errors.New("the coordinator's round hash does not match its description")
	}
	return rec.Round, nil
}

// localCell is one cell of a partner's own exact aggregate.
type localCell struct {
	Keys      []string `json:"keys"`
	Aggregate int      `json:"aggregate"`
	Value     float64  `json:"value"`
}

func localCommand() *cobra.Command {
	var cfg submitConfig
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Print this partner's own exact aggregate for a round as JSON (it never leaves this machine)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := fetchRound(ctx, cfg)
			if err != nil {
				return err
			}
			var exact []int64
			if err := withEngine(ctx, cfg.dataDir, cfg.keyring, queries.Limits{},
				func(cat *store.Catalog, eng *queries.Engine) error {
					exact, _, err = federated.LocalAggregate(ctx, eng, cat, r)
					return err
				}); err != nil {
				return err
			}
			cells := make([]localCell, len(exact))
			for i, v := range exact {
				keys, a := r.Cell(i)
				unit := 1.0
				if r.Statistic.Aggregates[a].Kind == federated.KindSum {
					unit = math.Pow10(-r.Statistic.Scale)
				}
				cells[i] = localCell{Keys: keys, Aggregate: a, Value: float64(v) * unit}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"round": r.ID, "cells": cells})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.coordinator, "coordinator", os.Getenv("HAZE_URL"), "coordinator URL ($HAZE_URL)")
	f.StringVar(&cfg.key, "key", os.Getenv("HAZE_API_KEY"), "this partner's API key ($HAZE_API_KEY)")
	f.StringVar(&cfg.round, "round", "", "round id (required)")
	f.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(), "this partner's own data directory")
	f.StringVar(&cfg.keyring, "keyring", "", "this partner's keyring, for its encrypted "+
		"datasets ($"+anonymize.EnvKeyring+")")
	addCatalogFlag(f)
	return cmd
}

func resultCommand() *cobra.Command {
	var url, key, round string
	cmd := &cobra.Command{
		Use:   "result",
		Short: "Print a released round's alliance totals",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res federated.Result
			if err := apiCall(cmd.Context(), url, key, http.MethodGet, "/v1/rounds/"+round+"/result",
				nil, &res); err != nil {
				return err
			}
			printResult(cmd.OutOrStdout(), &res)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "coordinator", os.Getenv("HAZE_URL"), "coordinator URL ($HAZE_URL)")
	cmd.Flags().StringVar(&key, "key", os.Getenv("HAZE_API_KEY"), "API key ($HAZE_API_KEY)")
	cmd.Flags().StringVar(&round, "round", "", "round id (required)")
	return cmd
}

func printResult(w io.Writer, res *federated.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\taggregate\tvalue\t95% interval\tpartners\t")
	for _, c := range res.Cells {
		if c.Suppressed {
			fmt.Fprintf(tw, "%s\t%d\t(suppressed)\t\t%d\t\n", strings.Join(c.Keys, " / "), c.Aggregate,
				c.Contributors)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t[%.0f, %.0f]\t%d\t\n", strings.Join(c.Keys, " / "), c.Aggregate,
			c.Value, c.Low, c.High, c.Contributors)
	}
	tw.Flush()
	fmt.Fprintf(w, "round %s (%s): %d partners, ε=%g δ=%g, Gaussian noise added in shares by the partners\n",
		res.RoundID, res.Period, res.Partners, res.Epsilon, res.Delta)
}

// apiCall sends a JSON request to a haze server and decodes the answer.
func apiCall(ctx context.Context, base, key, method, path string, in, out any) error {
	if base == "" || key == "" {
		return errors.New("a coordinator URL and an API key are required")
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s (%s, HTTP %d)", e.Error.Message, e.Error.Code, resp.StatusCode)
		}
		return fmt.Errorf("server answered HTTP %d", resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
