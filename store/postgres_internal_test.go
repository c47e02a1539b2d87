package store

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"none", `SELECT 1`, `SELECT 1`},
		{"in order", `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`,
			`SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{"string literal", `SELECT '?', ? FROM t WHERE x = 'it''s ?'`,
			`SELECT '?', $1 FROM t WHERE x = 'it''s ?'`},
		{"quoted identifier", `SELECT "a?b" FROM t WHERE c = ?`, `SELECT "a?b" FROM t WHERE c = $1`},
		{"line comment", "SELECT ? -- why?\nFROM t WHERE a = ?",
			"SELECT $1 -- why?\nFROM t WHERE a = $2"},
		{"block comment", `SELECT /* ? */ ?`, `SELECT /* ? */ $1`},
		{"dollar quote", `SELECT $x$ ? $x$, ?`, `SELECT $x$ ? $x$, $1`},
		{"numbered stay", `SELECT $1, '?'`, `SELECT $1, '?'`},
		{"unterminated", `SELECT ?, 'open ?`, `SELECT $1, 'open ?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rebind(tt.in); got != tt.want {
				t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"postgres://haze:s3cret@db:5432/haze", "postgres://haze:xxxxx@db:5432/haze"},
		{"postgres://db/haze?user=haze&password=s3cret", "postgres://db/haze?password=xxxxx&user=haze"},
		{"postgres://haze@db/haze", "postgres://haze@db/haze"},
		{"postgres://haze:s3cret@db:bad port/%zz", "(catalog URL)"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	// Errors that quote the password do not show it, and still wrap.
	err := redact(fmt.Errorf("opening catalog: %w: dial postgres://haze:s3cret@db", ErrLocked),
		urlPassword("postgres://haze:s3cret@db"))
	if strings.Contains(err.Error(), "s3cret") || !errors.Is(err, ErrLocked) {
		t.Errorf("redacted error = %q (wraps ErrLocked: %v)", err, errors.Is(err, ErrLocked))
	}
}

func TestMigrationsInBothDialects(t *testing.T) {
	// A step added to one dialect's list must be added to the other's.
	if len(migrations) != len(pgMigrations) {
		t.Errorf("DuckDB has %d migrations, PostgreSQL %d: add the missing steps to the other "+
			"list", len(migrations), len(pgMigrations))
	}
	// The translation leaves no DuckDB-only type and keeps every table.
	bare := regexp.MustCompile(`\bDOUBLE\b(?: PRECISION)?|\bBLOB\b`)
	for i, step := range pgMigrations {
		for _, m := range bare.FindAllString(step, -1) {
			if m != "DOUBLE PRECISION" {
				t.Errorf("PostgreSQL step %d still says %s", i+1, m)
			}
		}
		if got, want := strings.Count(step, "CREATE TABLE"),
			strings.Count(migrations[i], "CREATE TABLE"); got != want {
			t.Errorf("PostgreSQL step %d creates %d tables, DuckDB's %d", i+1, got, want)
		}
	}
	if !strings.Contains(pgMigrations[2], "rowid") {
		t.Error("PostgreSQL's api_keys has no rowid, which Keys orders by")
	}
}
