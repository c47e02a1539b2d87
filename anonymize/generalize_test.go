package anonymize_test

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

func TestGeneralizeYearMonth(t *testing.T) {
	year := compile(t, anonymize.Policy{Action: "generalize", To: "year"}, anonymize.Key{})
	month := compile(t, anonymize.Policy{Action: "generalize", To: "month"}, anonymize.Key{})
	tests := []time.Time{
		day(1940, 3, 1),
		day(1900, 2, 28),
		day(1900, 3, 1),
		day(1899, 12, 31),
		day(1969, 12, 31),
		day(1970, 1, 1),
		day(1968, 2, 29),
		day(2000, 2, 29),
		day(2024, 12, 31),
		day(2026, 1, 1),
		day(1600, 3, 1),
	}
	for _, tm := range tests {
		t.Run(tm.Format(time.DateOnly), func(t *testing.T) {
			wantYear := int32(tm.Year())
			wantMonth := fmt.Sprintf("%d-%02d", tm.Year(), tm.Month())

			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := newDates(mem, []arrow.Date32{arrow.Date32FromTime(tm)})
			defer in.Release()
			checkValues(t, apply(t, mem, year, in, []int{0}, mustNotFail(t)), []any{wantYear})
			checkValues(t, apply(t, mem, month, in, []int{0}, mustNotFail(t)), []any{wantMonth})

			if got, err := year.Value(tm); err != nil || got != wantYear {
				t.Errorf("year Value(%s) = %v, %v; want %d", tm, got, err, wantYear)
			}
			if got, err := month.Value(tm); err != nil || got != wantMonth {
				t.Errorf("month Value(%s) = %v, %v; want %q", tm, got, err, wantMonth)
			}
		})
	}
}

// TestGeneralizeDatesMatchTime compares Apply with package time for every
// day from 1800 to 2199.
func TestGeneralizeDatesMatchTime(t *testing.T) {
	year := compile(t, anonymize.Policy{Action: "generalize", To: "year"}, anonymize.Key{})
	month := compile(t, anonymize.Policy{Action: "generalize", To: "month"}, anonymize.Key{})
	first, last := date(1800, 1, 1), date(2199, 12, 31)
	var days []arrow.Date32
	for d := first; d <= last; d++ {
		days = append(days, d)
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := newDates(mem, days)
	defer in.Release()
	years := apply(t, mem, year, in, allRows(len(days)), mustNotFail(t))
	months := apply(t, mem, month, in, allRows(len(days)), mustNotFail(t))

	for i, d := range days {
		tm := d.ToTime()
		if want := int32(tm.Year()); years[i] != want {
			t.Fatalf("year of %s = %v, want %d", tm.Format(time.DateOnly), years[i], want)
		}
		if want := fmt.Sprintf("%d-%02d", tm.Year(), tm.Month()); months[i] != want {
			t.Fatalf("month of %s = %v, want %q", tm.Format(time.DateOnly), months[i], want)
		}
	}
}

func TestGeneralizeAgeBand(t *testing.T) {
	tests := []struct {
		name      string
		birth     time.Time
		reference string
		width     float64
		want      string // "" when the row must fail
	}{
		{"leap-day birth the day before its birthday", day(2000, 2, 29), "2026-02-28", 1, "25-25"},
		{"leap-day birth on 1 March", day(2000, 2, 29), "2026-03-01", 1, "26-26"},
		{"leap-day birth in a leap year", day(2000, 2, 29), "2024-02-29", 1, "24-24"},
		{"day before 40th birthday", day(1986, 3, 1), "2026-02-28", 0, "30-39"},
		{"40th birthday", day(1986, 3, 1), "2026-03-01", 0, "40-49"},
		{"born on the reference date", day(2026, 3, 1), "2026-03-01", 0, "0-9"},
		{"width 5", day(1990, 6, 15), "2026-03-01", 5, "35-39"},
		{"born before 1970", day(1940, 3, 1), "2026-03-01", 0, "80-89"},
		{"89 the day before 90", day(1936, 3, 2), "2026-03-01", 0, "80-89"},
		{"exactly 90", day(1936, 3, 1), "2026-03-01", 0, "90+"},
		{"96", day(1930, 1, 1), "2026-03-01", 0, "90+"},
		{"90 plus with width 1", day(1930, 1, 1), "2026-03-01", 1, "90+"},
		{"exactly 130", day(1896, 3, 1), "2026-03-01", 0, "90+"},
		{"born after the reference", day(2026, 3, 2), "2026-03-01", 0, ""},
		{"born years after the reference", day(2030, 1, 1), "2026-03-01", 0, ""},
		{"131", day(1895, 3, 1), "2026-03-01", 0, ""},
		{"140 years ago", day(1886, 3, 1), "2026-03-01", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := compile(t, anonymize.Policy{Action: "generalize", To: "age_band",
				Width: tt.width, Reference: tt.reference}, anonymize.Key{})

			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := newDates(mem, []arrow.Date32{date(2000, 1, 1), arrow.Date32FromTime(tt.birth)})
			defer in.Release()
			var fails failures
			got := apply(t, mem, tr, in, []int{1}, fails.record)
			v, err := tr.Value(tt.birth)

			if tt.want == "" {
				checkValues(t, got, []any{nil})
				if len(fails) != 1 || fails[0].row != 1 || fails[0].reason == "" {
					t.Errorf("fail calls = %+v, want one for input row 1 with a reason", fails)
				}
				if err == nil {
					t.Errorf("Value(%s) = %v, nil; want an error", tt.birth, v)
				} else if birthYear := strconv.Itoa(tt.birth.Year()); strings.Contains(err.Error(),
					birthYear) {
					t.Errorf("Value error = %q repeats the birth year %s", err, birthYear)
				}
				return
			}
			checkValues(t, got, []any{tt.want})
			if len(fails) != 0 {
				t.Errorf("fail calls = %+v, want none", fails)
			}
			if err != nil || v != tt.want {
				t.Errorf("Value(%s) = %v, %v; want %q", tt.birth.Format(time.DateOnly), v, err,
					tt.want)
			}
		})
	}
}

