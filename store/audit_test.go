package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"haze/store"
)

// auditEntry returns a distinct, valid entry for i, at a fixed time.
func auditEntry(i int) store.AuditEntry {
	return store.AuditEntry{
		At:        time.Date(2026, 11, 30, 12, i, 0, 0, time.UTC),
		Principal: fmt.Sprintf("ana%d", i),
		Role:      store.RoleAnalyst,
		Action:    "query",
		Dataset:   "trips",
		Query:     fmt.Sprintf("SELECT count(*) FROM trips WHERE day = %d", i),
		Epsilon:   0.1 * float64(i),
		Delta:     1e-7,
		Outcome:   store.OutcomeAllowed,
		Detail:    "answered",
	}
}

// appendAudit appends e in tx (nil: in its own) and returns it as stored.
func appendAudit(t *testing.T, cat *store.Catalog, tx *sql.Tx,
	e store.AuditEntry) store.AuditEntry {
	t.Helper()
	got, err := cat.AppendAudit(context.Background(), tx, e)
	if err != nil {
		t.Fatalf("AppendAudit(%s): %v", e.Principal, err)
	}
	return got
}

// auditLog returns every entry of the log.
func auditLog(t *testing.T, cat *store.Catalog) []store.AuditEntry {
	t.Helper()
	es, err := cat.Audit(context.Background(), 0, 0)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return es
}

// auditChain opens a catalog holding the entries auditEntry(1..n).
func auditChain(t *testing.T, n int) (*store.Catalog, []store.AuditEntry) {
	t.Helper()
	cat := openCatalog(t)
	var es []store.AuditEntry
	for i := 1; i <= n; i++ {
		es = append(es, appendAudit(t, cat, nil, auditEntry(i)))
	}
	return cat, es
}

