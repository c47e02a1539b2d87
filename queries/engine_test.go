package queries_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"haze/queries"
	"haze/store"
)

func TestQueryRefusals(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 1e-3)
	e.grant("poor", "trips", 0.05, 1e-3)

	const (
		count   = "SELECT count(*) FROM trips"
		grouped = "SELECT destination, count(*) FROM trips GROUP BY destination"
		twoKeys = "SELECT destination, cabin, count(*) FROM trips GROUP BY destination, cabin"
		fares   = "SELECT sum(fare_amount) FROM trips"
	)
	dests := map[string][]string{"destination": {"JFK"}}
	tests := []struct {
		name      string
		principal string
		sql       string
		opts      queries.Options
		code      string
	}{
		{"epsilon zero", "ana", count, queries.Options{}, queries.CodeBadOption},
		{"epsilon negative", "ana", count, queries.Options{Epsilon: -0.5}, queries.CodeBadOption},
		{"epsilon above the cap", "ana", count, queries.Options{Epsilon: 1.5},
			queries.CodeBadOption},
		{"epsilon not a number", "ana", count, queries.Options{Epsilon: math.NaN()},
			queries.CodeBadOption},
		{"epsilon infinite", "ana", count, queries.Options{Epsilon: math.Inf(1)},
			queries.CodeBadOption},
		{"delta without groups", "ana", count, queries.Options{Epsilon: 0.1, Delta: 1e-6},
			queries.CodeBadOption},
		{"delta over public groups", "ana", grouped,
			queries.Options{Epsilon: 0.1, Delta: 1e-6, PublicGroups: dests}, queries.CodeBadOption},
		{"delta above the cap", "ana", grouped, queries.Options{Epsilon: 0.1, Delta: 0.01},
			queries.CodeBadOption},
		{"delta negative", "ana", grouped, queries.Options{Epsilon: 0.1, Delta: -1e-6},
			queries.CodeBadOption},
		{"unknown mechanism", "ana", count, queries.Options{Epsilon: 0.1, Mechanism: "cauchy"},
			queries.CodeBadOption},
		{"max groups above the dataset's", "ana", grouped,
			queries.Options{Epsilon: 0.1, MaxGroupsContributed: testMaxGroups + 1},
			queries.CodeBadOption},
		{"max groups negative", "ana", grouped,
			queries.Options{Epsilon: 0.1, MaxGroupsContributed: -1}, queries.CodeBadOption},
		{"max rows above the dataset's", "ana", grouped,
			queries.Options{Epsilon: 0.1, MaxContributionsPerGroup: testMaxRows + 1},
			queries.CodeBadOption},
		{"public groups miss a group by column", "ana", twoKeys,
			queries.Options{Epsilon: 0.1, PublicGroups: dests}, queries.CodeBadOption},
		{"public groups without group by", "ana", count,
			queries.Options{Epsilon: 0.1, PublicGroups: dests}, queries.CodeBadOption},
		{"public groups name another column", "ana", grouped,
			queries.Options{Epsilon: 0.1, PublicGroups: map[string][]string{
				"destination": {"JFK"}, "cabin": {"Y"}}}, queries.CodeBadOption},
		{"public groups list no key", "ana", grouped,
			queries.Options{Epsilon: 0.1, PublicGroups: map[string][]string{"destination": {}}},
			queries.CodeBadOption},
		{"public group key of the wrong type", "ana",
			"SELECT birth_year, count(*) FROM trips GROUP BY birth_year",
			queries.Options{Epsilon: 0.1, PublicGroups: map[string][]string{"birth_year": {"abc"}}},
			queries.CodeBadOption},
		{"bounds for an unknown column", "ana", fares, queries.Options{Epsilon: 0.1,
			Bounds: map[string][2]float64{"loyalty_points": {0, 10}}}, queries.CodeBadOption},
		{"bounds reversed", "ana", fares, queries.Options{Epsilon: 0.1,
			Bounds: map[string][2]float64{"fare_amount": {10, 0}}}, queries.CodeBadOption},
		{"bounds infinite", "ana", fares, queries.Options{Epsilon: 0.1,
			Bounds: map[string][2]float64{"fare_amount": {0, math.Inf(1)}}}, queries.CodeBadOption},
		{"bounds finer than cents", "ana", fares, queries.Options{Epsilon: 0.1,
			Bounds: map[string][2]float64{"fare_amount": {0, 0.005}}}, queries.CodeBadOption},
		{"protected column", "ana", "SELECT count(passenger_id) FROM trips",
			queries.Options{Epsilon: 0.1}, queries.CodeProtectedColumn},
		{"unknown dataset", "ana", "SELECT count(*) FROM bookings", queries.Options{Epsilon: 0.1},
			queries.CodeUnknownDataset},
		{"no grant", "eve", count, queries.Options{Epsilon: 0.1}, queries.CodeNoGrant},
		{"budget exhausted", "poor", count, queries.Options{Epsilon: 0.1},
			queries.CodeBudgetExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.balance(tt.principal, "trips")
			rows := e.ledgerRows("trips")

			_, err := e.exact.Query(e.ctx, queries.Request{Principal: tt.principal, SQL: tt.sql,
				Options: tt.opts})
			refusal(t, err, tt.code)

			// A refused query costs nothing.
			if after := e.balance(tt.principal, "trips"); !reflect.DeepEqual(after, before) {
				t.Errorf("balance after a refusal = %+v, want %+v", after, before)
			}
			if n := e.ledgerRows("trips"); n != rows {
				t.Errorf("ledger rows after a refusal = %d, want %d", n, rows)
			}
		})
	}
}

