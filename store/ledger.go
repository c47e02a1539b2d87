package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrBelowSpent is returned when a grant would be set below what its
// principal already spent.
var ErrBelowSpent = errors.New("grant below what was spent")

// Amount is an amount of privacy budget: ε and δ. The store adds amounts
// up; what they mean and whether one covers another is the caller's rule.
type Amount struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// Balance is what a principal may still spend on a dataset.
type Balance struct {
	// Granted is the principal's grant on the dataset, nil when none.
	Granted *Amount
	// Spent is what the principal has spent on the dataset.
	Spent Amount
	// Cap is the dataset's cap over all principals, nil when none.
	Cap *Amount
	// SpentAll is what all principals together have spent on the dataset.
	SpentAll Amount
}

// Grant is one principal's allowance on one dataset with what it spent.
type Grant struct {
	Principal string
	Dataset   string
	Granted   Amount
	Spent     Amount
}

// Cap is a dataset's allowance over all principals with what they spent.
type Cap struct {
	Dataset string
	Cap     Amount
	Spent   Amount
}

// Charge records one released answer and what it cost.
type Charge struct {
	// ID identifies the query; it is unique.
	ID        string
	Principal string
	Dataset   string
	Version   int
	// Fingerprint identifies the query's normalised form and options; an
	// answer released under it is returned again at no cost.
	Fingerprint string
	// Query is the normalised query text, for the record.
	Query  string
	Cost   Amount
	Answer []byte
	At     time.Time
}

