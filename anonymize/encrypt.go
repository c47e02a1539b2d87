package anonymize

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// EncryptPrefix starts every token of the encrypt action, so that such a
// token is told apart from a pseudonym at a glance. The digit is the
// format's version.
const EncryptPrefix = "enc1."

// ErrBadToken is returned by Decrypt and Reencrypt for a token that is not
// an encrypt token, was altered, or was made under another key. The two
// last cases cannot be told apart.
var ErrBadToken = errors.New("not a valid encrypt token for this key")

// encryptKeyLabel is the HKDF info that derives the AES-SIV key from a
// token key's secret: the same secret serves pseudonyms (HMAC) and
// encrypt tokens, but never the same key bytes for both.
const encryptKeyLabel = "haze encrypt aes-siv-cmac v1"

// encryptAD is the associated data of every encrypt token. It is fixed,
// not the column's name, so that equal values give equal tokens in every
// column and dataset under one key, and join there as pseudonyms do.
var encryptAD = []byte("haze encrypt token v1")

// Encrypter turns values into reversible tokens with deterministic
// authenticated encryption (AES-SIV, RFC 5297, with a 512-bit key derived
// from a token key by HKDF-SHA256): the same value and key give the same
// token in every job, so tokens join like pseudonyms; Decrypt gives the
// value back, which only the holder of the key can do. A token reveals
// the value's length (to within base64 rounding) and which values are
// equal, as a pseudonym reveals equality; nothing else.
//
// An Encrypter is safe for concurrent use. It redacts itself in fmt and
// slog output.
type Encrypter struct {
	keyID string
	siv   *subtle.AESSIV
	lower bool
}

// NewEncrypter returns the encrypt transform under key, with the default
// normalisation (surrounding white space trimmed). Decrypt does not
// depend on the normalisation.
func NewEncrypter(key Key) (*Encrypter, error) { return newEncrypter(key, false) }

func newEncrypter(key Key, lower bool) (*Encrypter, error) {
	if key.purpose != PurposeToken || len(key.secret) == 0 {
		return nil, errors.New("encrypt needs a token key from a keyring")
	}
	derived, err := hkdf.Key(sha256.New, key.secret, nil, encryptKeyLabel, subtle.AESSIVKeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving the encrypt key of %s: %w", key.id, err)
	}
	siv, err := subtle.NewAESSIV(derived)
	if err != nil {
		return nil, fmt.Errorf("encrypt key of %s: %w", key.id, err)
	}
	return &Encrypter{keyID: key.id, siv: siv, lower: lower}, nil
}

// KeyID returns the ID of the key tokens are made under.
func (e *Encrypter) KeyID() string { return e.keyID }

// String names the key; no key material appears.
func (e *Encrypter) String() string { return "encrypter(" + e.keyID + ")" }

// GoString returns String, so %#v shows no key material either.
func (e *Encrypter) GoString() string { return e.String() }

// Format implements fmt.Formatter: every verb prints String.
func (e *Encrypter) Format(f fmt.State, _ rune) { io.WriteString(f, e.String()) }

// LogValue implements slog.LogValuer with the key's ID only.
func (e *Encrypter) LogValue() slog.Value { return slog.StringValue(e.String()) }

// Source implements Transform.
func (e *Encrypter) Source() string { return "VARCHAR" }

// Output implements Transform.
func (e *Encrypter) Output() arrow.DataType { return arrow.BinaryTypes.String }

// seal appends the token of plaintext, taken as it is, to dst.
func (e *Encrypter) seal(dst, plaintext []byte) ([]byte, string) {
	ct, err := e.siv.EncryptDeterministically(plaintext, encryptAD)
	if err != nil {
		return dst, "value too long to encrypt"
	}
	dst = append(dst, EncryptPrefix...)
	return base64.RawURLEncoding.AppendEncode(dst, ct), ""
}

// apply appends the token of s, normalised, to dst. Apply, Value and
// Token all come here.
func (e *Encrypter) apply(dst []byte, s string) ([]byte, string) {
	return e.seal(dst, []byte(normalizeValue(s, e.lower)))
}

// Token returns the token of one value, normalised as the policy says.
func (e *Encrypter) Token(s string) (string, error) {
	tok, reason := e.apply(nil, s)
	if reason != "" {
		return "", errors.New("encrypt: " + reason)
	}
	return string(tok), nil
}

// Apply implements Transform.
func (e *Encrypter) Apply(mem memory.Allocator, in arrow.Array, rows []int, fail FailFunc) (arrow.Array, error) {
	return applyStrings(mem, "encrypt", in, rows, fail, e.apply)
}

// Value implements Transform.
func (e *Encrypter) Value(v any) (any, error) { return stringValue("encrypt", v, e.apply) }

// open returns the plaintext of a token, or a reason it has none.
func (e *Encrypter) open(token string) ([]byte, string) {
	body, ok := strings.CutPrefix(token, EncryptPrefix)
	if !ok {
		return nil, "token does not start with " + EncryptPrefix
	}
	// Strict: a token has one spelling, so a changed trailing character
	// cannot name the same ciphertext.
	ct, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return nil, "token is not canonical base64url"
	}
	pt, err := e.siv.DecryptDeterministically(ct, encryptAD)
	if err != nil {
		return nil, "token does not open under key " + e.keyID + " (another key, or altered)"
	}
	return pt, ""
}

// Decrypt returns the value a token was made from, as normalised when it
// was made. It returns an error wrapping ErrBadToken when the token is
// malformed, altered or made under another key; the error never contains
// the token.
func (e *Encrypter) Decrypt(token string) (string, error) {
	pt, reason := e.open(token)
	if reason != "" {
		return "", fmt.Errorf("%s: %w", reason, ErrBadToken)
	}
	return string(pt), nil
}

// Reencrypt returns a new array, which the caller releases, holding the
// tokens of in (a utf8 array of tokens made by from) made anew by to:
// the same values, under to's key. Nulls stay null. A token that does not
// open under from gives an error wrapping ErrBadToken, naming its row but
// not its value.
func Reencrypt(mem memory.Allocator, in arrow.Array, from, to *Encrypter) (arrow.Array, error) {
	var bad error
	fail := func(row int, reason string) {
		if bad == nil {
			bad = fmt.Errorf("row %d: %s: %w", row, reason, ErrBadToken)
		}
	}
	rows := make([]int, in.Len())
	for i := range rows {
		rows[i] = i
	}
	out, err := applyStrings(mem, "reencrypt", in, rows, fail, func(dst []byte, tok string) ([]byte, string) {
		pt, reason := from.open(tok)
		if reason != "" {
			return dst, reason
		}
		return to.seal(dst, pt)
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		out.Release()
		return nil, bad
	}
	return out, nil
}

// normalizeValue prepares a value for pseudonymize and encrypt: surrounding
// white space trimmed, and lower-cased when lower is set.
func normalizeValue(s string, lower bool) string {
	s = strings.TrimSpace(s)
	if lower {
		s = strings.ToLower(s)
	}
	return s
}
