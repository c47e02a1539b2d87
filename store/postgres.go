package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// EnvCatalog names the environment variable the haze command reads for
// the catalog URL when --catalog is not given.
const EnvCatalog = "HAZE_CATALOG"

// pgMaxConns bounds one catalog's connections to PostgreSQL. A charge
// holds one for its transaction; requests beyond it wait in the pool.
const pgMaxConns = 16

// advisoryBase is the high half of the catalog's advisory lock keys
// ("haze" in ASCII), so they stay clear of other applications' keys on a
// shared server; the low half is the lockID.
const advisoryBase = int64(0x68617a65) << 32

// OpenURL opens the catalog named by catalog, with the datasets' files in
// dataDir. An empty catalog is the embedded DuckDB catalog of dataDir, as
// Open; a postgres:// or postgresql:// URL (any form pgx accepts, such as
// postgres://user:pass@host:5432/db?sslmode=require) is a PostgreSQL
// database that several haze processes may share. OpenURL runs pending
// migrations, and refuses a schema newer than this haze with an error
// wrapping ErrSchemaTooNew. Errors never hold the URL's password.
func OpenURL(ctx context.Context, catalog, dataDir string) (*Catalog, error) {
	if catalog == "" {
		return Open(ctx, dataDir)
	}
	scheme, _, found := strings.Cut(catalog, "://")
	if !found || scheme != "postgres" && scheme != "postgresql" {
		// Say nothing of the URL: it may be a password pasted by mistake.
		return nil, errors.New("catalog: use a postgres:// URL, or none for the embedded catalog")
	}
	if dataDir == "" {
		return nil, errors.New("data dir is required")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}

	secret := urlPassword(catalog)
	where := RedactURL(catalog)
	cfg, err := pgx.ParseConfig(catalog)
	if err != nil {
		return nil, redact(fmt.Errorf("catalog %s: %w", where, err), secret)
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, redact(fmt.Errorf("opening catalog %s: %w", where, err), secret)
	}

	c := &Catalog{db: db, dir: dataDir, d: pgDialect{}}
	if err := c.migrate(ctx); err != nil {
		db.Close()
		return nil, redact(err, secret)
	}
	return c, nil
}

// RedactURL returns catalog with its password, if any, replaced by
// "xxxxx", for logs and errors. A string that is not a URL comes back as
// "(catalog URL)".
func RedactURL(catalog string) string {
	u, err := url.Parse(catalog)
	if err != nil {
		return "(catalog URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// urlPassword returns the password a catalog URL holds, or "".
func urlPassword(catalog string) string {
	u, err := url.Parse(catalog)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok {
		return p
	}
	return u.Query().Get("password")
}

// redactedError hides a password in the text of the error it wraps.
type redactedError struct {
	err    error
	secret string
}

func (e redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx")
}

func (e redactedError) Unwrap() error { return e.err }

// redact returns err with secret hidden from its text, nil for nil.
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return redactedError{err: err, secret: secret}
}

// pgDialect is a PostgreSQL catalog shared by replicas: its locks are
// transaction-level advisory locks, so they hold across processes and
// until commit.
type pgDialect struct{}

func (pgDialect) name() string         { return "postgres" }
func (pgDialect) migrations() []string { return pgMigrations }

// compact vacuums data_keys, so the row versions a shred left behind are
// reclaimed; PostgreSQL's write-ahead log keeps them until it recycles.
func (pgDialect) compact(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "VACUUM data_keys")
	return err
}
func (pgDialect) localLocks() bool { return false }

// lockTx takes the advisory lock of l; PostgreSQL releases it when tx
// commits or rolls back. Taken twice in one transaction it is held once.
func (pgDialect) lockTx(ctx context.Context, tx *sql.Tx, l lockID) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, advisoryBase|int64(l))
	return err
}

// SQLSTATE codes the catalog reads.
const (
	pgUniqueViolation      = "23505"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func (pgDialect) isDuplicate(err error) bool { return pgCode(err) == pgUniqueViolation }

func (pgDialect) isConflict(err error) bool {
	code := pgCode(err)
	return code == pgSerializationFailure || code == pgDeadlockDetected
}

// snapshot: READ COMMITTED, PostgreSQL's default, takes a snapshot per
// statement; REPEATABLE READ takes one for the transaction.
func (pgDialect) snapshot() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

func (pgDialect) close(db *sql.DB) error { return db.Close() }

// rebindConnector hands out pgx connections that accept the catalog's '?'
// placeholders.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return rebindConn{conn.(*stdlib.Conn)}, nil
}

// rebindConn is a pgx connection whose statements are rebound from '?' to
// $n placeholders; everything else is pgx's.
type rebindConn struct{ *stdlib.Conn }

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c rebindConn) ExecContext(ctx context.Context, query string,
	args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string,
	args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// rebind replaces each '?' placeholder of query by $1, $2, ... in order.
// A '?' inside a string literal, a quoted identifier, a dollar-quoted
// string or a comment is left alone.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case ch == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(query[i+1:], ch)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
			continue
		case ch == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end])
			i += end - 1
			continue
		case ch == '/' && strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+4])
			i += end + 3
			continue
		case ch == '$':
			// A dollar quote $tag$...$tag$; $1 and the like pass as they are.
			if tag, ok := dollarTag(query[i:]); ok {
				end := strings.Index(query[i+len(tag):], tag)
				if end < 0 {
					b.WriteString(query[i:])
					return b.String()
				}
				stop := i + len(tag) + end + len(tag)
				b.WriteString(query[i:stop])
				i = stop - 1
				continue
			}
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// dollarTag returns the opening tag of a dollar-quoted string at the start
// of s, such as "$$" or "$body$".
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			j > 1 && c >= '0' && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}

// pgMigrations are migrations, step for step, in PostgreSQL's dialect:
// the same statements with PostgreSQL's type names, and after a step
// what PostgreSQL needs besides: api_keys gains the rowid DuckDB gives
// every table (Keys orders by it), and the ledger an index for balances.
var pgMigrations = postgresSteps(migrations, map[int]string{
	2: `CREATE INDEX ledger_principal ON ledger (dataset, principal);`,
	3: `ALTER TABLE api_keys ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;`,
})

// pgTypes are DuckDB's type names that PostgreSQL spells otherwise.
var pgTypes = []struct {
	duck *regexp.Regexp
	pg   string
}{
	{regexp.MustCompile(`\bDOUBLE\b`), "DOUBLE PRECISION"},
	{regexp.MustCompile(`\bBLOB\b`), "BYTEA"},
}

// postgresSteps translates DuckDB's migration steps; extra[n] is appended
// to step n (counting from 1).
func postgresSteps(steps []string, extra map[int]string) []string {
	out := make([]string, len(steps))
	for i, step := range steps {
		for _, t := range pgTypes {
			step = t.duck.ReplaceAllString(step, t.pg)
		}
		if more := extra[i+1]; more != "" {
			step += "\n" + more
		}
		out[i] = step
	}
	return out
}
