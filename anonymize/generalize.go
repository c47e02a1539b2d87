package anonymize

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// maxAge is the oldest age band kept apart; older people share one open
// band ("90+"), as few people are that old.
const maxAge = 90

// generalizer coarsens dates, timestamps and numbers.
type generalizer struct {
	to    string
	width float64
	ref   civil // reference date of age_band
}

func newGeneralizer(p Policy, now time.Time) generalizer {
	g := generalizer{to: p.To, width: p.Width}
	ref := now.UTC()
	if p.Reference != "" {
		ref, _ = time.Parse(time.DateOnly, p.Reference) // validated
	}
	g.ref = civil{ref.Year(), int(ref.Month()), ref.Day()}
	if g.to == "age_band" && g.width == 0 {
		g.width = 10
	}
	return g
}

func (g generalizer) Source() string {
	switch g.to {
	case "day", "week":
		return "TIMESTAMPTZ"
	case "bucket":
		return "DOUBLE"
	default:
		return "DATE"
	}
}

func (g generalizer) Output() arrow.DataType {
	switch g.to {
	case "year":
		return arrow.PrimitiveTypes.Int32
	case "day", "week":
		return arrow.FixedWidthTypes.Date32
	case "bucket":
		return arrow.PrimitiveTypes.Float64
	default:
		return arrow.BinaryTypes.String
	}
}

// civil is a calendar date.
type civil struct{ year, month, day int }

// civilFromDays converts days since 1970-01-01 to a calendar date
// (Howard Hinnant's algorithm, exact for the proleptic Gregorian calendar).
func civilFromDays(z int64) civil {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return civil{int(y), int(m), int(d)}
}

// floorDiv divides rounding towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

const microsPerDay = 86400 * 1_000_000

// ageBand returns the band label of a birth date, or a reason.
func (g generalizer) ageBand(dst []byte, birth civil) ([]byte, string) {
	age := g.ref.year - birth.year
	if g.ref.month < birth.month || (g.ref.month == birth.month && g.ref.day < birth.day) {
		age--
	}
	switch {
	case age < 0:
		return dst, "date of birth lies after the reference date"
	case age > 130:
		return dst, "date of birth gives an age over 130"
	case age >= maxAge:
		return append(strconv.AppendInt(dst, maxAge, 10), '+'), ""
	}
	w := int(g.width)
	lo := age / w * w
	dst = strconv.AppendInt(dst, int64(lo), 10)
	dst = append(dst, '-')
	return strconv.AppendInt(dst, int64(min(lo+w-1, maxAge-1)), 10), "" // 90+ is its own band
}

func appendMonth(dst []byte, c civil) []byte {
	dst = strconv.AppendInt(dst, int64(c.year), 10)
	dst = append(dst, '-')
	if c.month < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(c.month), 10)
}

func (g generalizer) Apply(mem memory.Allocator, in arrow.Array, rows []int, fail FailFunc) (arrow.Array, error) {
	switch g.to {
	case "year", "month", "age_band":
		src, ok := in.(*array.Date32)
		if !ok {
			return nil, fmt.Errorf("generalize: input is %s, want date32", in.DataType())
		}
		return g.applyDates(mem, src, rows, fail), nil
	case "day", "week":
		src, ok := in.(*array.Timestamp)
		if !ok {
			return nil, fmt.Errorf("generalize: input is %s, want timestamp", in.DataType())
		}
		return g.applyTimestamps(mem, src, rows), nil
	default:
		src, ok := in.(*array.Float64)
		if !ok {
			return nil, fmt.Errorf("generalize: input is %s, want float64", in.DataType())
		}
		return g.applyBuckets(mem, src, rows), nil
	}
}

func (g generalizer) applyDates(mem memory.Allocator, src *array.Date32, rows []int, fail FailFunc) arrow.Array {
	if g.to == "year" {
		b := array.NewInt32Builder(mem)
		defer b.Release()
		b.Reserve(len(rows))
		for _, i := range rows {
			if src.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.UnsafeAppend(int32(civilFromDays(int64(src.Value(i))).year))
		}
		return b.NewArray()
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
		c := civilFromDays(int64(src.Value(i)))
		if g.to == "month" {
			buf = appendMonth(buf[:0], c)
		} else {
			var reason string
			if buf, reason = g.ageBand(buf[:0], c); reason != "" {
				b.AppendNull()
				fail(i, reason)
				continue
			}
		}
		b.BinaryBuilder.Append(buf)
	}
	return b.NewArray()
}

// dayOf returns the day (since the epoch) of a timestamp in unit, and for
// week the Monday that starts its week.
func (g generalizer) dayOf(ts int64, unit arrow.TimeUnit) int64 {
	perDay := int64(microsPerDay)
	switch unit {
	case arrow.Second:
		perDay = 86400
	case arrow.Millisecond:
		perDay = 86400 * 1000
	case arrow.Nanosecond:
		perDay = microsPerDay * 1000
	}
	day := floorDiv(ts, perDay)
	if g.to == "week" {
		day -= ((day+3)%7 + 7) % 7 // 1970-01-01 was a Thursday
	}
	return day
}

