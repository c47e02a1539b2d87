package queries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

var (
	sharedDB     *sql.DB
	sharedDBErr  error
	sharedDBOnce sync.Once
)

// testDB returns an in-memory DuckDB shared by the tests of the package.
func testDB(tb testing.TB) *sql.DB {
	tb.Helper()
	sharedDBOnce.Do(func() {
		sharedDB, sharedDBErr = sql.Open("duckdb", "")
	})
	if sharedDBErr != nil {
		tb.Fatalf("opening duckdb: %v", sharedDBErr)
	}
	return sharedDB
}

// bookings returns the test dataset: a CRM export of flight bookings.
func bookings() Table {
	cols := []Column{
		{Name: "passenger_id", Type: "VARCHAR", Protected: true},
		{Name: "email", Type: "VARCHAR", Protected: true},
		{Name: "birth_year", Type: "INTEGER"},
		{Name: "gender", Type: "VARCHAR"},
		{Name: "nationality", Type: "VARCHAR"},
		{Name: "ff_tier", Type: "VARCHAR"},
		{Name: "home_airport", Type: "VARCHAR"},
		{Name: "postcode", Type: "VARCHAR"},
		{Name: "card_number", Type: "VARCHAR"},
		{Name: "booking_date", Type: "VARCHAR"},
		{Name: "destination", Type: "VARCHAR"},
		{Name: "origin", Type: "VARCHAR"},
		{Name: "cabin", Type: "VARCHAR"},
		{Name: "channel", Type: "VARCHAR"},
		{Name: "campaign", Type: "VARCHAR"},
		{Name: "fare_amount", Type: "DECIMAL(18,2)", Bounds: &[2]float64{0, 10000}},
		{Name: "ancillary_amount", Type: "DECIMAL(18,2)", Bounds: &[2]float64{0, 1000}},
		{Name: "marketing_consent", Type: "BOOLEAN"},
	}
	t := Table{Name: "bookings", PrivacyUnit: "passenger_id", Columns: map[string]Column{}}
	for _, c := range cols {
		t.Columns[c.Name] = c
	}
	return t
}

// testCatalog publishes the given tables, by lower-case name.
func testCatalog(tables ...Table) Catalog {
	return CatalogFunc(func(name string) (Table, bool) {
		for _, t := range tables {
			if strings.ToLower(t.Name) == name {
				return t, true
			}
		}
		return Table{}, false
	})
}

// parse parses text against the bookings catalog.
func parse(tb testing.TB, text string) (*Query, error) {
	tb.Helper()
	return Parse(context.Background(), testDB(tb), text, testCatalog(bookings()))
}

// mustParse parses text against the bookings catalog and fails on error.
func mustParse(tb testing.TB, text string) *Query {
	tb.Helper()
	q, err := parse(tb, text)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", text, err)
	}
	return q
}

// query builds the expected Query from groups and items: items of type
// string name a group by its alias, items of type Aggregate are aggregates.
func query(groups []GroupKey, items ...any) *Query {
	q := &Query{Dataset: "bookings", Groups: groups}
	for _, it := range items {
		switch v := it.(type) {
		case string:
			for i := range q.Groups {
				if q.Groups[i].Alias == v {
					q.Select = append(q.Select, Item{Group: &q.Groups[i]})
				}
			}
		case Aggregate:
			q.Select = append(q.Select, Item{Agg: &v})
		}
	}
	return q
}

func bounds(lo, hi float64) *[2]float64 { return &[2]float64{lo, hi} }

func int64p(v int64) *int64 { return &v }

// accept is a query that Parse must accept as want.
type accept struct {
	name  string
	text  string
	want  *Query // without Where, OrderBy, Limit and Normalized
	where string // want.Where.SQL(), "" for none
	order []Order
	limit *int64
}