// rewriteAudit replaces the audit table's rows with es, bypassing the store.
func rewriteAudit(t *testing.T, cat *store.Catalog, es []store.AuditEntry) {
	t.Helper()
	if _, err := cat.DB().Exec(`DELETE FROM audit`); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if _, err := cat.DB().Exec(`INSERT INTO audit VALUES
			(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.At, e.Principal, e.Role,
			e.Action, e.Dataset, e.Query, e.Epsilon, e.Delta, e.Outcome, e.Detail, e.PrevHash,
			e.Hash); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, cat *store.Catalog, head string) *store.AuditProblem {
	t.Helper()
	p, err := cat.VerifyAudit(context.Background(), head)
	if err != nil {
		t.Fatalf("VerifyAudit(%q): %v", head, err)
	}
	return p
}

func TestAppendAuditChainsAndRollsBack(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	var want []store.AuditEntry
	add := func(i int) { want = append(want, appendAudit(t, cat, nil, auditEntry(i))) }

	for i := 1; i <= 4; i++ {
		add(i)
	}
	// Entries in a transaction that rolls back leave no trace.
	tx, err := cat.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 101; i <= 102; i++ {
		if got := appendAudit(t, cat, tx, auditEntry(i)); got.Seq != int64(i-96) {
			t.Errorf("Seq in the doomed tx = %d, want %d", got.Seq, i-96)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for i := 5; i <= 7; i++ {
		add(i)
	}
	// An entry in a transaction that commits is kept with the rest of it.
	tx, err = cat.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, appendAudit(t, cat, tx, auditEntry(8)))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	add(9)
	add(10)

	got := auditLog(t, cat)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Audit =\n%v\nwant what AppendAudit returned:\n%v", got, want)
	}
	prev := store.GenesisHash
	for i, e := range got {
		if e.Seq != int64(i+1) || e.PrevHash != prev || e.Principal != fmt.Sprintf("ana%d", i+1) {
			t.Errorf("entry %d = seq %d, prev %.8s, %s; want seq %d, prev %.8s, ana%d",
				i, e.Seq, e.PrevHash, e.Principal, i+1, prev, i+1)
		}
		prev = e.Hash
	}

	seq, head, err := cat.AuditHead(ctx)
	if err != nil || seq != 10 || head != want[9].Hash {
		t.Errorf("AuditHead = %d, %.8s, %v, want 10, %.8s", seq, head, err, want[9].Hash)
	}
	for _, h := range []string{"", head, strings.ToUpper(head), want[4].Hash, store.GenesisHash} {
		if p := verify(t, cat, h); p != nil {
			t.Errorf("VerifyAudit(%.8s) = %v, want intact", h, p)
		}
	}
}

func TestAuditPages(t *testing.T) {
	cat, _ := auditChain(t, 10)
	tests := []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 3, []int64{1, 2, 3}},
		{3, 4, []int64{4, 5, 6, 7}},
		{8, 0, []int64{9, 10}},
		{8, 5, []int64{9, 10}},
		{10, 0, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after %d limit %d", tt.after, tt.limit), func(t *testing.T) {
			es, err := cat.Audit(context.Background(), tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, e := range es {
				got = append(got, e.Seq)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("seqs = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := cat.Audit(context.Background(), 0, -1); err == nil {
		t.Errorf("Audit with limit -1 = nil error, want one")
	}
}

func TestAuditHashEncoding(t *testing.T) {
	// The encoding documented on AppendAudit, written out by hand.
	zeros := strings.Repeat("0", 64)
	tests := []struct {
		name    string
		e       store.AuditEntry
		encoded string
	}{
		{
			name: "the documented example",
			e: store.AuditEntry{At: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
				Principal: "ana", Role: "analyst", Action: "query", Dataset: "trips",
				Query: "SELECT count(*) FROM trips", Epsilon: 0.5, Outcome: "allowed",
				Detail: "answered"},
			encoded: "12:haze-audit-1,64:" + zeros + ",1:1,20:2026-11-30T12:00:00Z,3:ana," +
				"7:analyst,5:query,5:trips,26:SELECT count(*) FROM trips,3:0.5,1:0," +
				"7:allowed,8:answered,",
		},
		{
			name: "nanoseconds cut, other zone, empty fields, multibyte text",
			e: store.AuditEntry{
				At:     time.Date(2026, 11, 30, 13, 0, 0, 123456789, time.FixedZone("CET", 3600)),
				Action: "auth", Epsilon: 1e-6, Delta: 2.5e-10, Outcome: "denied",
				Detail: "clé inconnue"},
			encoded: "12:haze-audit-1,64:" + zeros + ",1:1,27:2026-11-30T12:00:00.123456Z,0:,0:," +
				"4:auth,0:,0:,5:1e-06,7:2.5e-10,6:denied,13:clé inconnue,",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := openCatalog(t)
			got := appendAudit(t, cat, nil, tt.e)
			sum := sha256.Sum256([]byte(tt.encoded))
			if want := hex.EncodeToString(sum[:]); got.Hash != want {
				t.Errorf("Hash = %s, want %s, the SHA-256 of %q", got.Hash, want, tt.encoded)
			}
			if p := verify(t, cat, ""); p != nil {
				t.Errorf("VerifyAudit = %v, want intact", p)
			}
		})
	}
}

func TestAppendAuditNormalises(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)

	e := auditEntry(1)
	e.Seq, e.PrevHash, e.Hash = 42, "forged", "forged"
	e.Epsilon = math.Copysign(0, -1)
	e.Detail = "bad \xff byte"
	e.At = time.Time{}
	before := time.Now().UTC().Truncate(time.Microsecond)
	got := appendAudit(t, cat, nil, e)
	after := time.Now().UTC()

	if got.Seq != 1 || got.PrevHash != store.GenesisHash {
		t.Errorf("Seq, PrevHash = %d, %.8s, want 1 and the genesis hash", got.Seq, got.PrevHash)
	}
	if got.At.Before(before) || got.At.After(after) || got.At.Location() != time.UTC ||
		got.At.Nanosecond()%1000 != 0 {
		t.Errorf("At = %v, want now in UTC (between %v and %v) in whole µs", got.At, before, after)
	}
	if math.Signbit(got.Epsilon) || got.Detail != "bad \uFFFD byte" {
		t.Errorf("Epsilon, Detail = %v, %q, want 0 and the bad byte replaced", got.Epsilon,
			got.Detail)
	}
	stored := auditLog(t, cat)
	if len(stored) != 1 || !reflect.DeepEqual(stored[0], got) {
		t.Errorf("stored = %v, want %v", stored, got)
	}
	if p := verify(t, cat, got.Hash); p != nil {
		t.Errorf("VerifyAudit = %v, want intact", p)
	}

	bad := []struct {
		name string
		edit func(*store.AuditEntry)
	}{
		{"no action", func(e *store.AuditEntry) { e.Action = "" }},
		{"unknown outcome", func(e *store.AuditEntry) { e.Outcome = "ok" }},
		{"unknown role", func(e *store.AuditEntry) { e.Role = "root" }},
		{"negative epsilon", func(e *store.AuditEntry) { e.Epsilon = -0.1 }},
		{"infinite epsilon", func(e *store.AuditEntry) { e.Epsilon = math.Inf(1) }},
		{"NaN delta", func(e *store.AuditEntry) { e.Delta = math.NaN() }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e := auditEntry(2)
			tt.edit(&e)
			if got, err := cat.AppendAudit(ctx, nil, e); err == nil {
				t.Errorf("AppendAudit = %+v, want an error", got)
			}
		})
	}
	if n := len(auditLog(t, cat)); n != 1 {
		t.Errorf("entries after refused appends = %d, want 1", n)
	}
}

// swap returns es with entries a and b (Seqs) exchanging what f moves.
func swap(a, b int, f func(x, y *store.AuditEntry)) func([]store.AuditEntry) []store.AuditEntry {
	return func(es []store.AuditEntry) []store.AuditEntry {
		f(&es[a-1], &es[b-1])
		return es
	}
}

func swapAllButSeq(x, y *store.AuditEntry) {
	*x, *y = *y, *x
	x.Seq, y.Seq = y.Seq, x.Seq
}

func swapContents(x, y *store.AuditEntry) {
	seqX, prevX, hashX := x.Seq, x.PrevHash, x.Hash
	seqY, prevY, hashY := y.Seq, y.PrevHash, y.Hash
	*x, *y = *y, *x
	x.Seq, x.PrevHash, x.Hash = seqX, prevX, hashX
	y.Seq, y.PrevHash, y.Hash = seqY, prevY, hashY
}

func swapHashes(x, y *store.AuditEntry) {
	x.PrevHash, y.PrevHash = y.PrevHash, x.PrevHash
	x.Hash, y.Hash = y.Hash, x.Hash
}

func swapEverything(x, y *store.AuditEntry) { *x, *y = *y, *x }

func TestVerifyAuditNamesTampering(t *testing.T) {
	// Each case tampers with a fresh chain of 10 entries, by SQL or by
	// rewriting the table, then checks what VerifyAudit names.
	tests := []struct {
		name     string
		sql      string
		rewrite  func([]store.AuditEntry) []store.AuditEntry
		head     int // if > 0, verify against the old hash of this entry
		wantKind string
		wantSeq  int64
	}{
		{name: "edit detail", sql: `UPDATE audit SET detail = 'nothing' WHERE seq = 4`,
			wantKind: store.AuditEdited, wantSeq: 4},
		{name: "edit epsilon", sql: `UPDATE audit SET epsilon = 0 WHERE seq = 4`,
			wantKind: store.AuditEdited, wantSeq: 4},
		{name: "edit time", sql: `UPDATE audit SET "at" = "at" + INTERVAL '1 second' WHERE seq = 4`,
			wantKind: store.AuditEdited, wantSeq: 4},
		{name: "edit hash", sql: `UPDATE audit SET hash = (SELECT hash FROM audit WHERE seq = 8)
			WHERE seq = 4`, wantKind: store.AuditEdited, wantSeq: 4},
		{name: "edit prev hash", sql: `UPDATE audit SET prev_hash = (SELECT hash FROM audit
			WHERE seq = 1) WHERE seq = 4`, wantKind: store.AuditEdited, wantSeq: 4},
		{name: "edit last", sql: `UPDATE audit SET outcome = 'refused' WHERE seq = 10`,
			wantKind: store.AuditEdited, wantSeq: 10},
		{name: "delete one", sql: `DELETE FROM audit WHERE seq = 6`,
			wantKind: store.AuditRemoved, wantSeq: 6},
		{name: "delete the first", sql: `DELETE FROM audit WHERE seq = 1`,
			wantKind: store.AuditRemoved, wantSeq: 1},
		{name: "delete two", sql: `DELETE FROM audit WHERE seq IN (6, 7)`,
			wantKind: store.AuditRemoved, wantSeq: 6},
		{name: "delete one and renumber", rewrite: func(es []store.AuditEntry) []store.AuditEntry {
			es = append(es[:5], es[6:]...)
			for i := 5; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		}, wantKind: store.AuditRemoved, wantSeq: 6},
		{name: "give an entry a later seq", sql: `UPDATE audit SET seq = 40 WHERE seq = 4`,
			wantKind: store.AuditReordered, wantSeq: 4},
		{name: "swap all columns but seq", rewrite: swap(3, 7, swapAllButSeq),
			wantKind: store.AuditReordered, wantSeq: 3},
		{name: "swap neighbours but seq", rewrite: swap(5, 6, swapAllButSeq),
			wantKind: store.AuditReordered, wantSeq: 5},
		{name: "swap with the first but seq", rewrite: swap(1, 2, swapAllButSeq),
			wantKind: store.AuditReordered, wantSeq: 1},
		{name: "swap contents, keep seq and hashes", rewrite: swap(3, 7, swapContents),
			wantKind: store.AuditReordered, wantSeq: 3},
		{name: "swap contents with seq, keep hashes", rewrite: swap(3, 7, swapHashes),
			wantKind: store.AuditReordered, wantSeq: 3},
		// The same rows as before: nothing to find.
		{name: "swap every column", rewrite: swap(3, 7, swapEverything)},
		{name: "delete the last two", sql: `DELETE FROM audit WHERE seq > 8`},
		{name: "delete the last two, old head kept", sql: `DELETE FROM audit WHERE seq > 8`,
			head: 10, wantKind: store.AuditTruncated, wantSeq: 9},
		{name: "edit and delete the last two, old head kept",
			sql:  `DELETE FROM audit WHERE seq > 8; UPDATE audit SET detail = '' WHERE seq = 2`,
			head: 10, wantKind: store.AuditEdited, wantSeq: 2},
		{name: "older head kept", sql: `DELETE FROM audit WHERE seq > 8`, head: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, es := auditChain(t, 10)
			if p := verify(t, cat, ""); p != nil {
				t.Fatalf("VerifyAudit before tampering = %v, want intact", p)
			}
			if tt.sql != "" {
				if _, err := cat.DB().Exec(tt.sql); err != nil {
					t.Fatal(err)
				}
			}
			if tt.rewrite != nil {
				rewriteAudit(t, cat, tt.rewrite(append([]store.AuditEntry(nil), es...)))
			}
			head := ""
			if tt.head > 0 {
				head = es[tt.head-1].Hash
			}

			p := verify(t, cat, head)
			switch {
			case tt.wantKind == "" && p != nil:
				t.Errorf("VerifyAudit = %v, want intact", p)
			case tt.wantKind == "":
			case p == nil:
				t.Errorf("VerifyAudit = intact, want %s at %d", tt.wantKind, tt.wantSeq)
			case p.Kind != tt.wantKind || p.Seq != tt.wantSeq:
				t.Errorf("VerifyAudit = %s at %d (%s), want %s at %d", p.Kind, p.Seq, p.Detail,
					tt.wantKind, tt.wantSeq)
			}
		})
	}
}

func TestVerifyAuditEmpty(t *testing.T) {
	cat := openCatalog(t)
	if seq, h, err := cat.AuditHead(context.Background()); err != nil || seq != 0 || h != "" {
		t.Errorf("AuditHead = %d, %q, %v, want 0 and \"\"", seq, h, err)
	}
	if p := verify(t, cat, ""); p != nil {
		t.Errorf("VerifyAudit = %v, want intact", p)
	}
	_, es := auditChain(t, 1)
	p := verify(t, cat, es[0].Hash)
	if p == nil || p.Kind != store.AuditTruncated || p.Seq != 1 {
		t.Errorf("VerifyAudit against another log's head = %v, want truncated at 1", p)
	}
	if p != nil && !strings.HasPrefix(p.String(), "the chain was truncated: no entry has") {
		t.Errorf("String() = %q, want it to say the chain was truncated", p.String())
	}
}

func TestAuditProblemString(t *testing.T) {
	p := &store.AuditProblem{Seq: 17, Kind: store.AuditEdited, Detail: "its hash does not match"}
	if got, want := p.String(), "entry 17 was edited: its hash does not match"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestAppendAuditConcurrent(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = cat.AppendAudit(ctx, nil, auditEntry(i))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("append %d: %v", i, err)
		}
	}

	es := auditLog(t, cat)
	seen := map[string]bool{}
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Errorf("entry %d has seq %d, want %d", i, e.Seq, i+1)
		}
		seen[e.Principal] = true
	}
	if len(es) != n || len(seen) != n {
		t.Errorf("%d entries from %d principals, want %d of each", len(es), len(seen), n)
	}
	if p := verify(t, cat, ""); p != nil {
		t.Errorf("VerifyAudit = %v, want intact", p)
	}
}

func TestAppendAuditAlongsideCharges(t *testing.T) {
	// Appends inside charges (ledger lock held) and outside any
	// transaction run at once: none may lose a race and fail.
	ctx := context.Background()
	cat := openCatalog(t)
	setGrant(t, cat, "ana", 100, 0)
	const n = 10
	errs := make([]error, 2*n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, _, errs[i] = cat.Charge(ctx, charge("ana", fmt.Sprint(i), 0.1), withinGrant,
				func(tx *sql.Tx, _ []byte, _ bool) error {
					e := auditEntry(i)
					e.Principal = "ana"
					_, err := cat.AppendAudit(ctx, tx, e)
					return err
				})
		}()
		go func() {
			defer wg.Done()
			<-start
			e := auditEntry(i)
			e.Principal, e.Outcome, e.Epsilon, e.Delta = "", store.OutcomeDenied, 0, 0
			_, errs[n+i] = cat.AppendAudit(ctx, nil, e)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got := len(auditLog(t, cat)); got != 2*n {
		t.Errorf("audit entries = %d, want %d", got, 2*n)
	}
	if got := ledgerRows(t, cat); got != n {
		t.Errorf("ledger rows = %d, want %d", got, n)
	}
	if p := verify(t, cat, ""); p != nil {
		t.Errorf("VerifyAudit = %v, want intact", p)
	}
}
