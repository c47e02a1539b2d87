package queries_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"haze/dp"
	"haze/queries"
)

// The library's noise cannot be seeded, so these tests repeat fresh
// queries (each with a slightly different ε, so that none is served from
// the ledger) and use tolerances that a correct engine fails with
// negligible probability.

func TestNoiseCountSpread(t *testing.T) {
	t.Parallel()
	counts := []string{"count(*)", "count(fare_amount)", "count(cabin)", "count(destination)",
		"count(home_airport)", "count(birth_year)", "count(ancillary_amount)"}
	tests := []struct {
		name    string
		sql     string
		public  map[string][]string
		oracle  string // exact values: keys, then one column per aggregate
		keys    int
		aggs    int
		l0      int64 // groups one passenger may touch
		queries int
	}{
		{
			name:    "no group by, seven counts",
			sql:     "SELECT " + strings.Join(counts, ", ") + " FROM trips",
			oracle:  "SELECT " + strings.Join(counts, ", ") + " FROM trips",
			aggs:    len(counts),
			l0:      1,
			queries: 120,
		},
		{
			name: "sixteen public groups",
			sql:  "SELECT destination, cabin, count(*) FROM trips GROUP BY destination, cabin",
			public: map[string][]string{"destination": baseDestinations,
				"cabin": baseCabins},
			oracle:  "SELECT destination, cabin, count(*) FROM trips GROUP BY destination, cabin",
			keys:    2,
			aggs:    1,
			l0:      testMaxGroups,
			queries: 60,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.publish("trips", baseTrips())
			e.grant("ana", "trips", float64(tt.queries)+1, 0)
			want := e.expect(tt.keys, tt.oracle)

			// The Laplace scale of each count: l0 × linf / ε per aggregate,
			// with ε split as dp.PlanBudget splits it. Its sd is √2 × scale.
			// ε varies by at most 1.2e-4 of itself between queries, so the
			// last query's sd stands for all.
			var errs []float64
			covered := 0
			var sd float64
			for i := range tt.queries {
				eps := 1 - float64(i)*1e-6
				per, _, err := dp.PlanBudget(dp.Budget{Epsilon: eps}, dp.Laplace, tt.aggs, false)
				if err != nil {
					t.Fatal(err)
				}
				sd = math.Sqrt2 * float64(tt.l0*testMaxRows) / per.Epsilon
				a := e.query(e.noisy, queries.Request{Principal: "ana", SQL: tt.sql,
					Options: queries.Options{Epsilon: eps, PublicGroups: tt.public}})
				if a.Cached {
					t.Fatalf("query %d was served from the ledger; it must be fresh", i)
				}
				for k, row := range byKey(t, a, tt.keys) {
					exact, ok := want[k]
					if !ok {
						t.Fatalf("group %q is not in the data", k)
					}
					for j, est := range row {
						// Counts are raised to 0: keep far from it.
						if exact[j] < 6*sd {
							t.Fatalf("group %q count %v is within 6 sd of 0", k, exact[j])
						}
						errs = append(errs, est.Value-exact[j])
						if est.Low <= exact[j] && exact[j] <= est.High {
							covered++
						}
					}
				}
			}

			n := float64(len(errs))
			var mean, sq float64
			for _, x := range errs {
				mean += x
			}
			mean /= n
			for _, x := range errs {
				sq += (x - mean) * (x - mean)
			}
			got := math.Sqrt(sq / (n - 1))
			t.Logf("%d counts: error sd %.2f (Laplace %.2f), mean %.2f, coverage %.3f",
				len(errs), got, sd, mean, float64(covered)/n)
			if math.Abs(got-sd) > 0.15*sd {
				t.Errorf("sd of the error over %d counts = %.2f, want %.2f ± 15%%", len(errs),
					got, sd)
			}
			if math.Abs(mean) > 4*sd/math.Sqrt(n) {
				t.Errorf("mean error = %.2f, want 0 ± %.2f (4 standard errors)", mean,
					4*sd/math.Sqrt(n))
			}
			if c := float64(covered) / n; c < 0.90 || c > 0.99 {
				t.Errorf("95%% intervals covered %.3f of %d exact counts, want 0.90 to 0.99", c,
					len(errs))
			}
		})
	}
}

func TestNoiseRareGroupsStayHidden(t *testing.T) {
	// Two destinations with 1000 passengers each and five destinations with
	// a single passenger, under private selection. By dp/doc.go a group of
	// one passenger is kept with probability at most δ/max_groups =
	// 1e-6/2 per query; over 200 queries and 5 such groups the expected
	// number of appearances is 5e-4, and two or more appear with
	// probability about 1e-7. The big groups are kept surely.
	t.Parallel()
	e := newEnv(t)
	var rows []trip
	for i := range 2000 {
		rows = append(rows, trip{passenger: fmt.Sprintf("tok_%05d", i),
			destination: fmt.Sprintf("BIG%d", i%2), cabin: "Y", home: "LHR", fare: "100.00",
			ancillary: "0.00", birthYear: 1980})
	}
	for i := range 5 {
		for range testMaxRows {
			rows = append(rows, trip{passenger: fmt.Sprintf("tok_solo%d", i),
				destination: fmt.Sprintf("SOLO%d", i), cabin: "F", home: "LHR", fare: "9000.00",
				ancillary: "500.00", birthYear: 1960})
		}
	}
	e.publish("trips", rows)
	e.grant("ana", "trips", 200, 1)

	const runs = 200
	const delta = 1e-6
	solo, big := 0, 0
	for i := range runs {
		eps := 0.5 + float64(i)*1e-6
		if i == 0 {
			_, sel, err := dp.PlanBudget(dp.Budget{Epsilon: eps, Delta: delta}, dp.Laplace, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			s, err := dp.NewSelector(sel, testMaxGroups)
			if err != nil {
				t.Fatal(err)
			}
			if p := s.KeepProbability(1000); p != 1 {
				t.Fatalf("a group of 1000 is kept with probability %v, want 1", p)
			}
			if p := s.KeepProbability(1); p > delta/testMaxGroups*(1+1e-9) {
				t.Fatalf("a group of 1 is kept with probability %v, want at most %v", p,
					delta/testMaxGroups)
			}
		}
		a := e.query(e.noisy, queries.Request{Principal: "ana",
			SQL:     "SELECT destination, count(*) AS n FROM trips GROUP BY destination",
			Options: queries.Options{Epsilon: eps, Delta: delta}})
		if a.Cached || a.GroupSelection != "private" {
			t.Fatalf("query %d: cached=%v selection=%s, want fresh and private", i, a.Cached,
				a.GroupSelection)
		}
		for k := range byKey(t, a, 1) {
			switch {
			case strings.HasPrefix(k, "SOLO"):
				solo++
			case strings.HasPrefix(k, "BIG"):
				big++
			default:
				t.Errorf("query %d released group %q, which is not in the data", i, k)
			}
		}
	}
	if solo > 1 {
		t.Errorf("single-passenger groups appeared %d times in %d decisions, want at most 1 "+
			"(expected %v)", solo, 5*runs, 5*runs*delta/testMaxGroups)
	}
	if big != 2*runs {
		t.Errorf("groups of 1000 appeared %d times, want %d", big, 2*runs)
	}
}
