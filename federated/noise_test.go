package federated

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
)

// TestNoiseStandardDeviation draws the library's noise: its tolerances are
// 4 standard errors of the estimates, so a false failure has probability
// below 1e-4 per check.
func TestNoiseStandardDeviation(t *testing.T) {
	tests := []struct {
		name   string
		honest int // partners that add their share, of 5
	}{
		{"all 5 partners add noise", 5},
		{"3 of 5 partners add noise", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const partners = 5
			rng := rand.New(rand.NewPCG(5, 6))
			ids := identities(t, partners)
			st := fareStatistic(2000) // 8,000 groups, 16,000 cells
			st.MaxGroupsContributed = 1
			r := newRound(ids, "r1", st)
			exact, contributes := randomInputs(rng, r, partners, 1)

			subs := make([]Submission, partners)
			for p, id := range ids {
				var opts []PrepareOption
				if p >= tt.honest {
					opts = append(opts, WithoutNoise())
				}
				s, err := Prepare(id, r, exact[p], contributes[p], opts...)
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				subs[p] = s
			}
			res := release(t, r, subs)
			totals, _ := exactTotals(r, exact, contributes)

			// Per aggregate: the released minus the exact values.
			sigmas, err := r.Sigmas()
			if err != nil {
				t.Fatal(err)
			}
			frac := math.Sqrt(float64(tt.honest) / partners)
			for a := range st.Aggregates {
				var diffs []float64
				covered := 0
				for i, c := range res.Cells {
					if c.Aggregate != a {
						continue
					}
					diffs = append(diffs, c.Value-totals[i])
					if c.Low <= totals[i] && totals[i] <= c.High {
						covered++
					}
				}
				n := float64(len(diffs))
				mean, sd := meanSD(diffs)
				want := sigmas[a] * frac

				if se := want / math.Sqrt(n); math.Abs(mean) > 4*se {
					t.Errorf("aggregate %d: got mean error %v, want 0 ± %v", a, mean, 4*se)
				}
				// The standard error of a normal sample's SD is σ/√(2n).
				if se := want / math.Sqrt(2*n); math.Abs(sd-want) > 4*se {
					t.Errorf("aggregate %d: got SD %v, want %v ± %v", a, sd, want, 4*se)
				}
				// The interval is ±z·σ; with noise σ·frac it covers
				// P(|N(0,1)| ≤ z/frac).
				z := math.Sqrt2 * math.Erfinv(Confidence)
				p := math.Erf(z / frac / math.Sqrt2)
				se := math.Sqrt(p * (1 - p) / n)
				if got := float64(covered) / n; math.Abs(got-p) > 4*se {
					t.Errorf("aggregate %d: got coverage %v, want %v ± %v", a, got, p, 4*se)
				}
			}
		})
	}
}

func meanSD(x []float64) (mean, sd float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(sd / float64(len(x)-1))
}

// recorder is a deterministic NoiseSource: it adds a fixed offset and
// records the parameters it is called with.
type recorder struct {
	mu     sync.Mutex
	offset float64
	calls  []noiseCall
}

type noiseCall struct {
	l0             int64
	linf, eps, del float64
}

func (r *recorder) AddNoiseFloat64(x float64, l0 int64, linf, eps, del float64) (float64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, noiseCall{l0, linf, eps, del})
	return x + r.offset, nil
}