func TestQueryRequiresPrincipal(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	_, err := e.exact.Query(e.ctx, queries.Request{SQL: "SELECT count(*) FROM trips",
		Options: queries.Options{Epsilon: 0.1}})
	if err == nil {
		t.Fatalf("Query without a principal: got no error, want one")
	}
	if n := e.ledgerRows("trips"); n != 0 {
		t.Errorf("ledger rows = %d, want 0", n)
	}
}

func TestQueryMissingDataFilesCostsNothing(t *testing.T) {
	// A dataset whose files are gone fails; the failure costs nothing.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	data := filepath.Join(e.cat.Dir(), "datasets", "trips", "v1", "data")
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	_, err := e.exact.Query(e.ctx, queries.Request{Principal: "ana",
		SQL: "SELECT count(*) FROM trips", Options: queries.Options{Epsilon: 0.1}})
	if err == nil {
		t.Fatalf("Query over missing files: got no error, want one")
	}
	if b := e.balance("ana", "trips"); b.Spent != (store.Amount{}) {
		t.Errorf("spent after a failure = %+v, want zero", b.Spent)
	}
	if n := e.ledgerRows("trips"); n != 0 {
		t.Errorf("ledger rows after a failure = %d, want 0", n)
	}
}

func TestAnswerJSONRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)

	a := e.query(e.noisy, queries.Request{Principal: "ana",
		SQL: "SELECT destination, count(*) AS n, avg(fare_amount) AS fare FROM trips " +
			"GROUP BY destination",
		Options: queries.Options{Epsilon: 0.5,
			PublicGroups: map[string][]string{"destination": {"CDG", "JFK", "ZZZ"}}}})
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var back queries.Answer
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !reflect.DeepEqual(&back, a) {
		t.Errorf("round trip:\n got %+v\nwant %+v", &back, a)
	}
	for i, row := range back.Rows {
		if _, ok := row[0].(string); !ok {
			t.Errorf("row %d key = %v (%T), want a string", i, row[0], row[0])
		}
		for j := 1; j < len(row); j++ {
			if _, ok := row[j].(queries.Estimate); !ok {
				t.Errorf("row %d cell %d = %v (%T), want an Estimate", i, j, row[j], row[j])
			}
		}
	}
}

func TestAnswerJSONNumericKeys(t *testing.T) {
	// Keys of numeric columns come back as numbers, aggregates as Estimates.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	a := e.query(e.exact, queries.Request{Principal: "ana",
		SQL: "SELECT count(*) AS n, birth_year FROM trips GROUP BY birth_year",
		Options: queries.Options{Epsilon: 0.5,
			PublicGroups: map[string][]string{"birth_year": {"1960", "1961"}}}})
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var back queries.Answer
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	wantKeys := []float64{1960, 1961}
	if len(back.Rows) != len(wantKeys) {
		t.Fatalf("rows = %v, want %d rows", back.Rows, len(wantKeys))
	}
	for i, row := range back.Rows {
		if _, ok := row[0].(queries.Estimate); !ok {
			t.Errorf("row %d cell 0 = %T, want an Estimate", i, row[0])
		}
		if row[1] != wantKeys[i] {
			t.Errorf("row %d key = %v (%T), want %v", i, row[1], row[1], wantKeys[i])
		}
	}
}

