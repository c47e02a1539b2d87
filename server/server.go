// Package server is haze's HTTP API: gin routes in front of the query
// engine, the pipeline and the catalog, with API keys, roles, a per-key
// rate limit, a hash-chained audit trail, metrics and an OpenAPI document.
//
// Handlers stay at the edge: each decodes its request, calls a plain
// function with the request's context, and maps errors to statuses in one
// place (errors.go). Clients see a stable code and a message written for
// them; SQL, paths and internal errors go to the operations log only.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gin-gonic/gin"

	"haze/federated"
	"haze/queries"
	"haze/store"
)

// Config configures a Server. Zero fields take the defaults named.
type Config struct {
	// Addr is the address to listen on. Defaults to 127.0.0.1:8080.
	Addr string
	// TLSCert and TLSKey enable HTTPS; both or neither.
	TLSCert, TLSKey string
	// Insecure allows plain HTTP on a non-loopback address.
	Insecure bool
	// Imports is the folder job specs may read exports from. Empty: jobs
	// over the API are refused.
	Imports string
	// Keyring is the keyring file jobs use; specs may not name their own.
	Keyring string
	// BodyLimit caps request bodies, in bytes. Defaults to 1 MiB.
	BodyLimit int64
	// ReadTimeout and WriteTimeout bound a request's I/O. Default to 10 s
	// and 2 min.
	ReadTimeout, WriteTimeout time.Duration
	// QueryTimeout cancels a DP query that runs longer. Defaults to 60 s.
	QueryTimeout time.Duration
	// RatePerSecond and Burst limit each API key. Default to 20 and 40.
	RatePerSecond float64
	Burst         int
	// ShutdownTimeout is how long running requests may finish after a
	// stop signal. Defaults to 15 s.
	ShutdownTimeout time.Duration
	// Logger receives the operations log. Defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = 1 << 20
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 2 * time.Minute
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 60 * time.Second
	}
	if c.RatePerSecond == 0 {
		c.RatePerSecond = 20
	}
	if c.Burst == 0 {
		c.Burst = 40
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration, naming the offending setting.
func (c *Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key go together")
	}
	if c.TLSCert == "" && !isLoopback(host) && !c.Insecure {
		return fmt.Errorf("addr %s is not a loopback address: serve it with --tls-cert and "+
			"--tls-key, or pass --insecure to send API keys and answers in clear", c.Addr)
	}
	if c.Imports != "" {
		info, err := os.Stat(c.Imports)
		if err != nil || !info.IsDir() {
			return fmt.Errorf("imports %q is not a folder", c.Imports)
		}
	}
	switch {
	case c.BodyLimit < 1024:
		return fmt.Errorf("body limit %d: must be >= 1024 bytes", c.BodyLimit)
	case !(c.RatePerSecond >= 0):
		return fmt.Errorf("rate %g: must be >= 0 requests per second", c.RatePerSecond)
	case c.Burst < 1:
		return fmt.Errorf("burst %d: must be >= 1", c.Burst)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is the API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	cat     *store.Catalog
	engine  *queries.Engine
	router  *gin.Engine
	limits  *limiter
	metrics *metrics
	jobs    *jobs
	log     *slog.Logger

	coordinator *federated.Coordinator
}

// New returns a server over cat and engine; the caller closes both after
// Serve returns.
func New(cfg Config, cat *store.Catalog, engine *queries.Engine) (*Server, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Imports != "" {
		abs, err := filepath.Abs(cfg.Imports)
		if err != nil {
			return nil, fmt.Errorf("imports: %w", err)
		}
		cfg.Imports = abs
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, cat: cat, engine: engine, log: cfg.Logger,
		limits: newLimiter(cfg.RatePerSecond, cfg.Burst), metrics: newMetrics(),
		jobs: newJobs(), coordinator: federated.NewCoordinator(federated.NewCatalogStore(cat), time.Now)}
	s.router = s.routes()
	return s, nil
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.router }

// Serve answers on ln until ctx ends, then stops accepting, lets running
// requests finish within the shutdown timeout and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.router,
		ReadHeaderTimeout: s.cfg.ReadTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.cfg.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}

	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", s.cfg.TLSCert != "")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "deadline", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	s.jobs.wait(sctx)
	return nil
}

// ListenAndServe listens on the configured address and serves until ctx
// ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	if !isLoopback(host) && s.cfg.TLSCert == "" && s.cfg.Insecure {
		s.log.Warn("serving plain HTTP on a non-loopback address: API keys and answers travel in clear",
			"addr", s.cfg.Addr)
	}
	return s.Serve(ctx, ln)
}
