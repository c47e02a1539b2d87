package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"haze/federated"
)

// benchFederated times one round of a 50-partner alliance over 10,000
// cells: every partner's Prepare (noise share, pairwise masks, signature)
// and the coordinator's checks, sum and release.
func benchFederated(ctx context.Context, cfg config) error {
	partners, cells := cfg.fedPartners, cfg.fedCells
	keys := make([]string, cells/2)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	ids := make([]*federated.Identity, partners)
	r := federated.Round{ID: "bench", Period: "2026-11", MinPartners: 3, Epsilon: 1, Delta: 1e-6,
		Deadline: time.Now().Add(time.Hour),
		Statistic: federated.Statistic{Dataset: "bookings", Scale: 2,
			Aggregates: []federated.Aggregate{{Kind: federated.KindCount},
				{Kind: federated.KindSum, Column: "fare_amount", Lo: 0, Hi: 10000}},
			Groups:               []federated.GroupKeys{{Column: "route", Keys: keys}},
			MaxGroupsContributed: 4, MaxContributionsPerGroup: 2}}
	for i := range ids {
		id, err := federated.NewIdentity("p" + strconv.Itoa(i))
		if err != nil {
			return err
		}
		ids[i] = id
		r.Roster = append(r.Roster, id.Public())
	}
	if err := r.Validate(); err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(1, 2))
	subs := make([]federated.Submission, partners)
	start := time.Now()
	for i, id := range ids {
		exact := make([]int64, r.Cells())
		contr := make([]bool, r.Cells())
		for j := range exact {
			exact[j] = rng.Int64N(100_000)
			contr[j] = true
		}
		sub, err := federated.Prepare(id, r, exact, contr)
		if err != nil {
			return err
		}
		subs[i] = sub
	}
	partnerTime := time.Since(start)

	start = time.Now()
	co := federated.NewCoordinator(federated.NewMemoryStore(), time.Now)
	if err := co.Open(ctx, r); err != nil {
		return err
	}
	for _, s := range subs {
		if err := co.Submit(ctx, s); err != nil {
			return err
		}
	}
	if _, err := co.Result(ctx, r.ID); err != nil {
		return err
	}
	coordTime := time.Since(start)

	fmt.Printf("\nfederated round: %d partners, %d cells\n", partners, r.Cells())
	fmt.Printf("  all partners' work (noise, %d mask streams each, signing): %8.0f ms (%.1f ms per partner)\n",
		partners-1, ms(partnerTime), ms(partnerTime)/float64(partners))
	fmt.Printf("  coordinator (verify %d signatures, sum, release):          %8.0f ms\n", partners, ms(coordTime))
	fmt.Printf("  whole round: %.2f s (target under 2 s)\n", (partnerTime + coordTime).Seconds())
	return nil
}
