package anonymize_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

// TestApplyRows checks the rows contract of every transform: the output
// has len(rows) elements, element j is the transform of input row rows[j],
// failures are reported by input row, and the allocator ends empty.
func TestApplyRows(t *testing.T) {
	key := newTestKey(t, "crm")
	utc := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	tests := []struct {
		name string
		p    anonymize.Policy
		in   func(memory.Allocator) arrow.Array
		bad  int // the input row the transform refuses, or -1
	}{
		{"pseudonymize", anonymize.Policy{Action: "pseudonymize"},
			func(mem memory.Allocator) arrow.Array {
				return newStrings(mem, []string{"a@x.com", "b@x.com", "", "c@x.com"}, 2)
			}, -1},
		{"truncate", anonymize.Policy{Action: "truncate", Length: 2},
			func(mem memory.Allocator) arrow.Array {
				return newStrings(mem, []string{"1012 AB", "Łódź", "", "王芳北京"}, 2)
			}, -1},
		{"mask card", anonymize.Policy{Action: "mask", KeepLast: 4},
			func(mem memory.Allocator) arrow.Array {
				return newStrings(mem, []string{"4111111111111111", "378282246310005",
					"not a card", "", "6304000000000001234"}, 3)
			}, 2},
		{"mask email", anonymize.Policy{Action: "mask", Format: "email"},
			func(mem memory.Allocator) arrow.Array {
				return newStrings(mem, []string{"a@one.example", "b@two.example", "nobody",
					"", "c@three.example"}, 3)
			}, 2},
		{"generalize year", anonymize.Policy{Action: "generalize", To: "year"},
			func(mem memory.Allocator) arrow.Array {
				return newDates(mem, []arrow.Date32{date(1940, 3, 1), date(1990, 6, 1), 0,
					date(2000, 2, 29)}, 2)
			}, -1},
		{"generalize month", anonymize.Policy{Action: "generalize", To: "month"},
			func(mem memory.Allocator) arrow.Array {
				return newDates(mem, []arrow.Date32{date(1940, 3, 1), date(1990, 6, 1), 0,
					date(2000, 2, 29)}, 2)
			}, -1},
		{"generalize age_band", anonymize.Policy{Action: "generalize", To: "age_band",
			Reference: "2026-03-01"},
			func(mem memory.Allocator) arrow.Array {
				return newDates(mem, []arrow.Date32{date(1940, 3, 1), date(1990, 6, 1),
					date(2030, 1, 1), 0, date(2000, 2, 29)}, 3)
			}, 2},
		{"generalize day", anonymize.Policy{Action: "generalize", To: "day"},
			func(mem memory.Allocator) arrow.Array {
				return newTimestamps(mem, utc, []arrow.Timestamp{0, -1, 0, 1_800_000_000_000_000},
					2)
			}, -1},
		{"generalize week", anonymize.Policy{Action: "generalize", To: "week"},
			func(mem memory.Allocator) arrow.Array {
				return newTimestamps(mem, utc, []arrow.Timestamp{0, -1, 0, 1_800_000_000_000_000},
					2)
			}, -1},
		{"generalize bucket", anonymize.Policy{Action: "generalize", To: "bucket", Width: 10},
			func(mem memory.Allocator) arrow.Array {
				return newFloats(mem, []float64{5, -5, 0, 15}, 2)
			}, -1},
		{"keep int", anonymize.Policy{Action: "keep", Type: "int"},
			func(mem memory.Allocator) arrow.Array {
				return newInts(mem, []int64{10, 20, 0, 40}, 2)
			}, -1},
		{"keep decimal", anonymize.Policy{Action: "keep", Type: "decimal"},
			func(mem memory.Allocator) arrow.Array {
				return newDecimals(mem, 2, []int64{1000, 2050, 0, -1}, 2)
			}, -1},
	}
	selections := [][]int{{2, 0}, {3, 1}, {3, 2, 1, 0}, {1, 1, 1}, {0}, {}}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := compile(t, tt.p, key)
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := tt.in(mem)
			defer in.Release()

			// The output of every row on its own is the reference.
			full := make([]any, in.Len())
			for i := range full {
				var fails failures
				full[i] = apply(t, mem, tr, in, []int{i}, fails.record)[0]
				if wantFail := i == tt.bad; wantFail != (len(fails) == 1) {
					t.Errorf("row %d alone: fail calls %+v, want a failure %v", i, fails, wantFail)
				}
			}

			for _, rows := range selections {
				t.Run(fmt.Sprint(rows), func(t *testing.T) {
					var fails failures
					got := apply(t, mem, tr, in, rows, fails.record)
					want := make([]any, len(rows))
					var wantFails []int
					for j, i := range rows {
						want[j] = full[i]
						if i == tt.bad {
							wantFails = append(wantFails, i)
						}
					}
					checkValues(t, got, want)

					var gotFails []int
					for _, f := range fails {
						gotFails = append(gotFails, f.row)
					}
					if !reflect.DeepEqual(gotFails, wantFails) {
						t.Errorf("failed rows = %v, want %v (input indexes)", gotFails, wantFails)
					}
				})
			}
		})
	}
}

// TestApplyOutputOutlivesInput checks that an output stays valid after the
// input is released, and that releasing both frees everything.
func TestApplyOutputOutlivesInput(t *testing.T) {
	key := newTestKey(t, "crm")
	policies := []anonymize.Policy{
		{Action: "pseudonymize"},
		{Action: "truncate", Length: 3},
		{Action: "keep", Type: "string"},
	}
	for _, p := range policies {
		t.Run(p.Action, func(t *testing.T) {
			tr := compile(t, p, key)
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)

			in := newStrings(mem, []string{"alice@example.com", "bob@example.com"})
			want := apply(t, mem, tr, in, []int{0, 1}, mustNotFail(t))
			out, err := tr.Apply(mem, in, []int{0, 1}, mustNotFail(t))
			if err != nil {
				t.Fatal(err)
			}
			in.Release()
			defer out.Release()
			checkValues(t, values(t, out), want)
		})
	}
}
