package federated

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkRound runs whole rounds of 50 partners over 10,000 cells: every
// partner's Prepare, one after the other, then the coordinator's Open,
// Submits and Result. It reports the mean time of one partner's Prepare
// (ms/partner), of all partners' (partners-ms), and of the coordinator's
// work (coordinator-ms). In a real round the partners prepare in parallel
// on their own machines.
func BenchmarkRound(b *testing.B) {
	const partners = 50
	tests := []struct {
		name string
		opts func() []PrepareOption
	}{
		{"library noise", func() []PrepareOption { return nil }},
		{"no noise", func() []PrepareOption { return []PrepareOption{WithoutNoise()} }},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			ids := identities(b, partners)
			st := fareStatistic(1250) // 1,250 × 4 groups × 2 aggregates
			r := newRound(ids, "r", st)
			if got := r.Cells(); got != 10_000 {
				b.Fatalf("got %d cells, want 10000", got)
			}
			exact, contr := randomInputs(rand.New(rand.NewPCG(1, 1)), r, partners, 0.9)
			ctx := context.Background()

			var partnerTime, coordTime time.Duration
			rounds := 0
			for b.Loop() {
				r.ID, r.Period = fmt.Sprintf("r%d", rounds), fmt.Sprintf("p%d", rounds)
				rounds++

				start := time.Now()
				subs := prepareAll(b, ids, r, exact, contr, tt.opts()...)
				partnerTime += time.Since(start)

				start = time.Now()
				c := NewCoordinator(NewMemoryStore(), func() time.Time { return t0 })
				if err := c.Open(ctx, r); err != nil {
					b.Fatal(err)
				}
				for _, s := range subs {
					if err := c.Submit(ctx, s); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := c.Result(ctx, r.ID); err != nil {
					b.Fatal(err)
				}
				coordTime += time.Since(start)
			}
			ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(rounds) }
			b.ReportMetric(ms(partnerTime)/partners, "ms/partner")
			b.ReportMetric(ms(partnerTime), "partners-ms")
			b.ReportMetric(ms(coordTime), "coordinator-ms")
		})
	}
}
