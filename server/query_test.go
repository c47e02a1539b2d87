package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/queries"
	"haze/store"
)

// TestQueryJSON checks a JSON answer: one estimate per public group, a
// charge of the query's ε, and what remains of the grant.
func TestQueryJSON(t *testing.T) {
	e := newEnv(t, Config{})
	analyst := e.keys[store.RoleAnalyst]

	var spent float64
	for i, eps := range []float64{0.5, 0.25} {
		resp, body := e.do(request{method: "POST", path: "/v1/query", key: analyst,
			body: cabinQuery(countByCabin, eps)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("query %d: got %d, want 200 (body %s)", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
			t.Errorf("Content-Type: got %q, want application/json", got)
		}
		var a queries.Answer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("decoding answer: %v", err)
		}
		spent += eps

		if a.Cached || a.Spent.Epsilon != eps || a.Dataset != testDataset || a.QueryID == "" {
			t.Errorf("query %d: got cached %v spent %v dataset %q id %q, want fresh, ε=%g, %s",
				i, a.Cached, a.Spent, a.Dataset, a.QueryID, eps, testDataset)
		}
		if a.Remaining == nil || math.Abs(a.Remaining.Epsilon-(grantEpsilon-spent)) > 1e-9 {
			t.Errorf("remaining: got %+v, want ε=%g", a.Remaining, grantEpsilon-spent)
		}
		var groups []string
		total := 0.0
		for _, row := range a.Rows {
			groups = append(groups, row[0].(string))
			est, ok := row[1].(queries.Estimate)
			if !ok {
				t.Fatalf("cell %v: got %T, want an Estimate", row[1], row[1])
			}
			if !(est.Low <= est.Value && est.Value <= est.High) {
				t.Errorf("estimate %+v: value outside its interval", est)
			}
			total += est.Value
		}
		slices.Sort(groups)
		if !slices.Equal(groups, cabins) {
			t.Errorf("groups: got %v, want %v", groups, cabins)
		}
		if !(total > 0 && total <= testRows) {
			t.Errorf("bounded count over all cabins: got %g, want in (0, %d]", total, testRows)
		}
	}
}

// TestQueryFormats checks the CSV and Arrow answers chosen by Accept.
func TestQueryFormats(t *testing.T) {
	e := newEnv(t, Config{})
	analyst := e.keys[store.RoleAnalyst]
	wantHeader := []string{"cabin", "n", "n_low", "n_high"}

	tests := []struct {
		name        string
		accept      string
		contentType string
		check       func(t *testing.T, body []byte)
	}{
		{"csv", "text/csv", "text/csv", func(t *testing.T, body []byte) {
			recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("reading CSV: %v", err)
			}
			if len(recs) != len(cabins)+1 {
				t.Fatalf("records: got %d, want a header and %d rows", len(recs), len(cabins))
			}
			if !slices.Equal(recs[0], wantHeader) {
				t.Errorf("header: got %v, want %v", recs[0], wantHeader)
			}
		}},
		{"arrow", "application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.stream",
			func(t *testing.T, body []byte) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				r, err := ipc.NewReader(bytes.NewReader(body), ipc.WithAllocator(mem))
				if err != nil {
					t.Fatalf("ipc.NewReader: %v", err)
				}
				defer r.Release()
				var names []string
				for _, f := range r.Schema().Fields() {
					names = append(names, f.Name)
				}
				if !slices.Equal(names, wantHeader) {
					t.Errorf("fields: got %v, want %v", names, wantHeader)
				}
				if got := r.Schema().Field(0).Type.ID(); got != arrow.STRING {
					t.Errorf("cabin type: got %s, want string", got)
				}
				var groups []string
				for r.Next() {
					rec := r.RecordBatch()
					cabin := rec.Column(0).(*array.String)
					value := rec.Column(1).(*array.Float64)
					low := rec.Column(2).(*array.Float64)
					high := rec.Column(3).(*array.Float64)
					for i := range int(rec.NumRows()) {
						groups = append(groups, cabin.Value(i))
						if !(low.Value(i) <= value.Value(i) && value.Value(i) <= high.Value(i)) {
							t.Errorf("row %d: %g outside [%g, %g]", i, value.Value(i), low.Value(i),
								high.Value(i))
						}
					}
				}
				if err := r.Err(); err != nil {
					t.Fatalf("reading stream: %v", err)
				}
				slices.Sort(groups)
				if !slices.Equal(groups, cabins) {
					t.Errorf("groups: got %v, want %v", groups, cabins)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(request{method: "POST", path: "/v1/query", key: analyst,
				body: cabinQuery(countByCabin, 0.1), header: map[string]string{"Accept": tt.accept}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (body %s)", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tt.contentType) {
				t.Errorf("Content-Type: got %q, want %s", got, tt.contentType)
			}
			tt.check(t, body)
		})
	}
}

// TestQueryBudget checks that a query over budget, or without a grant, is
// refused with 403 and charges nothing.
func TestQueryBudget(t *testing.T) {
	e := newEnv(t, Config{})
	tight := e.createKey("tight", store.RoleAnalyst)
	e.grant("tight", 0.3)
	none := e.createKey("nogrant", store.RoleAnalyst)

	tests := []struct {
		name      string
		key       string
		principal string
		epsilon   float64
		status    int
		code      string
	}{
		{"within the grant", tight, "tight", 0.25, http.StatusOK, ""},
		{"past the grant", tight, "tight", 0.1, http.StatusForbidden, queries.CodeBudgetExhausted},
		{"no grant", none, "nogrant", 0.1, http.StatusForbidden, queries.CodeNoGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, eps := e.ledger(tt.principal)
			resp, body := e.do(request{method: "POST", path: "/v1/query", key: tt.key,
				body: cabinQuery(countByCabin, tt.epsilon)})
			if tt.code == "" {
				if resp.StatusCode != tt.status {
					t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, tt.status, body)
				}
				return
			}
			wantError(t, resp, body, tt.status, tt.code)
			if gotRows, gotEps := e.ledger(tt.principal); gotRows != rows || gotEps != eps {
				t.Errorf("ledger: got %d rows ε=%g, want %d rows ε=%g", gotRows, gotEps, rows, eps)
			}
		})
	}
}