func TestAnswerWriteCSV(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	a := e.query(e.exact, queries.Request{Principal: "ana",
		SQL: "SELECT destination, count(*) AS n, sum(fare_amount) FROM trips GROUP BY destination",
		Options: queries.Options{Epsilon: 0.5,
			PublicGroups: map[string][]string{"destination": {"JFK", "ZZZ"}}}})

	var buf bytes.Buffer
	if err := a.WriteCSV(&buf); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("reading CSV: %v\n%s", err, buf.String())
	}
	wantHeader := []string{"destination", "n", "n_low", "n_high", "sum(fare_amount)",
		"sum(fare_amount)_low", "sum(fare_amount)_high"}
	if !slices.Equal(recs[0], wantHeader) {
		t.Errorf("header = %v, want %v", recs[0], wantHeader)
	}
	if len(recs) != 3 {
		t.Fatalf("records = %d, want a header and 2 rows", len(recs))
	}
	jfk := e.oracleFloat("SELECT count(*) FROM trips WHERE destination = 'JFK'")
	got, want := recs[1][:4], []string{"JFK", ftoa(jfk), ftoa(jfk), ftoa(jfk)}
	if !slices.Equal(got, want) {
		t.Errorf("JFK record = %v, want %v", got, want)
	}
	got, want = recs[2], []string{"ZZZ", "0", "0", "0", "0", "0", "0"}
	if !slices.Equal(got, want) {
		t.Errorf("ZZZ record = %v, want %v", got, want)
	}
}

func TestAnswerWriteTable(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	req := queries.Request{Principal: "ana", SQL: "SELECT count(*) AS n FROM trips",
		Options: queries.Options{Epsilon: 0.5}}
	e.query(e.exact, req)
	a := e.query(e.exact, req)

	var buf bytes.Buffer
	a.WriteTable(&buf)
	out := buf.String()
	n := e.oracleFloat("SELECT count(*) FROM trips")
	for _, want := range []string{"95% interval", ftoa(n), "ε=0.5", "at no cost", "budget left"} {
		if !strings.Contains(out, want) {
			t.Errorf("table is\n%s\nwant it to contain %q", out, want)
		}
	}
}

func ftoa(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func TestQueryGroupsOfNaN(t *testing.T) {
	// A DOUBLE column may hold NaN. Grouping by it is allowed, so the answer
	// must be deliverable: a NaN key cannot be a JSON number and is shown
	// as text, as infinite keys are.
	e := newEnv(t)
	dir := filepath.Join(e.cat.Dir(), "datasets", "scores", "v1", "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := e.oracle.Exec(`COPY (SELECT 'tok_' || i AS passenger_id,
		CASE WHEN i % 2 = 0 THEN 'nan'::DOUBLE ELSE 1.5 END AS score FROM range(2000) t(i))
		TO '` + filepath.Join(dir, "part-00000.parquet") + `' (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	if err := e.cat.Publish(e.ctx, store.Version{Dataset: "scores", Version: 1,
		Encryption: store.EncryptionNone,
		Path:       "datasets/scores/v1", PrivacyUnit: "passenger_id",
		Columns: []store.Column{{Name: "passenger_id", Type: "VARCHAR", Action: "pseudonymize"},
			{Name: "score", Type: "DOUBLE", Action: "keep"}},
		DP: store.DPDefaults{MaxGroupsContributed: testMaxGroups,
			MaxContributionsPerGroup: testMaxRows}}); err != nil {
		t.Fatal(err)
	}
	e.grant("ana", "scores", 1, 0)

	a, err := e.exact.Query(e.ctx, queries.Request{Principal: "ana",
		SQL: "SELECT score, count(*) AS n FROM scores GROUP BY score",
		Options: queries.Options{Epsilon: 1,
			PublicGroups: map[string][]string{"score": {"1.5", "nan"}}}})
	if err != nil {
		t.Fatalf("Query = %v, want an answer", err)
	}
	got := map[string]float64{}
	for _, row := range a.Rows {
		got[keyText(row[0])] = row[1].(queries.Estimate).Value
	}
	if want := map[string]float64{"1.5": 1000, "nan": 1000}; !reflect.DeepEqual(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
	if _, err := json.Marshal(a); err != nil {
		t.Errorf("Marshal = %v, want nil", err)
	}
}
