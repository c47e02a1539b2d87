package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"haze/store"
)

// createKey creates a key and fails the test on error.
func createKey(t *testing.T, cat *store.Catalog, name, role string) (string, store.APIKey) {
	t.Helper()
	secret, k, err := cat.CreateKey(context.Background(), name, role)
	if err != nil {
		t.Fatalf("CreateKey(%s, %s): %v", name, role, err)
	}
	return secret, k
}

func TestCreateKeyAuthenticates(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	secret, k := createKey(t, cat, "ana.smith-2", store.RoleAnalyst)
	other, _ := createKey(t, cat, "bob", store.RolePartner)

	if !regexp.MustCompile(`^hz_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Errorf("key = %q, want hz_ and 43 base64url characters", secret)
	}
	if !regexp.MustCompile(`^key_[0-9a-f]{8}$`).MatchString(k.ID) || k.Name != "ana.smith-2" ||
		k.Role != store.RoleAnalyst || k.CreatedAt.IsZero() || k.RevokedAt != nil {
		t.Errorf("key = %+v, want an ID, the name and role, a creation time and no revocation", k)
	}
	got, err := cat.Authenticate(ctx, secret)
	if err != nil || got.ID != k.ID || got.Name != k.Name || got.Role != k.Role ||
		!got.CreatedAt.Equal(k.CreatedAt) || got.RevokedAt != nil {
		t.Errorf("Authenticate = %+v, %v, want %+v", got, err, k)
	}

	wrong := []struct {
		name   string
		secret string
	}{
		{"empty", ""},
		{"prefix only", "hz_"},
		{"last character changed", secret[:len(secret)-1] + flip(secret[len(secret)-1])},
		{"upper case", strings.ToUpper(secret)},
		{"without prefix", strings.TrimPrefix(secret, "hz_")},
		{"with a newline", secret + "\n"},
		{"never issued", "hz_" + strings.Repeat("A", 43)},
		{"the ID", k.ID},
	}
	for _, tt := range wrong {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := cat.Authenticate(ctx, tt.secret); !errors.Is(err, store.ErrUnknownKey) {
				t.Errorf("Authenticate = %+v, %v, want %v", got, err, store.ErrUnknownKey)
			}
		})
	}
	if got, err := cat.Authenticate(ctx, other); err != nil || got.Name != "bob" {
		t.Errorf("Authenticate(bob's key) = %+v, %v, want bob", got, err)
	}
}

// flip returns a base64url character other than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestCreateKeyRefusesBadNamesAndRoles(t *testing.T) {
	cat := openCatalog(t)
	tests := []struct {
		name, key, role string
		ok              bool
	}{
		{"plain", "ana", store.RoleAnalyst, true},
		{"dots, dashes, digits", "team-7.eu_west", store.RoleEngineer, true},
		{"64 characters", "a" + strings.Repeat("b", 63), store.RoleAdmin, true},
		{"partner", "airline.xx", store.RolePartner, true},
		{"empty name", "", store.RoleAnalyst, false},
		{"65 characters", "a" + strings.Repeat("b", 64), store.RoleAnalyst, false},
		{"upper case", "Ana", store.RoleAnalyst, false},
		{"starts with a digit", "7ana", store.RoleAnalyst, false},
		{"starts with a dot", ".ana", store.RoleAnalyst, false},
		{"space", "ana smith", store.RoleAnalyst, false},
		{"slash", "ana/smith", store.RoleAnalyst, false},
		{"quote", "ana'--", store.RoleAnalyst, false},
		{"looks like a key ID", "key_0123abcd", store.RoleAnalyst, false},
		{"reserved for the command line", "cli", store.RoleAdmin, false},
		{"empty role", "ana", "", false},
		{"unknown role", "ana", "root", false},
		{"role in upper case", "ana", "Admin", false},
	}
	wantKeys := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, k, err := cat.CreateKey(context.Background(), tt.key, tt.role)
			if (err == nil) != tt.ok {
				t.Fatalf("CreateKey(%q, %q) = %+v, %v, want ok=%v", tt.key, tt.role, k, err, tt.ok)
			}
			if !tt.ok && (secret != "" || k != (store.APIKey{})) {
				t.Errorf("refused CreateKey returned %q, %+v, want nothing", secret, k)
			}
		})
		if tt.ok {
			wantKeys++
		}
	}
	keys, err := cat.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != wantKeys {
		t.Errorf("Keys = %d keys, want %d", len(keys), wantKeys)
	}
}

func TestRevokeKey(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	ana1, k1 := createKey(t, cat, "ana", store.RoleAnalyst)
	ana2, _ := createKey(t, cat, "ana", store.RoleAnalyst)
	bob, kb := createKey(t, cat, "bob", store.RoleEngineer)

	steps := []struct {
		name     string
		idOrName string
		want     int
		err      error
	}{
		{"by ID", k1.ID, 1, nil},
		{"the same ID again", k1.ID, 0, store.ErrNotFound},
		{"by name, the key left", "ana", 1, nil},
		{"the same name again", "ana", 0, store.ErrNotFound},
		{"an unknown ID", "key_00000000", 0, store.ErrNotFound},
		{"an unknown name", "carol", 0, store.ErrNotFound},
		{"empty", "", 0, store.ErrNotFound},
	}
	for _, s := range steps {
		n, err := cat.RevokeKey(ctx, s.idOrName)
		if n != s.want || !errors.Is(err, s.err) {
			t.Errorf("%s: RevokeKey(%q) = %d, %v, want %d, %v", s.name, s.idOrName, n, err,
				s.want, s.err)
		}
	}
	for _, secret := range []string{ana1, ana2} {
		if _, err := cat.Authenticate(ctx, secret); !errors.Is(err, store.ErrUnknownKey) {
			t.Errorf("Authenticate(revoked key) = %v, want %v", err, store.ErrUnknownKey)
		}
	}
	if got, err := cat.Authenticate(ctx, bob); err != nil || got.ID != kb.ID {
		t.Errorf("Authenticate(bob) = %+v, %v, want bob's key still valid", got, err)
	}

	// A name whose keys were revoked can have a new one; revoking by name
	// takes every valid key of the name.
	ana3, _ := createKey(t, cat, "ana", store.RoleAnalyst)
	createKey(t, cat, "ana", store.RoleAdmin)
	if _, err := cat.Authenticate(ctx, ana3); err != nil {
		t.Errorf("Authenticate(new key of a revoked name) = %v, want nil", err)
	}
	if n, err := cat.RevokeKey(ctx, "ana"); n != 2 || err != nil {
		t.Errorf("RevokeKey(ana) = %d, %v, want 2, nil", n, err)
	}

	keys, err := cat.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		state := "valid"
		if k.RevokedAt != nil {
			state = "revoked"
			if k.RevokedAt.Before(k.CreatedAt) {
				t.Errorf("key %s revoked at %v before its creation at %v", k.ID, k.RevokedAt,
					k.CreatedAt)
			}
		}
		got = append(got, k.Name+" "+k.Role+" "+state)
	}
	want := []string{"ana analyst revoked", "ana analyst revoked", "bob engineer valid",
		"ana analyst revoked", "ana admin revoked"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Keys = %v, want %v (oldest first)", got, want)
	}
}

func TestKeysNeverStoredOrShownInClear(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	dir := b.dir
	cat, err := b.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()

	var secrets []string
	for i, role := range store.Roles {
		secret, k := createKey(t, cat, fmt.Sprintf("user%d", i), role)
		secrets = append(secrets, secret)
		appendAudit(t, cat, nil, store.AuditEntry{Principal: store.CLIPrincipal,
			Role: store.RoleAdmin, Action: "keys.create", Outcome: store.OutcomeAllowed,
			Detail: "key " + k.ID + " role " + k.Role})
		if _, err := cat.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cat.RevokeKey(ctx, "user0"); err != nil {
		t.Fatal(err)
	}

	// No text column of the key or audit tables holds a key, or the
	// random part of one.
	var values []string
	for _, table := range []string{"api_keys", "audit"} {
		values = append(values, textColumns(t, cat, table)...)
	}
	if len(values) == 0 {
		t.Fatal("no stored values to check")
	}
	for _, v := range values {
		for _, s := range secrets {
			if strings.Contains(v, s) || strings.Contains(v, strings.TrimPrefix(s, "hz_")) {
				t.Errorf("the catalog stores %q, which holds a key", v)
			}
		}
	}

	// What Keys returns, printed, encoded or logged, holds no key or hash.
	keys, err := cat.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hashes := textColumn(t, cat, "api_keys", "hash")
	if len(keys) != len(secrets) || len(hashes) != len(secrets) {
		t.Fatalf("%d keys and %d hashes, want %d of each", len(keys), len(hashes), len(secrets))
	}
	encoded, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	for _, k := range keys {
		log.Info("key", "key", k)
	}
	shown := map[string]string{"printed": fmt.Sprintf("%+v", keys), "JSON": string(encoded),
		"logged": logged.String()}
	for how, text := range shown {
		for _, k := range keys {
			if !strings.Contains(text, k.ID) {
				t.Errorf("%s keys lack the ID %s: %s", how, k.ID, text)
			}
		}
		for _, s := range append(hashes, secrets...) {
			if strings.Contains(text, s) {
				t.Errorf("%s keys hold the secret or hash %.12s...: %s", how, s, text)
			}
		}
	}

	// Nor does the catalog file (on PostgreSQL, the columns above are all).
	if err := cat.Close(); err != nil {
		t.Fatal(err)
	}
	if b.url != "" {
		return
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("catalog files = %v, %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(strings.TrimPrefix(s, "hz_"))) {
				t.Errorf("%s holds a key", filepath.Base(f))
			}
		}
	}
}

// textColumns returns every value of every VARCHAR column of table.
func textColumns(t *testing.T, cat *store.Catalog, table string) []string {
	t.Helper()
	rows, err := cat.DB().Query(`SELECT column_name FROM information_schema.columns
		WHERE table_name = ? AND data_type IN ('VARCHAR', 'character varying')`, table)
	if err != nil {
		t.Fatal(err)
	}
	var columns []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		columns = append(columns, c)
	}
	rows.Close()
	if len(columns) < 4 {
		t.Fatalf("%s has VARCHAR columns %v, want at least 4", table, columns)
	}
	var out []string
	for _, c := range columns {
		out = append(out, textColumn(t, cat, table, c)...)
	}
	return out
}

func textColumn(t *testing.T, cat *store.Catalog, table, column string) []string {
	t.Helper()
	rows, err := cat.DB().Query(fmt.Sprintf(`SELECT %q FROM %s`, column, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