// accepts holds the accepted examples; FuzzParse seeds its corpus with
// them. Each test that uses one gets a fresh copy.
func accepts() []accept {
	return []accept{
		{
			name: "people by airport and tier",
			text: `SELECT home_airport, ff_tier, COUNT(DISTINCT passenger_id) AS people
				FROM bookings GROUP BY home_airport, ff_tier`,
			want: query([]GroupKey{{"home_airport", "home_airport"}, {"ff_tier", "ff_tier"}},
				"home_airport", "ff_tier",
				Aggregate{Kind: AggPeople, Column: "passenger_id", Alias: "people"}),
		},
		{
			name: "package doc example",
			text: `SELECT home_airport, ff_tier, count(DISTINCT passenger_id) AS people
				FROM bookings
				WHERE campaign = 'summer-2026' AND booking_date >= '2026-01'
				GROUP BY home_airport, ff_tier
				ORDER BY people DESC
				LIMIT 20`,
			want: query([]GroupKey{{"home_airport", "home_airport"}, {"ff_tier", "ff_tier"}},
				"home_airport", "ff_tier",
				Aggregate{Kind: AggPeople, Column: "passenger_id", Alias: "people"}),
			where: `(("campaign" = 'summer-2026') and ("booking_date" >= '2026-01'))`,
			order: []Order{{Item: 2, Desc: true}},
			limit: int64p(20),
		},
		{
			name: "average with where order and limit",
			text: `SELECT cabin, AVG(ancillary_amount) FROM bookings WHERE campaign = 'summer-2026'
				GROUP BY cabin ORDER BY 2 DESC LIMIT 5`,
			want: query([]GroupKey{{"cabin", "cabin"}}, "cabin",
				Aggregate{Kind: AggAvg, Column: "ancillary_amount", Alias: "avg(ancillary_amount)",
					Bounds: bounds(0, 1000)}),
			where: `("campaign" = 'summer-2026')`,
			order: []Order{{Item: 1, Desc: true}},
			limit: int64p(5),
		},
		{
			name: "median and quantile",
			text: `SELECT destination, median(fare_amount), quantile_cont(fare_amount, 0.9)
				FROM bookings GROUP BY destination`,
			want: query([]GroupKey{{"destination", "destination"}}, "destination",
				Aggregate{Kind: AggMedian, Column: "fare_amount", P: 0.5,
					Alias: "median(fare_amount)", Bounds: bounds(0, 10000)},
				Aggregate{Kind: AggQuantile, Column: "fare_amount", P: 0.9,
					Alias: "quantile_cont(fare_amount, 0.9)", Bounds: bounds(0, 10000)}),
		},
		{
			name: "stddev and variance with their other names",
			text: `select origin, stddev(fare_amount) sd, variance(fare_amount) v,
				stddev_samp(ancillary_amount), var_samp(ancillary_amount)
				from bookings group by origin`,
			want: query([]GroupKey{{"origin", "origin"}}, "origin",
				Aggregate{Kind: AggStdDev, Column: "fare_amount", Alias: "sd", Bounds: bounds(0, 10000)},
				Aggregate{Kind: AggVariance, Column: "fare_amount", Alias: "v", Bounds: bounds(0, 10000)},
				Aggregate{Kind: AggStdDev, Column: "ancillary_amount",
					Alias: "stddev(ancillary_amount)", Bounds: bounds(0, 1000)},
				Aggregate{Kind: AggVariance, Column: "ancillary_amount",
					Alias: "variance(ancillary_amount)", Bounds: bounds(0, 1000)}),
		},
		{
			name: "count star and sum without groups",
			text: `SELECT COUNT(*) AS bookings, SUM(fare_amount) AS revenue, mean(fare_amount)
				FROM bookings`,
			want: query(nil,
				Aggregate{Kind: AggCount, Alias: "bookings"},
				Aggregate{Kind: AggSum, Column: "fare_amount", Alias: "revenue", Bounds: bounds(0, 10000)},
				Aggregate{Kind: AggAvg, Column: "fare_amount", Alias: "avg(fare_amount)",
					Bounds: bounds(0, 10000)}),
		},
		{
			name: "count of a column",
			text: `SELECT channel, count(birth_year) FROM bookings GROUP BY channel`,
			want: query([]GroupKey{{"channel", "channel"}}, "channel",
				Aggregate{Kind: AggCount, Column: "birth_year", Alias: "count(birth_year)"}),
		},
		{
			name: "group by position and alias",
			text: `SELECT Cabin AS c, channel AS ch, count(*) n FROM Bookings
				GROUP BY 1, ch ORDER BY n DESC, c`,
			want: query([]GroupKey{{"cabin", "c"}, {"channel", "ch"}}, "c", "ch",
				Aggregate{Kind: AggCount, Alias: "n"}),
			order: []Order{{Item: 2, Desc: true}, {Item: 0}},
		},
		{
			name: "group by all",
			text: `SELECT gender, nationality, count(*) FROM bookings GROUP BY ALL`,
			want: query([]GroupKey{{"gender", "gender"}, {"nationality", "nationality"}},
				"gender", "nationality", Aggregate{Kind: AggCount, Alias: "count(*)"}),
		},
		{
			name: "group not selected",
			text: `SELECT count(*) FROM bookings GROUP BY postcode`,
			want: query([]GroupKey{{"postcode", ""}}, Aggregate{Kind: AggCount, Alias: "count(*)"}),
		},
		{
			name: "table alias and qualified columns",
			text: `SELECT b.cabin, count(DISTINCT b.passenger_id) FROM bookings AS b
				WHERE b.card_number IS NOT NULL GROUP BY b.cabin ORDER BY count(DISTINCT passenger_id)`,
			want: query([]GroupKey{{"cabin", "cabin"}}, "cabin",
				Aggregate{Kind: AggPeople, Column: "passenger_id",
					Alias: "count(DISTINCT passenger_id)"}),
			where: `("card_number" is not null)`,
			order: []Order{{Item: 1}},
		},
		{
			name: "rich where",
			text: `SELECT ff_tier, sum(ancillary_amount) FROM bookings
				WHERE (cabin IN ('Y', 'W') OR lower(channel) LIKE 'web%')
				AND birth_year BETWEEN 1970 AND 1989 AND NOT marketing_consent
				AND booking_date NOT IN ('2026-01') AND origin ILIKE 'lh_' AND gender != 'x'
				GROUP BY ff_tier LIMIT ALL`,
			want: query([]GroupKey{{"ff_tier", "ff_tier"}}, "ff_tier",
				Aggregate{Kind: AggSum, Column: "ancillary_amount", Alias: "sum(ancillary_amount)",
					Bounds: bounds(0, 1000)}),
			where: `((("cabin" in ('Y', 'W')) or (lower("channel") like 'web%')) and ` +
				`("birth_year" between 1970 and 1989) and (not "marketing_consent") and ` +
				`(not ("booking_date" in ('2026-01'))) and ("origin" ilike 'lh_') and ("gender" <> 'x'))`,
		},
	}
}

