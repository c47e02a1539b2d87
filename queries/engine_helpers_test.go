package queries_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"haze/dp/dptest"
	"haze/queries"
	"haze/store"
)

// The contribution bounds every test dataset declares.
const (
	testMaxGroups = 2 // max_groups_contributed
	testMaxRows   = 3 // max_contributions_per_group
)

// The public bounds of the two money columns.
const (
	fareHi      = 10000.0
	ancillaryHi = 1000.0
)

// trip is one hand-made row of a test dataset. Money is text, as DuckDB
// reads it into DECIMAL(18,2); an empty ancillary is NULL.
type trip struct {
	passenger   string
	destination string
	cabin       string
	home        string
	fare        string
	ancillary   string
	birthYear   int
}

// env is a data dir with a catalog, two engines over it (exact and noisy)
// and an oracle DuckDB in which the tests compute expected answers from the
// Parquet files themselves, without the engine's SQL.
type env struct {
	t      *testing.T
	ctx    context.Context
	cat    *store.Catalog
	exact  *queries.Engine // dptest.NoNoise
	noisy  *queries.Engine // the library's noise
	oracle *sql.DB
	clock  time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	cat, err := store.Open(ctx, filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatalf("opening catalog: %v", err)
	}
	t.Cleanup(func() { cat.Close() })

	e := &env{t: t, ctx: ctx, cat: cat, clock: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	now := func() time.Time { return e.clock }
	e.exact = e.engine(queries.Config{Noise: dptest.NoNoise(), Now: now})
	e.noisy = e.engine(queries.Config{Now: now})

	e.oracle, err = sql.Open("duckdb", "")
	if err != nil {
		t.Fatalf("opening oracle: %v", err)
	}
	t.Cleanup(func() { e.oracle.Close() })
	return e
}

// engine returns a new engine over the env's catalog, closed at cleanup.
func (e *env) engine(cfg queries.Config) *queries.Engine {
	e.t.Helper()
	eng, err := queries.NewEngine(e.cat, cfg)
	if err != nil {
		e.t.Fatalf("NewEngine: %v", err)
	}
	e.t.Cleanup(func() { eng.Close() })
	return eng
}

// publish writes rows as the Parquet file of the next version of dataset,
// publishes it and points the oracle's view named after the dataset at it.
// It returns the version published.
func (e *env) publish(dataset string, rows []trip) int {
	e.t.Helper()
	version, err := e.cat.NextVersion(e.ctx, dataset)
	if err != nil {
		e.t.Fatalf("NextVersion: %v", err)
	}
	rel := filepath.Join("datasets", dataset, "v"+strconv.Itoa(version))
	dataDir := filepath.Join(e.cat.Dir(), rel, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	parquet := filepath.Join(dataDir, "part-00000.parquet")
	writeParquet(e.t, e.oracle, rows, parquet)

	v := store.Version{
		Dataset:     dataset,
		Version:     version,
		CreatedAt:   e.clock,
		Path:        rel,
		PrivacyUnit: "passenger_id",
		KeyName:     "crm-test",
		KeyID:       "k1",
		Columns: []store.Column{
			{Name: "passenger_id", Type: "VARCHAR", Source: "passenger_id", Action: "pseudonymize"},
			{Name: "destination", Type: "VARCHAR", Source: "destination", Action: "keep"},
			{Name: "cabin", Type: "VARCHAR", Source: "cabin", Action: "keep"},
			{Name: "home_airport", Type: "VARCHAR", Source: "home_airport", Action: "keep"},
			{Name: "fare_amount", Type: "DECIMAL(18,2)", Source: "fare_amount", Action: "keep",
				Bounds: []float64{0, fareHi}},
			{Name: "ancillary_amount", Type: "DECIMAL(18,2)", Source: "ancillary_amount",
				Action: "keep", Bounds: []float64{0, ancillaryHi}},
			{Name: "birth_year", Type: "INTEGER", Source: "date_of_birth", Action: "keep"},
		},
		DP: store.DPDefaults{MaxGroupsContributed: testMaxGroups,
			MaxContributionsPerGroup: testMaxRows},
		Rows:       int64(len(rows)),
		PolicyHash: "test",
		Encryption: store.EncryptionNone,
	}
	if err := e.cat.Publish(e.ctx, v); err != nil {
		e.t.Fatalf("publishing %s v%d: %v", dataset, version, err)
	}
	view := fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT * FROM read_parquet('%s')",
		dataset, parquet)
	if _, err := e.oracle.Exec(view); err != nil {
		e.t.Fatalf("creating oracle view: %v", err)
	}
	return version
}

// writeParquet writes rows to path through a CSV file and DuckDB's COPY.
func writeParquet(t *testing.T, db *sql.DB, rows []trip, path string) {
	t.Helper()
	csvPath := filepath.Join(t.TempDir(), "rows.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"passenger_id", "destination", "cabin", "home_airport", "fare_amount",
		"ancillary_amount", "birth_year"})
	for _, r := range rows {
		w.Write([]string{r.passenger, r.destination, r.cabin, r.home, r.fare, r.ancillary,
			strconv.Itoa(r.birthYear)})
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		t.Fatalf("writing %s: %v", csvPath, err)
	}
	copySQL := fmt.Sprintf(`COPY (SELECT * FROM read_csv('%s', header = true, columns = {
		'passenger_id': 'VARCHAR', 'destination': 'VARCHAR', 'cabin': 'VARCHAR',
		'home_airport': 'VARCHAR', 'fare_amount': 'DECIMAL(18,2)',
		'ancillary_amount': 'DECIMAL(18,2)', 'birth_year': 'INTEGER'}))
		TO '%s' (FORMAT parquet)`, csvPath, path)
	if _, err := db.Exec(copySQL); err != nil {
		t.Fatalf("writing parquet: %v", err)
	}
}

