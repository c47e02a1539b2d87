package federated

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// clock is an injected clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// identities returns n fresh identities named p0, p1, ...
func identities(t testing.TB, n int) []*Identity {
	t.Helper()
	ids := make([]*Identity, n)
	for i := range ids {
		id, err := NewIdentity(fmt.Sprintf("p%d", i))
		if err != nil {
			t.Fatalf("NewIdentity: %v", err)
		}
		ids[i] = id
	}
	return ids
}

// roster returns the public entries of ids.
func roster(ids []*Identity) []Partner {
	out := make([]Partner, len(ids))
	for i, id := range ids {
		out[i] = id.Public()
	}
	return out
}

// fareStatistic is a count and a sum of fares (which may be negative:
// refunds) per destination × cabin.
func fareStatistic(destinations int) Statistic {
	dest := make([]string, destinations)
	for i := range dest {
		dest[i] = fmt.Sprintf("D%04d", i)
	}
	return Statistic{
		Dataset: "bookings",
		Aggregates: []Aggregate{
			{Kind: KindCount},
			{Kind: KindSum, Column: "fare", Lo: -500, Hi: 5000},
		},
		Groups: []GroupKeys{
			{Column: "destination", Keys: dest},
			{Column: "cabin", Keys: []string{"economy", "premium", "business", "first"}},
		},
		MaxGroupsContributed:     4,
		MaxContributionsPerGroup: 2,
		Scale:                    2,
	}
}

// newRound returns a valid round over ids, due an hour after t0.
func newRound(ids []*Identity, id string, st Statistic) Round {
	return Round{
		ID:          id,
		Period:      "2026-11",
		Roster:      roster(ids),
		MinPartners: 3,
		Epsilon:     1,
		Delta:       1e-6,
		Statistic:   st,
		Deadline:    t0.Add(time.Hour),
	}
}

// randomInputs returns, for each of n partners, exact fixed-point values
// and indicators for r's cells. A cell is contributed to with probability
// pContribute; contributed counts are in [1, 1000] and sums in
// [-500.00, 5000.00] × count, in cents.
func randomInputs(rng *rand.Rand, r Round, n int, pContribute float64) ([][]int64, [][]bool) {
	exact := make([][]int64, n)
	contributes := make([][]bool, n)
	cells := r.Cells()
	aggs := len(r.Statistic.Aggregates)
	for p := range n {
		exact[p] = make([]int64, cells)
		contributes[p] = make([]bool, cells)
		for g := 0; g < cells; g += aggs {
			if rng.Float64() >= pContribute {
				continue
			}
			count := 1 + rng.Int64N(1000)
			for a := range aggs {
				contributes[p][g+a] = true
				switch r.Statistic.Aggregates[a].Kind {
				case KindSum:
					exact[p][g+a] = count * (rng.Int64N(550_001) - 50_000)
				default:
					exact[p][g+a] = count
				}
			}
		}
	}
	return exact, contributes
}

// prepareAll returns every partner's submission.
func prepareAll(t testing.TB, ids []*Identity, r Round, exact [][]int64, contributes [][]bool,
	opts ...PrepareOption) []Submission {
	t.Helper()
	subs := make([]Submission, len(ids))
	for i, id := range ids {
		s, err := Prepare(id, r, exact[i], contributes[i], opts...)
		if err != nil {
			t.Fatalf("Prepare(%s): %v", id.Name, err)
		}
		subs[i] = s
	}
	return subs
}

// release opens r, submits subs and returns the result.
func release(t testing.TB, r Round, subs []Submission) *Result {
	t.Helper()
	ctx := context.Background()
	c := NewCoordinator(NewMemoryStore(), newClock().Now)
	if err := c.Open(ctx, r); err != nil {
		t.Fatalf("Open: %v", err)
	}
	for _, s := range subs {
		if err := c.Submit(ctx, s); err != nil {
			t.Fatalf("Submit(%s): %v", s.Partner, err)
		}
	}
	res, err := c.Result(ctx, r.ID)
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	return res
}

// exactTotals returns, per cell, the sum of the partners' exact values in
// the aggregate's unit and the number of contributing partners.
func exactTotals(r Round, exact [][]int64, contributes [][]bool) ([]float64, []int) {
	totals := make([]float64, r.Cells())
	counts := make([]int, r.Cells())
	for i := range totals {
		_, a := r.Cell(i)
		var sum int64
		for p := range exact {
			sum += exact[p][i]
			if contributes[p][i] {
				counts[i]++
			}
		}
		totals[i] = float64(sum) / r.Statistic.unit(a)
	}
	return totals, counts
}
