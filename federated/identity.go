package federated

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
)

// Partner is a roster entry: a partner's name and public keys. It holds no
// secret and may be logged and published.
type Partner struct {
	// Name identifies the partner within rosters: 1 to 64 characters from
	// letters, digits, '.', '_' and '-', starting with a letter or digit,
	// such as "AF" or "klm-nl".
	Name string `json:"name"`
	// SignKey is the partner's Ed25519 public key (32 bytes); submissions
	// are signed with the matching private key.
	SignKey []byte `json:"sign_key"`
	// DHKey is the partner's X25519 public key (32 bytes); pairwise masks
	// are derived from it.
	DHKey []byte `json:"dh_key"`
}

// Equal reports whether p and o have the same name and keys.
func (p Partner) Equal(o Partner) bool {
	return p.Name == o.Name && bytes.Equal(p.SignKey, o.SignKey) && bytes.Equal(p.DHKey, o.DHKey)
}

// Identity is a partner's name with its two private keys: Ed25519 for
// signing submissions and X25519 for agreeing on pairwise masks. It never
// prints, logs or marshals its private keys: String, Format, LogValue and
// encoding/json show the name and public keys only. Save and LoadIdentity
// are the only ways the private keys reach a file.
//
// An Identity is safe for concurrent use.
type Identity struct {
	// Name is the partner's roster name; see Partner.Name.
	Name string

	sign ed25519.PrivateKey
	dh   *ecdh.PrivateKey
}

// NewIdentity returns an Identity with fresh keys from crypto/rand, or a
// *ParamError naming "name" if name is not a valid partner name.
func NewIdentity(name string) (*Identity, error) {
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key agreement key: %w", err)
	}
	return &Identity{Name: name, sign: sign, dh: dh}, nil
}

// Public returns the roster entry for id: its name and public keys.
func (id *Identity) Public() Partner {
	return Partner{
		Name:    id.Name,
		SignKey: bytes.Clone(id.sign.Public().(ed25519.PublicKey)),
		DHKey:   id.dh.PublicKey().Bytes(),
	}
}

// String returns the name and a short fingerprint of the public signing
// key, never a private key.
func (id Identity) String() string {
	if id.sign == nil {
		return "federated.Identity(<no keys>)"
	}
	return fmt.Sprintf("federated.Identity{Name: %q, SignKey: %s, private keys redacted}",
		id.Name, fingerprint(id.sign.Public().(ed25519.PublicKey)))
}

// Format writes String for every verb and flag, so that %v, %+v, %#v, %s,
// %q and %x all redact the private keys, of an Identity or a pointer to
// one.
func (id Identity) Format(f fmt.State, _ rune) {
	io.WriteString(f, id.String())
}

// LogValue implements slog.LogValuer: the name and the public keys'
// fingerprints, never the private keys.
func (id Identity) LogValue() slog.Value {
	if id.sign == nil {
		return slog.StringValue("<no keys>")
	}
	return slog.GroupValue(
		slog.String("name", id.Name),
		slog.String("sign_key", fingerprint(id.sign.Public().(ed25519.PublicKey))),
		slog.String("dh_key", fingerprint(id.dh.PublicKey().Bytes())),
	)
}

// MarshalJSON writes the public roster entry only, so that an Identity
// put into a JSON document by mistake leaks no private key.
func (id Identity) MarshalJSON() ([]byte, error) {
	if id.sign == nil {
		return json.Marshal(Partner{Name: id.Name})
	}
	return json.Marshal(id.Public())
}

// fingerprint returns the first 8 bytes of a public key in hex.
func fingerprint(pub []byte) string {
	if len(pub) > 8 {
		pub = pub[:8]
	}
	return hex.EncodeToString(pub)
}

// identityFile is the JSON form of an identity file. The public keys are
// kept beside the private ones so that LoadIdentity can check the file.
type identityFile struct {
	Version  int    `json:"version"`
	Name     string `json:"name"`
	SignSeed []byte `json:"sign_seed"`
	DHKey    []byte `json:"dh_private_key"`
	SignPub  []byte `json:"sign_key"`
	DHPub    []byte `json:"dh_key"`
}

const identityVersion = 1

// maxIdentityFile is the largest identity file LoadIdentity reads; real
// ones are about 300 bytes.
const maxIdentityFile = 64 << 10

// Save writes id to a new file at path as JSON with mode 0600. It refuses
// to overwrite: if path exists, the error matches fs.ErrExist. On any
// other error the partly written file is removed.
func (id *Identity) Save(path string) (err error) {
	data, err := json.MarshalIndent(identityFile{
		Version:  identityVersion,
		Name:     id.Name,
		SignSeed: id.sign.Seed(),
		DHKey:    id.dh.Bytes(),
		SignPub:  id.sign.Public().(ed25519.PublicKey),
		DHPub:    id.dh.PublicKey().Bytes(),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding identity: %w", err)
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating identity file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()

	// The mode given to OpenFile is only narrowed by the umask; Chmod makes
	// 0600 exact whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("restricting identity file: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("writing identity file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing identity file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing identity file: %w", err)
	}
	return nil
}

// LoadIdentity reads an identity written by Save. It refuses, with an
// error matching ErrInsecureFile, a file that group or other users may
// read or write (any of the bits 0077 set), and, with ErrBadIdentity, a
// file that is not a regular file, is malformed, or whose public keys do
// not match its private keys. On Windows, where Unix modes do not apply,
// the mode check is skipped.
func LoadIdentity(path string) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening identity file: %w", err)
	}
	defer f.Close()

	// Check the mode of the file actually opened, not of the path.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading identity file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("identity file is not a regular file: %w", ErrBadIdentity)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity file has mode %04o, want 0600: %w",
			info.Mode().Perm(), ErrInsecureFile)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading identity file: %w", err)
	}
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("identity file larger than %d bytes: %w", maxIdentityFile,
			ErrBadIdentity)
	}
	return parseIdentity(data)
}

// parseIdentity decodes and checks the contents of an identity file.
func parseIdentity(data []byte) (*Identity, error) {
	var file identityFile
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("decoding identity file: %w", ErrBadIdentity)
	}
	if file.Version != identityVersion {
		return nil, fmt.Errorf("identity file version %d, want %d: %w", file.Version,
			identityVersion, ErrBadIdentity)
	}
	if err := checkName("name", file.Name); err != nil {
		return nil, fmt.Errorf("identity file: %v: %w", err, ErrBadIdentity)
	}
	if len(file.SignSeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("identity file signing key has %d bytes, want %d: %w",
			len(file.SignSeed), ed25519.SeedSize, ErrBadIdentity)
	}
	dh, err := ecdh.X25519().NewPrivateKey(file.DHKey)
	if err != nil {
		return nil, fmt.Errorf("identity file key agreement key: %w", ErrBadIdentity)
	}

	id := &Identity{Name: file.Name, sign: ed25519.NewKeyFromSeed(file.SignSeed), dh: dh}
	pub := id.Public()
	if !bytes.Equal(pub.SignKey, file.SignPub) || !bytes.Equal(pub.DHKey, file.DHPub) {
		return nil, fmt.Errorf("identity file public keys do not match its private keys: %w",
			ErrBadIdentity)
	}
	return id, nil
}

// errNilIdentity is returned by Prepare for a nil or zero Identity.
var errNilIdentity = errors.New("identity has no keys")
