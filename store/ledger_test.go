package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"haze/store"
)

// errRefused is what the test ChargeFuncs refuse with.
var errRefused = errors.New("refused")

// withinGrant is a ChargeFunc that enforces the principal's grant and the
// dataset's cap, with a little slack for float sums.
func withinGrant(b store.Balance, cost store.Amount) error {
	const slack = 1e-9
	if b.Granted == nil || b.Spent.Epsilon+cost.Epsilon > b.Granted.Epsilon+slack ||
		b.Spent.Delta+cost.Delta > b.Granted.Delta+slack {
		return errRefused
	}
	if b.Cap != nil && b.SpentAll.Epsilon+cost.Epsilon > b.Cap.Epsilon+slack {
		return errRefused
	}
	return nil
}

// charge returns a charge of eps by principal on trips v1 under fp.
func charge(principal, fp string, eps float64) store.Charge {
	return store.Charge{ID: "q_" + principal + "_" + fp, Principal: principal, Dataset: "trips",
		Version: 1, Fingerprint: fp, Query: "select count(*) from trips",
		Cost: store.Amount{Epsilon: eps}, Answer: []byte(`{"fp":"` + fp + `"}`),
		At: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
}

func ledgerRows(t *testing.T, cat *store.Catalog) int {
	t.Helper()
	var n int
	if err := cat.DB().QueryRow("SELECT count(*) FROM ledger").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func setGrant(t *testing.T, cat *store.Catalog, principal string, eps, delta float64) {
	t.Helper()
	if err := cat.SetGrant(context.Background(), principal, "trips",
		store.Amount{Epsilon: eps, Delta: delta}); err != nil {
		t.Fatalf("SetGrant: %v", err)
	}
}

func TestChargeRecordsAndBalances(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)

	b, err := cat.Balance(ctx, "ana", "trips")
	if err != nil {
		t.Fatal(err)
	}
	if b.Granted != nil || b.Cap != nil || b.Spent != (store.Amount{}) {
		t.Errorf("balance without grant = %+v, want no grant, no cap, nothing spent", b)
	}

	setGrant(t, cat, "ana", 1, 1e-5)
	setGrant(t, cat, "bob", 2, 0)
	if err := cat.SetCap(ctx, "trips", store.Amount{Epsilon: 2.5, Delta: 1e-5}); err != nil {
		t.Fatal(err)
	}
	ch := charge("ana", "f1", 0.4)
	ch.Cost.Delta = 1e-6
	data, cached, err := cat.Charge(ctx, ch, withinGrant, nil)
	if err != nil || cached || string(data) != string(ch.Answer) {
		t.Fatalf("Charge = %s, %v, %v, want the answer, not cached", data, cached, err)
	}
	if _, _, err := cat.Charge(ctx, charge("bob", "f2", 0.5), withinGrant, nil); err != nil {
		t.Fatal(err)
	}

	b, err = cat.Balance(ctx, "ana", "trips")
	if err != nil {
		t.Fatal(err)
	}
	want := store.Balance{Granted: &store.Amount{Epsilon: 1, Delta: 1e-5},
		Spent:    store.Amount{Epsilon: 0.4, Delta: 1e-6},
		Cap:      &store.Amount{Epsilon: 2.5, Delta: 1e-5},
		SpentAll: store.Amount{Epsilon: 0.9, Delta: 1e-6}}
	if *b.Granted != *want.Granted || b.Spent != want.Spent || *b.Cap != *want.Cap ||
		!closeAmount(b.SpentAll, want.SpentAll) {
		t.Errorf("balance = %s, want %s", show(b), show(want))
	}

	// Released finds the answer by dataset, version and fingerprint only.
	if got, ok, err := cat.Released(ctx, "trips", 1, "f1"); err != nil || !ok ||
		string(got) != string(ch.Answer) {
		t.Errorf("Released(f1) = %s, %v, %v, want the answer", got, ok, err)
	}
	for _, q := range []struct {
		version int
		fp      string
	}{{2, "f1"}, {1, "f3"}} {
		if _, ok, err := cat.Released(ctx, "trips", q.version, q.fp); err != nil || ok {
			t.Errorf("Released(v%d, %s) = %v, %v, want nothing", q.version, q.fp, ok, err)
		}
	}

	grants, err := cat.Grants(ctx, "", "trips")
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 2 || grants[0].Principal != "ana" || grants[0].Spent.Epsilon != 0.4 ||
		grants[1].Principal != "bob" || grants[1].Spent.Epsilon != 0.5 {
		t.Errorf("Grants = %+v, want ana spent 0.4 and bob spent 0.5", grants)
	}
	caps, err := cat.Caps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) != 1 || !near(caps[0].Spent.Epsilon, 0.9) || caps[0].Cap.Epsilon != 2.5 {
		t.Errorf("Caps = %+v, want trips capped at 2.5 with 0.9 spent", caps)
	}
}