// SetGrant sets a principal's total allowance on a dataset. It may not go
// below what the principal has spent.
func (c *Catalog) SetGrant(ctx context.Context, principal, dataset string, a Amount) error {
	tx, unlock, err := c.begin(ctx, lockLedger)
	if err != nil {
		return fmt.Errorf("setting grant: %w", err)
	}
	defer unlock()
	defer tx.Rollback()
	b, err := balance(ctx, tx, principal, dataset)
	if err != nil {
		return err
	}
	if a.Epsilon < b.Spent.Epsilon || a.Delta < b.Spent.Delta {
		return fmt.Errorf("grant of ε=%g δ=%g is below what %s already spent on %s (ε=%g δ=%g): %w",
			a.Epsilon, a.Delta, principal, dataset, b.Spent.Epsilon, b.Spent.Delta, ErrBelowSpent)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO grants VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (principal, dataset) DO UPDATE SET epsilon = excluded.epsilon,
		delta = excluded.delta, updated_at = excluded.updated_at`,
		principal, dataset, a.Epsilon, a.Delta, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("setting grant: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("setting grant: %w", err)
	}
	return nil
}

// SetCap sets a dataset's allowance over all principals together.
func (c *Catalog) SetCap(ctx context.Context, dataset string, a Amount) error {
	tx, unlock, err := c.begin(ctx, lockLedger)
	if err != nil {
		return fmt.Errorf("setting cap: %w", err)
	}
	defer unlock()
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO caps VALUES (?, ?, ?, ?)
		ON CONFLICT (dataset) DO UPDATE SET epsilon = excluded.epsilon,
		delta = excluded.delta, updated_at = excluded.updated_at`,
		dataset, a.Epsilon, a.Delta, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("setting cap: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("setting cap: %w", err)
	}
	return nil
}

// Balance returns what principal may still spend on dataset.
func (c *Catalog) Balance(ctx context.Context, principal, dataset string) (Balance, error) {
	return balance(ctx, c.db, principal, dataset)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func balance(ctx context.Context, q querier, principal, dataset string) (Balance, error) {
	var b Balance
	var g, cp Amount
	err := q.QueryRowContext(ctx, `SELECT epsilon, delta FROM grants
		WHERE principal = ? AND dataset = ?`, principal, dataset).Scan(&g.Epsilon, &g.Delta)
	switch {
	case err == nil:
		b.Granted = &g
	case !errors.Is(err, sql.ErrNoRows):
		return b, fmt.Errorf("reading grant: %w", err)
	}
	err = q.QueryRowContext(ctx, `SELECT epsilon, delta FROM caps WHERE dataset = ?`,
		dataset).Scan(&cp.Epsilon, &cp.Delta)
	switch {
	case err == nil:
		b.Cap = &cp
	case !errors.Is(err, sql.ErrNoRows):
		return b, fmt.Errorf("reading cap: %w", err)
	}
	err = q.QueryRowContext(ctx, `SELECT
		coalesce(sum(epsilon) FILTER (WHERE principal = ?), 0),
		coalesce(sum(delta) FILTER (WHERE principal = ?), 0),
		coalesce(sum(epsilon), 0), coalesce(sum(delta), 0)
		FROM ledger WHERE dataset = ?`, principal, principal, dataset).Scan(
		&b.Spent.Epsilon, &b.Spent.Delta, &b.SpentAll.Epsilon, &b.SpentAll.Delta)
	if err != nil {
		return b, fmt.Errorf("reading ledger: %w", err)
	}
	return b, nil
}

// Released returns the answer already released under a fingerprint for a
// dataset version, if any.
func (c *Catalog) Released(ctx context.Context, dataset string, version int,
	fingerprint string) ([]byte, bool, error) {
	return released(ctx, c.db, dataset, version, fingerprint)
}

func released(ctx context.Context, q querier, dataset string, version int,
	fingerprint string) ([]byte, bool, error) {
	var answer string
	err := q.QueryRowContext(ctx, `SELECT answer FROM ledger WHERE dataset = ? AND version = ?
		AND fingerprint = ? ORDER BY released_at LIMIT 1`, dataset, version, fingerprint).Scan(&answer)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading released answers: %w", err)
	}
	return []byte(answer), true, nil
}

// ChargeFunc decides, inside the charging transaction, whether a charge
// fits the balance; a non-nil error refuses it.
type ChargeFunc func(b Balance, cost Amount) error

// Charge records ch and charges its cost in one transaction, serialised
// with every other charge on this catalog (on PostgreSQL, with every
// charge of every replica sharing the database), so concurrent charges
// cannot overspend. Inside the transaction it first looks for an answer already
// released under ch's fingerprint for the same dataset version: if there is
// one, nothing is charged and that answer is returned with cached true.
// (allow must still admit the principal at no cost). Otherwise allow
// decides whether the cost fits; then the charge is
// recorded, inTx (if not nil) runs in the same transaction (for the audit
// entry) with the answer about to leave and whether it was cached, and the
// transaction commits. Only after Charge returns without
// error may the answer leave the process.
func (c *Catalog) Charge(ctx context.Context, ch Charge, allow ChargeFunc,
	inTx func(tx *sql.Tx, answer []byte, cached bool) error) (answer []byte, cached bool, err error) {
	tx, unlock, err := c.begin(ctx, lockLedger)
	if err != nil {
		return nil, false, fmt.Errorf("charging: %w", err)
	}
	defer unlock()
	defer tx.Rollback()

	if prev, ok, err := released(ctx, tx, ch.Dataset, ch.Version, ch.Fingerprint); err != nil {
		return nil, false, err
	} else if ok {
		// Free, but only to whom allow admits at no cost.
		b, err := balance(ctx, tx, ch.Principal, ch.Dataset)
		if err != nil {
			return nil, false, err
		}
		if err := allow(b, Amount{}); err != nil {
			return nil, false, err
		}
		if inTx != nil {
			if err := inTx(tx, prev, true); err != nil {
				return nil, false, err
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, false, fmt.Errorf("charging: %w", err)
		}
		return prev, true, nil
	}

	b, err := balance(ctx, tx, ch.Principal, ch.Dataset)
	if err != nil {
		return nil, false, err
	}
	if err := allow(b, ch.Cost); err != nil {
		return nil, false, err
	}
	if ch.At.IsZero() {
		ch.At = time.Now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ch.ID, ch.At.UTC(), ch.Principal, ch.Dataset, ch.Version, ch.Fingerprint, ch.Query,
		ch.Cost.Epsilon, ch.Cost.Delta, string(ch.Answer)); err != nil {
		return nil, false, fmt.Errorf("charging: %w", err)
	}
	if inTx != nil {
		if err := inTx(tx, ch.Answer, false); err != nil {
			return nil, false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("charging: %w", err)
	}
	return ch.Answer, false, nil
}

// Grants lists grants with what was spent under them; empty filters match
// everything.
func (c *Catalog) Grants(ctx context.Context, principal, dataset string) ([]Grant, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT g.principal, g.dataset, g.epsilon, g.delta,
		coalesce(sum(l.epsilon), 0), coalesce(sum(l.delta), 0)
		FROM grants g LEFT JOIN ledger l ON l.principal = g.principal AND l.dataset = g.dataset
		WHERE (? = '' OR g.principal = ?) AND (? = '' OR g.dataset = ?)
		GROUP BY g.principal, g.dataset, g.epsilon, g.delta ORDER BY g.dataset, g.principal`, principal, principal, dataset, dataset)
	if err != nil {
		return nil, fmt.Errorf("reading grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		if err := rows.Scan(&g.Principal, &g.Dataset, &g.Granted.Epsilon, &g.Granted.Delta,
			&g.Spent.Epsilon, &g.Spent.Delta); err != nil {
			return nil, fmt.Errorf("reading grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Caps lists dataset caps with what all principals spent under them.
func (c *Catalog) Caps(ctx context.Context) ([]Cap, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT c.dataset, c.epsilon, c.delta,
		coalesce(sum(l.epsilon), 0), coalesce(sum(l.delta), 0)
		FROM caps c LEFT JOIN ledger l ON l.dataset = c.dataset
		GROUP BY c.dataset, c.epsilon, c.delta ORDER BY c.dataset`)
	if err != nil {
		return nil, fmt.Errorf("reading caps: %w", err)
	}
	defer rows.Close()
	var out []Cap
	for rows.Next() {
		var cp Cap
		if err := rows.Scan(&cp.Dataset, &cp.Cap.Epsilon, &cp.Cap.Delta, &cp.Spent.Epsilon,
			&cp.Spent.Delta); err != nil {
			return nil, fmt.Errorf("reading caps: %w", err)
		}
		out = append(out, cp)
	}
	return out, rows.Err()
}
