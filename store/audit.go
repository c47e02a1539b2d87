package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcomes of an audited act.
const (
	// OutcomeAllowed: the act was done.
	OutcomeAllowed = "allowed"
	// OutcomeRefused: a rule refused it, such as an exhausted budget.
	OutcomeRefused = "refused"
	// OutcomeDenied: the caller had no valid key or not the role.
	OutcomeDenied = "denied"
	// OutcomeError: it failed for a reason of haze's own.
	OutcomeError = "error"
)

var outcomes = []string{OutcomeAllowed, OutcomeRefused, OutcomeDenied, OutcomeError}

// Kinds of AuditProblem.
const (
	AuditEdited    = "edited"
	AuditRemoved   = "removed"
	AuditReordered = "reordered"
	AuditTruncated = "truncated"
)

// GenesisHash is the PrevHash of the first audit entry: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// auditHashTag opens the hashed encoding, naming its version.
const auditHashTag = "haze-audit-1"

// AuditEntry is one entry of the audit log: who did what, on which
// dataset, at what privacy cost, and whether it was allowed. It never
// holds a secret, a key or a row value.
type AuditEntry struct {
	// Seq is the entry's place in the log, 1, 2, 3, ...; set by AppendAudit.
	Seq int64 `json:"seq"`
	// At is when the act happened; it defaults to now, and is kept in UTC
	// to the microsecond.
	At time.Time `json:"at"`
	// Principal is the key name of the caller, "cli" for the command line,
	// or "" when unauthenticated.
	Principal string `json:"principal"`
	// Role is the caller's role, one of Roles, or "".
	Role string `json:"role"`
	// Action names the act, such as "query", "auth", "keys.create" or
	// "jobs.create". Required.
	Action  string `json:"action"`
	Dataset string `json:"dataset"`
	// Query is the normalised query text for queries, else "".
	Query string `json:"query"`
	// Epsilon and Delta are the privacy budget charged; 0 when none was.
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
	// Outcome is one of OutcomeAllowed, OutcomeRefused, OutcomeDenied and
	// OutcomeError. Required.
	Outcome string `json:"outcome"`
	// Detail is a short reason or code.
	Detail string `json:"detail"`
	// PrevHash is the Hash of the entry before, GenesisHash for the first;
	// set by AppendAudit.
	PrevHash string `json:"prev_hash"`
	// Hash is the entry's own hash (see AppendAudit); set by AppendAudit.
	Hash string `json:"hash"`
}

// AuditProblem is the first flaw VerifyAudit found in the audit chain.
type AuditProblem struct {
	// Seq is the entry the problem is found at (see VerifyAudit).
	Seq int64 `json:"seq"`
	// Kind is AuditEdited, AuditRemoved, AuditReordered or AuditTruncated.
	Kind string `json:"kind"`
	// Detail says what was seen, for people.
	Detail string `json:"detail"`
}

// String describes the problem in a sentence, such as "entry 17 was edited".
func (p *AuditProblem) String() string {
	if p.Kind == AuditTruncated {
		return "the chain was truncated: " + p.Detail
	}
	return fmt.Sprintf("entry %d was %s: %s", p.Seq, p.Kind, p.Detail)
}

