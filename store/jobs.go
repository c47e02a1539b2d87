package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutJob stores the record of job id, replacing the one stored before.
// The server keeps a job's state here as it runs, so every replica sharing
// the catalog can report on it.
func (c *Catalog) PutJob(ctx context.Context, id string, record []byte, at time.Time) error {
	if _, err := c.db.ExecContext(ctx, `INSERT INTO jobs (id, record, updated_at)
		VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record,
		updated_at = excluded.updated_at`, id, string(record), at.UTC()); err != nil {
		return fmt.Errorf("recording job %s: %w", id, err)
	}
	return nil
}

// Job returns the record of job id and when it was last put, or an error
// wrapping ErrNotFound.
func (c *Catalog) Job(ctx context.Context, id string) ([]byte, time.Time, error) {
	var rec string
	var at time.Time
	err := c.db.QueryRowContext(ctx, `SELECT record, updated_at FROM jobs WHERE id = ?`,
		id).Scan(&rec, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading job: %w", err)
	}
	return []byte(rec), at.UTC(), nil
}
