package queries_test

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"haze/dp"
	"haze/queries"
)

// exactAgg is one aggregate of the exact tests: how the engine is asked
// for it, and the same bounded value computed by the oracle in plain SQL.
type exactAgg struct {
	alias  string
	engine string
	oracle string
	// tol is the allowed error relative to max(1, |want|).
	tol float64
	// zero is true when the value of an empty group is exactly 0.
	zero bool
}

// exactAggs hold every aggregate whose exact answer over baseTrips is plain
// SQL. Values are within their bounds there, so nothing is clamped.
var exactAggs = []exactAgg{
	{"n", "count(*)", "count(*)", 0, true},
	{"people", "count(DISTINCT passenger_id)", "count(DISTINCT passenger_id)", 0, true},
	{"anc_n", "count(ancillary_amount)", "count(ancillary_amount)", 0, true},
	{"fare_sum", "sum(fare_amount)", "sum(fare_amount)", 1e-12, true},
	{"anc_sum", "sum(ancillary_amount)", "coalesce(sum(ancillary_amount), 0)", 1e-12, true},
	{"fare_avg", "avg(fare_amount)", "avg(fare_amount)", 1e-12, false},
	{"anc_avg", "mean(ancillary_amount)", "avg(ancillary_amount)", 1e-12, false},
}

// scenario is one shape of query over the base dataset.
type scenario struct {
	name   string
	groups []string
	public map[string][]string // nil: no GROUP BY, or private selection
	where  string
	aggs   []exactAgg
}

func (s scenario) sql(oracle bool) string {
	var items []string
	for _, g := range s.groups {
		if oracle {
			g = "CAST(" + g + " AS VARCHAR)"
		}
		items = append(items, g)
	}
	for _, a := range s.aggs {
		if oracle {
			items = append(items, a.oracle)
		} else {
			items = append(items, a.engine+" AS "+a.alias)
		}
	}
	q := "SELECT " + strings.Join(items, ", ") + " FROM trips"
	if s.where != "" {
		q += " WHERE " + s.where
	}
	if len(s.groups) > 0 {
		q += " GROUP BY " + strings.Join(s.groups, ", ")
	}
	return q
}

// product returns every combination of the listed keys, joined with "|".
func product(lists ...[]string) []string {
	out := []string{""}
	for i, l := range lists {
		var next []string
		for _, p := range out {
			for _, k := range l {
				if i > 0 {
					next = append(next, p+"|"+k)
				} else {
					next = append(next, k)
				}
			}
		}
		out = next
	}
	return out
}

func TestExactAggregatesMatchSQL(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 100, 1)

	pair := []exactAgg{exactAggs[0], exactAggs[5]}
	scenarios := []scenario{
		{name: "no group by", aggs: exactAggs},
		{name: "no group by with where", aggs: exactAggs,
			where: "fare_amount > 5000 OR home_airport = 'EDI'"},
		{name: "public groups with an empty one", groups: []string{"destination"},
			public: map[string][]string{"destination": {"CDG", "DXB", "JFK", "NRT", "ZZZ"}},
			aggs:   exactAggs},
		{name: "public groups, some left out", groups: []string{"destination"},
			public: map[string][]string{"destination": {"JFK", "ZZZ"}}, aggs: exactAggs},
		{name: "two public group columns", groups: []string{"destination", "cabin"},
			public: map[string][]string{"destination": {"CDG", "JFK", "ZZZ"}, "cabin": {"F", "Y"}},
			aggs:   exactAggs},
		{name: "public groups with where", groups: []string{"destination"},
			public: map[string][]string{"destination": {"CDG", "DXB", "JFK", "NRT"}},
			where:  "birth_year >= 1980 AND cabin IN ('J', 'F')", aggs: exactAggs},
		{name: "public integer groups", groups: []string{"birth_year"},
			public: map[string][]string{"birth_year": {"1950", "1977", "2030"}}, aggs: exactAggs},
		{name: "private groups of many people", groups: []string{"home_airport"}, aggs: pair},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			opts := queries.Options{Epsilon: 1, PublicGroups: sc.public}
			if sc.public == nil && len(sc.groups) > 0 {
				requireSurelyKept(t, e, sc, opts)
			}
			a := e.query(e.exact, queries.Request{Principal: "ana", SQL: sc.sql(false),
				Options: opts})
			want := e.expect(len(sc.groups), sc.sql(true))

			// The groups released: the listed ones, every one of the data
			// (when each is kept surely), or the single one.
			var keys []string
			switch {
			case sc.public != nil:
				var lists [][]string
				for _, g := range sc.groups {
					lists = append(lists, sc.public[g])
				}
				keys = product(lists...)
				if a.GroupSelection != "public" {
					t.Errorf("group selection = %q, want public", a.GroupSelection)
				}
			case len(sc.groups) > 0:
				for k := range want {
					keys = append(keys, k)
				}
				if a.GroupSelection != "private" {
					t.Errorf("group selection = %q, want private", a.GroupSelection)
				}
			default:
				keys = []string{""}
				if a.GroupSelection != "none" {
					t.Errorf("group selection = %q, want none", a.GroupSelection)
				}
			}

			got := byKey(t, a, len(sc.groups))
			if len(got) != len(keys) {
				t.Errorf("released %d groups, want %d (%v)", len(got), len(keys), keys)
			}
			for _, k := range keys {
				row, ok := got[k]
				if !ok {
					t.Errorf("group %q missing", k)
					continue
				}
				exact, inData := want[k]
				for i, agg := range sc.aggs {
					est := row[i]
					if est.Low != est.Value || est.High != est.Value {
						t.Errorf("group %q %s: interval [%v, %v] around %v, want zero width",
							k, agg.alias, est.Low, est.High, est.Value)
					}
					var w float64
					switch {
					case inData:
						w = exact[i]
					case agg.zero:
						w = 0
					default:
						continue // avg of an empty group: no exact value to compare
					}
					if !near(est.Value, w, agg.tol*math.Max(1, math.Abs(w))) {
						t.Errorf("group %q %s = %v, want %v", k, agg.alias, est.Value, w)
					}
				}
			}
		})
	}
}

