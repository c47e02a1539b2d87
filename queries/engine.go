package queries

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"haze/anonymize"
	"haze/pipeline"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"haze/dp"
	"haze/store"
)

// Config configures an Engine. The zero value of each field is its default.
type Config struct {
	// Limits are the per-query rules.
	Limits Limits
	// Noise replaces the library's secure noise. Leave it nil: only tests
	// set it (to dptest.NoNoise) to compare answers with exact SQL.
	Noise dp.Source
	// Now returns the time; defaults to time.Now.
	Now func() time.Time
	// Keyring opens the data keys of encrypted dataset versions; each
	// query hands its version's key to DuckDB for that query only.
	// Required unless every dataset was published plain.
	Keyring *anonymize.Keyring
}

// Engine answers DP SQL over the datasets of a catalog. It is safe for
// concurrent use.
type Engine struct {
	ring  atomic.Pointer[anonymize.Keyring]
	cat   *store.Catalog
	db    *sql.DB // in-memory DuckDB: parses queries and runs bounded SQL
	cfg   Config
	noise dp.Noiser
}

// NewEngine returns an engine over cat. Close releases its DuckDB.
func NewEngine(cat *store.Catalog, cfg Config) (*Engine, error) {
	cfg.Limits.defaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("opening query engine: %w", err)
	}
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening query engine: %w", err)
	}
	e := &Engine{cat: cat, db: db, cfg: cfg}
	e.ring.Store(cfg.Keyring)
	return e, nil
}

// dataKey opens the data key of version v. When the keyring lacks the
// master that wrapped it (a rotation since the engine started), the
// keyring file is read again once.
func (e *Engine) dataKey(v store.Version) (pipeline.DataKey, error) {
	ring := e.ring.Load()
	dk, err := pipeline.VersionKey(ring, v)
	if ring == nil || !errors.Is(err, anonymize.ErrUnknownKey) {
		return dk, err
	}
	fresh, rerr := ring.Reload()
	if rerr != nil {
		return dk, err
	}
	e.ring.CompareAndSwap(ring, fresh)
	return pipeline.VersionKey(fresh, v)
}

// exec runs one statement on the engine's DuckDB.
func (e *Engine) exec(ctx context.Context, query string) error {
	_, err := e.db.ExecContext(ctx, query)
	return err
}

// Close releases the engine's DuckDB.
func (e *Engine) Close() error { return e.db.Close() }

// Request is one analyst's query.
type Request struct {
	// Principal is who asks; the budget charged is theirs. Required.
	Principal string
	// SQL is the query text. Required.
	SQL string
	// Options are the DP options; Epsilon is required.
	Options Options
	// Audit, when set, runs inside the transaction that charges the query
	// (and also when a released answer is returned at no cost), so the
	// audit entry and the charge commit together.
	Audit func(tx *sql.Tx, a *Answer) error
}

// Query answers a request with differential privacy. The answer is
// computed, then charged in one transaction with its record; only then is
// it returned. A refused query returns an *Error and costs nothing; so
// does any other error. The same query with the same options on the same
// dataset version returns the answer already released, at no cost. When
// ctx ends, the error wraps ctx's error, whatever DuckDB reported.
func (e *Engine) Query(ctx context.Context, req Request) (*Answer, error) {
	a, err := e.query(ctx, req)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(ctx.Err(), err)
	}
	return a, err
}

func (e *Engine) query(ctx context.Context, req Request) (*Answer, error) {
	if req.Principal == "" {
		return nil, errors.New("principal is required")
	}
	c, err := e.check(ctx, req)
	if err != nil {
		return nil, err
	}
	fp := fingerprint(c.q, c.v, c.s)

	// An answer already released is free; a query that cannot fit the
	// budget is refused before any work.
	if prev, ok, err := e.cat.Released(ctx, c.v.Dataset, c.v.Version, fp); err != nil {
		return nil, err
	} else if ok {
		return e.charge(ctx, req, c, fp, newID(), prev)
	}
	b, err := e.cat.Balance(ctx, req.Principal, c.v.Dataset)
	if err != nil {
		return nil, err
	}
	if err := allow(b, store.Amount(c.s.total)); err != nil {
		return nil, err
	}

	// Compute, then charge before anything leaves.
	a, err := e.compute(ctx, c)
	if err != nil {
		return nil, err
	}
	a.QueryID = newID()
	a.Spent = Spent{Epsilon: c.s.total.Epsilon, Delta: c.s.total.Delta}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encoding answer: %w", err)
	}
	return e.charge(ctx, req, c, fp, a.QueryID, data)
}

