package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Roles an API key may hold. The store only records a key's role; what
// each role may do is the server's rule.
const (
	RoleAnalyst  = "analyst"
	RoleEngineer = "engineer"
	RolePartner  = "partner"
	RoleAdmin    = "admin"
)

// Roles lists every role, for validation and help texts. Do not modify it.
var Roles = []string{RoleAnalyst, RoleEngineer, RolePartner, RoleAdmin}

// ErrUnknownKey is returned by Authenticate for a key that does not exist
// or was revoked; the two are not told apart.
var ErrUnknownKey = errors.New("unknown or revoked API key")

// CLIPrincipal is the principal of audit entries written by the haze
// command line; no API key may take it as its name.
const CLIPrincipal = "cli"

const (
	// keyPrefix starts every API key, so a leaked key is easy to recognise.
	keyPrefix = "hz_"
	// keyBytes is the number of random bytes in a key: 256 bits, so the
	// unsalted SHA-256 stored for it cannot be reversed by guessing.
	keyBytes = 32
)

var (
	keyNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	keyIDPattern   = regexp.MustCompile(`^key_[0-9a-f]{8}$`)
	keySecretLen   = len(keyPrefix) + base64.RawURLEncoding.EncodedLen(keyBytes)
)

// APIKey describes an API key. It never holds the key itself or its hash:
// the clear key exists only in CreateKey's result.
type APIKey struct {
	// ID is the key's public identifier, "key_" and 8 hex digits.
	ID string `json:"id"`
	// Name is the principal the key authenticates as; one name may have
	// several keys (to rotate them).
	Name string `json:"name"`
	// Role is one of Roles.
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the key was revoked, nil while it is valid.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// LogValue logs the key's ID, name and role, which are not secret.
func (k APIKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("name", k.Name),
		slog.String("role", k.Role))
}

// ValidateKeyName checks that name can name an API key: 1 to 64 lower-case
// letters, digits, '_', '-' and '.', starting with a letter. Names of the
// form of a key ID and the name "cli" are reserved.
func ValidateKeyName(name string) error {
	switch {
	case !keyNamePattern.MatchString(name):
		return fmt.Errorf("key name %q: use 1 to 64 lower-case letters, digits, '_', '-' "+
			"and '.', starting with a letter", name)
	case keyIDPattern.MatchString(name):
		return fmt.Errorf("key name %q looks like a key ID", name)
	case name == CLIPrincipal:
		return fmt.Errorf("key name %q is reserved for the command line", name)
	}
	return nil
}

// ValidateRole checks that role is one of Roles.
func ValidateRole(role string) error {
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("role %q: use one of %s", role, strings.Join(Roles, ", "))
	}
	return nil
}

// hashKey returns the hex SHA-256 of a clear key, as stored.
func hashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateKey makes a new API key for name with role and returns it in clear
// with its description. The clear key is "hz_" and the unpadded base64url
// encoding of 32 random bytes; only its SHA-256 is stored, so it cannot be
// shown again. A name may have several keys.
func (c *Catalog) CreateKey(ctx context.Context, name, role string) (secret string, k APIKey,
	err error) {
	if err := ValidateKeyName(name); err != nil {
		return "", k, err
	}
	if err := ValidateRole(role); err != nil {
		return "", k, err
	}

	raw := make([]byte, keyBytes+4)
	if _, err := rand.Read(raw); err != nil {
		return "", k, fmt.Errorf("creating key: %w", err)
	}
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:keyBytes])
	k = APIKey{ID: "key_" + hex.EncodeToString(raw[keyBytes:]), Name: name, Role: role,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}

	// The 32-bit ID may collide with an existing one: draw it again.
	for range 3 {
		_, err = c.db.ExecContext(ctx, `INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)`,
			k.ID, k.Name, k.Role, hashKey(secret), k.CreatedAt)
		if !c.d.isDuplicate(err) {
			break
		}
		if _, err := rand.Read(raw[keyBytes:]); err != nil {
			return "", APIKey{}, fmt.Errorf("creating key: %w", err)
		}
		k.ID = "key_" + hex.EncodeToString(raw[keyBytes:])
	}
	if err != nil {
		return "", APIKey{}, fmt.Errorf("creating key for %s: %w", name, err)
	}
	return secret, k, nil
}

// Authenticate returns the valid key whose clear text is secret, or
// ErrUnknownKey. The lookup is by hash, so it takes the same time whatever
// prefix of a real key secret shares.
func (c *Catalog) Authenticate(ctx context.Context, secret string) (APIKey, error) {
	if len(secret) != keySecretLen || !strings.HasPrefix(secret, keyPrefix) {
		return APIKey{}, ErrUnknownKey
	}
	row := c.db.QueryRowContext(ctx, `SELECT id, name, role, created_at, revoked_at
		FROM api_keys WHERE hash = ? AND revoked_at IS NULL`, hashKey(secret))
	k, err := scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, ErrUnknownKey
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("authenticating: %w", err)
	}
	return k, nil
}

// Keys returns every key, revoked ones included, oldest first. It never
// returns hashes.
func (c *Catalog) Keys(ctx context.Context) ([]APIKey, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT id, name, role, created_at, revoked_at
		FROM api_keys ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	defer rows.Close()

	var out []APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("reading keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey revokes the key with ID idOrName, or, when idOrName is not of
// the form of a key ID, every valid key named idOrName. It returns how many
// keys it revoked; when none was valid, the error wraps ErrNotFound. A
// concurrent revoke of the same key may give an error wrapping ErrConflict.
func (c *Catalog) RevokeKey(ctx context.Context, idOrName string) (int, error) {
	column := "name"
	if keyIDPattern.MatchString(idOrName) {
		column = "id"
	}

	// Only revoked_at changes: DuckDB may refuse updates to indexed columns.
	res, err := c.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?
		WHERE `+column+` = ? AND revoked_at IS NULL`,
		time.Now().UTC().Truncate(time.Microsecond), idOrName)
	if c.d.isConflict(err) {
		return 0, fmt.Errorf("revoking %s: %w", idOrName, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("revoking %s: %w", idOrName, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoking %s: %w", idOrName, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("no valid key with %s %q: %w", column, idOrName, ErrNotFound)
	}
	return int(n), nil
}

func scanKey(row interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var revoked sql.NullTime
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.CreatedAt, &revoked); err != nil {
		return APIKey{}, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if revoked.Valid {
		t := revoked.Time.UTC()
		k.RevokedAt = &t
	}
	return k, nil
}

// isConstraintError reports whether err is DuckDB's refusal of a duplicate
// key, at the statement or at commit.
func isConstraintError(err error) bool {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return false
	}
	return de.Type == duckdb.ErrorTypeConstraint ||
		(de.Type == duckdb.ErrorTypeTransaction && strings.Contains(de.Msg, "constraint"))
}

// isConflictError reports whether err is DuckDB's refusal of a write that
// lost a race with another transaction.
func isConflictError(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeTransaction
}