// Destinations and cabins of the base dataset.
var (
	baseDestinations = []string{"CDG", "DXB", "JFK", "NRT"}
	baseCabins       = []string{"F", "J", "W", "Y"}
	baseHomes        = []string{"EDI", "LHR", "MAN"}
)

// basePassengers is the number of passengers in baseTrips.
const basePassengers = 600

// baseTrips returns a dataset within the contribution bounds: every
// passenger has one to three rows, the first in one (destination, cabin),
// the others together in a second one, with one home airport and birth
// year. So whatever a query groups by, a passenger is in at most 2 groups
// with at most 3 rows each, and bounding changes nothing: exact answers
// equal plain SQL. Fares take 25 values, 0.99 to 9600.99 in steps of 400,
// so that quantiles fall inside runs of equal values; every seventh
// ancillary is NULL.
func baseTrips() []trip {
	rng := rand.New(rand.NewPCG(7, 11))
	var rows []trip
	n := 0
	for i := range basePassengers {
		home := baseHomes[i%len(baseHomes)]
		year := 1950 + i%50
		first := [2]string{baseDestinations[rng.IntN(4)], baseCabins[rng.IntN(4)]}
		second := [2]string{baseDestinations[rng.IntN(4)], baseCabins[rng.IntN(4)]}
		for j := range 1 + i%3 {
			dc := first
			if j > 0 {
				dc = second
			}
			anc := ""
			if n%7 != 3 {
				anc = fmt.Sprintf("%d.%02d", rng.IntN(400), rng.IntN(100))
			}
			rows = append(rows, trip{
				passenger:   fmt.Sprintf("tok_%04d", i),
				destination: dc[0],
				cabin:       dc[1],
				home:        home,
				fare:        fmt.Sprintf("%d.99", 400*rng.IntN(25)),
				ancillary:   anc,
				birthYear:   year,
			})
			n++
		}
	}
	return rows
}

// heavyPassenger is the token of the passenger heavyTrips adds.
const heavyPassenger = "tok_heavy"

// heavyGroups are the destinations of the heavy passenger: 50 rows in the
// first, 10 in each other; LAX has no other passenger.
var heavyGroups = []string{"JFK", "CDG", "NRT", "DXB", "LAX"}

// heavyFare is the heavy passenger's fare, far above the bound fareHi.
const heavyFare = 50000.0

// heavyTrips returns baseTrips plus one passenger who breaks every bound:
// 50 rows in one destination and 10 in each of four others, each with a
// fare of 50,000.
func heavyTrips() []trip {
	rows := baseTrips()
	for i, dest := range heavyGroups {
		n := 10
		if i == 0 {
			n = 50
		}
		for range n {
			rows = append(rows, trip{passenger: heavyPassenger, destination: dest, cabin: "Y",
				home: "LHR", fare: fmt.Sprintf("%.2f", heavyFare), ancillary: "10.00",
				birthYear: 1970})
		}
	}
	return rows
}

