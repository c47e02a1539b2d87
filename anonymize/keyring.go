package anonymize

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

// EnvKeyring names the environment variable that may point to the keyring
// file when no path is given explicitly.
const EnvKeyring = "HAZE_KEYRING"

// KeySize is the size of every secret in a keyring, in bytes.
const KeySize = 32

// Sentinel errors returned by the keyring functions.
var (
	// ErrUnknownKey is returned when a keyring holds no key of a name.
	ErrUnknownKey = errors.New("unknown key")
	// ErrKeyringExists is returned by Init when the file already exists.
	ErrKeyringExists = errors.New("keyring file already exists")
)

var keyNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Purposes of keys in a keyring.
const (
	// PurposeToken keys make pseudonyms and reversible tokens. Job specs
	// name them.
	PurposeToken = "token"
	// PurposeMaster keys wrap the data keys that encrypt datasets at rest.
	PurposeMaster = "master"
)

// MasterName is the name every master key carries.
const MasterName = "master"

// Key is one named secret. Its String and LogValue methods redact the
// secret, so a Key may be passed to fmt or slog without leaking it.
//
// A keyring may hold several keys of one name and purpose: rotation adds a
// newer one, which becomes the primary key of that name, while datasets
// written under an older one keep its ID and stay readable.
type Key struct {
	name    string
	purpose string
	id      string
	created time.Time
	secret  []byte
}

// Purpose returns PurposeToken or PurposeMaster.
func (k Key) Purpose() string { return k.purpose }

// Created returns when the key was made.
func (k Key) Created() time.Time { return k.created }

// Name returns the key's name, as job specs refer to it.
func (k Key) Name() string { return k.name }

// ID returns the key's public identifier: its name and a fingerprint that
// identifies the secret without revealing it. Datasets record it.
func (k Key) ID() string { return k.id }

// String returns the key's ID; the secret never appears.
func (k Key) String() string { return "key(" + k.id + ")" }

// LogValue implements slog.LogValuer without the secret.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.id) }

// GoString returns the key's ID, so %#v shows no secret either.
func (k Key) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb prints the key's ID only.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// Keyring holds named secrets loaded from a keyring file. A Keyring is
// read-only after loading and safe for concurrent use.
type Keyring struct {
	path string
	keys []Key
}

// keyringFile is the on-disk form of a keyring.
type keyringFile struct {
	Version int       `json:"version"`
	Keys    []fileKey `json:"keys"`
}

type fileKey struct {
	Name    string    `json:"name"`
	Purpose string    `json:"purpose,omitempty"` // empty means PurposeToken
	Created time.Time `json:"created"`
	Secret  string    `json:"secret"`
}

// Key returns the primary (newest) token key of the given name, or an
// error wrapping ErrUnknownKey.
func (r *Keyring) Key(name string) (Key, error) {
	if k, ok := r.primary(PurposeToken, name); ok {
		return k, nil
	}
	return Key{}, fmt.Errorf("key %q: %w", name, ErrUnknownKey)
}

// Master returns the primary master key, or an error wrapping
// ErrUnknownKey when the keyring has none (keyrings made before datasets
// were encrypted): `haze keyring rotate --master` adds one.
func (r *Keyring) Master() (Key, error) {
	if k, ok := r.primary(PurposeMaster, MasterName); ok {
		return k, nil
	}
	return Key{}, fmt.Errorf("the keyring has no master key (add one with haze keyring "+
		"rotate --master): %w", ErrUnknownKey)
}

