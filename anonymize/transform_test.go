package anonymize_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestPseudonymizeTokenValueApplyAgree(t *testing.T) {
	key := newTestKey(t, "crm")
	p := anonymize.NewPseudonymizer(key)
	inputs := []string{
		"alice@example.com",
		"P-000123",
		"ABCDEFGH",
		"王芳",
		"Zoë Müller",
		"+31 6 1234 5678",
		"",
		strings.Repeat("long value ", 100),
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := newStrings(mem, inputs)
	defer in.Release()
	applied := apply(t, mem, p, in, allRows(len(inputs)), mustNotFail(t))

	for i, s := range inputs {
		t.Run(s[:min(len(s), 20)], func(t *testing.T) {
			tok := p.Token(s)
			if !tokenPattern.MatchString(tok) || len(tok) != anonymize.TokenLength {
				t.Errorf("Token(%q) = %q, want 22 base64url characters", s, tok)
			}
			if again := p.Token(s); again != tok {
				t.Errorf("Token(%q) a second time = %q, want %q", s, again, tok)
			}
			v, err := p.Value(s)
			if err != nil {
				t.Fatalf("Value(%q): %v", s, err)
			}
			if v != tok {
				t.Errorf("Value(%q) = %v, want Token's %q", s, v, tok)
			}
			if applied[i] != tok {
				t.Errorf("Apply row %d (%q) = %v, want Token's %q", i, s, applied[i], tok)
			}
			if s != "" && strings.Contains(tok, s) {
				t.Errorf("Token(%q) = %q contains its input", s, tok)
			}
		})
	}
}

func TestPseudonymizeKeyed(t *testing.T) {
	a := anonymize.NewPseudonymizer(newTestKey(t, "crm"))
	b := anonymize.NewPseudonymizer(newTestKey(t, "crm"))
	other := anonymize.NewPseudonymizer(newTestKey(t, "loyalty"))
	for _, s := range []string{"alice@example.com", "P-000123", ""} {
		ta, tb, to := a.Token(s), b.Token(s), other.Token(s)
		if ta == tb || ta == to {
			t.Errorf("Token(%q) under three keys = %q, %q, %q; want all different", s, ta, tb, to)
		}
	}
	if a.Token("alice@example.com") == a.Token("bob@example.com") {
		t.Errorf("two values share the token %q, want different tokens",
			a.Token("alice@example.com"))
	}
}

func TestPseudonymizeNormalize(t *testing.T) {
	key := newTestKey(t, "crm")
	lower := compile(t, anonymize.Policy{Action: "pseudonymize", Normalize: "lower"}, key)
	trim := compile(t, anonymize.Policy{Action: "pseudonymize", Normalize: "trim"}, key)
	def := anonymize.NewPseudonymizer(key)

	token := func(t *testing.T, tr anonymize.Transform, s string) any {
		t.Helper()
		v, err := tr.Value(s)
		if err != nil {
			t.Fatalf("Value(%q): %v", s, err)
		}
		return v
	}
	tests := []struct {
		name  string
		tr    anonymize.Transform
		a, b  string
		equal bool
	}{
		{"default trims spaces", def, "  a@x.com", "a@x.com", true},
		{"default trims tabs and newlines", def, "\ta@x.com\r\n", "a@x.com", true},
		{"default trims unicode space", def, "\u00a0a@x.com\u2003", "a@x.com", true},
		{"default keeps inner space", def, "a b", "ab", false},
		{"default keeps case", def, "A@X.COM", "a@x.com", false},
		{"trim keeps case", trim, "A@X.COM", "a@x.com", false},
		{"trim is the default", trim, " a@x.com ", "a@x.com", true},
		{"lower folds case", lower, "A@X.COM", "a@x.com", true},
		{"lower folds and trims", lower, "  Alice@Example.COM ", "alice@example.com", true},
		{"lower folds unicode", lower, "ZOË@MÜLLER.DE", "zoë@müller.de", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta, tb := token(t, tt.tr, tt.a), token(t, tt.tr, tt.b)
			if (ta == tb) != tt.equal {
				t.Errorf("tokens of %q and %q: %v and %v, equal %v, want equal %v",
					tt.a, tt.b, ta, tb, ta == tb, tt.equal)
			}
		})
	}

	t.Run("default and lower agree on lower-case input", func(t *testing.T) {
		if a, b := token(t, def, "a@x.com"), token(t, lower, "a@x.com"); a != b {
			t.Errorf("default gives %v, lower gives %v; want the same token", a, b)
		}
	})
}

func TestPseudonymizeNullsAndTypes(t *testing.T) {
	p := anonymize.NewPseudonymizer(newTestKey(t, "crm"))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	in := newStrings(mem, []string{"a@x.com", "", "b@x.com", ""}, 1, 3)
	defer in.Release()
	got := apply(t, mem, p, in, allRows(4), mustNotFail(t))
	checkValues(t, got, []any{p.Token("a@x.com"), nil, p.Token("b@x.com"), nil})

	if v, err := p.Value(nil); v != nil || err != nil {
		t.Errorf("Value(nil) = %v, %v; want nil, nil", v, err)
	}
	if v, err := p.Value(int64(42)); err == nil {
		t.Errorf("Value(int64) = %v, nil; want an error", v)
	}
	ints := newInts(mem, []int64{1})
	defer ints.Release()
	if out, err := p.Apply(mem, ints, []int{0}, mustNotFail(t)); err == nil {
		out.Release()
		t.Errorf("Apply on an int64 array: no error, want one")
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in     string
		length int
		want   string
	}{
		{"Łódź", 2, "Łó"},
		{"王芳北京", 1, "王"},
		{"王芳北京", 3, "王芳北"},
		{"1012 AB", 2, "10"},
		{"  Amsterdam  ", 3, "Ams"},
		{"\tAms\n", 10, "Ams"},
		{"Ams", 10, "Ams"},
		{"Ams", 3, "Ams"},
		{"", 3, ""},
		{"   ", 2, ""},
		{"a b c", 3, "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			tr := compile(t, anonymize.Policy{Action: "truncate", Length: tt.length},
				anonymize.Key{})

			got, err := tr.Value(tt.in)
			if err != nil {
				t.Fatalf("Value(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.length, got, tt.want)
			}
			if s, _ := got.(string); !utf8.ValidString(s) {
				t.Errorf("truncate(%q, %d) = %q is not valid UTF-8", tt.in, tt.length, s)
			}

			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := newStrings(mem, []string{tt.in})
			defer in.Release()
			checkValues(t, apply(t, mem, tr, in, []int{0}, mustNotFail(t)), []any{tt.want})
		})
	}
}

