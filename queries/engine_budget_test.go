package queries_test

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"

	"haze/queries"
	"haze/store"
)

// outcome is what one of many concurrent queries got.
type outcome struct {
	principal string
	answer    *queries.Answer
	err       error
}

// runConcurrently sends every request at once and waits for all.
func runConcurrently(e *env, eng *queries.Engine, reqs []queries.Request) []outcome {
	out := make([]outcome, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := eng.Query(e.ctx, req)
			out[i] = outcome{principal: req.Principal, answer: a, err: err}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// tally counts answers and refusals by code; other errors fail the test.
func tally(t *testing.T, outs []outcome) (answers int, refusals map[string]int) {
	t.Helper()
	refusals = map[string]int{}
	for _, o := range outs {
		var qe *queries.Error
		switch {
		case o.err == nil:
			answers++
		case errors.As(o.err, &qe):
			refusals[qe.Code]++
		default:
			t.Errorf("%s: unexpected error %v", o.principal, o.err)
		}
	}
	return answers, refusals
}

func TestBudgetConcurrentQueriesNeverOverspend(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1.0, 0)

	var reqs []queries.Request
	for i := range 50 {
		reqs = append(reqs, queries.Request{Principal: "ana",
			SQL:     fmt.Sprintf("SELECT count(*) FROM trips WHERE birth_year > %d", 1900+i),
			Options: queries.Options{Epsilon: 0.1}})
	}
	outs := runConcurrently(e, e.exact, reqs)

	answers, refusals := tally(t, outs)
	if answers != 10 || refusals[queries.CodeBudgetExhausted] != 40 {
		t.Errorf("got %d answers and refusals %v, want 10 answers and 40 %s", answers, refusals,
			queries.CodeBudgetExhausted)
	}
	for _, o := range outs {
		if o.err == nil && (o.answer.Cached || o.answer.Spent.Epsilon != 0.1) {
			t.Errorf("answer cached=%v spent=%+v, want fresh at ε=0.1", o.answer.Cached,
				o.answer.Spent)
		}
	}
	b := e.balance("ana", "trips")
	if !near(b.Spent.Epsilon, 1.0, 1e-9) {
		t.Errorf("spent ε = %.17g, want 1.0", b.Spent.Epsilon)
	}
	if n := e.ledgerRows("trips"); n != 10 {
		t.Errorf("ledger rows = %d, want 10", n)
	}
}

func TestBudgetDatasetCapAcrossPrincipals(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	e.grant("bob", "trips", 1, 0)
	if err := e.cat.SetCap(e.ctx, "trips", store.Amount{Epsilon: 1.5, Delta: 0}); err != nil {
		t.Fatal(err)
	}

	var reqs []queries.Request
	for i := range 12 {
		for _, p := range []string{"ana", "bob"} {
			// The texts differ between principals too, so that no answer is
			// shared.
			reqs = append(reqs, queries.Request{Principal: p,
				SQL: fmt.Sprintf("SELECT count(*) FROM trips WHERE home_airport <> '%s%d'",
					p, i),
				Options: queries.Options{Epsilon: 0.1}})
		}
	}
	outs := runConcurrently(e, e.exact, reqs)

	answers, refusals := tally(t, outs)
	if answers != 15 || refusals[queries.CodeBudgetExhausted] != 9 {
		t.Errorf("got %d answers and refusals %v, want 15 answers and 9 %s", answers, refusals,
			queries.CodeBudgetExhausted)
	}
	var total float64
	for _, p := range []string{"ana", "bob"} {
		b := e.balance(p, "trips")
		if b.Spent.Epsilon > 1+1e-9 {
			t.Errorf("%s spent ε = %v, want at most its grant of 1", p, b.Spent.Epsilon)
		}
		total += b.Spent.Epsilon
		if !near(b.SpentAll.Epsilon, 1.5, 1e-9) {
			t.Errorf("spent by all = %v, want the cap 1.5", b.SpentAll.Epsilon)
		}
	}
	if !near(total, 1.5, 1e-9) {
		t.Errorf("ana and bob spent ε = %v together, want 1.5", total)
	}
}

func TestCacheReturnsReleasedAnswer(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 5, 1e-4)
	const sql = "SELECT destination, count(*) AS n FROM trips GROUP BY destination"
	public := map[string][]string{"destination": {"CDG", "JFK"}}
	req := queries.Request{Principal: "ana", SQL: sql,
		Options: queries.Options{Epsilon: 0.3, PublicGroups: public}}

	first := e.query(e.noisy, req)
	if first.Cached || first.Spent.Epsilon != 0.3 {
		t.Fatalf("first answer cached=%v spent=%+v, want fresh at ε=0.3", first.Cached,
			first.Spent)
	}
	spent := e.balance("ana", "trips")
	rows := e.ledgerRows("trips")

	same := []struct {
		name string
		req  queries.Request
	}{
		{"identical", req},
		{"white space and keyword case", queries.Request{Principal: "ana",
			SQL:     "select  DESTINATION,\n\tCOUNT(*) as n\nFROM trips  group by 1",
			Options: req.Options}},
		{"public keys in another order", queries.Request{Principal: "ana", SQL: sql,
			Options: queries.Options{Epsilon: 0.3,
				PublicGroups: map[string][]string{"destination": {"JFK", "CDG", "JFK"}}}}},
		{"the dataset's bounds spelled out", queries.Request{Principal: "ana", SQL: sql,
			Options: queries.Options{Epsilon: 0.3, PublicGroups: public,
				MaxGroupsContributed: testMaxGroups, MaxContributionsPerGroup: testMaxRows}}},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			a := e.query(e.noisy, tt.req)
			if !a.Cached || a.Spent != (queries.Spent{}) {
				t.Errorf("cached=%v spent=%+v, want cached at no cost", a.Cached, a.Spent)
			}
			if a.QueryID != first.QueryID || !reflect.DeepEqual(a.Rows, first.Rows) {
				t.Errorf("answer %s %v, want the released %s %v", a.QueryID, a.Rows,
					first.QueryID, first.Rows)
			}
			if a.Cost != first.Cost {
				t.Errorf("cost = %+v, want the first release's %+v", a.Cost, first.Cost)
			}
			if b := e.balance("ana", "trips"); !reflect.DeepEqual(b, spent) {
				t.Errorf("balance = %+v, want unchanged %+v", b, spent)
			}
			if n := e.ledgerRows("trips"); n != rows {
				t.Errorf("ledger rows = %d, want %d", n, rows)
			}
		})
	}

	fresh := []struct {
		name string
		req  queries.Request
	}{
		{"another epsilon", queries.Request{Principal: "ana", SQL: sql,
			Options: queries.Options{Epsilon: 0.30001, PublicGroups: public}}},
		{"another public key", queries.Request{Principal: "ana", SQL: sql,
			Options: queries.Options{Epsilon: 0.3,
				PublicGroups: map[string][]string{"destination": {"CDG", "JFK", "NRT"}}}}},
		{"tighter bounds", queries.Request{Principal: "ana", SQL: sql,
			Options: queries.Options{Epsilon: 0.3, PublicGroups: public,
				MaxContributionsPerGroup: 1}}},
		{"another filter", queries.Request{Principal: "ana",
			SQL: "SELECT destination, count(*) AS n FROM trips WHERE cabin = 'Y' " +
				"GROUP BY destination",
			Options: req.Options}},
	}
	for _, tt := range fresh {
		t.Run(tt.name, func(t *testing.T) {
			before := e.balance("ana", "trips")
			a := e.query(e.noisy, tt.req)
			if a.Cached || a.Spent.Epsilon != tt.req.Options.Epsilon || a.QueryID == first.QueryID {
				t.Errorf("cached=%v spent=%+v id=%s, want a fresh answer at ε=%v", a.Cached,
					a.Spent, a.QueryID, tt.req.Options.Epsilon)
			}
			after := e.balance("ana", "trips")
			got := after.Spent.Epsilon - before.Spent.Epsilon
			if want := tt.req.Options.Epsilon; !near(got, want, 1e-12) {
				t.Errorf("charged ε = %v, want %v", got, want)
			}
		})
	}

	// A new version of the dataset answers afresh.
	e.publish("trips", baseTrips())
	a := e.query(e.noisy, req)
	if a.Cached || a.Version != 2 || a.Spent.Epsilon != 0.3 {
		t.Errorf("after v2: cached=%v version=%d spent=%+v, want fresh on version 2 at ε=0.3",
			a.Cached, a.Version, a.Spent)
	}
	if again := e.query(e.noisy, req); !again.Cached || again.QueryID != a.QueryID {
		t.Errorf("v2 again: cached=%v id=%s, want the v2 answer %s cached", again.Cached,
			again.QueryID, a.QueryID)
	}
}

