package anonymize_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"haze/anonymize"
)

// fileSecrets reads the base64 secrets of a keyring file by key name.
func fileSecrets(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading keyring: %v", err)
	}
	var f struct {
		Version int `json:"version"`
		Keys    []struct {
			Name   string `json:"name"`
			Secret string `json:"secret"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("keyring file is not JSON: %v", err)
	}
	secrets := map[string]string{}
	for _, k := range f.Keys {
		secrets[k.Name] = k.Secret
	}
	return secrets
}

// secretForm is one spelling of a secret.
type secretForm struct{ kind, text string }

// secretForms returns the ways fmt, slog or encoders could spell a base64
// secret: base64, hex, the raw bytes, and the byte lists of %v and %#v.
func secretForms(t *testing.T, b64 string) []secretForm {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("secret is not base64: %v", err)
	}
	goSyntax := fmt.Sprintf("%#v", raw)
	goSyntax = goSyntax[strings.IndexByte(goSyntax, '{')+1 : len(goSyntax)-1]
	return []secretForm{
		{"base64", b64},
		{"base64url", base64.RawURLEncoding.EncodeToString(raw)},
		{"hex", hex.EncodeToString(raw)},
		{"raw bytes", string(raw)},
		{"decimal byte list", strings.Trim(fmt.Sprint(raw), "[]")},
		{"Go-syntax byte list", goSyntax},
	}
}

// checkNoSecret fails when s holds any form of the secret.
func checkNoSecret(t *testing.T, what, s string, forms []secretForm) {
	t.Helper()
	for _, f := range forms {
		if strings.Contains(s, f.text) {
			t.Errorf("%s leaks the secret as a %s:\n got %q", what, f.kind, s)
		}
	}
}

// writeKeyring writes a keyring file with the given content and mode.
func writeKeyring(t *testing.T, content string, mode fs.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile applies the umask
		t.Fatal(err)
	}
	return path
}

// secret32 returns a base64 32-byte secret whose bytes all equal b.
func secret32(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, anonymize.KeySize))
}

func keyringJSON(keys ...[2]string) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf(
			`{"name": %q, "created": "2026-01-01T00:00:00Z", "secret": %q}`, k[0], k[1]))
	}
	return `{"version": 1, "keys": [` + strings.Join(parts, ", ") + `]}`
}

func TestInitKeyringCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "keys", "keyring.json")
	names := []string{"crm", "loyalty.v2", "partner_A-1"}

	ring, err := anonymize.InitKeyring(path, names)
	if err != nil {
		t.Fatalf("InitKeyring: %v", err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("keyring file: %v", err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("keyring mode = %o, want 600", got)
	}
	if got := ring.Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %v, want %v", got, names)
	}
	secrets := fileSecrets(t, path)
	for _, name := range names {
		raw, err := base64.StdEncoding.DecodeString(secrets[name])
		if err != nil || len(raw) != anonymize.KeySize {
			t.Errorf("secret of %q: %d bytes (err %v), want %d", name, len(raw), err,
				anonymize.KeySize)
		}
	}
	if secrets["crm"] == secrets["loyalty.v2"] {
		t.Errorf("two keys share the secret %q, want fresh random secrets", secrets["crm"])
	}
}

func TestInitKeyringRefusesExistingFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    fs.FileMode
	}{
		{"arbitrary file", "do not overwrite me\n", 0o600},
		{"existing keyring", keyringJSON([2]string{"crm", secret32(7)}), 0o600},
		{"empty file", "", 0o600},
		{"readable file", "x", 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKeyring(t, tt.content, tt.mode)

			ring, err := anonymize.InitKeyring(path, []string{"crm"})
			if !errors.Is(err, anonymize.ErrKeyringExists) {
				t.Fatalf("InitKeyring on an existing file: err = %v, want ErrKeyringExists", err)
			}
			if ring != nil {
				t.Errorf("InitKeyring returned a keyring with its error")
			}

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.content {
				t.Errorf("file changed:\n got %q\nwant %q", data, tt.content)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != tt.mode {
				t.Errorf("file mode changed: got %o, want %o", got, tt.mode)
			}
		})
	}
}

func TestInitKeyringRefusesBadNames(t *testing.T) {
	tests := []struct {
		name  string
		names []string
	}{
		{"no names", nil},
		{"empty name", []string{""}},
		{"leading dash", []string{"-crm"}},
		{"leading dot", []string{".crm"}},
		{"space", []string{"crm key"}},
		{"slash", []string{"crm/2026"}},
		{"non-ascii", []string{"clé"}},
		{"newline", []string{"crm\n"}},
		{"65 characters", []string{strings.Repeat("k", 65)}},
		{"duplicate", []string{"crm", "loyalty", "crm"}},
		{"bad name after a good one", []string{"crm", "bad name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keyring.json")

			ring, err := anonymize.InitKeyring(path, tt.names)
			if err == nil {
				t.Fatalf("InitKeyring(%q) = %v, nil; want an error", tt.names, ring.Names())
			}
			if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("InitKeyring(%q) left a file behind (stat: %v)", tt.names, statErr)
			}
		})
	}

	t.Run("longest and widest good names", func(t *testing.T) {
		names := []string{strings.Repeat("k", 64), "A", "9", "a.b_c-D"}
		ring, err := anonymize.InitKeyring(filepath.Join(t.TempDir(), "k.json"), names)
		if err != nil {
			t.Fatalf("InitKeyring(%q): %v", names, err)
		}
		if got := ring.Names(); !slices.Equal(got, names) {
			t.Errorf("Names() = %q, want %q", got, names)
		}
	})
}

func TestLoadKeyringRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	names := []string{"crm", "loyalty", "partners"}
	created, err := anonymize.InitKeyring(path, names)
	if err != nil {
		t.Fatalf("InitKeyring: %v", err)
	}

	loaded, err := anonymize.LoadKeyring(path)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}

	if got := loaded.Names(); !slices.Equal(got, names) {
		t.Errorf("Names() after load = %v, want %v", got, names)
	}
	for _, name := range names {
		want, err := created.Key(name)
		if err != nil {
			t.Fatalf("created.Key(%q): %v", name, err)
		}
		got, err := loaded.Key(name)
		if err != nil {
			t.Fatalf("loaded.Key(%q): %v", name, err)
		}
		if got.Name() != name {
			t.Errorf("Key(%q).Name() = %q, want %q", name, got.Name(), name)
		}
		if got.ID() != want.ID() {
			t.Errorf("Key(%q).ID() after load = %q, want %q", name, got.ID(), want.ID())
		}
		// The same secret must give the same tokens.
		gotTok := anonymize.NewPseudonymizer(got).Token("alice@example.com")
		wantTok := anonymize.NewPseudonymizer(want).Token("alice@example.com")
		if gotTok != wantTok {
			t.Errorf("token under loaded key %q = %q, want %q", name, gotTok, wantTok)
		}
	}
}

func TestLoadKeyringRefuses(t *testing.T) {
	good := secret32(0x5a)
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5b}, 16))
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5c}, 33))
	tests := []struct {
		name    string
		content string
		mode    fs.FileMode
		want    string // in the error
		secret  string // must not be in the error
	}{
		{"mode 0644", keyringJSON([2]string{"crm", good}), 0o644, "chmod 600", good},
		{"mode 0640", keyringJSON([2]string{"crm", good}), 0o640, "chmod 600", good},
		{"mode 0604", keyringJSON([2]string{"crm", good}), 0o604, "chmod 600", good},
		{"invalid JSON", `{"version": 1, "keys": [{"name": "crm", "secret": "` + good + `"`,
			0o600, "not valid JSON", good},
		{"not JSON at all", "secret=" + good, 0o600, "not valid JSON", good},
		{"secret of 16 bytes", keyringJSON([2]string{"crm", short}), 0o600, "32-byte", short},
		{"secret of 33 bytes", keyringJSON([2]string{"crm", long}), 0o600, "32-byte", long},
		{"secret not base64", keyringJSON([2]string{"crm", "!!" + good[2:]}), 0o600, "32-byte",
			good[2:]},
		{"empty secret", keyringJSON([2]string{"crm", ""}), 0o600, "32-byte", good},
		{"bad second key", keyringJSON([2]string{"crm", good}, [2]string{"loyalty", short}),
			0o600, "key 2", short},
		{"empty key list", `{"version": 1, "keys": []}`, 0o600, "no keys", good},
		{"no key list", `{"version": 1}`, 0o600, "no keys", good},
		{"version 2", `{"version": 2, "keys": []}`, 0o600, "version 2", good},
		{"invalid key name", keyringJSON([2]string{"bad name", good}), 0o600, "invalid name",
			good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeKeyring(t, tt.content, tt.mode)

			ring, err := anonymize.LoadKeyring(path)
			if err == nil {
				t.Fatalf("LoadKeyring = %v, nil; want an error containing %q", ring.Names(), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadKeyring error = %q, want it to contain %q", err, tt.want)
			}
			checkNoSecret(t, "LoadKeyring error", err.Error(), []secretForm{{"base64", tt.secret}})
		})
	}

	t.Run("missing file", func(t *testing.T) {
		_, err := anonymize.LoadKeyring(filepath.Join(t.TempDir(), "none.json"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LoadKeyring(missing) error = %v, want one wrapping fs.ErrNotExist", err)
		}
	})
}

func TestKeyringKeyUnknown(t *testing.T) {
	ring, err := anonymize.LoadKeyring(writeKeyring(t, keyringJSON([2]string{"crm", secret32(1)}),
		0o600))
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	for _, name := range []string{"loyalty", "", "CRM", "crm "} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			k, err := ring.Key(name)
			if !errors.Is(err, anonymize.ErrUnknownKey) {
				t.Fatalf("Key(%q) error = %v, want one wrapping ErrUnknownKey", name, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Errorf("Key(%q) error = %q, want it to name the key", name, err)
			}
			if k.ID() != "" || k.Name() != "" {
				t.Errorf("Key(%q) = %v with its error, want the zero Key", name, k)
			}
		})
	}
}

func TestResolvePath(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		path    string
		want    string
		wantErr bool
	}{
		{"explicit path wins over the environment", "/env/keyring.json", "job/keyring.json",
			"job/keyring.json", false},
		{"explicit path without environment", "", "job/keyring.json", "job/keyring.json", false},
		{"environment when the path is empty", "/env/keyring.json", "", "/env/keyring.json", false},
		{"neither set", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(anonymize.EnvKeyring, tt.env)

			got, err := anonymize.ResolvePath(tt.path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ResolvePath(%q) = %q, nil; want an error", tt.path, got)
				}
				if !strings.Contains(err.Error(), anonymize.EnvKeyring) {
					t.Errorf("ResolvePath error = %q, want it to name %s", err, anonymize.EnvKeyring)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolvePath(%q): %v", tt.path, err)
			}
			if got != tt.want {
				t.Errorf("ResolvePath(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	if anonymize.EnvKeyring != "HAZE_KEYRING" {
		t.Errorf("EnvKeyring = %q, want HAZE_KEYRING", anonymize.EnvKeyring)
	}
}

// redactionFixture is a keyring on disk with its key "crm" and the forms
// its secret could leak as.
func redactionFixture(t *testing.T) (*anonymize.Keyring, anonymize.Key, []secretForm) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := anonymize.InitKeyring(path, []string{"crm", "loyalty"}); err != nil {
		t.Fatalf("InitKeyring: %v", err)
	}
	ring, err := anonymize.LoadKeyring(path)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	key, err := ring.Key("crm")
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	var forms []secretForm
	for _, s := range fileSecrets(t, path) {
		forms = append(forms, secretForms(t, s)...)
	}
	return ring, key, forms
}

func TestKeyFormatRedactsSecret(t *testing.T) {
	_, key, forms := redactionFixture(t)

	// These verbs go through Key.String.
	for _, verb := range []string{"%v", "%+v", "%s", "%q", "%x", "%X"} {
		t.Run(verb, func(t *testing.T) {
			got := fmt.Sprintf(verb, key)
			checkNoSecret(t, "fmt.Sprintf("+verb+", key)", got, forms)
			if verb == "%v" && got != "key("+key.ID()+")" {
				t.Errorf("fmt.Sprintf(%%v, key) = %q, want %q", got, "key("+key.ID()+")")
			}
		})
	}
	t.Run("Sprint and Sprintln", func(t *testing.T) {
		checkNoSecret(t, "fmt.Sprint(key)", fmt.Sprint(key), forms)
		checkNoSecret(t, "fmt.Sprintln(key)", fmt.Sprintln(key), forms)
		checkNoSecret(t, "fmt.Sprint(&key)", fmt.Sprint(&key), forms)
		checkNoSecret(t, "fmt.Sprint([]Key)", fmt.Sprint([]anonymize.Key{key}), forms)
		checkNoSecret(t, "fmt.Sprintf(%+v) of a struct holding a Key",
			fmt.Sprintf("%+v", struct{ Key anonymize.Key }{key}), forms)
	})
	t.Run("error wrapping a key", func(t *testing.T) {
		err := fmt.Errorf("using %v: %w", key, errors.New("boom"))
		checkNoSecret(t, "error text", err.Error(), forms)
	})

	// These verbs do not go through String: Key documents that it may be
	// passed to fmt without leaking, so they must not print the secret
	// either. Key implements neither GoStringer nor fmt.Formatter, so %#v
	// and %d print the struct fields, secret bytes included.
	for _, verb := range []string{"%#v", "%d"} {
		t.Run(verb, func(t *testing.T) {
			checkNoSecret(t, "fmt.Sprintf("+verb+", key)", fmt.Sprintf(verb, key), forms)
		})
	}
}

func TestKeyringFormatRedactsSecret(t *testing.T) {
	// The package doc says Key and Keyring redact themselves. Keyring only
	// implements LogValue, so fmt prints its keys field by field: the
	// unexported Key values are printed by reflection, bypassing Key.String.
	ring, _, forms := redactionFixture(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		t.Run(verb, func(t *testing.T) {
			checkNoSecret(t, "fmt.Sprintf("+verb+", keyring)", fmt.Sprintf(verb, ring), forms)
		})
	}
}

func TestSlogRedactsSecret(t *testing.T) {
	ring, key, forms := redactionFixture(t)
	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	}
	for _, h := range handlers {
		t.Run(h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))

			log.Info("keyring loaded", "key", key, "keyring", ring)
			log.Info("grouped", slog.Group("job", slog.Any("key", key)))
			log.With("key", key).Info("with")

			out := buf.String()
			checkNoSecret(t, "slog output", out, forms)
			if !strings.Contains(out, key.ID()) {
				t.Errorf("slog output = %s\nwant it to carry the key ID %q", out, key.ID())
			}
			loyalty, err := ring.Key("loyalty")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, loyalty.ID()) {
				t.Errorf("slog output = %s\nwant the keyring to log its key ID %q", out,
					loyalty.ID())
			}
		})
	}

	t.Run("json shape", func(t *testing.T) {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "key", key, "keyring", ring)
		var rec struct {
			Key     string   `json:"key"`
			Keyring []string `json:"keyring"`
		}
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatalf("slog JSON %s: %v", buf.String(), err)
		}
		if rec.Key != key.ID() {
			t.Errorf("logged key = %q, want %q", rec.Key, key.ID())
		}
		master, err := ring.Master()
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Keyring) != 3 || rec.Keyring[0] != key.ID() || rec.Keyring[2] != master.ID() {
			t.Errorf("logged keyring = %q, want 3 key IDs from %q to the master %q",
				rec.Keyring, key.ID(), master.ID())
		}
	})
}

func TestKeyIDs(t *testing.T) {
	idPattern := regexp.MustCompile(`^crm:[0-9a-f]{12}$`)
	load := func(t *testing.T, path string) anonymize.Key {
		t.Helper()
		ring, err := anonymize.LoadKeyring(path)
		if err != nil {
			t.Fatalf("LoadKeyring: %v", err)
		}
		k, err := ring.Key("crm")
		if err != nil {
			t.Fatalf("Key: %v", err)
		}
		return k
	}

	t.Run("format", func(t *testing.T) {
		k := load(t, writeKeyring(t, keyringJSON([2]string{"crm", secret32(1)}), 0o600))
		if !idPattern.MatchString(k.ID()) {
			t.Errorf("ID() = %q, want it to match %s", k.ID(), idPattern)
		}
	})
	t.Run("stable across loads and files", func(t *testing.T) {
		path := writeKeyring(t, keyringJSON([2]string{"crm", secret32(1)}), 0o600)
		first, second := load(t, path), load(t, path)
		copied := load(t, writeKeyring(t, keyringJSON([2]string{"crm", secret32(1)}), 0o600))
		if first.ID() != second.ID() || first.ID() != copied.ID() {
			t.Errorf("IDs of one secret = %q, %q, %q; want them equal", first.ID(), second.ID(),
				copied.ID())
		}
	})
	t.Run("different secrets", func(t *testing.T) {
		a := load(t, writeKeyring(t, keyringJSON([2]string{"crm", secret32(1)}), 0o600))
		b := load(t, writeKeyring(t, keyringJSON([2]string{"crm", secret32(2)}), 0o600))
		if a.ID() == b.ID() {
			t.Errorf("IDs of two secrets = %q and %q, want them different", a.ID(), b.ID())
		}
	})
	t.Run("fresh keyrings", func(t *testing.T) {
		a, b := newTestKey(t, "crm"), newTestKey(t, "crm")
		if a.ID() == b.ID() {
			t.Errorf("IDs of two fresh keys = %q and %q, want them different", a.ID(), b.ID())
		}
		for _, k := range []anonymize.Key{a, b} {
			if !idPattern.MatchString(k.ID()) {
				t.Errorf("ID() = %q, want it to match %s", k.ID(), idPattern)
			}
		}
	})
}