// requireSurelyKept fails the test unless every group of sc holds enough
// people to be kept with probability 1 under the query's selection budget.
func requireSurelyKept(t *testing.T, e *env, sc scenario, opts queries.Options) {
	t.Helper()
	_, sel, err := dp.PlanBudget(dp.Budget{Epsilon: opts.Epsilon, Delta: 1e-6}, dp.Laplace,
		len(sc.aggs), true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dp.NewSelector(sel, testMaxGroups)
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT min(c) FROM (SELECT count(DISTINCT passenger_id) AS c FROM trips GROUP BY " +
		strings.Join(sc.groups, ", ") + ")"
	smallest := int64(e.oracleFloat(q))
	if p := s.KeepProbability(smallest); p != 1 {
		t.Fatalf("the smallest group (%d people) is kept with probability %v, want 1: "+
			"the fixture is too small", smallest, p)
	}
}

func TestExactSpreadMatchesSQL(t *testing.T) {
	// variance and stddev, under every name the checker accepts, release
	// the population form (var_pop, stddev_pop), as the package doc says.
	// The released value may only differ by the documented clamp to
	// [0, ((hi-lo)/2)²] for the variance and [0, (hi-lo)/2] for stddev.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 100, 1)

	aggs := []exactAgg{
		{"fare_var", "variance(fare_amount)", "least(var_pop(fare_amount), 25e6)", 1e-9, false},
		{"fare_sd", "stddev_samp(fare_amount)", "least(stddev_pop(fare_amount), 5000)", 1e-9,
			false},
		{"anc_var", "var_pop(ancillary_amount)", "least(var_pop(ancillary_amount), 250000)", 1e-9,
			false},
		{"anc_sd", "stddev(ancillary_amount)", "least(stddev_pop(ancillary_amount), 500)", 1e-9,
			false},
	}
	for _, sc := range []scenario{
		{name: "no group by", aggs: aggs},
		{name: "public groups", groups: []string{"cabin"}, aggs: aggs,
			public: map[string][]string{"cabin": {"F", "J", "W", "Y"}}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			a := e.query(e.exact, queries.Request{Principal: "ana", SQL: sc.sql(false),
				Options: queries.Options{Epsilon: 1, PublicGroups: sc.public}})
			want := e.expect(len(sc.groups), sc.sql(true))
			samp := e.expect(len(sc.groups), strings.NewReplacer("var_pop", "var_samp",
				"stddev_pop", "stddev_samp").Replace(sc.sql(true)))
			for k, row := range byKey(t, a, len(sc.groups)) {
				for i, agg := range sc.aggs {
					got, w := row[i].Value, want[k][i]
					if !near(got, w, agg.tol*math.Max(1, w)) {
						t.Errorf("group %q %s = %v, want %v (the sample value is %v)",
							k, agg.engine, got, w, samp[k][i])
					}
				}
			}
		})
	}
}

func TestExactQuantilesWithinLeaves(t *testing.T) {
	// The quantile tree locates a value to within one leaf, (hi-lo)/65536,
	// and skips children holding under 0.75% of their parent's count, which
	// moves the rank a little. So the released quantile must lie between the
	// exact bounded values at ranks p-0.01 and p+0.01, give or take two
	// leaves. The fares take few values, so that range is one value or two
	// neighbours.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 100, 1)
	leaf := fareHi / 65536

	for _, sc := range []struct {
		name   string
		groups []string
		public map[string][]string
	}{
		{"no group by", nil, nil},
		{"public groups", []string{"destination"},
			map[string][]string{"destination": {"CDG", "DXB", "JFK", "NRT"}}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			items := append(slices.Clone(sc.groups), "median(fare_amount) AS med",
				"quantile_cont(fare_amount, 0.9) AS p90", "quantile_cont(fare_amount, 0.25) AS p25")
			q := "SELECT " + strings.Join(items, ", ") + " FROM trips"
			const bounded = "least(greatest(fare_amount, 0), 10000)::DOUBLE"
			oq := "SELECT " + strings.Join(append(slices.Clone(sc.groups),
				"list("+bounded+" ORDER BY fare_amount)"), ", ") + " FROM trips"
			if len(sc.groups) > 0 {
				q += " GROUP BY " + strings.Join(sc.groups, ", ")
				oq += " GROUP BY " + strings.Join(sc.groups, ", ")
			}
			a := e.query(e.exact, queries.Request{Principal: "ana", SQL: q,
				Options: queries.Options{Epsilon: 1, PublicGroups: sc.public}})
			values := e.sortedValues(len(sc.groups), oq)
			got := byKey(t, a, len(sc.groups))
			if len(got) != len(values) {
				t.Errorf("released %d groups, want %d", len(got), len(values))
			}
			for k, row := range got {
				vs := values[k]
				for i, p := range []float64{0.5, 0.9, 0.25} {
					lo := vs[int(math.Floor((p-0.01)*float64(len(vs)-1)))] - 2*leaf
					hi := vs[int(math.Ceil((p+0.01)*float64(len(vs)-1)))] + 2*leaf
					if v := row[i].Value; v < lo || v > hi {
						t.Errorf("group %q quantile %v = %v, want within [%v, %v]", k, p, v, lo, hi)
					}
					// No interval is known yet: the trivial one is the bounds.
					if row[i].Low != 0 || row[i].High != fareHi {
						t.Errorf("group %q quantile %v interval [%v, %v], want [0, %v]",
							k, p, row[i].Low, row[i].High, fareHi)
					}
				}
			}
		})
	}
}

