package anonymize_test

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

func newDecimals(mem memory.Allocator, scale int32, vals []int64, nulls ...int) arrow.Array {
	b := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 18, Scale: scale})
	defer b.Release()
	nums := make([]decimal128.Num, len(vals))
	for i, v := range vals {
		nums[i] = decimal128.FromI64(v)
	}
	b.AppendValues(nums, valid(len(vals), nulls))
	return b.NewArray()
}

func newBools(mem memory.Allocator, vals []bool, nulls ...int) arrow.Array {
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	b.AppendValues(vals, valid(len(vals), nulls))
	return b.NewArray()
}

func TestKeep(t *testing.T) {
	tsType := arrow.FixedWidthTypes.Timestamp_us.(*arrow.TimestampType)
	tests := []struct {
		name string
		p    anonymize.Policy
		in   func(memory.Allocator) arrow.Array
		want []any // the input's values
	}{
		{"decimal", anonymize.Policy{Action: "keep", Type: "decimal"},
			func(mem memory.Allocator) arrow.Array {
				return newDecimals(mem, 2, []int64{12345, 0, -99, 1}, 1)
			},
			[]any{decimal128.FromI64(12345), nil, decimal128.FromI64(-99), decimal128.FromI64(1)}},
		{"decimal scale 4", anonymize.Policy{Action: "keep", Type: "decimal", Scale: 4},
			func(mem memory.Allocator) arrow.Array {
				return newDecimals(mem, 4, []int64{10000, 5, 7})
			},
			[]any{decimal128.FromI64(10000), decimal128.FromI64(5), decimal128.FromI64(7)}},
		{"string", anonymize.Policy{Action: "keep", Type: "string"},
			func(mem memory.Allocator) arrow.Array {
				return newStrings(mem, []string{"AMS", "", "Łódź", "王芳"}, 1)
			},
			[]any{"AMS", nil, "Łódź", "王芳"}},
		{"int", anonymize.Policy{Action: "keep", Type: "int"},
			func(mem memory.Allocator) arrow.Array {
				return newInts(mem, []int64{7, -1, 1 << 40})
			},
			[]any{int64(7), int64(-1), int64(1 << 40)}},
		{"date", anonymize.Policy{Action: "keep", Type: "date"},
			func(mem memory.Allocator) arrow.Array {
				return newDates(mem, []arrow.Date32{date(1940, 3, 1), date(2026, 2, 28),
					date(2000, 2, 29)})
			},
			[]any{date(1940, 3, 1), date(2026, 2, 28), date(2000, 2, 29)}},
		{"float", anonymize.Policy{Action: "keep", Type: "float"},
			func(mem memory.Allocator) arrow.Array {
				return newFloats(mem, []float64{1.5, -2.25, 0}, 2)
			},
			[]any{1.5, -2.25, nil}},
		{"bool", anonymize.Policy{Action: "keep", Type: "bool"},
			func(mem memory.Allocator) arrow.Array {
				return newBools(mem, []bool{true, false, true})
			},
			[]any{true, false, true}},
		{"timestamp", anonymize.Policy{Action: "keep", Type: "timestamp"},
			func(mem memory.Allocator) arrow.Array {
				return newTimestamps(mem, tsType, []arrow.Timestamp{0, -1, 1_000_000})
			},
			[]any{arrow.Timestamp(0), arrow.Timestamp(-1), arrow.Timestamp(1_000_000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := compile(t, tt.p, anonymize.Key{})
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := tt.in(mem)
			defer in.Release()

			t.Run("rows 2 0", func(t *testing.T) {
				got := apply(t, mem, tr, in, []int{2, 0}, mustNotFail(t))
				checkValues(t, got, []any{tt.want[2], tt.want[0]})
			})
			t.Run("all rows", func(t *testing.T) {
				got := apply(t, mem, tr, in, allRows(in.Len()), mustNotFail(t))
				checkValues(t, got, tt.want)
			})
			t.Run("repeated rows", func(t *testing.T) {
				got := apply(t, mem, tr, in, []int{1, 1, 0}, mustNotFail(t))
				checkValues(t, got, []any{tt.want[1], tt.want[1], tt.want[0]})
			})
			t.Run("no rows", func(t *testing.T) {
				got := apply(t, mem, tr, in, []int{}, mustNotFail(t))
				checkValues(t, got, []any{})
			})
		})
	}
}

func TestKeepRefusesOtherTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	strs := newStrings(mem, []string{"1", "2"})
	defer strs.Release()
	ints := newInts(mem, []int64{1, 2})
	defer ints.Release()
	dec3 := newDecimals(mem, 3, []int64{1, 2})
	defer dec3.Release()
	paris := newTimestamps(mem, &arrow.TimestampType{Unit: arrow.Microsecond,
		TimeZone: "Europe/Paris"}, []arrow.Timestamp{1, 2})
	defer paris.Release()

	tests := []struct {
		name string
		p    anonymize.Policy
		in   arrow.Array
	}{
		{"int given strings", anonymize.Policy{Action: "keep", Type: "int"}, strs},
		{"string given ints", anonymize.Policy{Action: "keep", Type: "string"}, ints},
		{"decimal scale 2 given scale 3", anonymize.Policy{Action: "keep", Type: "decimal"}, dec3},
		{"float given ints", anonymize.Policy{Action: "keep", Type: "float"}, ints},
		{"date given ints", anonymize.Policy{Action: "keep", Type: "date"}, ints},
		{"timestamp UTC given Europe/Paris", anonymize.Policy{Action: "keep", Type: "timestamp"},
			paris},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := compile(t, tt.p, anonymize.Key{})
			for _, rows := range [][]int{{0, 1}, {1}} {
				out, err := tr.Apply(mem, tt.in, rows, mustNotFail(t))
				if err == nil {
					out.Release()
					t.Errorf("Apply(%s, rows %v): no error, want a type mismatch", tt.in.DataType(),
						rows)
				}
			}
		})
	}
}

func TestKeepValue(t *testing.T) {
	tests := []struct {
		typ string
		v   any
	}{
		{"string", "AMS"},
		{"string", nil},
		{"int", int64(-3)},
		{"float", 2.5},
		{"bool", false},
		{"date", time.Date(1940, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"timestamp", time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			tr := compile(t, anonymize.Policy{Action: "keep", Type: tt.typ}, anonymize.Key{})
			got, err := tr.Value(tt.v)
			if err != nil || got != tt.v {
				t.Errorf("keep Value(%v) = %v, %v; want %v, nil", tt.v, got, err, tt.v)
			}
		})
	}
}
