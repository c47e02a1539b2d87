package store

import (
	"context"
	"fmt"
	"time"
)

// RewrapDataKeys hands every data key that is not shredded to rewrap,
// with its version, and stores what rewrap returns in its place, all in
// one transaction: either every key moves to the new master or none does.
// Data files are not touched. It returns how many keys it rewrapped.
func (c *Catalog) RewrapDataKeys(ctx context.Context,
	rewrap func(v Version) (DataKey, error)) (int, error) {
	tx, unlock, err := c.begin(ctx, lockPublish)
	if err != nil {
		return 0, fmt.Errorf("rewrapping data keys: %w", err)
	}
	defer unlock()
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `SELECT `+versionColumns+` FROM dataset_versions v`+
		versionsJoin+` WHERE k.wrapped IS NOT NULL ORDER BY v.dataset, v.version`)
	if err != nil {
		return 0, fmt.Errorf("rewrapping data keys: %w", err)
	}
	var versions []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("rewrapping data keys: %w", err)
		}
		versions = append(versions, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("rewrapping data keys: %w", err)
	}

	for _, v := range versions {
		k, err := rewrap(v)
		if err != nil {
			return 0, fmt.Errorf("dataset %s version %d: %w", v.Dataset, v.Version, err)
		}
		if len(k.Wrapped) == 0 || k.MasterKeyID == "" {
			return 0, fmt.Errorf("dataset %s version %d: rewrapped key is empty", v.Dataset,
				v.Version)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET master_key_id = ?, wrapped = ?
			WHERE dataset = ? AND version = ?`, k.MasterKeyID, k.Wrapped, v.Dataset,
			v.Version); err != nil {
			return 0, fmt.Errorf("rewrapping data keys: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("rewrapping data keys: %w", err)
	}
	return len(versions), nil
}

// ShredDataKey destroys the data key of a dataset version, so its files,
// and any copy of them, can no longer be read. Shredding a shredded or
// plain version does nothing. The database is then compacted (DuckDB
// checkpoints, PostgreSQL vacuums the table) so the key leaves the logs
// and live pages; either may keep freed bytes on disk until they are
// reused, which is why the key is wrapped under a master key as well.
func (c *Catalog) ShredDataKey(ctx context.Context, dataset string, version int,
	at time.Time) error {
	tx, unlock, err := c.begin(ctx, lockPublish)
	if err != nil {
		return fmt.Errorf("shredding %s version %d: %w", dataset, version, err)
	}
	defer unlock()
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = NULL, shredded_at = ?
		WHERE dataset = ? AND version = ? AND shredded_at IS NULL`, at.UTC(), dataset,
		version); err != nil {
		return fmt.Errorf("shredding %s version %d: %w", dataset, version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("shredding %s version %d: %w", dataset, version, err)
	}
	if err := c.d.compact(ctx, c.db); err != nil {
		return fmt.Errorf("shredding %s version %d: %w", dataset, version, err)
	}
	return nil
}

// KeyInUse reports whether any dataset version still needs the key with
// the given ID: as its token key, or as the master wrapping a data key
// that is not shredded.
func (c *Catalog) KeyInUse(ctx context.Context, id string) (bool, error) {
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM dataset_versions
		WHERE key_id = ?) + (SELECT count(*) FROM data_keys WHERE master_key_id = ?
		AND wrapped IS NOT NULL)`, id, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("checking key use: %w", err)
	}
	return n > 0, nil
}
