package anonymize

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// DataKeySize is the size of a dataset version's data key, in bytes
// (AES-256).
const DataKeySize = 32

// ErrUnwrap is returned when a wrapped data key does not open under the
// master key given: a wrong keyring, a wrong master, or a damaged catalog.
var ErrUnwrap = errors.New("data key does not open under this master key")

// wrapVersion is the first byte of every wrapped key, so the format can
// change later.
const wrapVersion = 1

// NewDataKey returns a fresh random data key. The caller wraps it with
// WrapDataKey for storage and forgets it after use.
func NewDataKey() ([]byte, error) {
	k := make([]byte, DataKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generating data key: %w", err)
	}
	return k, nil
}

// WrapDataKey seals dataKey under the master key with AES-256-GCM. label
// binds the result to what it protects (a dataset version), so a wrapped
// key copied to another version does not open. The master key's secret is
// not used directly: a subkey for wrapping is derived from it.
func WrapDataKey(master Key, dataKey []byte, label string) ([]byte, error) {
	aead, err := wrapper(master)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), 1+aead.NonceSize()+len(dataKey)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("wrapping data key: %w", err)
	}
	out := append([]byte{wrapVersion}, nonce...)
	return aead.Seal(out, nonce, dataKey, []byte(label)), nil
}

// UnwrapDataKey opens a key sealed by WrapDataKey with the same master key
// and label. It returns an error wrapping ErrUnwrap when they differ.
func UnwrapDataKey(master Key, wrapped []byte, label string) ([]byte, error) {
	aead, err := wrapper(master)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(wrapped) < 1+n+aead.Overhead() || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("wrapped data key is malformed: %w", ErrUnwrap)
	}
	key, err := aead.Open(nil, wrapped[1:1+n], wrapped[1+n:], []byte(label))
	if err != nil {
		return nil, ErrUnwrap
	}
	return key, nil
}

func wrapper(master Key) (cipher.AEAD, error) {
	if master.purpose != PurposeMaster {
		return nil, fmt.Errorf("key %s is not a master key", master.id)
	}
	m := hmac.New(sha256.New, master.secret)
	m.Write([]byte("haze data key wrapping v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