func TestGeneralizeAgeBandReferenceDefaultsToNow(t *testing.T) {
	p := anonymize.Policy{Action: "generalize", To: "age_band"}
	birth := day(1986, 3, 1)
	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		{"on the birthday", time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), "40-49"},
		{"the day before", time.Date(2026, 2, 28, 23, 59, 0, 0, time.UTC), "30-39"},
		// The manifest records the reference as the UTC date of the start.
		{"now in another zone is taken in UTC",
			time.Date(2026, 3, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "30-39"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := p.Compile(anonymize.Key{}, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := tr.Value(birth); err != nil || got != tt.want {
				t.Errorf("Value(%s) at %s = %v, %v; want %q", birth.Format(time.DateOnly), tt.now,
					got, err, tt.want)
			}
		})
	}
}

// TestGeneralizeAgeBandsDoNotOverlapOpenBand checks that the last closed
// band ends below 90, where the open band "90+" starts.
func TestGeneralizeAgeBandsDoNotOverlapOpenBand(t *testing.T) {
	label := regexp.MustCompile(`^(\d+)-(\d+)$`)
	for _, width := range []float64{1, 3, 4, 5, 7, 10, 20, 25} {
		t.Run(fmt.Sprint("width ", width), func(t *testing.T) {
			tr := compile(t, anonymize.Policy{Action: "generalize", To: "age_band", Width: width,
				Reference: "2026-03-01"}, anonymize.Key{})
			reported := map[string]bool{}
			for age := 0; age < 90; age++ {
				v, err := tr.Value(day(2026-age, 3, 1))
				if err != nil {
					t.Fatalf("age %d: %v", age, err)
				}
				m := label.FindStringSubmatch(v.(string))
				if m == nil {
					t.Fatalf("age %d gives %q, want a band lo-hi", age, v)
				}
				lo, _ := strconv.Atoi(m[1])
				hi, _ := strconv.Atoi(m[2])
				if age < lo || age > hi {
					t.Errorf("age %d gives band %q, which does not hold it", age, v)
				}
				if hi >= 90 && !reported[m[0]] {
					reported[m[0]] = true
					t.Errorf("age %d gives band %q, want it to end below the open band 90+",
						age, v)
				}
			}
		})
	}
}

