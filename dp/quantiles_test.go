package dp_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"haze/dp"
	"haze/dp/dptest"
)

// trueQuantile returns the value at rank r of sorted values, interpolated.
func trueQuantile(sorted []float64, r float64) float64 {
	pos := r * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// TestQuantilesNoNoise checks the tree without noise. The tree has 65,536
// leaves over [lo, hi], so a quantile is located to within a leaf; the
// tolerance is the data's spacing plus two leaf widths.
func TestQuantilesNoNoise(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Laplace, Noise: dptest.NoNoise()}
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 1}
	b := dp.Budget{Epsilon: 1}

	tests := []struct {
		name    string
		lo, hi  float64
		values  []float64
		spacing float64
	}{
		{"1 to 1001", 0, 1000, seq(1, 1001, 1), 1},
		{"fares", 0, 5000, seq(120, 980, 0.5), 0.5},
		{"negative", -100, 100, seq(-50, 10, 0.25), 0.25},
	}
	ranks := []float64{0.1, 0.25, 0.5, 0.75, 0.9}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := n.NewQuantiles(b, bd, tt.lo, tt.hi)
			if err != nil {
				t.Fatal(err)
			}
			shuffled := slices.Clone(tt.values)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
				shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
			})
			for _, v := range shuffled {
				if err := q.Add(v); err != nil {
					t.Fatal(err)
				}
			}
			got, err := q.Result(ranks...)
			if err != nil {
				t.Fatal(err)
			}
			tol := tt.spacing + 2*(tt.hi-tt.lo)/65536
			for i, r := range ranks {
				want := trueQuantile(tt.values, r)
				if math.Abs(got[i].Value-want) > tol {
					t.Errorf("rank %v: got %v, want %v ± %v", r, got[i].Value, want, tol)
				}
				if got[i].Low != tt.lo || got[i].High != tt.hi {
					t.Errorf("rank %v: got interval [%v, %v], want the range [%v, %v]",
						r, got[i].Low, got[i].High, tt.lo, tt.hi)
				}
			}
		})
	}
}

func seq(from, to, step float64) []float64 {
	var out []float64
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out
}

// TestQuantilesReleasedOnce checks that a Quantiles answers once.
func TestQuantilesReleasedOnce(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Laplace}
	q, err := n.NewQuantiles(dp.Budget{Epsilon: 1}, dp.Bounds{MaxGroups: 1, MaxRows: 1}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for v := range 100 {
		if err := q.Add(float64(v % 10)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Result(1.5); err == nil {
		t.Fatal("bad rank: got no error")
	}
	if _, err := q.Result(0.5); err != nil {
		t.Fatalf("first release after a refused rank: %v", err)
	}
	if _, err := q.Result(0.5); !errors.Is(err, dp.ErrReleased) {
		t.Errorf("second release: got %v, want ErrReleased", err)
	}
	if err := q.Add(3); !errors.Is(err, dp.ErrReleased) {
		t.Errorf("adding after release: got %v, want ErrReleased", err)
	}
}

// TestQuantilesNoisy checks the median of 10,000 seeded values uniform on
// [0, 100] with noise for ε = 1: each tree count gets Laplace noise of
// scale 4, tiny beside the 10,000 values, so the median is within 1 of the
// truth in all but a negligible fraction of runs. The answers are ordered.
func TestQuantilesNoisy(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	values := make([]float64, 10_000)
	for i := range values {
		values[i] = 100 * rnd.Float64()
	}
	sorted := slices.Sorted(slices.Values(values))

	for _, mech := range []struct {
		n dp.Noiser
		b dp.Budget
	}{
		{dp.Noiser{Mechanism: dp.Laplace}, dp.Budget{Epsilon: 1}},
		{dp.Noiser{Mechanism: dp.Gaussian}, dp.Budget{Epsilon: 1, Delta: 1e-5}},
	} {
		t.Run(mech.n.Mechanism.String(), func(t *testing.T) {
			q, err := mech.n.NewQuantiles(mech.b, dp.Bounds{MaxGroups: 1, MaxRows: 1}, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range values {
				if err := q.Add(v); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Add(math.NaN()); err != nil {
				t.Fatalf("NaN: got %v, want it skipped", err)
			}
			got, err := q.Result(0.1, 0.5, 0.9)
			if err != nil {
				t.Fatal(err)
			}
			if want := trueQuantile(sorted, 0.5); math.Abs(got[1].Value-want) > 1 {
				t.Errorf("median: got %v, want %v ± 1", got[1].Value, want)
			}
			if !(got[0].Value <= got[1].Value && got[1].Value <= got[2].Value) {
				t.Errorf("got quantiles %v, %v, %v, want non-decreasing",
					got[0].Value, got[1].Value, got[2].Value)
			}
			if got[1].Mechanism != mech.n.Mechanism.String() {
				t.Errorf("got mechanism %q, want %q", got[1].Mechanism, mech.n.Mechanism)
			}
		})
	}
}