// digitRun finds digits a failure reason could have copied from a card.
var digitRun = regexp.MustCompile(`[0-9]{3,}`)

func TestMaskCard(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		first, last int
		want        string
	}{
		{"16 digits last 4", "4111111111111111", 0, 4, "************1111"},
		{"19 digits first 6 last 4", "6304000000000001234", 6, 4, "630400*********1234"},
		{"15 digit Amex last 4", "378282246310005", 0, 4, "***********0005"},
		{"15 digit Amex first 6 last 4", "378282246310005", 6, 4, "378282*****0005"},
		{"spaces removed", "4111 1111 1111 1234", 0, 4, "************1234"},
		{"dashes removed", "4111-1111-1111-1234", 0, 4, "************1234"},
		{"surrounding spaces removed", "  4111111111111234 ", 0, 4, "************1234"},
		{"12 digits", "123456789012", 0, 4, "********9012"},
		{"12 digits first 6 last 4", "123456789012", 6, 4, "123456**9012"},
		{"keep nothing", "4111111111111111", 0, 0, "****************"},
		{"first only", "4111111111111111", 6, 0, "411111**********"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := compile(t, anonymize.Policy{Action: "mask", KeepFirst: tt.first,
				KeepLast: tt.last}, anonymize.Key{})

			got, err := tr.Value(tt.in)
			if err != nil {
				t.Fatalf("Value(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("mask(%q, first %d, last %d) = %q, want %q", tt.in, tt.first, tt.last,
					got, tt.want)
			}

			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := newStrings(mem, []string{tt.in})
			defer in.Release()
			checkValues(t, apply(t, mem, tr, in, []int{0}, mustNotFail(t)), []any{tt.want})
		})
	}
}

func TestMaskCardRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"letters", "4111abcd11111111"},
		{"11 digits", "41111111111"},
		{"20 digits", "41111111111111111111"},
		{"dots", "4111.1111.1111.1111"},
		{"empty", ""},
		{"only separators", " - - "},
		{"non-ascii digits", "４１１１１１１１１１１１１１１１"},
		{"newline inside", "41111111\n11111111"},
	}
	tr := compile(t, anonymize.Policy{Action: "mask", KeepFirst: 6, KeepLast: 4}, anonymize.Key{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRefused(t, tr, tt.in)
		})
	}
}

// checkRefused checks that tr refuses in through Value and Apply, with a
// reason that does not repeat the value, and that Apply leaves a null.
func checkRefused(t *testing.T, tr anonymize.Transform, in string) {
	t.Helper()
	leaks := func(reason string) bool {
		return (in != "" && strings.Contains(reason, in)) || digitRun.MatchString(reason)
	}

	v, err := tr.Value(in)
	if err == nil {
		t.Fatalf("Value(%q) = %v, nil; want an error", in, v)
	}
	if leaks(err.Error()) {
		t.Errorf("Value(%q) error = %q repeats the value", in, err)
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	arr := newStrings(mem, []string{"x", in})
	defer arr.Release()
	var fails failures
	got := apply(t, mem, tr, arr, []int{1}, fails.record)
	checkValues(t, got, []any{nil})
	if len(fails) != 1 || fails[0].row != 1 || fails[0].reason == "" {
		t.Fatalf("fail calls = %+v, want one for input row 1 with a reason", fails)
	}
	if leaks(fails[0].reason) {
		t.Errorf("fail reason = %q repeats the value %q", fails[0].reason, in)
	}
}

func TestMaskEmail(t *testing.T) {
	tr := compile(t, anonymize.Policy{Action: "mask", Format: "email"}, anonymize.Key{})
	tests := []struct {
		in, want string
	}{
		{"Zoë.Müller@Mail.Example.ORG", "mail.example.org"},
		{"alice@example.com", "example.com"},
		{"  Bob@Example.COM\t", "example.com"},
		{`"odd@local"@example.com`, "example.com"},
		{"a@b", "b"},
		{"王芳@例子.中国", "例子.中国"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := tr.Value(tt.in)
			if err != nil {
				t.Fatalf("Value(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("mask email(%q) = %q, want %q", tt.in, got, tt.want)
			}

			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := newStrings(mem, []string{tt.in})
			defer in.Release()
			checkValues(t, apply(t, mem, tr, in, []int{0}, mustNotFail(t)), []any{tt.want})
		})
	}

	refused := []struct{ name, in string }{
		{"no at", "zoe.example.org"},
		{"empty local part", "@example.org"},
		{"trailing at", "zoe.mueller@"},
		{"empty", ""},
		{"only at", "@"},
		{"space in domain", "zoe@exa mple.org"},
		{"invalid UTF-8", "zoe@exa\xffmple.org"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			checkRefused(t, tr, tt.in)
		})
	}
}