func TestCacheServesReleasedAnswerWithoutBudgetLeft(t *testing.T) {
	// Returning a released answer spends nothing, so it needs no budget left.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 0.2, 0)
	req := queries.Request{Principal: "ana", SQL: "SELECT count(*) FROM trips",
		Options: queries.Options{Epsilon: 0.2}}
	first := e.query(e.noisy, req)

	other := req
	other.SQL = "SELECT count(*) FROM trips WHERE cabin = 'Y'"
	_, err := e.noisy.Query(e.ctx, other)
	refusal(t, err, queries.CodeBudgetExhausted)

	a := e.query(e.noisy, req)
	if !a.Cached || a.QueryID != first.QueryID {
		t.Errorf("cached=%v id=%s, want the released %s", a.Cached, a.QueryID, first.QueryID)
	}
	if a.Remaining == nil || a.Remaining.Epsilon != 0 {
		t.Errorf("remaining = %+v, want ε=0", a.Remaining)
	}
}

func TestCachePrivateSelectionIsNotRedrawn(t *testing.T) {
	// Asking again for privately selected groups must not draw the
	// selection again: the same groups come back.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 5, 1e-3)
	req := queries.Request{Principal: "ana",
		SQL:     "SELECT birth_year, count(*) AS n FROM trips GROUP BY birth_year",
		Options: queries.Options{Epsilon: 0.2}}
	first := e.query(e.noisy, req)
	for range 5 {
		if a := e.query(e.noisy, req); !reflect.DeepEqual(a.Rows, first.Rows) {
			t.Fatalf("rows = %v, want the released %v", a.Rows, first.Rows)
		}
	}
}

