package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"haze/anonymize"
	"haze/dp/dptest"
	"haze/internal/pgtest"
	"haze/pipeline"
	"haze/pipeline/synth"
	"haze/queries"
	"haze/store"
)

// The dataset every test starts with, published by TestMain.
const (
	testDataset = "bookings"
	testKeyName = "crm-test"
	testRows    = 5000
)

// testSpec is the job of the template dataset and of the jobs tests;
// SOURCE and DATASET are filled in.
const testSpec = `
name: server-test
source: {path: SOURCE, format: csv}
privacy_unit: passenger_id
key: crm-test
output: {dataset: DATASET}
consent: {column: marketing_consent, equals: true}
columns:
  passenger_id:     {action: pseudonymize}
  email:            {action: pseudonymize, normalize: lower}
  date_of_birth:    {action: generalize, to: year, as: birth_year}
  booking_date:     {action: generalize, to: month}
  destination:      {action: keep, type: string}
  cabin:            {action: keep, type: string}
  home_airport:     {action: keep, type: string}
  fare_amount:      {action: keep, type: decimal, bounds: [0, 10000]}
  ancillary_amount: {action: keep, type: decimal, bounds: [0, 1000]}
`

// cabins are the four cabins of the synthetic export, the public groups of
// the tests' queries.
var cabins = []string{"business", "economy", "first", "premium_economy"}

// templateDir holds data/ (a catalog with testDataset published),
// keys/keyring.json and exports/crm.csv; each test copies it.
var templateDir string

func TestMain(m *testing.M) {
	if os.Getenv(envReplicaCatalog) != "" {
		os.Exit(runReplicaChild())
	}
	dir, err := os.MkdirTemp("", "haze-server-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := buildTemplate(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, "building the test dataset:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	templateDir = dir
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// specText returns testSpec for an export path and a dataset.
func specText(source, dataset string) string {
	return strings.NewReplacer("SOURCE", source, "DATASET", dataset).Replace(testSpec)
}

// buildTemplate runs the real pipeline over a synthetic export into dir.
func buildTemplate(ctx context.Context, dir string) error {
	ring, err := anonymize.InitKeyring(filepath.Join(dir, "keys", "keyring.json"),
		[]string{testKeyName})
	if err != nil {
		return err
	}
	export := filepath.Join(dir, "exports", "crm.csv")
	if err := os.MkdirAll(filepath.Dir(export), 0o700); err != nil {
		return err
	}
	if _, err := synth.WriteFile(ctx, export, synth.Options{Rows: testRows, Seed: 7}); err != nil {
		return err
	}
	spec, err := pipeline.Parse([]byte(specText(export, testDataset)))
	if err != nil {
		return err
	}
	cat, err := store.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	defer cat.Close()
	_, err = pipeline.Run(ctx, spec, cat, pipeline.Options{Keyring: ring,
		Logger: slog.New(slog.DiscardHandler)})
	return err
}

// copyTree copies the folder src into dst, keeping file modes.
func copyTree(dst, src string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

// syncBuffer is a buffer the server's logger may write to while a test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one test's copy of the template, with a catalog, an exact
// (no-noise) engine, API keys and a server listening on loopback.
type env struct {
	t      *testing.T
	ctx    context.Context
	dir    string // the test's folder: data/, keys/, exports/
	cat    *store.Catalog
	srv    *Server
	base   string // http://127.0.0.1:port
	client *http.Client

	// keys maps a role to a valid key of that role; the analyst's has a
	// grant on testDataset.
	keys    map[string]string
	names   map[string]string // role to the key's name (its principal)
	revoked string            // an analyst key that was revoked
	spareID string            // the ID of a valid key the tests may revoke

	cancel context.CancelFunc
	served chan error
	stop   func() error
}

// grantEpsilon is the analyst's grant on testDataset.
const grantEpsilon = 5

// newEnv starts a server with cfg over a fresh copy of the template.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, nil)
}

// newEnvWith is newEnv with a hook that may add test routes to the server
// before it serves.
func newEnvWith(t *testing.T, cfg Config, setup func(*Server)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), dir: t.TempDir(),
		keys: map[string]string{}, names: map[string]string{}}
	if err := copyTree(e.dir, templateDir); err != nil {
		t.Fatalf("copying the template: %v", err)
	}

	var err error
	e.cat, err = store.Open(e.ctx, filepath.Join(e.dir, "data"))
	if err != nil {
		t.Fatalf("opening catalog: %v", err)
	}
	t.Cleanup(func() { e.cat.Close() })
	ring, err := anonymize.LoadKeyring(filepath.Join(e.dir, "keys", "keyring.json"))
	if err != nil {
		t.Fatalf("loading keyring: %v", err)
	}
	eng, err := queries.NewEngine(e.cat, queries.Config{Noise: dptest.NoNoise(), Keyring: ring})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })

	// One key per role, a revoked one, a spare, and the analyst's grant.
	for _, role := range store.Roles {
		name := role[:3]
		e.keys[role] = e.createKey(name, role)
		e.names[role] = name
	}
	e.revoked = e.createKey("gone", store.RoleAnalyst)
	if _, err := e.cat.RevokeKey(e.ctx, "gone"); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	e.createKey("spare", store.RoleAnalyst)
	keys, err := e.cat.Keys(e.ctx)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	for _, k := range keys {
		if k.Name == "spare" {
			e.spareID = k.ID
		}
	}
	e.grant(e.names[store.RoleAnalyst], grantEpsilon)

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond, cfg.Burst = 10_000, 10_000
	}
	e.srv, err = New(cfg, e.cat, eng)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(e.srv)
	}
	e.serve()
	return e
}