func show(b store.Balance) string {
	s := fmt.Sprintf("spent %+v, all %+v", b.Spent, b.SpentAll)
	if b.Granted != nil {
		s += fmt.Sprintf(", granted %+v", *b.Granted)
	}
	if b.Cap != nil {
		s += fmt.Sprintf(", cap %+v", *b.Cap)
	}
	return s
}

func near(x, y float64) bool { return math.Abs(x-y) <= 1e-9 }

func closeAmount(a, b store.Amount) bool {
	return near(a.Epsilon, b.Epsilon) && near(a.Delta, b.Delta)
}

func TestSetGrantBelowSpentRefused(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	setGrant(t, cat, "ana", 1, 0)
	if _, _, err := cat.Charge(ctx, charge("ana", "f1", 0.6), withinGrant, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		a    store.Amount
		ok   bool
	}{
		{"below spent", store.Amount{Epsilon: 0.5}, false},
		{"exactly spent", store.Amount{Epsilon: 0.6}, true},
		{"raised", store.Amount{Epsilon: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cat.SetGrant(ctx, "ana", "trips", tt.a)
			if (err == nil) != tt.ok {
				t.Fatalf("SetGrant(%+v) = %v, want ok=%v", tt.a, err, tt.ok)
			}
		})
	}
	b, err := cat.Balance(ctx, "ana", "trips")
	if err != nil {
		t.Fatal(err)
	}
	if b.Granted == nil || b.Granted.Epsilon != 3 {
		t.Errorf("grant = %v, want ε=3", b.Granted)
	}
}

func TestChargeRefusedLeavesNoRow(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	setGrant(t, cat, "ana", 1, 0)

	calledInTx := false
	inTx := func(*sql.Tx, []byte, bool) error { calledInTx = true; return nil }
	refuse := func(store.Balance, store.Amount) error { return errRefused }
	data, cached, err := cat.Charge(ctx, charge("ana", "f1", 0.1), refuse, inTx)
	if !errors.Is(err, errRefused) || data != nil || cached {
		t.Errorf("Charge = %s, %v, %v, want nothing and %v", data, cached, err, errRefused)
	}
	if calledInTx {
		t.Errorf("inTx ran for a refused charge")
	}
	if n := ledgerRows(t, cat); n != 0 {
		t.Errorf("ledger rows = %d, want 0", n)
	}
	if _, ok, _ := cat.Released(ctx, "trips", 1, "f1"); ok {
		t.Errorf("a refused answer counts as released")
	}
}

func TestChargeInTxFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	setGrant(t, cat, "ana", 1, 0)
	if _, err := cat.DB().Exec("CREATE TABLE test_audit (id VARCHAR)"); err != nil {
		t.Fatal(err)
	}
	errAudit := errors.New("audit failed")
	ch := charge("ana", "f1", 0.3)
	audit := func(tx *sql.Tx, answer []byte, cached bool) error {
		if cached || string(answer) != string(ch.Answer) {
			t.Errorf("inTx got %s cached=%v, want the new answer", answer, cached)
		}
		if _, err := tx.Exec("INSERT INTO test_audit VALUES (?)", ch.ID); err != nil {
			return err
		}
		return errAudit
	}
	if _, _, err := cat.Charge(ctx, ch, withinGrant, audit); !errors.Is(err, errAudit) {
		t.Fatalf("Charge = %v, want %v", err, errAudit)
	}
	var audits int
	if err := cat.DB().QueryRow("SELECT count(*) FROM test_audit").Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if n := ledgerRows(t, cat); n != 0 || audits != 0 {
		t.Errorf("ledger rows = %d, audit rows = %d, want 0 and 0", n, audits)
	}
	if b, _ := cat.Balance(ctx, "ana", "trips"); b.Spent != (store.Amount{}) {
		t.Errorf("spent = %+v, want nothing", b.Spent)
	}
}

