package anonymize_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

// testNow is the job start the tests compile policies at.
var testNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// newTestKey returns a fresh random key of the given name from a keyring
// in a temporary folder.
func newTestKey(t *testing.T, name string) anonymize.Key {
	t.Helper()
	ring, err := anonymize.InitKeyring(filepath.Join(t.TempDir(), "keyring.json"), []string{name})
	if err != nil {
		t.Fatalf("InitKeyring: %v", err)
	}
	k, err := ring.Key(name)
	if err != nil {
		t.Fatalf("Key(%q): %v", name, err)
	}
	return k
}

// compile compiles a policy that must be valid.
func compile(t *testing.T, p anonymize.Policy, key anonymize.Key) anonymize.Transform {
	t.Helper()
	tr, err := p.Compile(key, testNow)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", p, err)
	}
	if tr == nil {
		t.Fatalf("Compile(%+v) returned no transform", p)
	}
	return tr
}

// failure is one call of a FailFunc.
type failure struct {
	row    int
	reason string
}

// failures records the calls of a FailFunc.
type failures []failure

func (f *failures) record(row int, reason string) { *f = append(*f, failure{row, reason}) }

// mustNotFail is a FailFunc for inputs that must all transform.
func mustNotFail(t *testing.T) anonymize.FailFunc {
	t.Helper()
	return func(row int, reason string) {
		t.Errorf("fail(%d, %q) called for a valid row", row, reason)
	}
}

// allRows returns the identity row selection 0..n-1.
func allRows(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

// valid turns a list of null positions into an Arrow validity slice.
func valid(n int, nulls []int) []bool {
	if len(nulls) == 0 {
		return nil
	}
	v := make([]bool, n)
	for i := range v {
		v[i] = true
	}
	for _, i := range nulls {
		v[i] = false
	}
	return v
}

func newStrings(mem memory.Allocator, vals []string, nulls ...int) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.AppendValues(vals, valid(len(vals), nulls))
	return b.NewArray()
}

func newDates(mem memory.Allocator, vals []arrow.Date32, nulls ...int) arrow.Array {
	b := array.NewDate32Builder(mem)
	defer b.Release()
	b.AppendValues(vals, valid(len(vals), nulls))
	return b.NewArray()
}

func newFloats(mem memory.Allocator, vals []float64, nulls ...int) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, valid(len(vals), nulls))
	return b.NewArray()
}

func newInts(mem memory.Allocator, vals []int64, nulls ...int) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, valid(len(vals), nulls))
	return b.NewArray()
}

func newTimestamps(mem memory.Allocator, typ *arrow.TimestampType, vals []arrow.Timestamp,
	nulls ...int) arrow.Array {
	b := array.NewTimestampBuilder(mem, typ)
	defer b.Release()
	b.AppendValues(vals, valid(len(vals), nulls))
	return b.NewArray()
}

// date returns the Arrow date of a calendar day.
func date(y int, m time.Month, d int) arrow.Date32 {
	return arrow.Date32FromTime(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
}

// day returns midnight UTC of a calendar day.
func day(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// values returns the elements of an array as Go values, nil for nulls.
func values(t *testing.T, a arrow.Array) []any {
	t.Helper()
	out := make([]any, a.Len())
	for i := range out {
		if a.IsNull(i) {
			continue
		}
		switch a := a.(type) {
		case *array.String:
			out[i] = a.Value(i)
		case *array.Int32:
			out[i] = a.Value(i)
		case *array.Int64:
			out[i] = a.Value(i)
		case *array.Float64:
			out[i] = a.Value(i)
		case *array.Boolean:
			out[i] = a.Value(i)
		case *array.Date32:
			out[i] = a.Value(i)
		case *array.Timestamp:
			out[i] = a.Value(i)
		case *array.Decimal128:
			out[i] = a.Value(i)
		default:
			t.Fatalf("values: unsupported array type %s", a.DataType())
		}
	}
	return out
}

// apply runs tr.Apply over rows, checks the output's type and length and
// returns its values; the output is released before apply returns.
func apply(t *testing.T, mem memory.Allocator, tr anonymize.Transform, in arrow.Array,
	rows []int, fail anonymize.FailFunc) []any {
	t.Helper()
	out, err := tr.Apply(mem, in, rows, fail)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer out.Release()
	if !arrow.TypeEqual(out.DataType(), tr.Output()) {
		t.Errorf("Apply output type = %s, want %s", out.DataType(), tr.Output())
	}
	if out.Len() != len(rows) {
		t.Errorf("Apply output length = %d, want %d (len(rows))", out.Len(), len(rows))
	}
	return values(t, out)
}

// checkValues compares got and want element by element.
func checkValues(t *testing.T, got, want []any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values:\n got %s\nwant %s", show(got), show(want))
	}
}

func show(vs []any) string {
	s := "["
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		if str, ok := v.(string); ok {
			s += fmt.Sprintf("%q", str)
		} else {
			s += fmt.Sprint(v)
		}
	}
	return s + "]"
}
