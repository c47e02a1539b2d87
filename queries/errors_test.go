package queries

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorIsAnError(t *testing.T) {
	var err error = refuse(CodeBadLimit, "LIMIT must be %s", "a whole number")
	var got *Error
	if !errors.As(err, &got) {
		t.Fatalf("errors.As(%v) = false, want true", err)
	}
	if got.Code != CodeBadLimit || got.Message != "LIMIT must be a whole number" {
		t.Errorf("refuse() = %#v, want code %s and the formatted message", got, CodeBadLimit)
	}
	if s, want := err.Error(), "bad_limit: LIMIT must be a whole number"; s != want {
		t.Errorf("Error() = %q, want %q", s, want)
	}
}

func TestQuoted(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "cabin", `"cabin"`},
		{"quote", `a"b`, `"a\"b"`},
		{"long", strings.Repeat("x", 100), `"` + strings.Repeat("x", maxQuoted) + `…"`},
		{"cut inside a rune", strings.Repeat("x", maxQuoted-1) + "€", `"` +
			strings.Repeat("x", maxQuoted-1) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quoted(tt.in)
			if got != tt.want {
				t.Errorf("quoted(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("quoted(%q) = %q, not valid UTF-8", tt.in, got)
			}
		})
	}
}
