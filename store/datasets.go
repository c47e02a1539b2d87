package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

var datasetNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidateDatasetName checks that name can serve as a dataset name: lower
// case letters, digits and underscores, starting with a letter, so it is
// also a plain SQL identifier.
func ValidateDatasetName(name string) error {
	if !datasetNamePattern.MatchString(name) {
		return fmt.Errorf("dataset name %q: use lower-case letters, digits and '_', "+
			"starting with a letter (at most 63)", name)
	}
	return nil
}

// Column describes one output column of a dataset version.
type Column struct {
	// Name is the column's name in the dataset.
	Name string `json:"name"`
	// Type is its DuckDB type, such as VARCHAR or DECIMAL(18,2).
	Type string `json:"type"`
	// Source is the export column it comes from.
	Source string `json:"source"`
	// Action is the policy that produced it (pseudonymize, keep, ...).
	Action string `json:"action"`
	// Policy is the column's whole policy as the job spec gave it.
	Policy json.RawMessage `json:"policy,omitempty"`
	// Bounds are public [lo, hi] bounds for numbers, or nil.
	Bounds []float64 `json:"bounds,omitempty"`
}

// DPDefaults are a dataset's default contribution bounds for DP queries.
type DPDefaults struct {
	// MaxGroupsContributed is the number of groups one privacy unit may
	// contribute to in one query.
	MaxGroupsContributed int64 `json:"max_groups_contributed"`
	// MaxContributionsPerGroup is the number of rows one privacy unit may
	// contribute to one group.
	MaxContributionsPerGroup int64 `json:"max_contributions_per_group"`
}

// Encryption schemes of a version's files.
const (
	// EncryptionPME is Parquet Modular Encryption (AES-GCM, footer and
	// columns) under the version's own data key.
	EncryptionPME = "parquet-aes-gcm"
	// EncryptionNone is plain Parquet, written only when a job asks for it.
	EncryptionNone = "none"
)

// DataKey is a version's data key as the catalog holds it: wrapped under a
// master key, never in clear. Once shredded, Wrapped is nil for good.
type DataKey struct {
	MasterKeyID string
	Wrapped     []byte
	ShreddedAt  time.Time // zero unless shredded
}

// Shredded reports whether the key was destroyed.
func (k DataKey) Shredded() bool { return !k.ShreddedAt.IsZero() }

// Version is one published version of a dataset.
type Version struct {
	Dataset     string
	Version     int
	CreatedAt   time.Time
	Path        string // folder of the version, relative to the data dir
	PrivacyUnit string // output column holding the privacy unit's token
	KeyName     string
	KeyID       string
	Columns     []Column
	DP          DPDefaults
	Rows        int64
	PolicyHash  string
	Manifest    json.RawMessage
	// Encryption is EncryptionPME or EncryptionNone.
	Encryption string
	// DataKey is set when Encryption is EncryptionPME.
	DataKey DataKey
}

// NextVersion returns the version number the next publish of name takes.
func (c *Catalog) NextVersion(ctx context.Context, name string) (int, error) {
	var v int
	err := c.db.QueryRowContext(ctx,
		`SELECT coalesce(max(version), 0) FROM dataset_versions WHERE dataset = ?`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("reading versions of %s: %w", name, err)
	}
	return v + 1, nil
}

