package main

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"

	"haze/anonymize"
	"haze/queries"
	"haze/server"
	"haze/store"
)

type serveConfig struct {
	dataDir    string
	maxEpsilon float64
	server     server.Config
}

func serveCommand() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API (DP queries, datasets, jobs, keys, budgets, audit)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(), "data directory ($"+EnvDataDir+")")
	addCatalogFlag(f)
	f.StringVar(&cfg.server.Addr, "addr", envOr("HAZE_ADDR", "127.0.0.1:8080"), "listen address ($HAZE_ADDR)")
	f.StringVar(&cfg.server.TLSCert, "tls-cert", os.Getenv("HAZE_TLS_CERT"), "TLS certificate ($HAZE_TLS_CERT)")
	f.StringVar(&cfg.server.TLSKey, "tls-key", os.Getenv("HAZE_TLS_KEY"), "TLS key ($HAZE_TLS_KEY)")
	f.BoolVar(&cfg.server.Insecure, "insecure", false, "allow plain HTTP on a non-loopback address")
	f.StringVar(&cfg.server.Imports, "imports", os.Getenv("HAZE_IMPORTS"),
		"folder job specs may read exports from ($HAZE_IMPORTS); empty: no jobs over the API")
	f.StringVar(&cfg.server.Keyring, "keyring", os.Getenv(anonymize.EnvKeyring),
		"keyring for jobs ($"+anonymize.EnvKeyring+")")
	f.DurationVar(&cfg.server.QueryTimeout, "query-timeout", 60*time.Second, "cancel DP queries running longer")
	f.Float64Var(&cfg.server.RatePerSecond, "rate", 20, "requests per second per API key")
	f.IntVar(&cfg.server.Burst, "burst", 40, "burst of requests per API key")
	f.Int64Var(&cfg.server.BodyLimit, "body-limit", 1<<20, "largest request body in bytes")
	f.Float64Var(&cfg.maxEpsilon, "max-epsilon", 1, "per-query ε cap")
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func runServe(ctx context.Context, cfg serveConfig) error {
	cfg.server.Logger = newServerLogger()
	if url := catalogURL(); url != "" {
		cfg.server.Logger.Info("catalog", "url", store.RedactURL(url))
	}
	return withEngine(ctx, cfg.dataDir, cfg.server.Keyring, queries.Limits{MaxEpsilon: cfg.maxEpsilon},
		func(cat *store.Catalog, eng *queries.Engine) error {
			srv, err := server.New(cfg.server, cat, eng)
			if err != nil {
				return err
			}
			return srv.ListenAndServe(ctx)
		})
}