// checked is a query checked against the dataset version it reads.
type checked struct {
	v store.Version
	t Table // the version's columns, with the query's bounds
	q *Query
	s *settings
}

// check parses the query against the catalog, with the query's bounds,
// and resolves its options.
func (e *Engine) check(ctx context.Context, req Request) (*checked, error) {
	type found struct {
		v store.Version
		t Table
	}
	tables := map[string]found{}
	var tableErr error
	cat := CatalogFunc(func(name string) (Table, bool) {
		v, err := e.cat.Current(ctx, name)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				tableErr = err
			}
			return Table{}, false
		}
		t, err := tableOf(v, req.Options.Bounds)
		if err != nil {
			tableErr = err
			return Table{}, false
		}
		tables[name] = found{v, t}
		return t, true
	})
	q, err := Parse(ctx, e.db, req.SQL, cat)
	if tableErr != nil {
		return nil, tableErr
	}
	if err != nil {
		return nil, err
	}
	f := tables[q.Dataset]
	s, err := resolve(req.Options, e.cfg.Limits, f.v, q)
	if err != nil {
		return nil, err
	}
	c := &checked{v: f.v, t: f.t, q: q, s: s}
	if err := e.canonicalKeys(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// canonicalKeys rewrites listed public group keys as DuckDB prints values
// of their column's type ("01977" becomes "1977"), so they match the
// groups the bounded query returns; a key that is no value of the type is
// refused.
func (e *Engine) canonicalKeys(ctx context.Context, c *checked) error {
	for i, keys := range c.s.public {
		col := c.t.Columns[strings.ToLower(c.q.Groups[i].Column)]
		canon := make([]string, len(keys))
		for j, k := range keys {
			var out sql.NullString
			if err := e.db.QueryRowContext(ctx, "SELECT CAST(TRY_CAST(CAST(? AS VARCHAR) AS "+
				col.Type+") AS VARCHAR)", k).Scan(&out); err != nil {
				return fmt.Errorf("checking public group keys: %w", err)
			}
			if !out.Valid {
				return refuse(CodeBadOption, "public group key %q is not a valid %s value for %s",
					k, strings.ToLower(col.Type), col.Name)
			}
			canon[j] = out.String
		}
		slices.Sort(canon)
		c.s.public[i] = slices.Compact(canon)
	}
	return nil
}

// dataFiles lists the Parquet files of a dataset version.
func (e *Engine) dataFiles(v store.Version) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(e.cat.Dir(), v.Path, "data", "*.parquet"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("dataset %s version %d has no data files", v.Dataset, v.Version)
	}
	return files, nil
}

// compute runs the bounded query and adds noise.
func (e *Engine) compute(ctx context.Context, c *checked) (*Answer, error) {
	p, rows, err := e.run(ctx, c)
	if err != nil {
		return nil, err
	}
	return e.release(c.q, c.t, c.v, c.s, p, rows)
}

// run plans the bounded query over the version's files and runs it.
func (e *Engine) run(ctx context.Context, c *checked) (*planned, []groupRow, error) {
	files, err := e.dataFiles(c.v)
	if err != nil {
		return nil, nil, err
	}
	dk, err := e.dataKey(c.v)
	if err != nil {
		return nil, nil, err
	}
	src, forget, err := dk.Scan(ctx, e.exec, files)
	if err != nil {
		return nil, nil, err
	}
	defer forget()
	p, err := plan(c.q, c.t, src, c.s)
	if err != nil {
		return nil, nil, err
	}
	rows, err := p.execute(ctx, e.db, len(c.q.Groups))
	if err != nil {
		return nil, nil, err
	}
	return p, rows, nil
}