// auditHash returns the hash e would have as entry seq after prev. The
// encoding is documented on AppendAudit; keep the two in step.
func auditHash(prev string, seq int64, e AuditEntry) string {
	h := sha256.New()
	for _, f := range []string{auditHashTag, prev, strconv.FormatInt(seq, 10),
		e.At.UTC().Format(time.RFC3339Nano), e.Principal, e.Role, e.Action, e.Dataset, e.Query,
		strconv.FormatFloat(e.Epsilon, 'g', -1, 64), strconv.FormatFloat(e.Delta, 'g', -1, 64),
		e.Outcome, e.Detail} {
		fmt.Fprintf(h, "%d:%s,", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// normaliseEntry validates e and brings it to the form that is stored and
// hashed.
func normaliseEntry(e AuditEntry) (AuditEntry, error) {
	if e.Action == "" {
		return e, errors.New("audit entry: action is required")
	}
	if !slices.Contains(outcomes, e.Outcome) {
		return e, fmt.Errorf("audit entry: outcome %q: use one of %s", e.Outcome,
			strings.Join(outcomes, ", "))
	}
	if e.Role != "" {
		if err := ValidateRole(e.Role); err != nil {
			return e, fmt.Errorf("audit entry: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"epsilon", &e.Epsilon}, {"delta", &e.Delta}} {
		if !(*f.v >= 0) || math.IsInf(*f.v, 0) {
			return e, fmt.Errorf("audit entry: %s must be finite and >= 0, got %g", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = 0 // not -0, which would hash differently
		}
	}

	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	// DuckDB stores UTF-8 only; keep what can be kept of malformed input.
	for _, s := range []*string{&e.Principal, &e.Role, &e.Action, &e.Dataset, &e.Query,
		&e.Outcome, &e.Detail} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	e.Seq, e.PrevHash, e.Hash = 0, "", ""
	return e, nil
}

// AppendAudit appends e to the audit log and returns it as stored: Seq is
// the next number, PrevHash the Hash of the entry before (GenesisHash for
// the first), At defaults to now and is cut to UTC microseconds, invalid
// UTF-8 is replaced by U+FFFD. Whatever Seq, PrevHash and Hash e holds is
// ignored. Action is required, Outcome must be one of the Outcome
// constants, Role "" or one of Roles, Epsilon and Delta finite and >= 0.
//
// Hash is the lower-case hex SHA-256 of these 13 strings, each written as
// a netstring (its length in bytes in decimal, ':', the bytes, ','):
//
//	"haze-audit-1", PrevHash, Seq in decimal, At in RFC 3339 with
//	fractional seconds and no trailing zeros (Go's time.RFC3339Nano) in
//	UTC, Principal, Role, Action, Dataset, Query, Epsilon and Delta
//	formatted by strconv.FormatFloat(x, 'g', -1, 64) (shortest exact form:
//	"0", "0.5", "1e-06"), Outcome, Detail.
//
// For instance the first entry with Seq 1, At 2026-11-30T12:00:00Z,
// Principal "ana", Role "analyst", Action "query", Dataset "trips", Query
// "SELECT count(*) FROM trips", Epsilon 0.5, Delta 0, Outcome "allowed"
// and Detail "answered" hashes
//
//	12:haze-audit-1,64:000...000,1:1,20:2026-11-30T12:00:00Z,3:ana,7:analyst,
//	5:query,5:trips,26:SELECT count(*) FROM trips,3:0.5,1:0,7:allowed,8:answered,
//
// (one line, no newline, with the 64 zeros written out).
//
// When tx is not nil the entry is written in tx and commits or rolls back
// with it, such as with a budget charge; commit tx promptly. Inside
// Charge's allow and inTx functions, pass inTx's tx: with a nil tx
// AppendAudit writes in its own transaction, and waits for any charge in
// progress first (it takes the ledger lock, then the audit lock), which
// would deadlock there. Appends are serialised, and Seq is the table's
// primary key, so the chain never forks. On DuckDB, an append in a
// caller's tx outside Charge can still lose a race with another append,
// as the lock cannot span the caller's commit: then the insert or tx's
// commit fails with a duplicate-key error, and tx should be retried. On
// PostgreSQL the lock is an advisory lock of tx, held until tx ends, so
// appends of every replica are serialised up to their commit.
//
// There is no way to change or remove an entry through the store.
func (c *Catalog) AppendAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) (AuditEntry, error) {
	e, err := normaliseEntry(e)
	if err != nil {
		return AuditEntry{}, err
	}
	if tx != nil {
		unlock, err := c.lock(ctx, tx, lockAudit)
		defer unlock()
		if err != nil {
			return AuditEntry{}, fmt.Errorf("appending audit entry: %w", err)
		}
		return appendEntry(ctx, tx, e)
	}

	// A caller's tx outside Charge may still commit first (DuckDB): read
	// the head again and retry.
	for range 3 {
		var out AuditEntry
		out, err = c.appendOwnTx(ctx, e)
		if err == nil {
			return out, nil
		}
		if !c.d.isDuplicate(err) && !c.d.isConflict(err) {
			return AuditEntry{}, err
		}
	}
	return AuditEntry{}, fmt.Errorf("appending audit entry: %v: %w", err, ErrConflict)
}

// appendOwnTx appends e in a transaction of its own. It never interleaves
// with a charge, whose transaction may hold an append not committed yet:
// it takes the ledger lock, then the audit lock.
func (c *Catalog) appendOwnTx(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	tx, unlock, err := c.begin(ctx, lockLedger, lockAudit)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("appending audit entry: %w", err)
	}
	defer unlock()
	defer tx.Rollback()
	out, err := appendEntry(ctx, tx, e)
	if err != nil {
		return AuditEntry{}, err
	}
	if err := tx.Commit(); err != nil {
		return AuditEntry{}, fmt.Errorf("appending audit entry: %w", err)
	}
	return out, nil
}

// appendEntry chains a normalised e after the last entry tx sees and
// inserts it.
func appendEntry(ctx context.Context, tx *sql.Tx, e AuditEntry) (AuditEntry, error) {
	seq, prev, err := auditHead(ctx, tx)
	if err != nil {
		return AuditEntry{}, err
	}
	if seq == 0 {
		prev = GenesisHash
	}
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = auditHash(e.PrevHash, e.Seq, e)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit VALUES
		(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.At, e.Principal, e.Role,
		e.Action, e.Dataset, e.Query, e.Epsilon, e.Delta, e.Outcome, e.Detail, e.PrevHash,
		e.Hash); err != nil {
		return AuditEntry{}, fmt.Errorf("appending audit entry: %w", err)
	}
	return e, nil
}

// Audit returns the entries with Seq > after in Seq order, at most limit
// of them (0: all).
func (c *Catalog) Audit(ctx context.Context, after int64, limit int) ([]AuditEntry, error) {
	if limit < 0 {
		return nil, fmt.Errorf("audit limit must be >= 0, got %d", limit)
	}
	q, args := `SELECT `+auditColumns+` FROM audit WHERE seq > ? ORDER BY seq`, []any{after}
	if limit > 0 {
		q, args = q+` LIMIT ?`, append(args, limit)
	}
	var out []AuditEntry
	err := scanAudit(ctx, c.db, q, args, func(e AuditEntry) bool {
		out = append(out, e)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	return out, nil
}

// AuditHead returns the Seq and Hash of the last entry, or 0 and "" when
// the log is empty. Kept elsewhere, the hash lets VerifyAudit see entries
// removed from the end.
func (c *Catalog) AuditHead(ctx context.Context) (seq int64, hash string, err error) {
	return auditHead(ctx, c.db)
}

func auditHead(ctx context.Context, q querier) (int64, string, error) {
	var seq int64
	var hash string
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).
		Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("reading audit head: %w", err)
	}
	return seq, hash, nil
}

const auditColumns = `seq, "at", principal, role, action, dataset, query, epsilon, delta,
	outcome, detail, prev_hash, hash`

type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanAudit runs q, which selects auditColumns, and hands each entry to f
// until f returns false.
func scanAudit(ctx context.Context, db rowsQuerier, q string, args []any,
	f func(AuditEntry) bool) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.Seq, &e.At, &e.Principal, &e.Role, &e.Action, &e.Dataset,
			&e.Query, &e.Epsilon, &e.Delta, &e.Outcome, &e.Detail, &e.PrevHash,
			&e.Hash); err != nil {
			return err
		}
		e.At = e.At.UTC()
		if !f(e) {
			break
		}
	}
	return rows.Err()
}

// VerifyAudit recomputes the audit chain in Seq order and returns nil when
// it is intact, else the first problem. Entry n is intact when its Seq is
// n, its PrevHash is the stored Hash of entry n-1 (GenesisHash for n = 1)
// and its Hash is that of its contents (see AppendAudit). At the first
// entry that is not, these rules, in order, name the problem:
//
//   - A gap, Seq is not n: "reordered" at n when a stored entry's contents
//     hash, with its own PrevHash, to its own Hash as entry n (entry n was
//     given another Seq); else "removed" at n.
//   - PrevHash is not entry n-1's Hash, but the entry, with its own
//     PrevHash, hashes to its own Hash under another Seq s (it was moved
//     whole, Seq aside): "reordered" at n when its PrevHash is the Hash of
//     a stored entry or GenesisHash; else "removed" at n, as what it was
//     chained to is gone and the entries after were renumbered.
//   - Its contents, as entry n after entry n-1, hash to the Hash stored
//     with another entry (the hash columns were swapped): "reordered" at n.
//   - Its contents, under another entry's Seq and PrevHash, hash to that
//     entry's Hash (the contents were swapped, Seq and hashes were not):
//     "reordered" at n.
//   - Otherwise "edited" at n.
//
// So swapping two entries, whichever of their columns move, is "reordered"
// at the earlier one (swapping every column, Seq included, leaves the same
// rows); a change to any column, PrevHash and Hash included, is "edited";
// a deleted entry is "removed", whether or not later ones were renumbered.
//
// The chain is not keyed: whoever can write the catalog can rewrite every
// hash from some entry on, or remove entries at the end. That shows only
// against a head kept elsewhere (see AuditHead): when wantHead is not empty
// and the chain is otherwise intact, some entry must have Hash wantHead
// (entries appended since then are fine; they are not covered by it), or
// the problem is "truncated" at the Seq after the last entry. GenesisHash
// as wantHead stands for the empty log.
//
// VerifyAudit reads one snapshot, so entries may be appended meanwhile. It
// reads every entry once; naming a problem takes one more pass at most.
func (c *Catalog) VerifyAudit(ctx context.Context, wantHead string) (*AuditProblem, error) {
	tx, err := c.db.BeginTx(ctx, c.d.snapshot())
	if err != nil {
		return nil, fmt.Errorf("verifying audit chain: %w", err)
	}
	defer tx.Rollback()

	// Walk the chain up to the first entry that does not fit.
	var n int64
	prev := GenesisHash
	var bad *AuditEntry
	err = scanAudit(ctx, tx, `SELECT `+auditColumns+` FROM audit ORDER BY seq`, nil,
		func(e AuditEntry) bool {
			if e.Seq != n+1 || e.PrevHash != prev || auditHash(prev, e.Seq, e) != e.Hash {
				bad = &e
				return false
			}
			n, prev = e.Seq, e.Hash
			return true
		})
	if err != nil {
		return nil, fmt.Errorf("verifying audit chain: %w", err)
	}

	d := auditDiagnosis{ctx: ctx, tx: tx}
	var p *AuditProblem
	switch {
	case bad != nil && bad.Seq != n+1:
		p, err = d.gap(n+1, bad.Seq)
	case bad != nil:
		p, err = d.misfit(prev, *bad)
	default:
		p, err = d.head(n, wantHead)
	}
	if err != nil {
		return nil, fmt.Errorf("verifying audit chain: %w", err)
	}
	return p, nil
}

// auditDiagnosis names a flaw in the chain, reading the snapshot of tx.
type auditDiagnosis struct {
	ctx context.Context
	tx  *sql.Tx
}

// gap names the problem when entry want is followed by entry got > want.
func (d auditDiagnosis) gap(want, got int64) (*AuditProblem, error) {
	var moved int64
	err := d.each(func(m AuditEntry) bool {
		if m.Seq != want && auditHash(m.PrevHash, want, m) == m.Hash {
			moved = m.Seq
		}
		return moved == 0
	})
	if err != nil {
		return nil, err
	}
	if moved != 0 {
		return &AuditProblem{Seq: want, Kind: AuditReordered,
			Detail: fmt.Sprintf("it is stored as entry %d", moved)}, nil
	}
	detail := "it is missing"
	if got > want+1 {
		detail = fmt.Sprintf("entries %d to %d are missing", want, got-1)
	}
	return &AuditProblem{Seq: want, Kind: AuditRemoved, Detail: detail}, nil
}

// misfit names the problem with e, which holds the right Seq but does not
// follow pred, the Hash of the entry before it, or does not match its Hash.
func (d auditDiagnosis) misfit(pred string, e AuditEntry) (*AuditProblem, error) {
	// Moved whole, or renumbered after a removal.
	if e.PrevHash != pred {
		s, err := d.trueSeq(e)
		if err != nil {
			return nil, err
		}
		if s != 0 {
			_, known, err := d.withHash(e.PrevHash)
			if err != nil {
				return nil, err
			}
			if known || e.PrevHash == GenesisHash {
				return &AuditProblem{Seq: e.Seq, Kind: AuditReordered,
					Detail: fmt.Sprintf("it holds entry %d, moved from its place", s)}, nil
			}
			detail := fmt.Sprintf("it is missing and entry %d was renumbered %d", s, e.Seq)
			if s > e.Seq+1 {
				detail = fmt.Sprintf("entries %d to %d are missing and entry %d was renumbered %d",
					e.Seq, s-1, s, e.Seq)
			}
			return &AuditProblem{Seq: e.Seq, Kind: AuditRemoved, Detail: detail}, nil
		}
	}

	// Its hash columns swapped with another entry's.
	if h := auditHash(pred, e.Seq, e); h != e.Hash {
		m, ok, err := d.withHash(h)
		if err != nil {
			return nil, err
		}
		if ok && m != e.Seq {
			return &AuditProblem{Seq: e.Seq, Kind: AuditReordered,
				Detail: fmt.Sprintf("it carries the hashes of entry %d", m)}, nil
		}
	}

	// Its contents swapped with another entry's.
	var owner int64
	err := d.each(func(m AuditEntry) bool {
		if m.Seq != e.Seq && auditHash(m.PrevHash, m.Seq, e) == m.Hash {
			owner = m.Seq
		}
		return owner == 0
	})
	if err != nil {
		return nil, err
	}
	if owner != 0 {
		return &AuditProblem{Seq: e.Seq, Kind: AuditReordered,
			Detail: fmt.Sprintf("it holds the contents of entry %d", owner)}, nil
	}

	detail := "its hash does not match its contents"
	if e.PrevHash != pred {
		detail = fmt.Sprintf("its previous hash is not the hash of entry %d", e.Seq-1)
	}
	return &AuditProblem{Seq: e.Seq, Kind: AuditEdited, Detail: detail}, nil
}

// trueSeq returns the Seq other than e.Seq under which e, with its own
// PrevHash, hashes to its own Hash, or 0. It tries every Seq up to the
// number of entries past the last one.
func (d auditDiagnosis) trueSeq(e AuditEntry) (int64, error) {
	var last, count int64
	if err := d.tx.QueryRowContext(d.ctx, `SELECT coalesce(max(seq), 0), count(*) FROM audit`).
		Scan(&last, &count); err != nil {
		return 0, err
	}
	for s := int64(1); s <= last+count; s++ {
		if s%4096 == 0 && d.ctx.Err() != nil {
			return 0, d.ctx.Err()
		}
		if s != e.Seq && auditHash(e.PrevHash, s, e) == e.Hash {
			return s, nil
		}
	}
	return 0, nil
}

// withHash returns the Seq of the first entry whose Hash is h.
func (d auditDiagnosis) withHash(h string) (int64, bool, error) {
	var seq int64
	err := d.tx.QueryRowContext(d.ctx, `SELECT seq FROM audit WHERE hash = ? ORDER BY seq LIMIT 1`,
		h).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return seq, err == nil, err
}

// each hands every entry to f in Seq order until f returns false.
func (d auditDiagnosis) each(f func(AuditEntry) bool) error {
	return scanAudit(d.ctx, d.tx, `SELECT `+auditColumns+` FROM audit ORDER BY seq`, nil, f)
}

// head checks an intact chain of last entries against wantHead.
func (d auditDiagnosis) head(last int64, wantHead string) (*AuditProblem, error) {
	want := strings.ToLower(strings.TrimSpace(wantHead))
	if want == "" || want == GenesisHash {
		return nil, nil
	}
	_, ok, err := d.withHash(want)
	if err != nil || ok {
		return nil, err
	}
	return &AuditProblem{Seq: last + 1, Kind: AuditTruncated,
		Detail: fmt.Sprintf("no entry has the head hash %s; the chain ends at entry %d",
			want, last)}, nil
}