func TestChargeReturnsReleasedAnswer(t *testing.T) {
	// A second charge under a released fingerprint returns the first answer
	// and charges nothing; allow is asked only at no cost, so a principal
	// it refuses (one without a grant) does not get the answer.
	ctx := context.Background()
	cat := openCatalog(t)
	setGrant(t, cat, "ana", 1, 0)
	first := charge("ana", "f1", 0.3)
	if _, _, err := cat.Charge(ctx, first, withinGrant, nil); err != nil {
		t.Fatal(err)
	}

	again := charge("ana", "f1", 0.3)
	again.ID = "q_other"
	again.Answer = []byte(`{"fresh":true}`)
	var sawCached bool
	data, cached, err := cat.Charge(ctx, again,
		func(_ store.Balance, cost store.Amount) error {
			if cost != (store.Amount{}) {
				return errRefused
			}
			return nil
		},
		func(_ *sql.Tx, answer []byte, c bool) error { sawCached = c; return nil })
	if err != nil || !cached || string(data) != string(first.Answer) {
		t.Errorf("Charge = %s, %v, %v, want the released %s, cached", data, cached, err,
			first.Answer)
	}
	if !sawCached {
		t.Errorf("inTx was not told the answer is cached")
	}
	if n := ledgerRows(t, cat); n != 1 {
		t.Errorf("ledger rows = %d, want 1", n)
	}
	if b, _ := cat.Balance(ctx, "ana", "trips"); !near(b.Spent.Epsilon, 0.3) {
		t.Errorf("spent ε = %v, want 0.3", b.Spent.Epsilon)
	}

	// A principal allow refuses gets nothing, not even a released answer.
	stranger := charge("bob", "f1", 0.3)
	stranger.ID = "q_stranger"
	if data, _, err := cat.Charge(ctx, stranger, withinGrant, nil); err == nil {
		t.Errorf("Charge for a principal without a grant = %s, want refused", data)
	}

	// Another version is another answer.
	v2 := charge("ana", "f1", 0.3)
	v2.ID, v2.Version = "q_v2", 2
	if _, cached, err := cat.Charge(ctx, v2, withinGrant, nil); err != nil || cached {
		t.Errorf("Charge on v2 = %v, %v, want a fresh charge", cached, err)
	}
}

func TestChargeConcurrentNeverOverspends(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	setGrant(t, cat, "ana", 1, 0)
	setGrant(t, cat, "bob", 1, 0)
	if err := cat.SetCap(ctx, "trips", store.Amount{Epsilon: 1.5}); err != nil {
		t.Fatal(err)
	}

	const each = 20
	type result struct {
		principal string
		err       error
	}
	results := make(chan result, 2*each)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range each {
		for _, p := range []string{"ana", "bob"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				fp := fmt.Sprintf("%s%d", p, i)
				_, cached, err := cat.Charge(ctx, charge(p, fp, 0.1), withinGrant, nil)
				if cached {
					err = fmt.Errorf("fingerprint %s%d was released before", p, i)
				}
				results <- result{p, err}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(results)

	ok := map[string]int{}
	for r := range results {
		switch {
		case r.err == nil:
			ok[r.principal]++
		case !errors.Is(r.err, errRefused):
			t.Errorf("%s: Charge = %v, want nil or %v", r.principal, r.err, errRefused)
		}
	}
	if ok["ana"] > 10 || ok["bob"] > 10 || ok["ana"]+ok["bob"] != 15 {
		t.Errorf("charges that went through: %v, want 15 in all, at most 10 each", ok)
	}
	for _, p := range []string{"ana", "bob"} {
		b, err := cat.Balance(ctx, p, "trips")
		if err != nil {
			t.Fatal(err)
		}
		if b.Spent.Epsilon > 1+1e-9 || b.SpentAll.Epsilon > 1.5+1e-9 {
			t.Errorf("%s: spent %v of 1, all %v of 1.5", p, b.Spent.Epsilon, b.SpentAll.Epsilon)
		}
	}
	if n := ledgerRows(t, cat); n != 15 {
		t.Errorf("ledger rows = %d, want 15", n)
	}
}
