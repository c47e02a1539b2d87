package anonymize_test

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

var encryptPattern = regexp.MustCompile(`^enc1\.[A-Za-z0-9_-]{22,}$`)

// newEncrypter returns the encrypt transform under key, which must work.
func newEncrypter(t *testing.T, key anonymize.Key) *anonymize.Encrypter {
	t.Helper()
	e, err := anonymize.NewEncrypter(key)
	if err != nil {
		t.Fatalf("NewEncrypter: %v", err)
	}
	return e
}

func TestEncryptRoundTripValueApplyAgree(t *testing.T) {
	key := newTestKey(t, "crm")
	e := newEncrypter(t, key)
	inputs := []string{
		"alice@example.com",
		"P-000123",
		"王芳",
		"Zoë Müller",
		"🛫 emoji ✈",
		"",
		strings.Repeat("long value ", 1000) + "end",
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := newStrings(mem, inputs)
	defer in.Release()
	applied := apply(t, mem, e, in, allRows(len(inputs)), mustNotFail(t))

	for i, s := range inputs {
		t.Run(s[:min(len(s), 20)], func(t *testing.T) {
			tok, err := e.Token(s)
			if err != nil {
				t.Fatalf("Token(%q): %v", s, err)
			}
			if !encryptPattern.MatchString(tok) {
				t.Errorf("Token(%q) = %q, want enc1. and base64url", s, tok)
			}
			if again, _ := e.Token(s); again != tok {
				t.Errorf("Token(%q) a second time = %q, want %q", s, again, tok)
			}
			if v, err := e.Value(s); err != nil || v != tok {
				t.Errorf("Value(%q) = %v, %v; want Token's %q", s, v, err, tok)
			}
			if applied[i] != tok {
				t.Errorf("Apply row %d = %v, want Token's %q", i, applied[i], tok)
			}
			if len(s) > 3 && strings.Contains(tok, s) {
				t.Errorf("Token(%q) = %q contains its input", s, tok)
			}
			got, err := e.Decrypt(tok)
			if err != nil {
				t.Fatalf("Decrypt(Token(%q)): %v", s, err)
			}
			if got != s {
				t.Errorf("Decrypt(Token(%.20q)) = %.20q (%d bytes), want the value back (%d bytes)",
					s, got, len(got), len(s))
			}
		})
	}
}

func TestEncryptDeterministicAndKeyed(t *testing.T) {
	key, other := newTestKey(t, "crm"), newTestKey(t, "crm")
	e, o := newEncrypter(t, key), newEncrypter(t, other)

	a1, _ := e.Token("alice@example.com")
	a2, _ := e.Token("alice@example.com")
	b, _ := e.Token("bob@example.com")
	if a1 != a2 {
		t.Errorf("equal values gave %q and %q, want equal tokens", a1, a2)
	}
	if a1 == b {
		t.Errorf("different values gave the same token %q", a1)
	}
	oa, _ := o.Token("alice@example.com")
	if oa == a1 {
		t.Errorf("two keys gave the same token %q", a1)
	}
	if _, err := o.Decrypt(a1); !errors.Is(err, anonymize.ErrBadToken) {
		t.Errorf("Decrypt under another key = %v, want ErrBadToken", err)
	}

	// The token differs from the pseudonym of the same value under the
	// same key: the two actions never share key bytes.
	if p := anonymize.NewPseudonymizer(key).Token("alice@example.com"); strings.Contains(a1, p) {
		t.Errorf("encrypt token %q contains the pseudonym %q", a1, p)
	}

	// Policies compiled for two columns give equal tokens: the associated
	// data is not the column.
	tr := compile(t, anonymize.Policy{Action: "encrypt", As: "elsewhere"}, key)
	if v, _ := tr.Value("alice@example.com"); v != a1 {
		t.Errorf("compiled encrypt gives %v, want NewEncrypter's %q", v, a1)
	}
}

func TestEncryptNormalize(t *testing.T) {
	key := newTestKey(t, "crm")
	lower := compile(t, anonymize.Policy{Action: "encrypt", Normalize: "lower"}, key)
	trim := compile(t, anonymize.Policy{Action: "encrypt"}, key)
	e := newEncrypter(t, key)

	lv, _ := lower.Value("  Alice@Example.COM ")
	tv, _ := trim.Value("  Alice@Example.COM ")
	if got, _ := e.Decrypt(lv.(string)); got != "alice@example.com" {
		t.Errorf("lower decrypts to %q, want alice@example.com", got)
	}
	if got, _ := e.Decrypt(tv.(string)); got != "Alice@Example.COM" {
		t.Errorf("trim decrypts to %q, want Alice@Example.COM", got)
	}
	if plain, _ := e.Token("alice@example.com"); lv != plain {
		t.Errorf("lower-cased token %v differs from the token of the lower-case value %q", lv, plain)
	}
}

func TestEncryptRefusesBadTokens(t *testing.T) {
	e := newEncrypter(t, newTestKey(t, "crm"))
	good, _ := e.Token("alice@example.com")
	body := strings.TrimPrefix(good, anonymize.EncryptPrefix)
	flipped := []byte(body)
	flipped[len(flipped)/2] ^= 'A' ^ 'B'
	if flipped[len(flipped)/2] == body[len(body)/2] {
		flipped[len(flipped)/2] = 'C'
	}

	tests := []struct {
		name, token string
	}{
		{"empty", ""},
		{"pseudonym", anonymize.NewPseudonymizer(newTestKey(t, "crm")).Token("alice@example.com")},
		{"no prefix", body},
		{"not base64", anonymize.EncryptPrefix + "!!!"},
		{"too short", anonymize.EncryptPrefix + "AAAA"},
		{"one character changed", anonymize.EncryptPrefix + string(flipped)},
		{"truncated", good[:len(good)-2]},
		{"extended", good + "AA"},
		{"last character respelled", respellLast(t, e, "bob@example.com")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Decrypt(tt.token)
			if !errors.Is(err, anonymize.ErrBadToken) {
				t.Fatalf("Decrypt = %q, %v; want ErrBadToken", got, err)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestEncryptNullsAndTypes(t *testing.T) {
	e := newEncrypter(t, newTestKey(t, "crm"))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	in := newStrings(mem, []string{"a@x.com", "", "b@x.com", ""}, 1, 3)
	defer in.Release()
	got := apply(t, mem, e, in, []int{2, 1, 0}, mustNotFail(t))
	ta, _ := e.Token("a@x.com")
	tb, _ := e.Token("b@x.com")
	checkValues(t, got, []any{tb, nil, ta})

	if v, err := e.Value(nil); v != nil || err != nil {
		t.Errorf("Value(nil) = %v, %v; want nil, nil", v, err)
	}
	if v, err := e.Value(int64(42)); err == nil {
		t.Errorf("Value(int64) = %v, nil; want an error", v)
	}
	ints := newInts(mem, []int64{1})
	defer ints.Release()
	if out, err := e.Apply(mem, ints, []int{0}, mustNotFail(t)); err == nil {
		out.Release()
		t.Errorf("Apply on an int64 array: no error, want one")
	}
	if _, err := anonymize.NewEncrypter(anonymize.Key{}); err == nil {
		t.Errorf("NewEncrypter(zero key): no error, want one")
	}
}

func TestReencrypt(t *testing.T) {
	oldKey, newKey := newTestKey(t, "crm"), newTestKey(t, "crm")
	from, to := newEncrypter(t, oldKey), newEncrypter(t, newKey)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	clear := []string{"alice@example.com", "王芳", ""}
	var old, want []string
	for _, v := range clear {
		o, _ := from.Token(v)
		n, _ := to.Token(v)
		old, want = append(old, o), append(want, n)
	}
	in := newStrings(mem, append(old, ""), 3)
	defer in.Release()
	out, err := anonymize.Reencrypt(mem, in, from, to)
	if err != nil {
		t.Fatalf("Reencrypt: %v", err)
	}
	checkValues(t, values(t, out), []any{want[0], want[1], want[2], nil})
	out.Release()

	// A token of another key is an error naming the row, not the token.
	bad := newStrings(mem, []string{old[0], want[1]})
	defer bad.Release()
	if out, err := anonymize.Reencrypt(mem, bad, from, to); !errors.Is(err, anonymize.ErrBadToken) ||
		!strings.Contains(err.Error(), "row 1") || strings.Contains(err.Error(), want[1]) {
		if out != nil {
			out.Release()
		}
		t.Errorf("Reencrypt with a foreign token = %v, want ErrBadToken naming row 1", err)
	}
}

func TestEncrypterRedactsKey(t *testing.T) {
	key := newTestKey(t, "crm")
	e := newEncrypter(t, key)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "enc", e)
	for _, s := range []string{fmt.Sprint(e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e),
		logged.String()} {
		if !strings.Contains(s, key.ID()) || strings.Contains(s, "siv") {
			t.Errorf("formatted encrypter %q: want the key ID and no key material", s)
		}
	}
}

// respellLast tokenises value and changes the token's last base64url
// character only in its unused low bits, which a lenient decoder ignores.
func respellLast(t *testing.T, e *anonymize.Encrypter, value string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	token, _ := e.Token(value)
	body := strings.TrimPrefix(token, anonymize.EncryptPrefix)
	if len(body)%4 < 2 {
		t.Fatalf("the token of %q has no unused bits: pick a value of another length", value)
	}
	last := strings.IndexByte(alphabet, body[len(body)-1])
	return token[:len(token)-1] + string(alphabet[last^1])
}
