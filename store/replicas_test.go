package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"haze/store"
)

func TestRoundsOnce(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)

	if err := cat.CreateRound(ctx, "r1", "2026-11", []byte(`{"n":0}`)); err != nil {
		t.Fatalf("CreateRound: %v", err)
	}
	if err := cat.CreateRound(ctx, "r1", "2026-11", []byte(`{}`)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateRound again = %v, want %v", err, store.ErrConflict)
	}
	if _, err := cat.Round(ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Round(r2) = %v, want %v", err, store.ErrNotFound)
	}
	if err := cat.AddPartner(ctx, "aa", []byte(`{"name":"aa"}`)); err != nil {
		t.Fatalf("AddPartner: %v", err)
	}
	if err := cat.AddPartner(ctx, "aa", []byte(`{}`)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("AddPartner again = %v, want %v", err, store.ErrConflict)
	}

	// Partners submit at once, one of them twice: every other submission
	// counts once, in the record and in the submissions.
	const partners = 8
	count := func(rec []byte) ([]byte, error) {
		var n int
		fmt.Sscanf(string(rec), `{"n":%d}`, &n)
		return fmt.Appendf(nil, `{"n":%d}`, n+1), nil
	}
	errs := make([]error, partners+1)
	var wg sync.WaitGroup
	for i := range partners + 1 {
		wg.Go(func() {
			p := fmt.Sprintf("p%d", min(i, partners-1))
			errs[i] = cat.AddRoundSubmission(ctx, "r1", p, []byte(p), count)
		})
	}
	wg.Wait()
	conflicts := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, store.ErrConflict):
			conflicts++
		case err != nil:
			t.Errorf("submission %d: %v", i, err)
		}
	}
	rec, err := cat.Round(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	subs, err := cat.RoundSubmissions(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if conflicts != 1 || string(rec) != fmt.Sprintf(`{"n":%d}`, partners) || len(subs) != partners {
		t.Errorf("got %d conflicts, record %s, %d submissions; want 1, {\"n\":%d}, %d",
			conflicts, rec, len(subs), partners, partners)
	}
}

func TestReplicasShareLedgerAndAudit(t *testing.T) {
	// Two catalogs on one database, as two replicas hold it: charges
	// through both never overspend, the audit chain never forks, and an
	// answer released through one is free through the other.
	if !onPostgres(t) {
		t.Skip("one process holds an embedded catalog: replicas need PostgreSQL")
	}
	ctx := context.Background()
	b := newBackend(t)
	replicas := []*store.Catalog{b.mustOpen(t), b.mustOpen(t)}
	setGrant(t, replicas[0], "ana", 1, 0)

	const fresh, denied = 30, 20
	errs := make([]error, fresh+denied)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range fresh {
		cat := replicas[i%2]
		wg.Go(func() {
			<-start
			_, _, errs[i] = cat.Charge(ctx, charge("ana", fmt.Sprint(i), 0.1), withinGrant,
				func(tx *sql.Tx, _ []byte, _ bool) error {
					e := auditEntry(i)
					e.Principal = "ana"
					_, err := cat.AppendAudit(ctx, tx, e)
					return err
				})
		})
	}
	for i := range denied {
		cat := replicas[i%2]
		wg.Go(func() {
			<-start
			e := auditEntry(i)
			e.Principal, e.Outcome, e.Epsilon, e.Delta = "", store.OutcomeDenied, 0, 0
			_, errs[fresh+i] = cat.AppendAudit(ctx, nil, e)
		})
	}
	close(start)
	wg.Wait()

	charged := 0
	for i, err := range errs {
		switch {
		case err == nil && i < fresh:
			charged++
		case i < fresh && errors.Is(err, errRefused):
		case err != nil:
			t.Errorf("call %d: %v", i, err)
		}
	}
	if charged != 10 || ledgerRows(t, replicas[1]) != 10 {
		t.Errorf("%d charges went through, %d ledger rows; want 10 of each (ε=1 at 0.1 each)",
			charged, ledgerRows(t, replicas[1]))
	}
	for i, cat := range replicas {
		if es := auditLog(t, cat); len(es) != charged+denied {
			t.Errorf("replica %d: %d audit entries, want %d", i, len(es), charged+denied)
		}
		if p := verify(t, cat, ""); p != nil {
			t.Errorf("replica %d: VerifyAudit = %v, want intact", i, p)
		}
	}

	// Released through one replica, free through the other.
	setGrant(t, replicas[0], "bob", 1, 0)
	first := charge("bob", "shared", 0.5)
	if _, cached, err := replicas[0].Charge(ctx, first, withinGrant, nil); err != nil || cached {
		t.Fatalf("Charge on replica 0 = cached %v, %v; want a fresh charge", cached, err)
	}
	again := first
	again.ID, again.Answer = "q_again", []byte(`{"other":true}`)
	got, cached, err := replicas[1].Charge(ctx, again, withinGrant, nil)
	if err != nil || !cached || string(got) != string(first.Answer) {
		t.Errorf("Charge on replica 1 = %s, cached %v, %v; want %s from the cache", got, cached,
			err, first.Answer)
	}
	if bal, err := replicas[1].Balance(ctx, "bob", "trips"); err != nil || !near(bal.Spent.Epsilon, 0.5) {
		t.Errorf("bob spent %+v, %v; want ε=0.5", bal.Spent, err)
	}
}

func TestOpenConcurrently(t *testing.T) {
	// Replicas starting at once on an empty database: each migration is
	// applied once, and every replica opens.
	if !onPostgres(t) {
		t.Skip("one process holds an embedded catalog: replicas need PostgreSQL")
	}
	b := newBackend(t)
	const replicas = 4
	cats := make([]*store.Catalog, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { cats[i], errs[i] = b.open(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { cats[i].Close() })
	}
	rows := migrationRows(t, cats[0])
	for i, r := range rows {
		var v int
		fmt.Sscanf(r, "%d@", &v)
		if v != i+1 {
			t.Errorf("migrations = %v, want each version once, in order", rows)
			break
		}
	}
	if len(rows) < 4 {
		t.Errorf("migrations = %v, want at least 4", rows)
	}
}