func TestGeneralizeTimestamps(t *testing.T) {
	toDay := compile(t, anonymize.Policy{Action: "generalize", To: "day"}, anonymize.Key{})
	toWeek := compile(t, anonymize.Policy{Action: "generalize", To: "week"}, anonymize.Key{})
	tests := []struct {
		name            string
		ts              time.Time
		wantDay, wantWk time.Time
	}{
		{"Sunday", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
			day(2026, 3, 1), day(2026, 2, 23)},
		{"Sunday last microsecond", time.Date(2026, 3, 1, 23, 59, 59, 999999000, time.UTC),
			day(2026, 3, 1), day(2026, 2, 23)},
		{"Monday midnight", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
			day(2026, 3, 2), day(2026, 3, 2)},
		{"Monday evening", time.Date(2026, 3, 2, 21, 15, 0, 0, time.UTC),
			day(2026, 3, 2), day(2026, 3, 2)},
		{"Thursday 1970-01-01", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
			day(1970, 1, 1), day(1969, 12, 29)},
		{"Wednesday before 1970", time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC),
			day(1969, 12, 31), day(1969, 12, 29)},
		{"Sunday before 1970", time.Date(1969, 12, 28, 6, 0, 0, 0, time.UTC),
			day(1969, 12, 28), day(1969, 12, 22)},
		{"Monday 1940", time.Date(1940, 3, 4, 8, 0, 0, 0, time.UTC),
			day(1940, 3, 4), day(1940, 3, 4)},
		{"Sunday 1940", time.Date(1940, 3, 3, 8, 0, 0, 0, time.UTC),
			day(1940, 3, 3), day(1940, 2, 26)},
		{"week across a year end", time.Date(2027, 1, 1, 8, 0, 0, 0, time.UTC),
			day(2027, 1, 1), day(2026, 12, 28)},
	}
	units := []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond,
		arrow.Nanosecond}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantWk.Weekday() != time.Monday {
				t.Fatalf("bad test: week %s is a %s", tt.wantWk, tt.wantWk.Weekday())
			}
			for _, unit := range units {
				typ := &arrow.TimestampType{Unit: unit, TimeZone: "UTC"}
				checkTimestamp(t, toDay, typ, tt.ts, tt.wantDay)
				checkTimestamp(t, toWeek, typ, tt.ts, tt.wantWk)
			}
			checkTimestampValue(t, toDay, tt.ts, tt.wantDay)
			checkTimestampValue(t, toWeek, tt.ts, tt.wantWk)
		})
	}
}

// TestGeneralizeTimestampsZone checks that days are UTC days whatever the
// zone of the Arrow type or of the time.Time: Arrow timestamps are UTC
// instants, and pipelines run DuckDB with TimeZone UTC.
func TestGeneralizeTimestampsZone(t *testing.T) {
	toDay := compile(t, anonymize.Policy{Action: "generalize", To: "day"}, anonymize.Key{})
	toWeek := compile(t, anonymize.Policy{Action: "generalize", To: "week"}, anonymize.Key{})
	tokyo := time.FixedZone("JST", 9*3600)
	newYork := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name            string
		zone            string
		ts              time.Time
		wantDay, wantWk time.Time
	}{
		// Monday 05:00 in Tokyo is Sunday 20:00 UTC.
		{"Tokyo Monday morning", "Asia/Tokyo", time.Date(2026, 3, 2, 5, 0, 0, 0, tokyo),
			day(2026, 3, 1), day(2026, 2, 23)},
		// Sunday 21:00 in New York is Monday 02:00 UTC.
		{"New York Sunday night", "America/New_York", time.Date(2026, 3, 1, 21, 0, 0, 0, newYork),
			day(2026, 3, 2), day(2026, 3, 2)},
		{"offset zone before 1970", "+09:00", time.Date(1969, 12, 29, 3, 0, 0, 0, tokyo),
			day(1969, 12, 28), day(1969, 12, 22)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: tt.zone}
			checkTimestamp(t, toDay, typ, tt.ts, tt.wantDay)
			checkTimestamp(t, toWeek, typ, tt.ts, tt.wantWk)
			checkTimestampValue(t, toDay, tt.ts, tt.wantDay)
			checkTimestampValue(t, toWeek, tt.ts, tt.wantWk)
		})
	}
}

// TestGeneralizeWeekMatchesTime compares week with package time for every
// hour-offset day of several years around 1970.
func TestGeneralizeWeekMatchesTime(t *testing.T) {
	week := compile(t, anonymize.Policy{Action: "generalize", To: "week"}, anonymize.Key{})
	var stamps []arrow.Timestamp
	var want []any
	for tm := day(1966, 1, 1); tm.Before(day(1974, 1, 1)); tm = tm.Add(17 * time.Hour) {
		stamps = append(stamps, arrow.Timestamp(tm.UnixMicro()))
		d := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
		monday := d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
		want = append(want, arrow.Date32FromTime(monday))
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := newTimestamps(mem, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
		stamps)
	defer in.Release()
	got := apply(t, mem, week, in, allRows(len(stamps)), mustNotFail(t))
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("week of %s = %s, want %s",
				time.UnixMicro(int64(stamps[i])).UTC(), got[i].(arrow.Date32).ToTime(),
				want[i].(arrow.Date32).ToTime())
		}
	}
}

