package anonymize

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// RejectError is returned by Transform.Value for a value the policy cannot
// transform: the per-value form of a call to FailFunc in Apply. Reason is
// the same text Apply reports for the same value and names no value; any
// other error from Value means the input had an unexpected Go type.
type RejectError struct {
	// Transform names the action, such as mask or generalize.
	Transform string
	// Reason says why, as Apply's FailFunc is told.
	Reason string
}

func (e *RejectError) Error() string { return e.Transform + ": " + e.Reason }

func reject(transform, reason string) error {
	return &RejectError{Transform: transform, Reason: reason}
}

// ValueAt returns element i of arr as the Go value Transform.Value takes:
// string for utf8, time.Time for date32 (midnight UTC) and timestamps (in
// UTC), float64, int64, bool, int32, and decimal128.Num for decimals (the
// unscaled value; the scale is the array type's). A null gives nil. Strings
// are copied, so the value outlives the array.
func ValueAt(arr arrow.Array, i int) (any, error) {
	if arr.IsNull(i) {
		return nil, nil
	}
	switch a := arr.(type) {
	case *array.String:
		return strings.Clone(a.Value(i)), nil
	case *array.Date32:
		return a.Value(i).ToTime(), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC(), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Int32:
		return a.Value(i), nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Decimal128:
		return a.Value(i), nil
	default:
		return nil, fmt.Errorf("no per-value form for arrow type %s", arr.DataType())
	}
}

// AppendValue appends v, a value Transform.Value returned, to b, the
// builder of the transform's Output type; nil appends a null. Dates are
// taken in UTC. The error is for a value of the wrong Go type.
func AppendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	ok := false
	switch b := b.(type) {
	case *array.StringBuilder:
		ok = appendAs[string](b, v)
	case *array.Int32Builder:
		ok = appendAs[int32](b, v)
	case *array.Int64Builder:
		ok = appendAs[int64](b, v)
	case *array.Float64Builder:
		ok = appendAs[float64](b, v)
	case *array.BooleanBuilder:
		ok = appendAs[bool](b, v)
	case *array.Decimal128Builder:
		ok = appendAs[decimal128.Num](b, v)
	case *array.Date32Builder:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			b.Append(arrow.Date32(daysOf(t)))
		}
	case *array.TimestampBuilder:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			unit := b.Type().(*arrow.TimestampType).Unit
			ts, err := arrow.TimestampFromTime(t, unit)
			if err != nil {
				return fmt.Errorf("timestamp out of range: %w", err)
			}
			b.Append(ts)
		}
	default:
		return fmt.Errorf("no per-value form for arrow type %s", b.Type())
	}
	if !ok {
		return fmt.Errorf("value is %T, not a value of arrow type %s", v, b.Type())
	}
	return nil
}

// appendAs appends v to b when v is a T, and reports whether it was.
func appendAs[T any](b interface{ Append(T) }, v any) bool {
	x, ok := v.(T)
	if ok {
		b.Append(x)
	}
	return ok
}

// daysOf returns the day of t in UTC, in days since 1970-01-01: the
// Date32 of a date given as a time.Time.
func daysOf(t time.Time) int64 { return floorDiv(t.Unix(), 86400) }