func TestParseAccepts(t *testing.T) {
	for _, tt := range accepts() {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.text)

			gotWhere := ""
			if got.Where != nil {
				gotWhere = got.Where.SQL()
			}
			if gotWhere != tt.where {
				t.Errorf("Where.SQL() = %s, want %s", gotWhere, tt.where)
			}
			if !reflect.DeepEqual(got.OrderBy, tt.order) {
				t.Errorf("OrderBy = %+v, want %+v", got.OrderBy, tt.order)
			}
			if !reflect.DeepEqual(got.Limit, tt.limit) {
				t.Errorf("Limit = %v, want %v", got.Limit, tt.limit)
			}

			// The rest is compared whole.
			tt.want.Where, tt.want.OrderBy, tt.want.Limit = got.Where, got.OrderBy, got.Limit
			tt.want.Normalized = got.Normalized
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() =\n%s\nwant\n%s", describe(got), describe(tt.want))
			}
		})
	}
}

// describe prints q's groups and items for failure messages.
func describe(q *Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s groups %+v\n", q.Dataset, q.Groups)
	for _, it := range q.Select {
		if it.Agg != nil {
			fmt.Fprintf(&b, "  agg %+v bounds %v\n", *it.Agg, it.Agg.Bounds)
		} else {
			fmt.Fprintf(&b, "  group %+v\n", *it.Group)
		}
	}
	return b.String()
}

func TestParseItemPointsIntoGroups(t *testing.T) {
	q := mustParse(t, `SELECT count(*), ff_tier, cabin FROM bookings GROUP BY cabin, ff_tier`)
	if got, want := q.Select[1].Group, &q.Groups[1]; got != want {
		t.Errorf("Select[1].Group = %p, want %p (&Groups[1])", got, want)
	}
	if got, want := q.Select[2].Group, &q.Groups[0]; got != want {
		t.Errorf("Select[2].Group = %p, want %p (&Groups[0])", got, want)
	}
}

func TestParseConcurrently(t *testing.T) {
	db, cat := testDB(t), testCatalog(bookings())
	var wg sync.WaitGroup
	for _, a := range accepts() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Parse(context.Background(), db, a.text, cat); err != nil {
				t.Errorf("Parse(%q): %v", a.text, err)
			}
		}()
	}
	wg.Wait()
}

func TestParseDBErrorIsNotARefusal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Parse(ctx, testDB(t), "SELECT count(*) FROM bookings", testCatalog(bookings()))
	var qerr *Error
	if err == nil || errors.As(err, &qerr) {
		t.Fatalf("Parse with a cancelled context = %v, want a non-*Error error", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Parse with a cancelled context = %v, want it to wrap context.Canceled", err)
	}
}