// checkTimestamp applies tr to ts stored in an array of type typ.
func checkTimestamp(t *testing.T, tr anonymize.Transform, typ *arrow.TimestampType,
	ts time.Time, want time.Time) {
	t.Helper()
	var v arrow.Timestamp
	switch typ.Unit {
	case arrow.Second:
		v = arrow.Timestamp(ts.Unix())
	case arrow.Millisecond:
		v = arrow.Timestamp(ts.UnixMilli())
	case arrow.Microsecond:
		v = arrow.Timestamp(ts.UnixMicro())
	default:
		v = arrow.Timestamp(ts.UnixNano())
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := newTimestamps(mem, typ, []arrow.Timestamp{v})
	defer in.Release()
	got := apply(t, mem, tr, in, []int{0}, mustNotFail(t))
	if got[0] != arrow.Date32FromTime(want) {
		gotDay := "null"
		if d, ok := got[0].(arrow.Date32); ok {
			gotDay = d.FormattedString()
		}
		t.Errorf("Apply(%s as %s) = %s, want %s", ts, typ, gotDay, want.Format(time.DateOnly))
	}
}

func checkTimestampValue(t *testing.T, tr anonymize.Transform, ts, want time.Time) {
	t.Helper()
	got, err := tr.Value(ts)
	if err != nil {
		t.Fatalf("Value(%s): %v", ts, err)
	}
	if g, ok := got.(time.Time); !ok || !g.Equal(want) || g.Location() != time.UTC {
		t.Errorf("Value(%s) = %v, want %s", ts, got, want)
	}
}

func TestGeneralizeBucket(t *testing.T) {
	tests := []struct {
		width float64
		in    float64
		want  float64
	}{
		{10, 0, 0},
		{10, 9.99, 0},
		{10, 10, 10},
		{10, 123.4, 120},
		{10, -0.5, -10},
		{10, -10, -10},
		{10, -10.5, -20},
		{10, -1e-9, -10},
		{2.5, 7.4, 5},
		{2.5, -7.4, -7.5},
		{0.5, 1.74, 1.5},
		{1000, 1e9 + 999, 1e9},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v by %v", tt.in, tt.width), func(t *testing.T) {
			tr := compile(t, anonymize.Policy{Action: "generalize", To: "bucket", Width: tt.width},
				anonymize.Key{})
			got, err := tr.Value(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("bucket(%v, width %v) = %v, %v; want %v", tt.in, tt.width, got, err,
					tt.want)
			}

			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := newFloats(mem, []float64{tt.in, 0}, 1)
			defer in.Release()
			checkValues(t, apply(t, mem, tr, in, []int{0, 1}, mustNotFail(t)), []any{tt.want, nil})
		})
	}
	t.Run("nan stays nan", func(t *testing.T) {
		tr := compile(t, anonymize.Policy{Action: "generalize", To: "bucket", Width: 10},
			anonymize.Key{})
		if got, _ := tr.Value(math.NaN()); !math.IsNaN(got.(float64)) {
			t.Errorf("bucket(NaN) = %v, want NaN", got)
		}
	})
}

func TestGeneralizeNullsAndTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dates := newDates(mem, []arrow.Date32{date(1990, 1, 1), 0}, 1)
	defer dates.Release()
	stamps := newTimestamps(mem, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
		[]arrow.Timestamp{0, 0}, 1)
	defer stamps.Release()
	floats := newFloats(mem, []float64{1, 0}, 1)
	defer floats.Release()
	strs := newStrings(mem, []string{"1990-01-01", ""})
	defer strs.Release()

	tests := []struct {
		to    string
		width float64
		in    arrow.Array
		value any // a value of the right Go type
	}{
		{"year", 0, dates, day(1990, 1, 1)},
		{"month", 0, dates, day(1990, 1, 1)},
		{"age_band", 0, dates, day(1990, 1, 1)},
		{"day", 0, stamps, day(1990, 1, 1)},
		{"week", 0, stamps, day(1990, 1, 1)},
		{"bucket", 5, floats, 1.0},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			tr := compile(t, anonymize.Policy{Action: "generalize", To: tt.to, Width: tt.width},
				anonymize.Key{})

			got := apply(t, mem, tr, tt.in, []int{1, 0}, mustNotFail(t))
			if got[0] != nil || got[1] == nil {
				t.Errorf("Apply(rows 1 0) = %s, want [null, a value]", show(got))
			}
			if v, err := tr.Value(nil); v != nil || err != nil {
				t.Errorf("Value(nil) = %v, %v; want nil, nil", v, err)
			}
			if _, err := tr.Value(tt.value); err != nil {
				t.Errorf("Value(%v): %v", tt.value, err)
			}
			if v, err := tr.Value("1990-01-01"); err == nil {
				t.Errorf("Value(string) = %v, nil; want an error", v)
			}
			if out, err := tr.Apply(mem, strs, []int{0}, mustNotFail(t)); err == nil {
				out.Release()
				t.Errorf("Apply on a utf8 array: no error, want one")
			}
		})
	}
}
