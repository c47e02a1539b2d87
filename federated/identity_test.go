package federated

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentityFile(t *testing.T) {
	id, err := NewIdentity("klm-nl")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("saved with mode 0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "id.json")
		if err := id.Save(path); err != nil {
			t.Fatalf("Save: %v", err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("got mode %04o, want 0600", got)
		}
	})

	t.Run("never overwrites", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "id.json")
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := id.Save(path); !errors.Is(err, fs.ErrExist) {
			t.Errorf("got %v, want %v", err, fs.ErrExist)
		}
		if got, _ := os.ReadFile(path); string(got) != "keep me" {
			t.Errorf("got file %q, want it untouched", got)
		}
	})

	t.Run("round trip", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "id.json")
		if err := id.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := LoadIdentity(path)
		if err != nil {
			t.Fatalf("LoadIdentity: %v", err)
		}
		if !back.Public().Equal(id.Public()) {
			t.Errorf("got %v, want %v", back.Public(), id.Public())
		}
		msg := []byte("digest")
		if !ed25519.Verify(id.Public().SignKey, msg, ed25519.Sign(back.sign, msg)) {
			t.Errorf("a signature by the loaded key does not verify under the saved one")
		}
		if !bytes.Equal(back.dh.Bytes(), id.dh.Bytes()) {
			t.Errorf("the loaded key agreement key differs from the saved one")
		}
	})

	refusals := []struct {
		name string
		// write puts a file at path.
		write func(t *testing.T, path string)
		want  error
	}{
		{"world readable", func(t *testing.T, path string) {
			saveWithMode(t, id, path, 0o604)
		}, ErrInsecureFile},
		{"group readable", func(t *testing.T, path string) {
			saveWithMode(t, id, path, 0o640)
		}, ErrInsecureFile},
		{"not JSON", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("ssh-ed25519 AAAA"), 0o600)
		}, ErrBadIdentity},
		{"public key not matching", func(t *testing.T, path string) {
			saveWithMode(t, id, path, 0o600)
			other, _ := NewIdentity("klm-nl")
			data, _ := os.ReadFile(path)
			var f identityFile
			json.Unmarshal(data, &f)
			f.SignPub = other.Public().SignKey
			data, _ = json.Marshal(f)
			os.WriteFile(path, data, 0o600)
		}, ErrBadIdentity},
		{"directory", func(t *testing.T, path string) {
			os.Mkdir(path, 0o700)
		}, ErrBadIdentity},
		{"missing", func(t *testing.T, path string) {}, fs.ErrNotExist},
	}
	for _, tt := range refusals {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "id.json")
			tt.write(t, path)
			if _, err := LoadIdentity(path); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// saveWithMode saves id at path and sets its mode.
func saveWithMode(t *testing.T, id *Identity, path string, mode os.FileMode) {
	t.Helper()
	if err := id.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityRedactsPrivateKeys(t *testing.T) {
	id, err := NewIdentity("af")
	if err != nil {
		t.Fatal(err)
	}
	// Every form a private key could take in text.
	var secrets []string
	for _, key := range [][]byte{id.sign.Seed(), id.sign, id.dh.Bytes()} {
		secrets = append(secrets, hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key),
			fmt.Sprint(key), string(key))
	}

	tests := []struct {
		name   string
		render func() string
	}{
		{"%v", func() string { return fmt.Sprintf("%v", id) }},
		{"%+v", func() string { return fmt.Sprintf("%+v", id) }},
		{"%#v", func() string { return fmt.Sprintf("%#v", id) }},
		{"%s", func() string { return fmt.Sprintf("%s", id) }},
		{"%x", func() string { return fmt.Sprintf("%x", id) }},
		{"value, not pointer", func() string {
			return fmt.Sprintf("%v %+v %#v", *id, *id, *id)
		}},
		{"inside a struct", func() string {
			return fmt.Sprintf("%+v", struct{ ID Identity }{*id})
		}},
		{"slog text", func() string {
			var b strings.Builder
			slog.New(slog.NewTextHandler(&b, nil)).Info("x", "identity", id)
			return b.String()
		}},
		{"slog JSON", func() string {
			var b strings.Builder
			slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "identity", *id)
			return b.String()
		}},
		{"JSON", func() string {
			data, _ := json.Marshal(id)
			return string(data)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.render()
			if !strings.Contains(out, "af") {
				t.Errorf("got %q, want the name af in it", out)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("got %q, which holds a private key", out)
				}
			}
		})
	}
}
