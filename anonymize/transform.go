package anonymize

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FailFunc is told of each row a transform cannot handle, by its index in
// the input array, with a reason that names no value.
type FailFunc func(row int, reason string)

// Transform is one column policy, compiled. A Transform is safe for
// concurrent use: per-call state lives in Apply.
type Transform interface {
	// Source is the DuckDB type the input column must be cast to before
	// Apply sees it, such as VARCHAR or DATE.
	Source() string
	// Output is the Arrow type of the arrays Apply returns.
	Output() arrow.DataType
	// Apply transforms the rows of in listed in rows, in that order, into
	// a new array of len(rows) that the caller must release. Nulls stay
	// null. A value the policy cannot transform becomes null and is
	// reported to fail. The error is for arrays of an unexpected type.
	Apply(mem memory.Allocator, in arrow.Array, rows []int, fail FailFunc) (arrow.Array, error)
	// Value transforms one value, for engines that do not work on Arrow
	// batches, with the same code as Apply: Apply's output element for an
	// input element x is AppendValue of Value(ValueAt(x)). The input is of
	// the Go type ValueAt gives for the Source type (string, time.Time,
	// float64, int64, bool, decimal128.Num); nil stays nil. A value the
	// policy cannot transform gives a *RejectError with the reason Apply
	// reports; any other error is for a value of an unexpected type.
	Value(v any) (any, error)
}

// TokenLength is the length of a pseudonym token in characters: 128 bits
// of HMAC-SHA256, base64url-encoded without padding.
const TokenLength = 22

const tokenBytes = 16

// Pseudonymizer turns values into keyed tokens: the same value and key
// give the same token in every job; without the key a token cannot be
// recomputed from a guessed value.
type Pseudonymizer struct {
	key   Key
	lower bool
}

func newPseudonymizer(key Key, lower bool) *Pseudonymizer {
	return &Pseudonymizer{key: key, lower: lower}
}

// NewPseudonymizer returns the pseudonymize transform under key, with the
// default normalisation (surrounding white space trimmed).
func NewPseudonymizer(key Key) *Pseudonymizer { return newPseudonymizer(key, false) }

// Source implements Transform.
func (p *Pseudonymizer) Source() string { return "VARCHAR" }

// Output implements Transform.
func (p *Pseudonymizer) Output() arrow.DataType { return arrow.BinaryTypes.String }

// tokenizer holds the per-goroutine HMAC state.
type tokenizer struct {
	mac   hash.Hash
	sum   []byte
	out   []byte
	lower bool
}

func (p *Pseudonymizer) tokenizer() *tokenizer {
	return &tokenizer{
		mac:   hmac.New(sha256.New, p.key.secret),
		sum:   make([]byte, 0, sha256.Size),
		out:   make([]byte, TokenLength),
		lower: p.lower,
	}
}

// token returns the token of s in a buffer valid until the next call.
func (t *tokenizer) token(s string) []byte {
	s = normalizeValue(s, t.lower)
	t.mac.Reset()
	t.mac.Write([]byte(s))
	t.sum = t.mac.Sum(t.sum[:0])
	base64.RawURLEncoding.Encode(t.out, t.sum[:tokenBytes])
	return t.out
}

// Token returns the token of one value.
func (p *Pseudonymizer) Token(s string) string { return string(p.tokenizer().token(s)) }

// Apply implements Transform.
func (p *Pseudonymizer) Apply(mem memory.Allocator, in arrow.Array, rows []int, _ FailFunc) (arrow.Array, error) {
	src, ok := in.(*array.String)
	if !ok {
		return nil, fmt.Errorf("pseudonymize: input is %s, want utf8", in.DataType())
	}
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(len(rows))
	b.ReserveData(len(rows) * TokenLength)

	t := p.tokenizer()
	for _, i := range rows {
		if src.IsNull(i) {
			b.AppendNull()
			continue
		}
		b.BinaryBuilder.Append(t.token(src.Value(i)))
	}
	return b.NewArray(), nil
}

// Value implements Transform.
func (p *Pseudonymizer) Value(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("pseudonymize: value is %T, want string", v)
	}
	return p.Token(s), nil
}