// TestQueryRefused checks that a query the checker refuses answers 400 (404
// for an unknown dataset) with the checker's code and a message that holds
// neither the SQL, nor a path of the server, nor internal error text.
func TestQueryRefused(t *testing.T) {
	e := newEnv(t, Config{})
	analyst := e.keys[store.RoleAnalyst]
	dataDir := e.cat.Dir()

	tests := []struct {
		name   string
		sql    string
		status int
		code   string
	}{
		{"select star", "SELECT * FROM bookings WHERE destination = 'zq-literal-1'",
			http.StatusBadRequest, queries.CodeSelectStar},
		{"not a select", "DROP TABLE bookings", http.StatusBadRequest, queries.CodeNotSelect},
		{"syntax", "SELEC COUNT(*) FROM bookings WHERE cabin = 'zq-literal-2'",
			http.StatusBadRequest, queries.CodeSyntax},
		{"file", "SELECT COUNT(*) FROM read_parquet('" + dataDir + "/datasets/*/*/data/*.parquet')",
			http.StatusBadRequest, queries.CodeForbiddenSource},
		{"protected column", "SELECT email, COUNT(*) FROM bookings GROUP BY email",
			http.StatusBadRequest, queries.CodeProtectedColumn},
		{"unknown column", "SELECT COUNT(*) FROM bookings WHERE secret_col = 'zq-literal-3'",
			http.StatusBadRequest, queries.CodeUnknownColumn},
		{"unknown dataset", "SELECT COUNT(*) FROM elsewhere", http.StatusNotFound,
			queries.CodeUnknownDataset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, eps := e.ledger(e.names[store.RoleAnalyst])
			before := e.auditHead()
			resp, body := e.do(request{method: "POST", path: "/v1/query", key: analyst,
				body: map[string]any{"sql": tt.sql, "epsilon": 0.1}})
			b := wantError(t, resp, body, tt.status, tt.code)

			msg := b.Error.Message
			for _, leak := range []string{tt.sql, "zq-literal", dataDir, e.dir, ".parquet",
				"duckdb", "Error:", "sql:", "serializing", ".go:", "%!"} {
				if strings.Contains(msg, leak) {
					t.Errorf("message %q holds %q", msg, leak)
				}
			}
			if gotRows, gotEps := e.ledger(e.names[store.RoleAnalyst]); gotRows != rows || gotEps != eps {
				t.Errorf("ledger: got %d rows ε=%g, want %d rows ε=%g", gotRows, gotEps, rows, eps)
			}
			entries := e.auditSince(before)
			if len(entries) != 1 || entries[0].Outcome != store.OutcomeRefused ||
				entries[0].Detail != tt.code || entries[0].Epsilon != 0 {
				t.Errorf("audit: got %+v, want one refused entry with detail %s and no ε",
					entries, tt.code)
			}
		})
	}
}

