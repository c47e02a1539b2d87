package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Rounds are kept as opaque records (JSON) that the federated package
// defines; the catalog makes their changes atomic and their submissions
// exactly-once. Updates of a round's record go through a function that
// sees the stored record and returns the new one, inside the transaction.

// CreateRound stores a new round record. An existing id gives an error
// wrapping ErrConflict.
func (c *Catalog) CreateRound(ctx context.Context, id, period string, record []byte) error {
	tx, unlock, err := c.begin(ctx, lockRounds)
	if err != nil {
		return fmt.Errorf("creating round: %w", err)
	}
	defer unlock()
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rounds WHERE id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("creating round: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("round %q: %w", id, ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rounds VALUES (?, ?, ?)`, id, period,
		string(record)); err != nil {
		return fmt.Errorf("creating round: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating round: %w", err)
	}
	return nil
}

// Round returns a round's record, or an error wrapping ErrNotFound.
func (c *Catalog) Round(ctx context.Context, id string) ([]byte, error) {
	var rec string
	err := c.db.QueryRowContext(ctx, `SELECT record FROM rounds WHERE id = ?`, id).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("round %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading round: %w", err)
	}
	return []byte(rec), nil
}

// Rounds returns the records of a period's rounds, or of all rounds when
// period is empty, by id.
func (c *Catalog) Rounds(ctx context.Context, period string) ([][]byte, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT record FROM rounds WHERE ? = '' OR period = ?
		ORDER BY id`, period, period)
	if err != nil {
		return nil, fmt.Errorf("reading rounds: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("reading rounds: %w", err)
		}
		out = append(out, []byte(rec))
	}
	return out, rows.Err()
}

// UpdateRound replaces a round's record with what update makes of it, in
// one transaction; update's error aborts and is returned as it is.
func (c *Catalog) UpdateRound(ctx context.Context, id string, update func([]byte) ([]byte, error)) error {
	return c.updateRound(ctx, id, update, nil)
}

// AddRoundSubmission stores a partner's submission and updates the
// round's record in one transaction. A second submission of the same
// partner gives an error wrapping ErrConflict.
func (c *Catalog) AddRoundSubmission(ctx context.Context, id, partner string, submission []byte,
	update func([]byte) ([]byte, error)) error {
	return c.updateRound(ctx, id, update, func(tx *sql.Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM round_submissions
			WHERE round_id = ? AND partner = ?`, id, partner).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("partner %q in round %q: %w", partner, id, ErrConflict)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM round_submissions
			WHERE round_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO round_submissions VALUES (?, ?, ?, ?)`,
			id, partner, n+1, string(submission))
		return err
	})
}

func (c *Catalog) updateRound(ctx context.Context, id string, update func([]byte) ([]byte, error),
	also func(*sql.Tx) error) error {
	tx, unlock, err := c.begin(ctx, lockRounds)
	if err != nil {
		return fmt.Errorf("updating round: %w", err)
	}
	defer unlock()
	defer tx.Rollback()
	var rec string
	err = tx.QueryRowContext(ctx, `SELECT record FROM rounds WHERE id = ?`, id).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("round %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("updating round: %w", err)
	}
	next, err := update([]byte(rec))
	if err != nil {
		return err
	}
	if also != nil {
		if err := also(tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rounds SET record = ? WHERE id = ?`, string(next), id); err != nil {
		return fmt.Errorf("updating round: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("updating round: %w", err)
	}
	return nil
}

// RoundSubmissions returns a round's submissions in the order they came.
func (c *Catalog) RoundSubmissions(ctx context.Context, id string) ([][]byte, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT submission FROM round_submissions
		WHERE round_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("reading submissions: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("reading submissions: %w", err)
		}
		out = append(out, []byte(s))
	}
	return out, rows.Err()
}

// AddPartner registers a federated partner's public record under its
// name. An existing name gives an error wrapping ErrConflict.
func (c *Catalog) AddPartner(ctx context.Context, name string, partner []byte) error {
	tx, unlock, err := c.begin(ctx, lockRounds)
	if err != nil {
		return fmt.Errorf("adding partner: %w", err)
	}
	defer unlock()
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM partners WHERE name = ?`,
		name).Scan(&n); err != nil {
		return fmt.Errorf("adding partner: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("partner %q: %w", name, ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO partners VALUES (?, ?)`, name,
		string(partner)); err != nil {
		return fmt.Errorf("adding partner: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("adding partner: %w", err)
	}
	return nil
}

// Partner returns a registered partner's record, or an error wrapping
// ErrNotFound.
func (c *Catalog) Partner(ctx context.Context, name string) ([]byte, error) {
	var rec string
	err := c.db.QueryRowContext(ctx, `SELECT partner FROM partners WHERE name = ?`, name).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("partner %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading partner: %w", err)
	}
	return []byte(rec), nil
}

// Partners returns every registered partner's record, by name.
func (c *Catalog) Partners(ctx context.Context) ([][]byte, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT partner FROM partners ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("reading partners: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("reading partners: %w", err)
		}
		out = append(out, []byte(rec))
	}
	return out, rows.Err()
}