// stringTransform is a transform from text to text defined by one function.
type stringFunc func(dst []byte, s string) ([]byte, string)

// applyStrings runs f over the listed rows of a utf8 array. f appends its
// result to dst, or returns a non-empty reason when it cannot.
func applyStrings(mem memory.Allocator, name string, in arrow.Array, rows []int, fail FailFunc,
	f stringFunc) (arrow.Array, error) {
	src, ok := in.(*array.String)
	if !ok {
		return nil, fmt.Errorf("%s: input is %s, want utf8", name, in.DataType())
	}
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.Reserve(len(rows))

	var buf []byte
	for _, i := range rows {
		if src.IsNull(i) {
			b.AppendNull()
			continue
		}
		var reason string
		buf, reason = f(buf[:0], src.Value(i))
		if reason != "" {
			b.AppendNull()
			fail(i, reason)
			continue
		}
		b.BinaryBuilder.Append(buf)
	}
	return b.NewArray(), nil
}

func stringValue(name string, v any, f stringFunc) (any, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s: value is %T, want string", name, v)
	}
	out, reason := f(nil, s)
	if reason != "" {
		return nil, reject(name, reason)
	}
	return string(out), nil
}

// truncator keeps the first length characters (not bytes) of a value.
type truncator struct{ length int }

func (t truncator) Source() string         { return "VARCHAR" }
func (t truncator) Output() arrow.DataType { return arrow.BinaryTypes.String }

func (t truncator) apply(dst []byte, s string) ([]byte, string) {
	s = strings.TrimSpace(s)
	n := 0
	for i := range s {
		if n == t.length {
			return append(dst, s[:i]...), ""
		}
		n++
	}
	return append(dst, s...), ""
}

func (t truncator) Apply(mem memory.Allocator, in arrow.Array, rows []int, fail FailFunc) (arrow.Array, error) {
	return applyStrings(mem, "truncate", in, rows, fail, t.apply)
}

func (t truncator) Value(v any) (any, error) { return stringValue("truncate", v, t.apply) }

// cardMasker masks a payment card number, keeping at most the first six
// and last four digits. Spaces and dashes between digits are removed.
type cardMasker struct{ first, last int }

func (c cardMasker) Source() string         { return "VARCHAR" }
func (c cardMasker) Output() arrow.DataType { return arrow.BinaryTypes.String }

func (c cardMasker) apply(dst []byte, s string) ([]byte, string) {
	start := len(dst)
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= '0' && ch <= '9':
			dst = append(dst, ch)
		case ch == ' ' || ch == '-':
		default:
			return dst[:start], "card number holds a character other than digits, spaces or dashes"
		}
	}
	digits := len(dst) - start
	if digits < 12 || digits > 19 {
		return dst[:start], "card number must have 12 to 19 digits"
	}
	for i := start + c.first; i < len(dst)-c.last; i++ {
		dst[i] = '*'
	}
	return dst, ""
}

func (c cardMasker) Apply(mem memory.Allocator, in arrow.Array, rows []int, fail FailFunc) (arrow.Array, error) {
	return applyStrings(mem, "mask", in, rows, fail, c.apply)
}

func (c cardMasker) Value(v any) (any, error) { return stringValue("mask", v, c.apply) }

// emailMasker keeps only the domain of an e-mail address, lower-cased.
type emailMasker struct{}

func (emailMasker) Source() string         { return "VARCHAR" }
func (emailMasker) Output() arrow.DataType { return arrow.BinaryTypes.String }

func (emailMasker) apply(dst []byte, s string) ([]byte, string) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || !utf8.ValidString(s) {
		return dst, "not an e-mail address"
	}
	domain := s[at+1:]
	if strings.ContainsAny(domain, " @") {
		return dst, "not an e-mail address"
	}
	return append(dst, strings.ToLower(domain)...), ""
}

func (e emailMasker) Apply(mem memory.Allocator, in arrow.Array, rows []int, fail FailFunc) (arrow.Array, error) {
	return applyStrings(mem, "mask", in, rows, fail, e.apply)
}

func (e emailMasker) Value(v any) (any, error) { return stringValue("mask", v, e.apply) }
