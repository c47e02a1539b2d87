package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// dialect is what differs between the catalog's two databases. Every
// query of the catalog is written once, in SQL both accept, with '?'
// placeholders; a dialect adds the schema, the locks and the reading of
// errors.
type dialect interface {
	// name is the database's name for errors: "duckdb" or "postgres".
	name() string
	// migrations returns the schema steps, in order, in this dialect.
	migrations() []string
	// localLocks reports whether the catalog's locks are in-process
	// mutexes taken before a transaction begins (DuckDB, one process
	// holds the file). When false, lockTx takes them in the database.
	localLocks() bool
	// lockTx takes lock l inside tx; it is held until tx ends. It does
	// nothing for a dialect with local locks.
	lockTx(ctx context.Context, tx *sql.Tx, l lockID) error
	// isDuplicate reports whether err is the refusal of a duplicate key,
	// at the statement or at commit.
	isDuplicate(err error) bool
	// isConflict reports whether err is a write that lost a race with
	// another transaction; trying again may succeed.
	isConflict(err error) bool
	// snapshot returns the options of a read-only transaction whose
	// statements all see one snapshot.
	snapshot() *sql.TxOptions
	// compact makes the database drop the bytes of rows just overwritten
	// (a shredded data key) from its files, as far as it can.
	compact(ctx context.Context, db *sql.DB) error
	// close releases db.
	close(db *sql.DB) error
}

// lockID names one of the catalog's write locks. Locks held together are
// taken in the order of their values, never the other way round: the
// ledger before the audit log.
type lockID int

const (
	// lockMigrate serialises schema migrations of replicas starting at once.
	lockMigrate lockID = iota + 1
	// lockPublish serialises publishes, so a lost race is ErrConflict.
	lockPublish
	// lockRounds serialises changes to federated rounds and partners.
	lockRounds
	// lockLedger serialises budget charges and changes to grants and caps.
	lockLedger
	// lockAudit serialises audit appends, so the chain never forks.
	lockAudit
)

// mutex returns the in-process mutex of l, nil for none.
func (c *Catalog) mutex(l lockID) *sync.Mutex {
	switch l {
	case lockPublish:
		return &c.publishMu
	case lockRounds:
		return &c.roundsMu
	case lockLedger:
		return &c.ledgerMu
	case lockAudit:
		return &c.auditMu
	}
	return nil // lockMigrate: one process holds an embedded catalog
}

// lock takes locks in a transaction tx of the caller: for a dialect with
// local locks, the mutexes (released by the returned function, which the
// caller defers); else the database's locks, which tx holds until it ends.
func (c *Catalog) lock(ctx context.Context, tx *sql.Tx, locks ...lockID) (func(), error) {
	if c.d.localLocks() {
		return c.lockLocal(locks), nil
	}
	for _, l := range locks {
		if err := c.d.lockTx(ctx, tx, l); err != nil {
			return func() {}, fmt.Errorf("taking lock: %w", err)
		}
	}
	return func() {}, nil
}

// lockLocal takes the in-process mutexes of locks in order and returns
// what releases them.
func (c *Catalog) lockLocal(locks []lockID) func() {
	var held []*sync.Mutex
	for _, l := range locks {
		if mu := c.mutex(l); mu != nil {
			mu.Lock()
			held = append(held, mu)
		}
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
}

// begin starts a read-write transaction holding locks until it ends. The
// caller defers the returned function after tx.Rollback, so that on
// DuckDB the mutexes are released once the transaction is over; it is
// never nil. The locks are taken before the transaction's first read, so
// it sees every write committed under them before.
func (c *Catalog) begin(ctx context.Context, locks ...lockID) (*sql.Tx, func(), error) {
	unlock := func() {}
	if c.d.localLocks() {
		// DuckDB takes a transaction's snapshot when it begins: lock first.
		unlock = c.lockLocal(locks)
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		unlock()
		return nil, func() {}, err
	}
	if !c.d.localLocks() {
		if _, err := c.lock(ctx, tx, locks...); err != nil {
			tx.Rollback()
			return nil, func() {}, err
		}
	}
	return tx, unlock, nil
}

// duckDialect is the embedded catalog: one DuckDB file that one process
// holds, so in-process mutexes are its locks.
type duckDialect struct{}

func (duckDialect) name() string         { return "duckdb" }
func (duckDialect) migrations() []string { return migrations }
func (duckDialect) localLocks() bool     { return true }

func (duckDialect) lockTx(context.Context, *sql.Tx, lockID) error { return nil }

func (duckDialect) isDuplicate(err error) bool { return isConstraintError(err) }
func (duckDialect) isConflict(err error) bool  { return isConflictError(err) }

// snapshot: a DuckDB transaction reads one snapshot whatever its options.
func (duckDialect) snapshot() *sql.TxOptions { return nil }

// compact checkpoints, so overwritten rows leave the write-ahead log; the
// freed blocks of the file keep their bytes until DuckDB reuses them.
func (duckDialect) compact(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "CHECKPOINT")
	return err
}

func (duckDialect) close(db *sql.DB) error {
	_, _ = db.Exec("CHECKPOINT")
	return db.Close()
}
