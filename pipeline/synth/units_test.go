package synth

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestCalendarMatchesTime(t *testing.T) {
	start := time.Date(1899, 12, 25, 0, 0, 0, 0, time.UTC)
	for d := range 60_000 {
		want := start.AddDate(0, 0, d)
		day := int32(want.Unix() / secondsPerDay)
		if got := daysFromCivil(want.Year(), int(want.Month()), want.Day()); got != day {
			t.Fatalf("daysFromCivil(%s): got %d, want %d", want.Format(time.DateOnly), got, day)
		}
		if got := string(appendDate(nil, day)); got != want.Format(time.DateOnly) {
			t.Fatalf("appendDate(%d): got %s, want %s", day, got, want.Format(time.DateOnly))
		}
	}
	sec := time.Date(2024, 3, 5, 10, 11, 12, 0, time.UTC).Unix()
	if got := string(appendTimestamp(nil, sec)); got != "2024-03-05T10:11:12Z" {
		t.Errorf("appendTimestamp: got %s, want 2024-03-05T10:11:12Z", got)
	}
}

func TestAppendNumbers(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"digits padded", string(appendDigits(nil, 42, 5)), "00042"},
		{"digits odd", string(appendDigits(nil, 123, 3)), "123"},
		{"digits many", string(appendDigits(nil, 1234567890123, 13)), "1234567890123"},
		{"uint zero", string(appendUint(nil, 0)), "0"},
		{"cents", string(appendCents(nil, 123450)), "1234.50"},
		{"cents small", string(appendCents(nil, 7)), "0.07"},
		{"grouped", string(appendCentsGrouped(nil, 123450)), "1,234.50"},
		{"grouped millions", string(appendCentsGrouped(nil, 123456789)), "1,234,567.89"},
		{"grouped small", string(appendCentsGrouped(nil, 99999)), "999.99"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestPermuteBitsIsABijection(t *testing.T) {
	for _, bits := range []uint{10, 13} {
		for _, k := range []uint64{0, 1, 0xdeadbeefcafe} {
			seen := make([]bool, 1<<bits)
			for x := range uint64(1) << bits {
				y := permuteBits(x, k, bits)
				if y >= 1<<bits || seen[y] {
					t.Fatalf("permuteBits(%d, %#x, %d) = %d: out of range or repeated", x, k, bits, y)
				}
				seen[y] = true
			}
		}
	}
}

func TestPickerFollowsWeights(t *testing.T) {
	weights := []int{75, 12, 10, 3, 0}
	p := newPicker(weights)
	r := newTestRand(2)
	const n = 200_000
	counts := make([]int, len(weights))
	for range n {
		counts[p.pick(r)]++
	}
	for i, w := range weights {
		got := float64(counts[i]) / n
		if want := float64(w) / 100; math.Abs(got-want) > 0.01 {
			t.Errorf("choice %d: got share %.3f, want %.3f", i, got, want)
		}
	}
	if counts[4] != 0 {
		t.Errorf("zero weight drawn %d times", counts[4])
	}
}

func TestLuhnDigit(t *testing.T) {
	tests := []struct{ payload, want string }{
		{"7992739871", "3"},
		{"411111111111111", "1"},
		{"37828224631000", "5"},
	}
	for _, tt := range tests {
		if got := string(luhnDigit([]byte(tt.payload))); got != tt.want {
			t.Errorf("luhnDigit(%s): got %s, want %s", tt.payload, got, tt.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	inputs := []string{
		"plain", `O'Brien, Jr.`, `Robert "Bob"`, "García\nLópez", "tab\tand\\", "\x01", "王芳",
	}
	for _, s := range inputs {
		var back string
		enc := appendJSONString(nil, []byte(s))
		if err := json.Unmarshal(enc, &back); err != nil || back != s {
			t.Errorf("appendJSONString(%q) = %s: decodes to %q, %v", s, enc, back, err)
		}
	}
}

func TestFoldASCII(t *testing.T) {
	tests := []struct{ in, want string }{
		{"O'Brien", "obrien"},
		{"Łukasz", "lukasz"},
		{"Søren", "soren"},
		{"Groß", "gross"},
		{"van den Berg", "vandenberg"},
		{"Guðmundsdóttir", "gudmundsdottir"},
	}
	for _, tt := range tests {
		if got := foldASCII(tt.in); got != tt.want {
			t.Errorf("foldASCII(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
	for c := range numCultures {
		for _, list := range [][]name{names[c].female, names[c].male, names[c].last} {
			for _, n := range list {
				if n.ascii == "" {
					t.Errorf("culture %d: %q has no ASCII form", c, n.text)
				}
			}
		}
	}
}