// errAudit is the failure the audit hooks below inject.
var errAudit = errors.New("audit log unavailable")

// auditTable creates a table in the catalog for the audit hooks to write.
func auditTable(e *env) {
	e.t.Helper()
	if _, err := e.cat.DB().ExecContext(e.ctx,
		"CREATE TABLE test_audit (query_id VARCHAR, cached BOOLEAN)"); err != nil {
		e.t.Fatal(err)
	}
}

func auditRows(e *env) int {
	e.t.Helper()
	var n int
	err := e.cat.DB().QueryRowContext(e.ctx, "SELECT count(*) FROM test_audit").Scan(&n)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// writeAudit writes the answer's record in tx, then fails when fail is set.
func writeAudit(fail bool, seen **queries.Answer) func(tx *sql.Tx, a *queries.Answer) error {
	return func(tx *sql.Tx, a *queries.Answer) error {
		if seen != nil {
			*seen = a
		}
		_, err := tx.Exec("INSERT INTO test_audit VALUES (?, ?)", a.QueryID, a.Cached)
		if err != nil {
			return err
		}
		if fail {
			return errAudit
		}
		return nil
	}
}

func TestAuditFailureChargesNothing(t *testing.T) {
	// An audit that fails inside the charging transaction stands for a
	// crash before the commit: nothing is charged, no audit row stays, and
	// no answer is left to be served from the ledger.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	auditTable(e)
	req := queries.Request{Principal: "ana", SQL: "SELECT count(*) FROM trips",
		Options: queries.Options{Epsilon: 0.25}, Audit: writeAudit(true, nil)}

	a, err := e.noisy.Query(e.ctx, req)
	if !errors.Is(err, errAudit) || a != nil {
		t.Fatalf("Query = %v, %v, want no answer and %v", a, err, errAudit)
	}
	if b := e.balance("ana", "trips"); b.Spent != (store.Amount{}) {
		t.Errorf("spent = %+v, want nothing", b.Spent)
	}
	if n := e.ledgerRows("trips"); n != 0 {
		t.Errorf("ledger rows = %d, want 0", n)
	}
	if n := auditRows(e); n != 0 {
		t.Errorf("audit rows = %d, want 0 (rolled back with the charge)", n)
	}

	// The next identical query is computed and charged afresh, and the
	// audit sees the answer as it leaves.
	var seen *queries.Answer
	req.Audit = writeAudit(false, &seen)
	a = e.query(e.noisy, req)
	if a.Cached || a.Spent.Epsilon != 0.25 {
		t.Errorf("cached=%v spent=%+v, want fresh at ε=0.25", a.Cached, a.Spent)
	}
	if seen == nil || seen.QueryID != a.QueryID || seen.Cached ||
		!reflect.DeepEqual(seen.Rows, a.Rows) {
		t.Errorf("audit saw %+v, want the answer %+v", seen, a)
	}
	if b := e.balance("ana", "trips"); !near(b.Spent.Epsilon, 0.25, 1e-12) {
		t.Errorf("spent ε = %v, want 0.25", b.Spent.Epsilon)
	}
	if n := auditRows(e); n != 1 {
		t.Errorf("audit rows = %d, want 1", n)
	}
}

func TestAuditFailureOnCachedAnswer(t *testing.T) {
	// A released answer is returned only with its audit entry.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	auditTable(e)
	req := queries.Request{Principal: "ana", SQL: "SELECT count(*) FROM trips",
		Options: queries.Options{Epsilon: 0.25}}
	e.query(e.noisy, req)

	req.Audit = writeAudit(true, nil)
	if a, err := e.noisy.Query(e.ctx, req); !errors.Is(err, errAudit) || a != nil {
		t.Errorf("Query = %v, %v, want no answer and %v", a, err, errAudit)
	}
	var seen *queries.Answer
	req.Audit = writeAudit(false, &seen)
	a := e.query(e.noisy, req)
	if !a.Cached || seen == nil || !seen.Cached || seen.Spent != (queries.Spent{}) {
		t.Errorf("answer cached=%v, audit saw %+v, want both cached at no cost", a.Cached, seen)
	}
	if n := auditRows(e); n != 1 {
		t.Errorf("audit rows = %d, want 1", n)
	}
	if b := e.balance("ana", "trips"); !near(b.Spent.Epsilon, 0.25, 1e-12) {
		t.Errorf("spent ε = %v, want 0.25", b.Spent.Epsilon)
	}
}

func TestLostAnswerIsServedAgain(t *testing.T) {
	// When the charge committed but the answer never reached the analyst,
	// asking again returns that same answer at no cost: never a new draw.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 1, 0)
	req := queries.Request{Principal: "ana",
		SQL: "SELECT cabin, count(*) AS n, avg(fare_amount) AS fare FROM trips GROUP BY cabin",
		Options: queries.Options{Epsilon: 0.5,
			PublicGroups: map[string][]string{"cabin": {"F", "J", "W", "Y"}}}}

	if _, err := e.noisy.Query(e.ctx, req); err != nil { // the answer is lost
		t.Fatal(err)
	}
	spent := e.balance("ana", "trips")
	released, ok, err := releasedAnswer(e, "trips")
	if err != nil || !ok {
		t.Fatalf("ledger answer: %v, %v, want one", ok, err)
	}

	a := e.query(e.noisy, req)
	if !a.Cached || a.Spent != (queries.Spent{}) || a.QueryID != released.QueryID {
		t.Errorf("cached=%v spent=%+v id=%s, want the released %s at no cost", a.Cached, a.Spent,
			a.QueryID, released.QueryID)
	}
	if !reflect.DeepEqual(a.Rows, released.Rows) {
		t.Errorf("rows = %v, want the released %v", a.Rows, released.Rows)
	}
	if b := e.balance("ana", "trips"); !reflect.DeepEqual(b, spent) {
		t.Errorf("balance = %+v, want unchanged %+v", b, spent)
	}
	if math.IsNaN(a.Remaining.Epsilon) || !near(a.Remaining.Epsilon, 0.5, 1e-12) {
		t.Errorf("remaining = %+v, want ε=0.5", a.Remaining)
	}
}

// releasedAnswer decodes the one answer in the ledger of dataset.
func releasedAnswer(e *env, dataset string) (*queries.Answer, bool, error) {
	var data string
	err := e.cat.DB().QueryRowContext(e.ctx, "SELECT answer FROM ledger WHERE dataset = ?",
		dataset).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var a queries.Answer
	if err := a.UnmarshalJSON([]byte(data)); err != nil {
		return nil, false, err
	}
	return &a, true, nil
}
