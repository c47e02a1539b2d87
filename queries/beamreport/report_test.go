package beamreport_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	_ "github.com/duckdb/duckdb-go/v2"

	"haze/anonymize"
	"haze/pipeline"
	"haze/queries"
	"haze/queries/beamreport"
	"haze/store"
)

func TestMain(m *testing.M) {
	beamlog.LogLevel = "warn"
	beam.Init()
	os.Exit(m.Run())
}

// Eight big destinations of a few hundred people each, and three small
// ones of one or two people. Everyone books at most two destinations,
// once each, so the dataset's bounds (2 groups, 1 row per group) remove
// nothing and the exact values are plain SQL over the dataset.
var (
	big   = []string{"AMS", "BCN", "CDG", "DXB", "EZE", "FCO", "GRU", "HND"}
	small = map[int]string{2001: "XXA", 2002: "XXB", 2003: "XXB", 2004: "XXC"}
)

const jobSpec = `
name: report-fixture
source: {path: export.csv}
privacy_unit: passenger_id
keyring: keyring.json
key: crm
output: {dataset: bookings}
dp: {max_groups_contributed: 2, max_contributions_per_group: 1}
columns:
  passenger_id: {action: pseudonymize}
  destination:  {action: keep, type: string}
  fare_amount:  {action: keep, type: decimal, bounds: [0, 1000]}
`

const reportSpec = `
name: demand
dataset: bookings
group_by: [destination]
aggregates:
  - {kind: count, as: bookings}
  - {kind: people, as: passengers}
  - {kind: sum, column: fare_amount, as: revenue}
  - {kind: mean, column: fare_amount, as: fare}
  - {kind: quantiles, column: fare_amount, ranks: [0.5], as: fare}
epsilon: 3
delta: 1e-5
`