// grant gives principal a budget on dataset.
func (e *env) grant(principal, dataset string, eps, delta float64) {
	e.t.Helper()
	if err := e.cat.SetGrant(e.ctx, principal, dataset,
		store.Amount{Epsilon: eps, Delta: delta}); err != nil {
		e.t.Fatalf("SetGrant: %v", err)
	}
}

// balance returns principal's balance on dataset.
func (e *env) balance(principal, dataset string) store.Balance {
	e.t.Helper()
	b, err := e.cat.Balance(e.ctx, principal, dataset)
	if err != nil {
		e.t.Fatalf("Balance: %v", err)
	}
	return b
}

// ledgerRows counts the ledger's rows for dataset.
func (e *env) ledgerRows(dataset string) int {
	e.t.Helper()
	var n int
	if err := e.cat.DB().QueryRowContext(e.ctx, `SELECT count(*) FROM ledger WHERE dataset = ?`,
		dataset).Scan(&n); err != nil {
		e.t.Fatalf("counting ledger rows: %v", err)
	}
	return n
}

// query runs req on eng and fails the test on error.
func (e *env) query(eng *queries.Engine, req queries.Request) *queries.Answer {
	e.t.Helper()
	a, err := eng.Query(e.ctx, req)
	if err != nil {
		e.t.Fatalf("Query(%q): %v", req.SQL, err)
	}
	return a
}

// expect runs an oracle query returning one row per group: the keys as
// text, then float values. It returns the values by the keys joined
// with "|" ("" for a query without GROUP BY).
func (e *env) expect(keys int, query string, args ...any) map[string][]float64 {
	e.t.Helper()
	rows, err := e.oracle.QueryContext(e.ctx, query, args...)
	if err != nil {
		e.t.Fatalf("oracle %s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]float64{}
	for rows.Next() {
		ks := make([]sql.NullString, keys)
		vs := make([]sql.NullFloat64, len(cols)-keys)
		dest := make([]any, 0, len(cols))
		for i := range ks {
			dest = append(dest, &ks[i])
		}
		for i := range vs {
			dest = append(dest, &vs[i])
		}
		if err := rows.Scan(dest...); err != nil {
			e.t.Fatalf("oracle %s: %v", query, err)
		}
		key := ""
		for i, k := range ks {
			if i > 0 {
				key += "|"
			}
			key += k.String
		}
		vals := make([]float64, len(vs))
		for i, v := range vs {
			vals[i] = math.NaN()
			if v.Valid {
				vals[i] = v.Float64
			}
		}
		out[key] = vals
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("oracle %s: %v", query, err)
	}
	return out
}

// oracleFloat runs an oracle query returning one number.
func (e *env) oracleFloat(query string, args ...any) float64 {
	e.t.Helper()
	var f float64
	if err := e.oracle.QueryRowContext(e.ctx, query, args...).Scan(&f); err != nil {
		e.t.Fatalf("oracle %s: %v", query, err)
	}
	return f
}

// byKey returns the answer's rows by their group keys joined with "|",
// in the order of the first nkeys columns.
func byKey(t *testing.T, a *queries.Answer, nkeys int) map[string][]queries.Estimate {
	t.Helper()
	out := map[string][]queries.Estimate{}
	for _, row := range a.Rows {
		key := ""
		for i := range nkeys {
			if i > 0 {
				key += "|"
			}
			key += keyText(row[i])
		}
		if _, dup := out[key]; dup {
			t.Fatalf("group %q released twice", key)
		}
		var ests []queries.Estimate
		for _, cell := range row[nkeys:] {
			est, ok := cell.(queries.Estimate)
			if !ok {
				t.Fatalf("group %q: cell %v (%T) is not an Estimate", key, cell, cell)
			}
			ests = append(ests, est)
		}
		out[key] = ests
	}
	return out
}

// keyText shows a group key cell as the oracle's CAST(... AS VARCHAR) does.
func keyText(cell any) string {
	switch v := cell.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	}
	return fmt.Sprint(cell)
}

// refusal reports an error unless err is a *queries.Error with code.
func refusal(t *testing.T, err error, code string) {
	t.Helper()
	var qe *queries.Error
	switch {
	case !errors.As(err, &qe):
		t.Errorf("error = %v (%T), want a *queries.Error with code %s", err, err, code)
	case qe.Code != code:
		t.Errorf("code = %s (%s), want %s", qe.Code, qe.Message, code)
	}
}

// near reports whether got is within tol of want.
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol
}
