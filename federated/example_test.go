package federated_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"haze/federated"
)

// A round among three partners over passengers per cabin. Each partner
// prepares its masked, noisy submission from its own exact counts; the
// coordinator sums them once all three have submitted.
func Example() {
	ctx := context.Background()
	names := []string{"af", "kl", "dl"}
	ids := make([]*federated.Identity, len(names))
	var roster []federated.Partner
	for i, name := range names {
		id, err := federated.NewIdentity(name)
		if err != nil {
			log.Fatal(err)
		}
		ids[i] = id
		roster = append(roster, id.Public())
	}

	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	round := federated.Round{
		ID:          "pax-per-cabin-2026-11",
		Period:      "2026-11",
		Roster:      roster,
		MinPartners: 3,
		Epsilon:     1,
		Delta:       1e-6,
		Statistic: federated.Statistic{
			Dataset:    "bookings",
			Aggregates: []federated.Aggregate{{Kind: federated.KindPeople}},
			Groups: []federated.GroupKeys{
				{Column: "cabin", Keys: []string{"economy", "business", "first"}},
			},
			MaxGroupsContributed:     1,
			MaxContributionsPerGroup: 1,
		},
		Deadline: now.Add(24 * time.Hour),
	}
	coord := federated.NewCoordinator(federated.NewMemoryStore(),
		func() time.Time { return now })
	if err := coord.Open(ctx, round); err != nil {
		log.Fatal(err)
	}

	// Each partner's exact passengers per cabin; only af and kl sell first.
	exact := [][]int64{{12000, 900, 40}, {8000, 700, 25}, {15000, 1100, 0}}
	for i, id := range ids {
		contributes := []bool{true, true, exact[i][2] > 0}
		s, err := federated.Prepare(id, round, exact[i], contributes)
		if err != nil {
			log.Fatal(err)
		}
		if err := coord.Submit(ctx, s); err != nil {
			log.Fatal(err)
		}
	}

	res, err := coord.Result(ctx, round.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range res.Cells {
		if c.Suppressed {
			fmt.Printf("%-8s suppressed: %d partners\n", c.Keys[0], c.Contributors)
			continue
		}
		// The value itself is noisy: print its interval's half-width only.
		fmt.Printf("%-8s released ±%.0f passengers (%.0f%%), %d partners\n", c.Keys[0],
			(c.High-c.Low)/2, res.Confidence*100, c.Contributors)
	}
	// Output:
	// economy  released ±8 passengers (95%), 3 partners
	// business released ±8 passengers (95%), 3 partners
	// first    suppressed: 2 partners
}
