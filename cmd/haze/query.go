package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/queries"
	"haze/store"
)

type queryConfig struct {
	dataDir, dataset, as, format, mechanism string
	keyring                                 string
	epsilon, delta                          float64
	maxGroups, maxRows                      int64
	bounds, groups                          []string
	maxEpsilon                              float64
	url, apiKey                             string
}

func queryCommand() *cobra.Command {
	var cfg queryConfig
	cmd := &cobra.Command{
		Use:   `query [flags] "SQL"`,
		Short: "Answer a SQL question with differential privacy, charging a local principal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuery(cmd.Context(), cfg, args[0], cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	f.StringVar(&cfg.keyring, "keyring", "", "keyring, for encrypted datasets ($"+
		anonymize.EnvKeyring+")")
	addCatalogFlag(f)
	f.StringVar(&cfg.dataset, "dataset", "", "dataset the query must read (checked against FROM)")
	f.StringVar(&cfg.as, "as", defaultPrincipal(), "principal whose budget is charged")
	f.Float64Var(&cfg.epsilon, "epsilon", 0, "ε to spend (required)")
	f.Float64Var(&cfg.delta, "delta", 0, "δ to spend (default: 0, or 1e-6 when the query needs it)")
	f.StringVar(&cfg.mechanism, "mechanism", "laplace", "laplace or gaussian")
	f.Int64Var(&cfg.maxGroups, "max-groups", 0, "groups one person may contribute to (default: the dataset's)")
	f.Int64Var(&cfg.maxRows, "max-rows", 0, "rows one person may contribute per group (default: the dataset's)")
	f.StringArrayVar(&cfg.bounds, "bounds", nil, "public bounds for a column: column=lo:hi (repeatable)")
	f.StringArrayVar(&cfg.groups, "groups", nil, "public group keys: column=k1,k2,... (repeatable)")
	f.StringVar(&cfg.format, "format", "table", "table, json or csv")
	f.Float64Var(&cfg.maxEpsilon, "max-epsilon", 1, "per-query ε cap (local use)")
	f.StringVar(&cfg.url, "url", os.Getenv("HAZE_URL"),
		"ask a haze server instead of the local data dir ($HAZE_URL)")
	f.StringVar(&cfg.apiKey, "api-key", "", "API key for --url (default $HAZE_API_KEY)")
	return cmd
}

func defaultPrincipal() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "local"
}

func runQuery(ctx context.Context, cfg queryConfig, text string, out io.Writer) error {
	opts, err := queryOptions(cfg)
	if err != nil {
		return err
	}
	if cfg.url != "" {
		a, err := remoteQuery(ctx, cfg, text, opts)
		if err != nil {
			return err
		}
		return printAnswer(a, cfg, out)
	}
	return withEngine(ctx, cfg.dataDir, cfg.keyring, queries.Limits{MaxEpsilon: cfg.maxEpsilon},
		func(_ *store.Catalog, eng *queries.Engine) error {
			a, err := eng.Query(ctx, queries.Request{Principal: cfg.as, SQL: text, Options: opts})
			if err != nil {
				var qe *queries.Error
				if errors.As(err, &qe) {
					return fmt.Errorf("%s (%s)", qe.Message, qe.Code)
				}
				return err
			}
			return printAnswer(a, cfg, out)
		})
}

func printAnswer(a *queries.Answer, cfg queryConfig, out io.Writer) error {
	if cfg.dataset != "" && a.Dataset != cfg.dataset {
		return fmt.Errorf("the query reads %s, not --dataset %s", a.Dataset, cfg.dataset)
	}
	switch cfg.format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	case "csv":
		return a.WriteCSV(out)
	default:
		a.WriteTable(out)
		return nil
	}
}

func queryOptions(cfg queryConfig) (queries.Options, error) {
	o := queries.Options{Epsilon: cfg.epsilon, Delta: cfg.delta, Mechanism: cfg.mechanism,
		MaxGroupsContributed: cfg.maxGroups, MaxContributionsPerGroup: cfg.maxRows}
	if cfg.epsilon == 0 {
		return o, errors.New("--epsilon is required")
	}
	switch cfg.format {
	case "table", "json", "csv":
	default:
		return o, fmt.Errorf("--format %q is not one of table, json, csv", cfg.format)
	}
	for _, b := range cfg.bounds {
		col, rng, ok := strings.Cut(b, "=")
		lo, hi, ok2 := strings.Cut(rng, ":")
		l, err1 := strconv.ParseFloat(lo, 64)
		h, err2 := strconv.ParseFloat(hi, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil {
			return o, fmt.Errorf("--bounds %q: want column=lo:hi", b)
		}
		if o.Bounds == nil {
			o.Bounds = map[string][2]float64{}
		}
		o.Bounds[col] = [2]float64{l, h}
	}
	for _, g := range cfg.groups {
		col, keys, ok := strings.Cut(g, "=")
		if !ok || keys == "" {
			return o, fmt.Errorf("--groups %q: want column=k1,k2,...", g)
		}
		if o.PublicGroups == nil {
			o.PublicGroups = map[string][]string{}
		}
		o.PublicGroups[col] = strings.Split(keys, ",")
	}
	return o, nil
}

// remoteQuery asks a haze server.
func remoteQuery(ctx context.Context, cfg queryConfig, text string, opts queries.Options) (*queries.Answer, error) {
	key := cfg.apiKey
	if key == "" {
		key = os.Getenv("HAZE_API_KEY")
	}
	if key == "" {
		return nil, errors.New("--url needs an API key: --api-key or $HAZE_API_KEY")
	}
	body := struct {
		SQL string `json:"sql"`
		queries.Options
	}{text, opts}
	var a queries.Answer
	if err := apiCall(ctx, cfg.url, key, http.MethodPost, "/v1/query", body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