// Publish records v and makes it the dataset's current version, in one
// transaction. v.Version must be the dataset's next version; a concurrent
// publish of the same version gives an error wrapping ErrConflict.
func (c *Catalog) Publish(ctx context.Context, v Version) error {
	if err := ValidateDatasetName(v.Dataset); err != nil {
		return err
	}
	columns, err := json.Marshal(v.Columns)
	if err != nil {
		return fmt.Errorf("encoding columns: %w", err)
	}
	dp, err := json.Marshal(v.DP)
	if err != nil {
		return fmt.Errorf("encoding dp defaults: %w", err)
	}
	if len(v.Manifest) == 0 {
		v.Manifest = json.RawMessage("{}")
	}
	switch v.Encryption {
	case EncryptionPME:
		if len(v.DataKey.Wrapped) == 0 || v.DataKey.MasterKeyID == "" {
			return fmt.Errorf("publishing %s: an encrypted version needs its wrapped data key",
				v.Dataset)
		}
	case EncryptionNone:
	default:
		return fmt.Errorf("publishing %s: unknown encryption %q", v.Dataset, v.Encryption)
	}

	tx, unlock, err := c.begin(ctx, lockPublish)
	if err != nil {
		return fmt.Errorf("publishing %s: %w", v.Dataset, err)
	}
	defer unlock()
	defer tx.Rollback()

	// The version must follow the latest one, whoever published it.
	var latest int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM dataset_versions
		WHERE dataset = ?`, v.Dataset).Scan(&latest); err != nil {
		return fmt.Errorf("publishing %s: %w", v.Dataset, err)
	}
	if v.Version != latest+1 {
		return fmt.Errorf("publishing %s version %d after version %d: %w",
			v.Dataset, v.Version, latest, ErrConflict)
	}

	now := v.CreatedAt.UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO dataset_versions (dataset, version,
		created_at, path, privacy_unit, key_name, key_id, columns, dp, row_count, policy_hash,
		manifest, encryption) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Dataset, v.Version, now, v.Path, v.PrivacyUnit, v.KeyName, v.KeyID,
		string(columns), string(dp), v.Rows, v.PolicyHash, string(v.Manifest),
		v.Encryption); err != nil {
		if c.d.isDuplicate(err) {
			return fmt.Errorf("publishing %s version %d: %w", v.Dataset, v.Version, ErrConflict)
		}
		return fmt.Errorf("publishing %s: %w", v.Dataset, err)
	}
	if v.Encryption == EncryptionPME {
		if _, err := tx.ExecContext(ctx, `INSERT INTO data_keys (dataset, version,
			master_key_id, wrapped) VALUES (?, ?, ?, ?)`, v.Dataset, v.Version,
			v.DataKey.MasterKeyID, v.DataKey.Wrapped); err != nil {
			return fmt.Errorf("publishing %s: %w", v.Dataset, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO datasets VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET current_version = excluded.current_version,
		updated_at = excluded.updated_at`, v.Dataset, v.Version, now, now); err != nil {
		return fmt.Errorf("publishing %s: %w", v.Dataset, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("publishing %s: %w", v.Dataset, err)
	}
	return nil
}

const versionColumns = `v.dataset, v.version, v.created_at, v.path, v.privacy_unit, v.key_name,
	v.key_id, v.columns, v.dp, v.row_count, v.policy_hash, v.manifest, v.encryption,
	k.master_key_id, k.wrapped, k.shredded_at`

// versionsJoin joins a version to its data key; alias the version table v.
const versionsJoin = ` LEFT JOIN data_keys k ON k.dataset = v.dataset AND k.version = v.version`

func scanVersion(row interface{ Scan(...any) error }) (Version, error) {
	var v Version
	var columns, dp, manifest string
	var master sql.NullString
	var shredded sql.NullTime
	if err := row.Scan(&v.Dataset, &v.Version, &v.CreatedAt, &v.Path, &v.PrivacyUnit, &v.KeyName,
		&v.KeyID, &columns, &dp, &v.Rows, &v.PolicyHash, &manifest, &v.Encryption, &master,
		&v.DataKey.Wrapped, &shredded); err != nil {
		return v, err
	}
	v.DataKey.MasterKeyID, v.DataKey.ShreddedAt = master.String, shredded.Time
	if err := json.Unmarshal([]byte(columns), &v.Columns); err != nil {
		return v, fmt.Errorf("decoding columns of %s: %w", v.Dataset, err)
	}
	if err := json.Unmarshal([]byte(dp), &v.DP); err != nil {
		return v, fmt.Errorf("decoding dp defaults of %s: %w", v.Dataset, err)
	}
	v.Manifest = json.RawMessage(manifest)
	return v, nil
}

// Current returns the current version of a dataset, or an error wrapping
// ErrNotFound.
func (c *Catalog) Current(ctx context.Context, name string) (Version, error) {
	row := c.db.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM datasets d
		JOIN dataset_versions v ON v.dataset = d.name AND v.version = d.current_version`+
		versionsJoin+` WHERE d.name = ?`, name)
	v, err := scanVersion(row)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("dataset %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("reading dataset %s: %w", name, err)
	}
	return v, nil
}

// Datasets returns the current version of every dataset, by name.
func (c *Catalog) Datasets(ctx context.Context) ([]Version, error) {
	return c.queryVersions(ctx, `SELECT `+versionColumns+` FROM datasets d
		JOIN dataset_versions v ON v.dataset = d.name AND v.version = d.current_version`+
		versionsJoin+` ORDER BY d.name`)
}

// Versions returns every version of a dataset, oldest first.
func (c *Catalog) Versions(ctx context.Context, name string) ([]Version, error) {
	return c.queryVersions(ctx, `SELECT `+versionColumns+` FROM dataset_versions v`+
		versionsJoin+` WHERE v.dataset = ? ORDER BY v.version`, name)
}

func (c *Catalog) queryVersions(ctx context.Context, query string, args ...any) ([]Version, error) {
	rows, err := c.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading datasets: %w", err)
	}
	defer rows.Close()

	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("reading datasets: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