// charge records the answer data under the query id and charges its
// cost, unless an answer was released under the same fingerprint before:
// then that one is returned, free, marked Cached.
func (e *Engine) charge(ctx context.Context, req Request, c *checked, fp, id string,
	data []byte) (*Answer, error) {
	ch := store.Charge{ID: id, Principal: req.Principal, Dataset: c.v.Dataset,
		Version: c.v.Version, Fingerprint: fp, Query: c.q.Normalized,
		Cost: store.Amount(c.s.total), Answer: data, At: e.cfg.Now()}
	var a *Answer
	decode := func(data []byte, cached bool) error {
		a = &Answer{}
		if err := json.Unmarshal(data, a); err != nil {
			return fmt.Errorf("decoding answer: %w", err)
		}
		if cached {
			a.Cached = true
			a.Spent = Spent{}
		}
		return nil
	}
	var inTx func(*sql.Tx, []byte, bool) error
	if req.Audit != nil {
		// The audit sees the answer as it will leave.
		inTx = func(tx *sql.Tx, data []byte, cached bool) error {
			if err := decode(data, cached); err != nil {
				return err
			}
			return req.Audit(tx, a)
		}
	}
	data, cached, err := e.cat.Charge(ctx, ch, allow, inTx)
	if err != nil {
		return nil, err
	}
	if err := decode(data, cached); err != nil {
		return nil, err
	}
	// The charge has committed: the answer leaves even if ctx ends now.
	b, err := e.cat.Balance(context.WithoutCancel(ctx), req.Principal, ch.Dataset)
	if err != nil {
		return nil, err
	}
	a.Remaining = remaining(b)
	return a, nil
}

// allow is the budget rule: the cost must fit the principal's grant and
// the dataset's cap, by basic composition.
func allow(b store.Balance, cost store.Amount) error {
	if b.Granted == nil {
		return refuse(CodeNoGrant, "you hold no privacy budget on this dataset; ask an admin for a grant")
	}
	c := dp.Budget(cost)
	if !dp.Budget(*b.Granted).Covers(dp.Budget(b.Spent).Add(c)) {
		left := remainingOf(*b.Granted, b.Spent)
		return refuse(CodeBudgetExhausted, "budget exhausted: this query needs ε=%g δ=%g, "+
			"you have ε=%g δ=%g left on this dataset", cost.Epsilon, cost.Delta, left.Epsilon, left.Delta)
	}
	if b.Cap != nil && !dp.Budget(*b.Cap).Covers(dp.Budget(b.SpentAll).Add(c)) {
		return refuse(CodeBudgetExhausted, "budget exhausted: the dataset's cap over all analysts "+
			"is spent")
	}
	return nil
}

func remainingOf(granted, spent store.Amount) Spent {
	return Spent{Epsilon: max(0, granted.Epsilon-spent.Epsilon), Delta: max(0, granted.Delta-spent.Delta)}
}

func remaining(b store.Balance) *Spent {
	if b.Granted == nil {
		return nil
	}
	r := remainingOf(*b.Granted, b.Spent)
	return &r
}

// fingerprint identifies a query and everything that shapes its answer.
func fingerprint(q *Query, v store.Version, s *settings) string {
	var bounds []string
	for _, it := range q.Select {
		if it.Agg != nil && it.Agg.Bounds != nil {
			bounds = append(bounds, fmt.Sprintf("%s:%g:%g", it.Agg.Column, it.Agg.Bounds[0], it.Agg.Bounds[1]))
		}
	}
	slices.Sort(bounds)
	data, _ := json.Marshal(struct {
		Dataset  string
		Version  int
		Query    string
		Mech     string
		Eps, Del float64
		L0, LInf int64
		Bounds   []string
		Public   [][]string
	}{v.Dataset, v.Version, q.Normalized, s.mech.String(), s.total.Epsilon, s.total.Delta,
		s.bounds.MaxGroups, s.bounds.MaxRows, bounds, s.public})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "q_" + strings.ToLower(hex.EncodeToString(b))
}

// Plan returns the bounded SQL the engine would run for req, without
// running it or charging anything. It is for operators and benchmarks;
// the SQL holds no data, only the query's shape and a fresh random seed.
// It reads the files as plain Parquet: for an encrypted version it fails
// unless the version's data key is registered with DuckDB, which Plan
// never does.
func (e *Engine) Plan(ctx context.Context, req Request) (string, error) {
	c, err := e.check(ctx, req)
	if err != nil {
		return "", err
	}
	files, err := e.dataFiles(c.v)
	if err != nil {
		return "", err
	}
	src, _, err := pipeline.DataKey{}.Scan(ctx, e.exec, files)
	if err != nil {
		return "", err
	}
	p, err := plan(c.q, c.t, src, c.s)
	if err != nil {
		return "", err
	}
	return p.sql, nil
}