// publish writes the fixture export and publishes it with the local
// pipeline; it returns the data dir's catalog.
func publish(t *testing.T) *store.Catalog {
	t.Helper()
	dir := t.TempDir()
	if _, err := anonymize.InitKeyring(filepath.Join(dir, "keyring.json"), []string{"crm"}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("passenger_id,destination,fare_amount\n")
	for i := 1; i <= 2000; i++ {
		fare := float64((i*37)%1000) + 0.5
		fmt.Fprintf(&b, "PAX%d,%s,%.2f\n", i, big[i%8], fare)
		if i%3 == 0 {
			fmt.Fprintf(&b, "PAX%d,%s,%.2f\n", i, big[(i+3)%8], fare)
		}
	}
	for id, dest := range small {
		fmt.Fprintf(&b, "PAX%d,%s,100.00\n", id, dest)
	}
	if err := os.WriteFile(filepath.Join(dir, "export.csv"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(jobSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := pipeline.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := store.Open(context.Background(), filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	if _, err := pipeline.Run(context.Background(), spec, cat, pipeline.Options{
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	return cat
}

// exact returns count, people and sum of fares per destination.
func exact(t *testing.T, cat *store.Catalog) map[string][3]float64 {
	t.Helper()
	v, err := cat.Current(context.Background(), "bookings")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ring, err := anonymize.LoadKeyring(keyringOf(cat))
	if err != nil {
		t.Fatal(err)
	}
	dk, err := pipeline.VersionKey(ring, v)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(cat.Dir(), v.Path, "data", "*.parquet"))
	src, forget, err := dk.Scan(context.Background(), func(ctx context.Context, q string) error {
		_, err := db.ExecContext(ctx, q)
		return err
	}, files)
	if err != nil {
		t.Fatal(err)
	}
	defer forget()
	rows, err := db.Query(`SELECT destination, count(*), count(DISTINCT passenger_id),
		sum(fare_amount)::DOUBLE FROM ` + src + ` GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][3]float64{}
	for rows.Next() {
		var d string
		var c [3]float64
		if err := rows.Scan(&d, &c[0], &c[1], &c[2]); err != nil {
			t.Fatal(err)
		}
		out[d] = c
	}
	return out
}

// TestReportReleasesWithinIntervals runs a DP report on prism and checks
// what it released: big groups only, values within their stated
// intervals of the exact ones in most cells, the charge in the ledger, and
// the answer served again, free, through the query engine.
func TestReportReleasesWithinIntervals(t *testing.T) {
	ctx := context.Background()
	cat := publish(t)
	if err := cat.SetGrant(ctx, "maya", "bookings", store.Amount{Epsilon: 5, Delta: 1e-4}); err != nil {
		t.Fatal(err)
	}
	eng, err := queries.NewEngine(cat, queries.Config{Limits: queries.Limits{MaxEpsilon: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	spec, err := beamreport.Parse([]byte(reportSpec))
	if err != nil {
		t.Fatal(err)
	}

	a, err := beamreport.Run(ctx, spec, cat, eng, beamreport.Options{Principal: "maya",
		Logger: slog.New(slog.DiscardHandler), KeyringPath: keyringOf(cat)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Cached || a.GroupSelection != "private" || len(a.Columns) != 6 {
		t.Fatalf("answer cached=%v selection=%s columns=%d, want fresh, private, 6", a.Cached,
			a.GroupSelection, len(a.Columns))
	}

	// Groups of one or two people are not released; big ones are.
	want := exact(t, cat)
	released := map[string]bool{}
	inside, cells := 0, 0
	for _, r := range a.Rows {
		dest := r[0].(string)
		released[dest] = true
		ex, ok := want[dest]
		if !ok || strings.HasPrefix(dest, "XX") {
			t.Errorf("group %s released; it holds %v people", dest, ex[1])
			continue
		}
		for i := 0; i < 3; i++ {
			e := r[1+i].(queries.Estimate)
			cells++
			if e.Low <= ex[i] && ex[i] <= e.High {
				inside++
			}
		}
		for _, i := range []int{4, 5} { // mean and median: inside the bounds
			if e := r[i].(queries.Estimate); e.Value < 0 || e.Value > 1000 || math.IsNaN(e.Value) {
				t.Errorf("%s: %s = %v, outside [0, 1000]", dest, a.Columns[i].Name, e.Value)
			}
		}
	}
	for _, d := range big {
		if !released[d] {
			t.Errorf("group %s of %v people not released", d, want[d][1])
		}
	}
	// Nominal coverage is 95%; 18 of 24 fails with probability ~1e-4.
	if cells < 24 || inside < cells*3/4 {
		t.Errorf("%d of %d count, people and sum cells inside their intervals, want >= 75%%",
			inside, cells)
	}

	// The ledger holds the charge.
	b, err := cat.Balance(ctx, "maya", "bookings")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(b.Spent.Epsilon-3) > 1e-9 || math.Abs(b.Spent.Delta-1e-5) > 1e-15 {
		t.Errorf("ledger spent %+v, want ε=3 δ=1e-5", b.Spent)
	}

	// The same question through the query engine gets the report's answer,
	// free; so does the report run again.
	again, err := eng.Query(ctx, spec.Request("maya", "passenger_id"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.QueryID != a.QueryID || fmt.Sprint(again.Rows) != fmt.Sprint(a.Rows) {
		t.Errorf("query engine answer cached=%v id=%s, want the report's %s", again.Cached,
			again.QueryID, a.QueryID)
	}
	rerun, err := beamreport.Run(ctx, spec, cat, eng, beamreport.Options{Principal: "maya",
		Logger: slog.New(slog.DiscardHandler), KeyringPath: keyringOf(cat)})
	if err != nil {
		t.Fatal(err)
	}
	if !rerun.Cached {
		t.Errorf("report run again was not served from the ledger")
	}
	if b2, _ := cat.Balance(ctx, "maya", "bookings"); b2.Spent != b.Spent {
		t.Errorf("spent %+v after repeats, want %+v", b2.Spent, b.Spent)
	}
}

// TestReportRefusedWithoutBudget checks that a report the grant cannot
// cover is refused before Beam runs and costs nothing.
func TestReportRefusedWithoutBudget(t *testing.T) {
	ctx := context.Background()
	cat := publish(t)
	if err := cat.SetGrant(ctx, "maya", "bookings", store.Amount{Epsilon: 1, Delta: 1e-4}); err != nil {
		t.Fatal(err)
	}
	eng, err := queries.NewEngine(cat, queries.Config{Limits: queries.Limits{MaxEpsilon: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	spec, err := beamreport.Parse([]byte(reportSpec))
	if err != nil {
		t.Fatal(err)
	}
	_, err = beamreport.Run(ctx, spec, cat, eng, beamreport.Options{Principal: "maya"})
	var qe *queries.Error
	if !errors.As(err, &qe) || qe.Code != queries.CodeBudgetExhausted {
		t.Fatalf("Run = %v, want a budget_exhausted refusal", err)
	}
	if b, _ := cat.Balance(ctx, "maya", "bookings"); b.Spent != (store.Amount{}) {
		t.Errorf("refused report spent %+v", b.Spent)
	}
}

// keyringOf is the keyring publish made, beside the catalog's data dir.
func keyringOf(cat *store.Catalog) string {
	return filepath.Join(filepath.Dir(cat.Dir()), "keyring.json")
}
