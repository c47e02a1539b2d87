// Package store is haze's catalog: the published datasets and their
// versions, the ledger of released answers (which doubles as their
// cache), grants and caps, the audit chain, federated rounds and API
// keys. The embedded default is one DuckDB file, catalog.duckdb, in the
// data directory (Open). Several API replicas share one PostgreSQL
// database instead (OpenURL); the datasets' Parquet files stay in a data
// directory they share.
//
// The catalog knows nothing of policy: it stores what other packages hand
// it, transactionally, and answers lookups.
//
// # Two databases, one set of queries
//
// Every query is written once, through database/sql, in SQL that DuckDB
// and PostgreSQL both accept. What differs is behind a small unexported
// dialect: the schema migrations (types such as DOUBLE), the locks, and
// how a duplicate key or a lost race shows in an error. On DuckDB, whose
// file one process holds, the locks are in-process mutexes; on
// PostgreSQL they are transaction-level advisory locks with fixed keys
// (pg_advisory_xact_lock), taken in the same order (ledger, then audit),
// so budget charges and audit appends are serialised across every
// replica and held until their transaction commits. PostgreSQL is reached
// with pgx (github.com/jackc/pgx/v5) through its database/sql driver: it
// is the maintained pure-Go driver, speaks the binary protocol, reports
// SQLSTATE codes as typed errors, and its stdlib package keeps the
// catalog on the same *sql.DB and *sql.Tx as DuckDB. The catalog's '?'
// placeholders are rewritten to PostgreSQL's $1, $2, ... by a thin
// wrapper around that driver, so DB() accepts the same SQL on both.
//
// Sentinel errors: ErrNotFound, ErrConflict, ErrSchemaTooNew, ErrLocked,
// ErrUnknownKey, ErrBelowSpent.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "github.com/duckdb/duckdb-go/v2" // registers the duckdb driver
)

// FileName is the name of the catalog file in a data directory.
const FileName = "catalog.duckdb"

var (
	// ErrNotFound is returned when a dataset or version does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a write lost a race, such as two jobs
	// publishing the same version of a dataset.
	ErrConflict = errors.New("conflict")
	// ErrSchemaTooNew is returned when the catalog was written by a newer
	// haze than this one.
	ErrSchemaTooNew = errors.New("catalog schema is newer than this haze")
	// ErrLocked is returned when another process holds the catalog open.
	ErrLocked = errors.New("catalog is in use by another haze process")
)

// Catalog is an open catalog. It is safe for concurrent use.
type Catalog struct {
	db  *sql.DB
	dir string
	d   dialect

	// publishMu serialises publishes, so a lost race is ErrConflict.
	publishMu sync.Mutex

	// roundsMu serialises changes to federated rounds.
	roundsMu sync.Mutex

	// ledgerMu serialises budget charges: DuckDB's optimistic transactions
	// would let two charges read the same balance and both commit.
	ledgerMu sync.Mutex

	// auditMu serialises audit appends, so two never take the same Seq.
	// It is taken after ledgerMu when both are held, never before.
	auditMu sync.Mutex
}