func (g generalizer) applyTimestamps(mem memory.Allocator, src *array.Timestamp, rows []int) arrow.Array {
	unit := src.DataType().(*arrow.TimestampType).Unit
	b := array.NewDate32Builder(mem)
	defer b.Release()
	b.Reserve(len(rows))
	for _, i := range rows {
		if src.IsNull(i) {
			b.AppendNull()
			continue
		}
		b.UnsafeAppend(arrow.Date32(g.dayOf(int64(src.Value(i)), unit)))
	}
	return b.NewArray()
}

// bucket returns the lower edge of x's bucket. A quotient within rounding
// error (relative 1e-12) of a non-zero whole number counts as that number,
// so 0.3 with width 0.1 lands in the 0.3 bucket despite binary floating
// point.
func (g generalizer) bucket(x float64) float64 {
	q := x / g.width
	if r := math.Round(q); r != 0 && math.Abs(q-r) <= 1e-12*math.Abs(r) {
		q = r
	}
	return math.Floor(q) * g.width
}

func (g generalizer) applyBuckets(mem memory.Allocator, src *array.Float64, rows []int) arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.Reserve(len(rows))
	for _, i := range rows {
		if src.IsNull(i) {
			b.AppendNull()
			continue
		}
		b.UnsafeAppend(g.bucket(src.Value(i)))
	}
	return b.NewArray()
}

// Value implements Transform. Dates and timestamps are time.Time, numbers
// float64. Year gives int32, month and age_band a string, day and week a
// time.Time at midnight UTC, bucket a float64.
func (g generalizer) Value(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch g.to {
	case "bucket":
		x, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("generalize: value is %T, want float64", v)
		}
		return g.bucket(x), nil
	}
	t, ok := v.(time.Time)
	if !ok {
		return nil, fmt.Errorf("generalize: value is %T, want time.Time", v)
	}
	// A date is its day in UTC, as a Date32 is; the same civil date as
	// Apply's then goes through the same code.
	c := civilFromDays(daysOf(t))
	switch g.to {
	case "year":
		return int32(c.year), nil
	case "month":
		return string(appendMonth(nil, c)), nil
	case "age_band":
		out, reason := g.ageBand(nil, c)
		if reason != "" {
			return nil, reject("generalize", reason)
		}
		return string(out), nil
	default:
		day := g.dayOf(t.UnixMicro(), arrow.Microsecond)
		return time.Unix(day*86400, 0).UTC(), nil
	}
}

// keeper passes a column through with its declared type.
type keeper struct {
	source string
	out    arrow.DataType
}

func newKeeper(p Policy) keeper {
	switch p.Type {
	case "int":
		return keeper{"BIGINT", arrow.PrimitiveTypes.Int64}
	case "decimal":
		scale := p.Scale
		if scale == 0 {
			scale = 2
		}
		return keeper{fmt.Sprintf("DECIMAL(18,%d)", scale),
			&arrow.Decimal128Type{Precision: 18, Scale: int32(scale)}}
	case "float":
		return keeper{"DOUBLE", arrow.PrimitiveTypes.Float64}
	case "bool":
		return keeper{"BOOLEAN", arrow.FixedWidthTypes.Boolean}
	case "date":
		return keeper{"DATE", arrow.FixedWidthTypes.Date32}
	case "timestamp":
		return keeper{"TIMESTAMPTZ", arrow.FixedWidthTypes.Timestamp_us}
	default:
		return keeper{"VARCHAR", arrow.BinaryTypes.String}
	}
}

func (k keeper) Source() string         { return k.source }
func (k keeper) Output() arrow.DataType { return k.out }

func (k keeper) Apply(mem memory.Allocator, in arrow.Array, rows []int, _ FailFunc) (arrow.Array, error) {
	if !arrow.TypeEqual(in.DataType(), k.out) {
		return nil, fmt.Errorf("keep: input is %s, want %s", in.DataType(), k.out)
	}
	if len(rows) == in.Len() && isIdentity(rows) {
		in.Retain()
		return in, nil
	}
	idx := array.NewInt32Builder(mem)
	defer idx.Release()
	idx.Reserve(len(rows))
	for _, i := range rows {
		idx.UnsafeAppend(int32(i))
	}
	indices := idx.NewArray()
	defer indices.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	return compute.TakeArray(ctx, in, indices)
}

func isIdentity(rows []int) bool {
	for j, i := range rows {
		if i != j {
			return false
		}
	}
	return true
}

// Value implements Transform: the value itself, once its Go type is
// checked against the declared type, as Apply checks the array's type.
func (k keeper) Value(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var ok bool
	switch k.out.ID() {
	case arrow.STRING:
		_, ok = v.(string)
	case arrow.INT64:
		_, ok = v.(int64)
	case arrow.FLOAT64:
		_, ok = v.(float64)
	case arrow.BOOL:
		_, ok = v.(bool)
	case arrow.DECIMAL128:
		_, ok = v.(decimal128.Num)
	case arrow.DATE32, arrow.TIMESTAMP:
		_, ok = v.(time.Time)
	}
	if !ok {
		return nil, fmt.Errorf("keep: value is %T, want a value of %s", v, k.out)
	}
	return v, nil
}