// KeyByID returns the key, of any purpose and age, whose ID is id, or an
// error wrapping ErrUnknownKey.
func (r *Keyring) KeyByID(id string) (Key, error) {
	for _, k := range r.keys {
		if k.id == id {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("key %s is not in this keyring: %w", id, ErrUnknownKey)
}

// Keys returns every key of the keyring, in file order (oldest first
// within a name).
func (r *Keyring) Keys() []Key { return slices.Clone(r.keys) }

func (r *Keyring) primary(purpose, name string) (Key, bool) {
	for i := len(r.keys) - 1; i >= 0; i-- {
		if k := r.keys[i]; k.purpose == purpose && k.name == name {
			return k, true
		}
	}
	return Key{}, false
}

// Names returns the names of the token keys in the keyring, each once, in
// file order.
func (r *Keyring) Names() []string {
	var names []string
	for _, k := range r.keys {
		if k.purpose == PurposeToken && !slices.Contains(names, k.name) {
			names = append(names, k.name)
		}
	}
	return names
}

// String lists the keyring's key IDs; no secret appears.
func (r *Keyring) String() string { return fmt.Sprint(r.LogValue().Any()) }

// GoString returns String, so %#v shows no secret either.
func (r *Keyring) GoString() string { return r.String() }

// Format implements fmt.Formatter: every verb prints the key IDs only.
func (r *Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }

// LogValue implements slog.LogValuer: the keyring logs as its key IDs.
func (r *Keyring) LogValue() slog.Value {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return slog.AnyValue(ids)
}

// ResolvePath returns path, or the value of HAZE_KEYRING when path is
// empty. It returns an error when neither is set.
func ResolvePath(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if env := os.Getenv(EnvKeyring); env != "" {
		return env, nil
	}
	return "", fmt.Errorf("no keyring: set keyring in the job spec or %s", EnvKeyring)
}

// InitKeyring creates a keyring file at path holding one fresh random
// token key per name and one master key. The file is created with mode
// 0600 and is never overwritten: an existing file gives an error wrapping
// ErrKeyringExists.
func InitKeyring(path string, names []string) (*Keyring, error) {
	if len(names) == 0 {
		return nil, errors.New("keyring needs at least one key name")
	}
	r := &Keyring{path: path}
	now := time.Now().UTC().Truncate(time.Second)
	for _, name := range names {
		if !keyNamePattern.MatchString(name) {
			return nil, fmt.Errorf("key name %q: use letters, digits, '.', '_' or '-' (at most 64)", name)
		}
		if slices.Contains(r.Names(), name) {
			return nil, fmt.Errorf("key name %q appears twice", name)
		}
		k, err := generateKey(PurposeToken, name, now)
		if err != nil {
			return nil, err
		}
		r.keys = append(r.keys, k)
	}
	master, err := generateKey(PurposeMaster, MasterName, now)
	if err != nil {
		return nil, err
	}
	r.keys = append(r.keys, master)

	if err := r.create(path); err != nil {
		return nil, err
	}
	return r, nil
}

func generateKey(purpose, name string, now time.Time) (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("generating key %q: %w", name, err)
	}
	return newKey(purpose, name, now, secret), nil
}

// encode returns the keyring's file form.
func (r *Keyring) encode() ([]byte, error) {
	f := keyringFile{Version: 1}
	for _, k := range r.keys {
		fk := fileKey{Name: k.name, Created: k.created,
			Secret: base64.StdEncoding.EncodeToString(k.secret)}
		if k.purpose != PurposeToken {
			fk.Purpose = k.purpose
		}
		f.Keys = append(f.Keys, fk)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding keyring: %w", err)
	}
	return append(data, '\n'), nil
}

// create writes the keyring to a new file, refusing to replace one.
func (r *Keyring) create(path string) error {
	data, err := r.encode()
	if err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating keyring folder: %w", err)
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", path, ErrKeyringExists)
	}
	if err != nil {
		return fmt.Errorf("creating keyring: %w", err)
	}
	if _, err := file.Write(data); err != nil {
		file.Close()
		os.Remove(path)
		return fmt.Errorf("writing keyring: %w", err)
	}
	if err := file.Sync(); err != nil {
		file.Close()
		os.Remove(path)
		return fmt.Errorf("writing keyring: %w", err)
	}
	return file.Close()
}

// LoadKeyring reads a keyring file. It refuses a file that other users
// may read, as ssh does for private keys. Errors never contain secrets.
func LoadKeyring(path string) (*Keyring, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening keyring: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring %s is readable by other users (mode %o): chmod 600 it",
			path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w", err)
	}

	var f keyringFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("keyring %s is not valid JSON", path)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("keyring %s: unsupported version %d", path, f.Version)
	}
	r := &Keyring{path: path}
	for i, fk := range f.Keys {
		secret, err := base64.StdEncoding.DecodeString(fk.Secret)
		if err != nil || len(secret) != KeySize {
			return nil, fmt.Errorf("keyring %s: key %d (%q) has no valid %d-byte secret",
				path, i+1, fk.Name, KeySize)
		}
		if !keyNamePattern.MatchString(fk.Name) {
			return nil, fmt.Errorf("keyring %s: key %d has an invalid name", path, i+1)
		}
		purpose := cmp.Or(fk.Purpose, PurposeToken)
		if purpose != PurposeToken && purpose != PurposeMaster {
			return nil, fmt.Errorf("keyring %s: key %d (%q) has an unknown purpose %q", path,
				i+1, fk.Name, fk.Purpose)
		}
		k := newKey(purpose, fk.Name, fk.Created, secret)
		if _, err := r.KeyByID(k.id); err == nil {
			return nil, fmt.Errorf("keyring %s: key %d (%q) repeats an earlier secret", path,
				i+1, fk.Name)
		}
		r.keys = append(r.keys, k)
	}
	if len(r.keys) == 0 {
		return nil, fmt.Errorf("keyring %s holds no keys", path)
	}
	return r, nil
}

func newKey(purpose, name string, created time.Time, secret []byte) Key {
	return Key{name: name, purpose: purpose, id: name + ":" + fingerprint(secret),
		created: created, secret: secret}
}

// fingerprint identifies a secret without revealing it: a keyed hash of a
// fixed label, so it cannot be inverted or confused with a token.
func fingerprint(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("haze key fingerprint v1"))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// Reload reads the keyring's file again, returning a new Keyring with the
// keys added or retired since r was loaded. r itself is unchanged.
func (r *Keyring) Reload() (*Keyring, error) {
	if r.path == "" {
		return nil, errors.New("keyring was not loaded from a file")
	}
	return LoadKeyring(r.path)
}