// TestQueryAudit checks the audit entry of an answered query against the
// ledger row of its charge, and that a repeat is free and audited as such.
func TestQueryAudit(t *testing.T) {
	e := newEnv(t, Config{})
	analyst, principal := e.keys[store.RoleAnalyst], e.names[store.RoleAnalyst]

	tests := []struct {
		name    string
		cached  bool
		epsilon float64 // the audit entry's and the ledger's
		rows    int     // ledger rows added
	}{
		{"fresh", false, 0.3, 1},
		{"repeat", true, 0, 0},
	}
	var firstID string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.auditHead()
			rows, _ := e.ledger(principal)
			resp, body := e.do(request{method: "POST", path: "/v1/query", key: analyst,
				body: cabinQuery(countByCabin, 0.3)})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (body %s)", resp.StatusCode, body)
			}
			var a queries.Answer
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatalf("decoding answer: %v", err)
			}
			if a.Cached != tt.cached || a.Spent.Epsilon != tt.epsilon {
				t.Errorf("answer: got cached %v ε=%g, want %v ε=%g", a.Cached, a.Spent.Epsilon,
					tt.cached, tt.epsilon)
			}

			entries := e.auditSince(before)
			if len(entries) != 1 {
				t.Fatalf("audit entries: got %d (%+v), want 1", len(entries), entries)
			}
			got := entries[0]
			if got.Action != "query" || got.Outcome != store.OutcomeAllowed ||
				got.Principal != principal || got.Role != store.RoleAnalyst ||
				got.Dataset != testDataset || got.Query == "" || got.Query != a.Query ||
				got.Epsilon != tt.epsilon {
				t.Errorf("audit entry: got %+v, want an allowed query by %s on %s with ε=%g",
					got, principal, testDataset, tt.epsilon)
			}
			if gotRows, _ := e.ledger(principal); gotRows != rows+tt.rows {
				t.Errorf("ledger rows: got %d, want %d", gotRows, rows+tt.rows)
			}
			if tt.cached {
				if a.QueryID != firstID {
					t.Errorf("query id: got %q, want the first answer's %q", a.QueryID, firstID)
				}
				return
			}
			firstID = a.QueryID
			var charged float64
			if err := e.cat.DB().QueryRow(`SELECT epsilon FROM ledger WHERE id = ?`,
				a.QueryID).Scan(&charged); err != nil {
				t.Fatalf("reading the charge: %v", err)
			}
			if charged != got.Epsilon || !(charged > 0) {
				t.Errorf("ledger charge: got ε=%g, want the audit's ε=%g > 0", charged, got.Epsilon)
			}
		})
	}
}

// TestQueryTimeout checks that a query cut by the server's timeout answers
// 504 and charges nothing, wherever the deadline falls: in the checks, in
// the bounded query DuckDB runs, or before the charge.
func TestQueryTimeout(t *testing.T) {
	// A heavy query: it takes tens of milliseconds, longer than any of the
	// timeouts below.
	heavy := "SELECT destination, home_airport, booking_date, COUNT(*) AS n, " +
		"quantile_cont(fare_amount, 0.5) AS median_fare, quantile_cont(fare_amount, 0.9) AS p90, " +
		"quantile_cont(ancillary_amount, 0.5) AS median_anc, AVG(ancillary_amount) AS anc, " +
		"SUM(fare_amount) AS revenue FROM bookings GROUP BY destination, home_airport, booking_date"
	for _, timeout := range []time.Duration{time.Millisecond, 2 * time.Millisecond,
		4 * time.Millisecond, 8 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			e := newEnv(t, Config{QueryTimeout: timeout})
			analyst, principal := e.keys[store.RoleAnalyst], e.names[store.RoleAnalyst]
			for i := range 3 {
				before := e.auditHead()
				resp, body := e.do(request{method: "POST", path: "/v1/query", key: analyst,
					body: map[string]any{"sql": heavy, "epsilon": 0.1 + float64(i)/100}})
				wantError(t, resp, body, http.StatusGatewayTimeout, "timeout")
				if rows, eps := e.ledger(principal); rows != 0 || eps != 0 {
					t.Errorf("ledger: got %d rows ε=%g, want nothing charged", rows, eps)
				}
				entries := e.auditSince(before)
				if len(entries) != 1 || entries[0].Outcome != store.OutcomeError ||
					entries[0].Detail != "timeout" || entries[0].Epsilon != 0 {
					t.Errorf("audit: got %+v, want one entry with outcome error, detail "+
						"timeout, no ε", entries)
				}
			}
		})
	}
}