// sortedValues runs an oracle query returning group keys and a sorted list
// of doubles per group.
func (e *env) sortedValues(keys int, query string) map[string][]float64 {
	e.t.Helper()
	rows, err := e.oracle.QueryContext(e.ctx, query)
	if err != nil {
		e.t.Fatalf("oracle %s: %v", query, err)
	}
	defer rows.Close()
	out := map[string][]float64{}
	for rows.Next() {
		ks := make([]string, keys)
		var list any
		dest := []any{}
		for i := range ks {
			dest = append(dest, &ks[i])
		}
		dest = append(dest, &list)
		if err := rows.Scan(dest...); err != nil {
			e.t.Fatal(err)
		}
		var vs []float64
		for _, v := range list.([]any) {
			vs = append(vs, v.(float64))
		}
		out[strings.Join(ks, "|")] = vs
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestExactClampsToQueryBounds(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 100, 1)

	a := e.query(e.exact, queries.Request{Principal: "ana",
		SQL: "SELECT sum(fare_amount) AS s, avg(fare_amount) AS m FROM trips",
		Options: queries.Options{Epsilon: 1,
			Bounds: map[string][2]float64{"fare_amount": {1000, 5000}}}})
	want := e.expect(0, "SELECT sum(least(greatest(fare_amount, 1000), 5000)), "+
		"avg(least(greatest(fare_amount, 1000), 5000)) FROM trips")[""]
	got := byKey(t, a, 0)[""]
	if !near(got[0].Value, want[0], 1e-6) {
		t.Errorf("clamped sum = %v, want %v", got[0].Value, want[0])
	}
	if !near(got[1].Value, want[1], 1e-9*want[1]) {
		t.Errorf("clamped avg = %v, want %v", got[1].Value, want[1])
	}
}

// heavyBase returns the oracle's exact values over heavyTrips without the
// heavy passenger: count, people and fare sum by destination ("" for all).
func heavyBase(e *env) (byDest map[string][]float64, all []float64) {
	e.t.Helper()
	const aggs = "count(*), count(DISTINCT passenger_id), coalesce(sum(fare_amount), 0)"
	byDest = e.expect(1, "SELECT destination, "+aggs+" FROM trips WHERE passenger_id <> ? "+
		"GROUP BY destination", heavyPassenger)
	all = e.expect(0, "SELECT "+aggs+" FROM trips WHERE passenger_id <> ?", heavyPassenger)[""]
	return byDest, all
}

func TestExactBoundingCapsHeavyPassenger(t *testing.T) {
	// One passenger has 50 rows at JFK and 10 at each of four other
	// destinations, each with a fare of 50,000 (bounds [0, 10000]). With
	// at most 3 rows per group and 2 groups, that passenger adds exactly 3
	// rows, 1 person and 3 × 10,000 of fares to each of exactly 2 of the 5
	// groups, whichever the engine draws, and nothing to the others.
	e := newEnv(t)
	e.publish("trips", heavyTrips())
	e.grant("ana", "trips", 100, 1)
	base, all := heavyBase(e)
	const sql = "SELECT destination, count(*) AS n, count(DISTINCT passenger_id) AS people, " +
		"sum(fare_amount) AS fares FROM trips GROUP BY destination"

	for run := range 5 { // the groups kept are drawn afresh each time
		a := e.query(e.exact, queries.Request{Principal: "ana", SQL: sql,
			Options: queries.Options{Epsilon: 1 - float64(run)*1e-6,
				PublicGroups: map[string][]string{"destination": heavyGroups}}})
		got := byKey(t, a, 1)
		chosen := 0
		for _, g := range heavyGroups {
			b := base[g]
			if b == nil {
				b = []float64{0, 0, 0} // LAX: only the heavy passenger flies there
			}
			extra := got[g][0].Value - b[0]
			switch extra {
			case 0:
			case testMaxRows:
				chosen++
			default:
				t.Errorf("run %d group %s: count = %v, want %v or %v", run, g, got[g][0].Value,
					b[0], b[0]+testMaxRows)
				continue
			}
			in := extra / testMaxRows
			if want := b[1] + in; got[g][1].Value != want {
				t.Errorf("run %d group %s: people = %v, want %v", run, g, got[g][1].Value, want)
			}
			if want := b[2] + in*testMaxRows*fareHi; !near(got[g][2].Value, want, 1e-6) {
				t.Errorf("run %d group %s: fare sum = %v, want %v", run, g, got[g][2].Value, want)
			}
		}
		if chosen != testMaxGroups {
			t.Errorf("run %d: the heavy passenger counted in %d groups, want %d", run, chosen,
				testMaxGroups)
		}
	}

	// Without GROUP BY the whole dataset is one group: 3 rows.
	a := e.query(e.exact, queries.Request{Principal: "ana",
		SQL:     "SELECT count(*), count(DISTINCT passenger_id), sum(fare_amount) FROM trips",
		Options: queries.Options{Epsilon: 1}})
	got := byKey(t, a, 0)[""]
	want := []float64{all[0] + testMaxRows, all[1] + 1, all[2] + testMaxRows*fareHi}
	for i, name := range []string{"count", "people", "fare sum"} {
		if !near(got[i].Value, want[i], 1e-6) {
			t.Errorf("no group by: %s = %v, want %v", name, got[i].Value, want[i])
		}
	}
}

func TestExactTighterBoundsFromOptions(t *testing.T) {
	// With one row in one group per passenger, the counts of all groups add
	// up to the number of passengers, heavy one included.
	e := newEnv(t)
	e.publish("trips", heavyTrips())
	e.grant("ana", "trips", 100, 1)

	a := e.query(e.exact, queries.Request{Principal: "ana",
		SQL: "SELECT destination, count(*) AS n FROM trips GROUP BY destination",
		Options: queries.Options{Epsilon: 1, MaxGroupsContributed: 1, MaxContributionsPerGroup: 1,
			PublicGroups: map[string][]string{"destination": heavyGroups}}})
	if a.MaxGroupsContributed != 1 || a.MaxContributionsPerGroup != 1 {
		t.Errorf("bounds = %d groups, %d rows, want 1, 1", a.MaxGroupsContributed,
			a.MaxContributionsPerGroup)
	}
	var total float64
	for _, row := range byKey(t, a, 1) {
		total += row[0].Value
	}
	if want := e.oracleFloat("SELECT count(DISTINCT passenger_id) FROM trips"); total != want {
		t.Errorf("sum of counts = %v, want %v passengers", total, want)
	}
}

func TestExactOrderByAndLimit(t *testing.T) {
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 100, 1)
	public := map[string][]string{"destination": {"CDG", "DXB", "JFK", "NRT", "ZZZ"}}

	counts := map[string]float64{} // ZZZ has no rows
	for k, v := range e.expect(1, "SELECT destination, count(*) FROM trips GROUP BY destination") {
		counts[k] = v[0]
	}
	byCount := slices.Clone(public["destination"])
	slices.SortFunc(byCount, func(x, y string) int { return cmp.Compare(counts[y], counts[x]) })
	if counts[byCount[1]] == counts[byCount[2]] {
		t.Fatalf("fixture: the second and third destinations tie at %v rows", counts[byCount[1]])
	}

	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"by count desc, limit 2",
			"SELECT destination, count(*) AS n FROM trips GROUP BY destination " +
				"ORDER BY n DESC LIMIT 2",
			byCount[:2]},
		{"by key desc",
			"SELECT destination, count(*) AS n FROM trips GROUP BY destination ORDER BY 1 DESC",
			[]string{"ZZZ", "NRT", "JFK", "DXB", "CDG"}},
		{"limit 0",
			"SELECT destination, count(*) AS n FROM trips GROUP BY destination LIMIT 0", nil},
		{"keys in order without order by",
			"SELECT destination, count(*) AS n FROM trips GROUP BY destination",
			[]string{"CDG", "DXB", "JFK", "NRT", "ZZZ"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.query(e.exact, queries.Request{Principal: "ana", SQL: tt.sql,
				Options: queries.Options{Epsilon: 1, PublicGroups: public}})
			var got []string
			for _, row := range a.Rows {
				got = append(got, keyText(row[0]))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("rows = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExactPublicGroupsTypedKeys(t *testing.T) {
	// A listed key names the group whose value it spells, in the column's
	// type: "01977" and "1977" are the same birth year, and the answer must
	// not show that year as empty while dropping its rows.
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 100, 1)
	want := e.oracleFloat("SELECT count(*) FROM trips WHERE birth_year = 1977")

	a := e.query(e.exact, queries.Request{Principal: "ana",
		SQL: "SELECT birth_year, count(*) AS n FROM trips GROUP BY birth_year",
		Options: queries.Options{Epsilon: 1,
			PublicGroups: map[string][]string{"birth_year": {"01977"}}}})
	var total float64
	for _, row := range a.Rows {
		total += row[1].(queries.Estimate).Value
	}
	if total != want {
		t.Errorf("count for birth year 01977 = %v (rows %v), want %v", total, a.Rows, want)
	}
}

func TestExactNullsAreNotValues(t *testing.T) {
	// A NULL is no value: avg, sum and quantiles skip it, as SQL does,
	// whatever the bounds; it is not clamped to lo. Every seventh ancillary
	// of baseTrips is NULL. (The oracle filters NULLs out explicitly:
	// DuckDB's greatest(NULL, lo) is lo.)
	e := newEnv(t)
	e.publish("trips", baseTrips())
	e.grant("ana", "trips", 100, 1)
	const lo, hi = 50.0, 1000.0
	bounded := fmt.Sprintf("least(greatest(ancillary_amount, %v), %v)", lo, hi)

	a := e.query(e.exact, queries.Request{Principal: "ana",
		SQL: "SELECT avg(ancillary_amount), sum(ancillary_amount), median(ancillary_amount) " +
			"FROM trips",
		Options: queries.Options{Epsilon: 1,
			Bounds: map[string][2]float64{"ancillary_amount": {lo, hi}}}})
	got := byKey(t, a, 0)[""]
	const values = " FROM trips WHERE ancillary_amount IS NOT NULL"
	want := e.expect(0, "SELECT avg("+bounded+"), sum("+bounded+")"+values)[""]
	if !near(got[0].Value, want[0], 1e-9*want[0]) {
		t.Errorf("avg = %v, want %v", got[0].Value, want[0])
	}
	if !near(got[1].Value, want[1], 1e-6) {
		t.Errorf("sum = %v, want %v", got[1].Value, want[1])
	}
	// The ancillaries are spread out: allow the values at ranks 0.49 and 0.51.
	q := func(p float64) float64 {
		return e.oracleFloat("SELECT quantile_disc("+bounded+", ?)"+values, p)
	}
	if lo, hi := q(0.49), q(0.51); got[2].Value < lo || got[2].Value > hi {
		t.Errorf("median = %v, want within [%v, %v]", got[2].Value, lo, hi)
	}
}