// Open opens the catalog in dataDir, creating the folder and the file when
// missing and running pending migrations.
func Open(ctx context.Context, dataDir string) (*Catalog, error) {
	if dataDir == "" {
		return nil, errors.New("data dir is required")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}

	db, err := sql.Open("duckdb", filepath.Join(dataDir, FileName))
	if err != nil {
		return nil, fmt.Errorf("opening catalog: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("%s: %w", dataDir, ErrLocked)
		}
		return nil, fmt.Errorf("opening catalog: %w", err)
	}

	c := &Catalog{db: db, dir: dataDir, d: duckDialect{}}
	if err := c.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// Dir returns the data directory the catalog lives in.
func (c *Catalog) Dir() string { return c.dir }

// DB returns the underlying database for packages of this module that keep
// their own tables in the catalog.
func (c *Catalog) DB() *sql.DB { return c.db }

// Close checkpoints (DuckDB) and closes the catalog.
func (c *Catalog) Close() error {
	return c.d.close(c.db)
}

// migrations are applied in order; each runs once, in a transaction with
// the record of its version. Never edit one that has shipped: add another.
// These are DuckDB's; pgMigrations (postgres.go) translates them for
// PostgreSQL, so write a new step in SQL both accept but for type names.
var migrations = []string{
	// 1: datasets and their versions.
	`CREATE TABLE datasets (
		name            VARCHAR PRIMARY KEY,
		current_version INTEGER NOT NULL,
		created_at      TIMESTAMPTZ NOT NULL,
		updated_at      TIMESTAMPTZ NOT NULL
	);
	CREATE TABLE dataset_versions (
		dataset      VARCHAR NOT NULL,
		version      INTEGER NOT NULL,
		created_at   TIMESTAMPTZ NOT NULL,
		path         VARCHAR NOT NULL,
		privacy_unit VARCHAR NOT NULL,
		key_name     VARCHAR NOT NULL,
		key_id       VARCHAR NOT NULL,
		columns      VARCHAR NOT NULL,
		dp           VARCHAR NOT NULL,
		row_count    BIGINT NOT NULL,
		policy_hash  VARCHAR NOT NULL,
		manifest     VARCHAR NOT NULL,
		PRIMARY KEY (dataset, version)
	);`,
	// 2: the privacy budget: grants, caps, and the ledger of released
	// answers, which doubles as their cache.
	`CREATE TABLE grants (
		principal  VARCHAR NOT NULL,
		dataset    VARCHAR NOT NULL,
		epsilon    DOUBLE NOT NULL,
		delta      DOUBLE NOT NULL,
		updated_at TIMESTAMPTZ NOT NULL,
		PRIMARY KEY (principal, dataset)
	);
	CREATE TABLE caps (
		dataset    VARCHAR PRIMARY KEY,
		epsilon    DOUBLE NOT NULL,
		delta      DOUBLE NOT NULL,
		updated_at TIMESTAMPTZ NOT NULL
	);
	CREATE TABLE ledger (
		id          VARCHAR PRIMARY KEY,
		released_at TIMESTAMPTZ NOT NULL,
		principal   VARCHAR NOT NULL,
		dataset     VARCHAR NOT NULL,
		version     INTEGER NOT NULL,
		fingerprint VARCHAR NOT NULL,
		query       VARCHAR NOT NULL,
		epsilon     DOUBLE NOT NULL,
		delta       DOUBLE NOT NULL,
		answer      VARCHAR NOT NULL
	);
	CREATE INDEX ledger_fingerprint ON ledger (dataset, version, fingerprint);`,
	// 3: API keys, stored hashed, and the hash-chained audit log.
	`CREATE TABLE api_keys (
		id         VARCHAR PRIMARY KEY,
		name       VARCHAR NOT NULL,
		role       VARCHAR NOT NULL,
		hash       VARCHAR NOT NULL UNIQUE,
		created_at TIMESTAMPTZ NOT NULL,
		revoked_at TIMESTAMPTZ
	);
	CREATE TABLE audit (
		seq       BIGINT PRIMARY KEY,
		"at"      TIMESTAMPTZ NOT NULL, -- quoted: AT is a keyword
		principal VARCHAR NOT NULL,
		role      VARCHAR NOT NULL,
		action    VARCHAR NOT NULL,
		dataset   VARCHAR NOT NULL,
		query     VARCHAR NOT NULL,
		epsilon   DOUBLE NOT NULL,
		delta     DOUBLE NOT NULL,
		outcome   VARCHAR NOT NULL,
		detail    VARCHAR NOT NULL,
		prev_hash VARCHAR NOT NULL,
		hash      VARCHAR NOT NULL
	);`,
	// 4: federated rounds and their signed submissions, as JSON records
	// the federated package defines.
	`CREATE TABLE rounds (
		id     VARCHAR PRIMARY KEY,
		period VARCHAR NOT NULL,
		record VARCHAR NOT NULL
	);
	CREATE TABLE partners (
		name    VARCHAR PRIMARY KEY,
		partner VARCHAR NOT NULL
	);
	CREATE TABLE round_submissions (
		round_id   VARCHAR NOT NULL,
		partner    VARCHAR NOT NULL,
		seq        BIGINT NOT NULL,
		submission VARCHAR NOT NULL,
		PRIMARY KEY (round_id, partner)
	);`,
	// 5: encryption at rest. Each encrypted version's data key, wrapped
	// under a master key; shredding destroys it. Versions published before
	// this migration were written plain.
	`ALTER TABLE dataset_versions ADD COLUMN encryption VARCHAR DEFAULT 'none';
	CREATE TABLE data_keys (
		dataset       VARCHAR NOT NULL,
		version       INTEGER NOT NULL,
		master_key_id VARCHAR,
		wrapped       BLOB,
		shredded_at   TIMESTAMPTZ,
		PRIMARY KEY (dataset, version)
	);`,
	// 6: jobs started over the API, as JSON records the server defines,
	// so every replica can report on them.
	`CREATE TABLE jobs (
		id         VARCHAR PRIMARY KEY,
		record     VARCHAR NOT NULL,
		updated_at TIMESTAMPTZ NOT NULL
	);`,
}

// migrate brings the schema to the dialect's last migration. Each step
// runs in its own transaction with the record of its version, under the
// migration lock, so replicas starting at once apply each step once.
func (c *Catalog) migrate(ctx context.Context) error {
	tx, unlock, err := c.begin(ctx, lockMigrate)
	if err != nil {
		return fmt.Errorf("migrating catalog: %w", err)
	}
	_, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`)
	if err == nil {
		err = tx.Commit()
	}
	tx.Rollback()
	unlock()
	if err != nil {
		return fmt.Errorf("migrating catalog: %w", err)
	}

	for {
		done, err := c.migrateNext(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateNext applies the next pending migration, or reports that there
// is none.
func (c *Catalog) migrateNext(ctx context.Context) (done bool, err error) {
	steps := c.d.migrations()
	tx, unlock, err := c.begin(ctx, lockMigrate)
	if err != nil {
		return false, fmt.Errorf("migrating catalog: %w", err)
	}
	defer unlock()
	defer tx.Rollback()

	var current int
	if err := tx.QueryRowContext(ctx,
		`SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return false, fmt.Errorf("migrating catalog: %w", err)
	}
	if current > len(steps) {
		return false, fmt.Errorf("catalog at version %d, this haze knows %d: %w",
			current, len(steps), ErrSchemaTooNew)
	}
	if current == len(steps) {
		return true, nil
	}

	v := current + 1
	if _, err := tx.ExecContext(ctx, steps[v-1]); err != nil {
		return false, fmt.Errorf("migrating catalog to version %d: %w", v, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
		return false, fmt.Errorf("migrating catalog to version %d: %w", v, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrating catalog to version %d: %w", v, err)
	}
	return false, nil
}