func ExampleParse() {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	cat := CatalogFunc(func(name string) (Table, bool) {
		if name != "bookings" {
			return Table{}, false
		}
		return Table{Name: "bookings", PrivacyUnit: "passenger_id", Columns: map[string]Column{
			"passenger_id": {Name: "passenger_id", Type: "VARCHAR", Protected: true},
			"cabin":        {Name: "cabin", Type: "VARCHAR"},
			"fare_amount":  {Name: "fare_amount", Type: "DECIMAL(18,2)", Bounds: &[2]float64{0, 10000}},
		}}, true
	})

	q, err := Parse(context.Background(), db,
		"SELECT cabin, AVG(fare_amount) AS avg_fare FROM bookings WHERE cabin <> 'F' GROUP BY cabin",
		cat)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Normalized)

	_, err = Parse(context.Background(), db, "SELECT cabin, passenger_id FROM bookings", cat)
	var refusal *Error
	if errors.As(err, &refusal) {
		fmt.Println(refusal.Code)
	}
	// Output:
	// select "cabin" as "cabin", avg("fare_amount") as "avg_fare" from "bookings" where ("cabin" <> 'F') group by "cabin"
	// protected_column
}

func FuzzParse(f *testing.F) {
	for _, a := range accepts() {
		f.Add(a.text)
	}
	for _, r := range refusals {
		if r.cat == nil && len(r.text) < 1024 {
			f.Add(r.text)
		}
	}
	db := testDB(f)
	table := bookings()
	cat := testCatalog(table)

	f.Fuzz(func(t *testing.T, text string) {
		q, err := Parse(context.Background(), db, text, cat)
		if err != nil {
			var refusal *Error
			if !errors.As(err, &refusal) {
				t.Fatalf("Parse(%q) = %v, want a *Error", text, err)
			}
			if refusal.Code == "" || refusal.Message == "" {
				t.Fatalf("Parse(%q) = %#v, want a code and a message", text, refusal)
			}
			return
		}

		checkAccepted(t, q, table)
		again, err := Parse(context.Background(), db, q.Normalized, cat)
		if err != nil {
			t.Fatalf("Parse(%q) refuses the Normalized %q of %q: %v", q.Normalized, q.Normalized, text, err)
		}
		if again.Normalized != q.Normalized {
			t.Fatalf("Normalized of %q = %q, want %q", q.Normalized, again.Normalized, q.Normalized)
		}
	})
}

// checkAccepted fails t unless q reads only table and uses protected
// columns only as count(DISTINCT <privacy unit>).
func checkAccepted(t *testing.T, q *Query, table Table) {
	t.Helper()
	usable := func(name string) bool {
		col, ok := table.Columns[name]
		return ok && !col.Protected && name != table.PrivacyUnit
	}

	if q.Dataset != table.Name {
		t.Fatalf("Dataset = %q, want %q", q.Dataset, table.Name)
	}
	for _, g := range q.Groups {
		if !usable(g.Column) {
			t.Fatalf("query %q groups by %q", q.Normalized, g.Column)
		}
	}
	hasAgg := false
	for _, it := range q.Select {
		switch a := it.Agg; {
		case a == nil:
			if it.Group == nil {
				t.Fatalf("query %q has an empty item", q.Normalized)
			}
		case a.Kind == AggPeople:
			hasAgg = true
			if a.Column != table.PrivacyUnit {
				t.Fatalf("query %q counts distinct %q", q.Normalized, a.Column)
			}
		default:
			hasAgg = true
			if !(a.Kind == AggCount && a.Column == "") && !usable(a.Column) {
				t.Fatalf("query %q aggregates %q", q.Normalized, a.Column)
			}
			if a.Kind.NeedsBounds() && a.Bounds == nil {
				t.Fatalf("query %q has %s without bounds", q.Normalized, a.SQL())
			}
		}
	}
	if !hasAgg {
		t.Fatalf("query %q has no aggregate", q.Normalized)
	}

	var walk func(e Expr)
	walk = func(e Expr) {
		if e.Op == OpColumn && !usable(e.Column) {
			t.Fatalf("query %q filters on %q", q.Normalized, e.Column)
		}
		for _, a := range e.Args {
			walk(a)
		}
	}
	if q.Where != nil {
		walk(*q.Where)
	}
}