// serve starts the server on a fresh loopback port; cleanup stops it.
func (e *env) serve() {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatalf("listening: %v", err)
	}
	e.base = "http://" + ln.Addr().String()
	e.client = &http.Client{Timeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.served = make(chan error, 1)
	go func() { e.served <- e.srv.Serve(ctx, ln) }()

	var once sync.Once
	var err2 error
	e.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err2 = <-e.served:
			case <-time.After(time.Minute):
				err2 = errors.New("Serve did not return within a minute of the cancel")
			}
			e.client.CloseIdleConnections()
		})
		return err2
	}
	e.t.Cleanup(func() {
		if err := e.stop(); err != nil {
			e.t.Errorf("stopping the server: %v", err)
		}
	})
}

// createKey makes a key in the catalog and returns it in clear.
func (e *env) createKey(name, role string) string {
	e.t.Helper()
	secret, _, err := e.cat.CreateKey(e.ctx, name, role)
	if err != nil {
		e.t.Fatalf("CreateKey(%s, %s): %v", name, role, err)
	}
	return secret
}

// grant gives principal ε on testDataset (and a δ for private groups).
func (e *env) grant(principal string, epsilon float64) {
	e.t.Helper()
	if err := e.cat.SetGrant(e.ctx, principal, testDataset,
		store.Amount{Epsilon: epsilon, Delta: 1e-3}); err != nil {
		e.t.Fatalf("SetGrant: %v", err)
	}
}

// request is one call to the server.
type request struct {
	method, path string
	key          string // bearer key; empty sends none
	body         any    // nil, string, []byte or a value sent as JSON
	header       map[string]string
}

// do sends r and returns the response, its body read and closed.
func (e *env) do(r request) (*http.Response, []byte) {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encoding body: %v", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(r.method, e.base+r.path, body)
	if err != nil {
		e.t.Fatalf("NewRequest: %v", err)
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", r.method, r.path, err)
	}
	return resp, data
}

// errorOf decodes an error body; it fails the test when the body is not
// one.
func errorOf(t *testing.T, body []byte) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(body, &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("body %q is not an error with a code and a message (%v)", body, err)
	}
	return b
}

// wantError checks a response's status and error code.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) errorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	b := errorOf(t, body)
	if b.Error.Code != code {
		t.Fatalf("code: got %q, want %q (message %q)", b.Error.Code, code, b.Error.Message)
	}
	return b
}

// auditHead returns the Seq of the last audit entry.
func (e *env) auditHead() int64 {
	e.t.Helper()
	seq, _, err := e.cat.AuditHead(e.ctx)
	if err != nil {
		e.t.Fatalf("AuditHead: %v", err)
	}
	return seq
}

// auditSince returns the audit entries after seq.
func (e *env) auditSince(seq int64) []store.AuditEntry {
	e.t.Helper()
	entries, err := e.cat.Audit(e.ctx, seq, 0)
	if err != nil {
		e.t.Fatalf("Audit: %v", err)
	}
	return entries
}

// ledger returns the number of ledger rows and their total ε for a
// principal.
func (e *env) ledger(principal string) (int, float64) {
	e.t.Helper()
	var n int
	var eps float64
	if err := e.cat.DB().QueryRowContext(e.ctx, `SELECT count(*), coalesce(sum(epsilon), 0)
		FROM ledger WHERE principal = ?`, principal).Scan(&n, &eps); err != nil {
		e.t.Fatalf("reading ledger: %v", err)
	}
	return n, eps
}

// cabinQuery is a light query over public groups: it spends exactly ε
// and no δ.
func cabinQuery(sql string, epsilon float64) map[string]any {
	return map[string]any{"sql": sql, "epsilon": epsilon,
		"public_groups": map[string][]string{"cabin": cabins}}
}

const countByCabin = "SELECT cabin, COUNT(*) AS n FROM bookings GROUP BY cabin"
