package anonymize_test

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

// TestValueMatchesApply checks the per-value path against the batch path
// for every transform: for each input element, AppendValue(Value(ValueAt))
// builds the same element Apply builds, and a value Apply reports to its
// FailFunc gives a *RejectError with the same reason.
func TestValueMatchesApply(t *testing.T) {
	key := newTestKey(t, "crm")
	utc := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	strs := func(vals ...string) func(memory.Allocator) arrow.Array {
		return func(mem memory.Allocator) arrow.Array { return newStrings(mem, vals, 1) }
	}
	dates := func(mem memory.Allocator) arrow.Array {
		return newDates(mem, []arrow.Date32{date(1940, 3, 1), 0, date(2030, 1, 1),
			date(1600, 2, 29), date(1969, 12, 31), date(2000, 2, 29)}, 1)
	}
	stamps := func(mem memory.Allocator) arrow.Array {
		return newTimestamps(mem, utc, []arrow.Timestamp{0, 0, -1, 1_800_000_000_123_456,
			-86_400_000_001}, 1)
	}
	tests := []struct {
		name string
		p    anonymize.Policy
		in   func(memory.Allocator) arrow.Array
	}{
		{"pseudonymize", anonymize.Policy{Action: "pseudonymize"}, strs(" PAX1 ", "", "pax1")},
		{"pseudonymize lower", anonymize.Policy{Action: "pseudonymize", Normalize: "lower"},
			strs("A@X.com", "", "a@x.com ")},
		{"truncate", anonymize.Policy{Action: "truncate", Length: 2}, strs("1012 AB", "", "王芳北京", " x")},
		{"mask card", anonymize.Policy{Action: "mask", KeepFirst: 6, KeepLast: 4},
			strs("4111 1111-1111 1111", "", "4111", "41x1111111111111")},
		{"mask email", anonymize.Policy{Action: "mask", Format: "email"},
			strs("Zoë@Mail.Example", "", "nobody", "a@b c")},
		{"generalize year", anonymize.Policy{Action: "generalize", To: "year"}, dates},
		{"generalize month", anonymize.Policy{Action: "generalize", To: "month"}, dates},
		{"generalize age_band", anonymize.Policy{Action: "generalize", To: "age_band",
			Reference: "2026-03-01"}, dates},
		{"generalize day", anonymize.Policy{Action: "generalize", To: "day"}, stamps},
		{"generalize week", anonymize.Policy{Action: "generalize", To: "week"}, stamps},
		{"generalize bucket", anonymize.Policy{Action: "generalize", To: "bucket", Width: 0.1},
			func(mem memory.Allocator) arrow.Array {
				return newFloats(mem, []float64{0.3, 0, -0.05, 1e9 + 0.7}, 1)
			}},
		{"keep string", anonymize.Policy{Action: "keep", Type: "string"}, strs("a", "", "ü")},
		{"keep int", anonymize.Policy{Action: "keep", Type: "int"},
			func(mem memory.Allocator) arrow.Array { return newInts(mem, []int64{1, 0, -7}, 1) }},
		{"keep float", anonymize.Policy{Action: "keep", Type: "float"},
			func(mem memory.Allocator) arrow.Array { return newFloats(mem, []float64{1.5, 0, -2}, 1) }},
		{"keep decimal", anonymize.Policy{Action: "keep", Type: "decimal", Scale: 3},
			func(mem memory.Allocator) arrow.Array { return newDecimals(mem, 3, []int64{1234, 0, -5}, 1) }},
		{"keep date", anonymize.Policy{Action: "keep", Type: "date"}, dates},
		{"keep timestamp", anonymize.Policy{Action: "keep", Type: "timestamp"}, stamps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := compile(t, tt.p, key)
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := tt.in(mem)
			defer in.Release()

			var fails failures
			want := apply(t, mem, tr, in, allRows(in.Len()), fails.record)
			reasons := map[int]string{}
			for _, f := range fails {
				reasons[f.row] = f.reason
			}

			b := array.NewBuilder(mem, tr.Output())
			defer b.Release()
			for i := 0; i < in.Len(); i++ {
				x, err := anonymize.ValueAt(in, i)
				if err != nil {
					t.Fatalf("ValueAt(%d): %v", i, err)
				}
				v, err := tr.Value(x)
				var rej *anonymize.RejectError
				switch {
				case errors.As(err, &rej):
					if rej.Reason != reasons[i] {
						t.Errorf("row %d: Value rejected with %q, Apply with %q", i, rej.Reason, reasons[i])
					}
					b.AppendNull()
					continue
				case err != nil:
					t.Fatalf("row %d: Value: %v", i, err)
				case reasons[i] != "":
					t.Errorf("row %d: Value gave %v, Apply rejected it (%s)", i, v, reasons[i])
				}
				if err := anonymize.AppendValue(b, v); err != nil {
					t.Fatalf("row %d: AppendValue: %v", i, err)
				}
			}
			got := b.NewArray()
			defer got.Release()
			checkValues(t, values(t, got), want)
		})
	}
}

// TestValueRejectsWrongType checks that a value of the wrong Go type is an
// error, not a reject: it is the engine's fault, not the row's.
func TestValueRejectsWrongType(t *testing.T) {
	key := newTestKey(t, "crm")
	for _, p := range []anonymize.Policy{
		{Action: "pseudonymize"}, {Action: "truncate", Length: 1},
		{Action: "generalize", To: "year"}, {Action: "keep", Type: "decimal"},
		{Action: "keep", Type: "int"},
	} {
		tr := compile(t, p, key)
		_, err := tr.Value(3.5 + 0i)
		var rej *anonymize.RejectError
		if err == nil || errors.As(err, &rej) {
			t.Errorf("%+v: Value(complex) = %v, want a type error", p, err)
		}
	}
}