func TestNoiseShares(t *testing.T) {
	const partners = 4
	ids := identities(t, partners)
	st := fareStatistic(3) // 12 groups, 2 aggregates
	r := newRound(ids, "r1", st)
	rng := rand.New(rand.NewPCG(9, 9))
	exact, contributes := randomInputs(rng, r, partners, 1)

	// Each partner adds 1000.4 wire units, rounded to 1000.
	rec := &recorder{offset: 1000.4}
	subs := prepareAll(t, ids, r, exact, contributes, WithNoiseSource(rec))
	res := release(t, r, subs)

	t.Run("shares are added to every cell", func(t *testing.T) {
		totals, _ := exactTotals(r, exact, contributes)
		for i, c := range res.Cells {
			_, a := r.Cell(i)
			want := totals[i] + partners*1000.0/fine/st.unit(a)
			if math.Abs(c.Value-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("cell %d: got %v, want %v", i, c.Value, want)
			}
		}
	})

	t.Run("each share has variance σ²/n", func(t *testing.T) {
		if got, want := len(rec.calls), partners*r.Cells(); got != want {
			t.Fatalf("got %d noise draws, want %d", got, want)
		}
		// One unit changes at most 4 groups × 2 aggregates; linf is 2 rows
		// for counts and 2 × 5000.00 for fares, in cents.
		linf := []float64{2, 2 * 500000}
		sigmas, err := r.Sigmas()
		if err != nil {
			t.Fatal(err)
		}
		// Draws come from several goroutines: match each to its aggregate
		// by its linf.
		perAggregate := make([]int, len(linf))
		for i, call := range rec.calls {
			if call.l0 != 8 || call.eps != r.Epsilon || call.del != r.Delta {
				t.Fatalf("draw %d: got l0 %d, ε %v, δ %v, want 8, %v, %v", i, call.l0, call.eps,
					call.del, r.Epsilon, r.Delta)
			}
			a := slices.IndexFunc(linf, func(l float64) bool {
				want := l * fine / math.Sqrt(partners)
				return math.Abs(call.linf-want) <= 1e-12*want
			})
			if a < 0 {
				t.Fatalf("draw %d: got linf %v, want one of %v × 4096 / √%d", i, call.linf, linf,
					partners)
			}
			perAggregate[a]++
			share := noise.SigmaForGaussian(call.l0, call.linf, call.eps, call.del)
			total := math.Sqrt(partners) * share / fine / st.unit(a)
			if math.Abs(total-sigmas[a]) > 1e-12*total {
				t.Fatalf("draw %d: shares add to σ %v, want %v", i, total, sigmas[a])
			}
		}
		if want := []int{partners * 12, partners * 12}; !slices.Equal(perAggregate, want) {
			t.Errorf("got %v draws per aggregate, want %v", perAggregate, want)
		}
		// The total σ is the library's for the whole statistic, within its
		// 0.1% accuracy.
		for a := range linf {
			want := noise.SigmaForGaussian(8, linf[a], r.Epsilon, r.Delta) / st.unit(a)
			if math.Abs(sigmas[a]-want) > 2e-3*want {
				t.Errorf("aggregate %d: got σ %v, want %v", a, sigmas[a], want)
			}
		}
	})
}

func TestHonestEpsilon(t *testing.T) {
	ids := identities(t, 5)
	r := newRound(ids, "r1", fareStatistic(3))

	prev := 0.0
	for k := 5; k >= 1; k-- {
		eps, err := r.HonestEpsilon(k)
		if err != nil {
			t.Fatalf("HonestEpsilon(%d): %v", k, err)
		}
		if k == 5 && math.Abs(eps-r.Epsilon) > 0.01*r.Epsilon {
			t.Errorf("HonestEpsilon(5): got %v, want %v", eps, r.Epsilon)
		}
		if eps <= prev {
			t.Errorf("HonestEpsilon(%d): got %v, want more than %v for k+1", k, eps, prev)
		}
		prev = eps

		// The σ calibrated for that ε is the honest partners' σ.
		sh := r.shares()
		have := math.Sqrt(float64(k)/5) * sh.total(0) / (sh.linf[0] * math.Sqrt(5))
		need := noise.SigmaForGaussian(sh.l0, 1, eps, r.Delta)
		if math.Abs(need-have) > 3e-3*have {
			t.Errorf("HonestEpsilon(%d) = %v: calibrates σ %v, want %v", k, eps, need, have)
		}
	}

	for _, k := range []int{0, 6} {
		_, err := r.HonestEpsilon(k)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != "k" {
			t.Errorf("HonestEpsilon(%d): got %v, want a *ParamError naming k", k, err)
		}
	}
}
