package dp_test

import (
	"math"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"

	"haze/dp"
)

// The library draws noise from crypto/rand, which cannot be seeded. The
// statistical tests below therefore compare sample statistics with their
// expected values under tolerances of at least four standard errors, so
// that a correct implementation fails with negligible probability while a
// wrong scale (by a factor such as √2 or 2) fails always.

const scaleDraws = 20_000

// sampleSD returns the sample standard deviation of draw() over n draws.
func sampleSD(t *testing.T, n int, draw func() (float64, error)) float64 {
	t.Helper()
	var sum, sumSq float64
	for range n {
		x, err := draw()
		if err != nil {
			t.Fatal(err)
		}
		sum += x
		sumSq += x * x
	}
	mean := sum / float64(n)
	return math.Sqrt((sumSq - float64(n)*mean*mean) / float64(n-1))
}

// TestNoiseScale checks that the spread of released values matches the
// sensitivity each aggregate states: Laplace noise of scale λ = l0·linf/ε
// has standard deviation √2·λ; Gaussian noise has the library's σ. With
// 20,000 draws the standard error of the sample standard deviation is
// about 0.8% for Laplace and 0.5% for Gaussian; the tolerances are 5% and
// 3%.
func TestNoiseScale(t *testing.T) {
	const eps, delta = 0.5, 1e-5
	bd := dp.Bounds{MaxGroups: 2, MaxRows: 3}
	money := dp.Range{Lo: -10, Hi: 50.25, Scale: 2}
	const sumLinf = 3 * 5025 // MaxRows × max(|lo|, |hi|) in cents

	laplace := dp.Noiser{Mechanism: dp.Laplace}
	gaussian := dp.Noiser{Mechanism: dp.Gaussian}
	pure := dp.Budget{Epsilon: eps}
	approx := dp.Budget{Epsilon: eps, Delta: delta}

	tests := []struct {
		name string
		want float64
		tol  float64
		draw func() (dp.Estimate, error)
	}{
		{"laplace count", math.Sqrt2 * 2 * 3 / eps, 0.05,
			func() (dp.Estimate, error) { return laplace.Count(1_000_000, pure, bd) }},
		{"gaussian count", noise.SigmaForGaussian(2, 3, eps, delta), 0.03,
			func() (dp.Estimate, error) { return gaussian.Count(1_000_000, approx, bd) }},
		{"laplace people", math.Sqrt2 * 2 * 1 / eps, 0.05,
			func() (dp.Estimate, error) { return laplace.People(1_000_000, pure, bd) }},
		{"laplace sum", math.Sqrt2 * 2 * sumLinf / eps / 100, 0.05,
			func() (dp.Estimate, error) { return laplace.Sum(100_000_000, money, pure, bd) }},
		{"gaussian sum", noise.SigmaForGaussian(2, sumLinf, eps, delta) / 100, 0.03,
			func() (dp.Estimate, error) { return gaussian.Sum(100_000_000, money, approx, bd) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sampleSD(t, scaleDraws, func() (float64, error) {
				est, err := tt.draw()
				return est.Value, err
			})
			if math.Abs(got/tt.want-1) > tt.tol {
				t.Errorf("got standard deviation %.3f, want %.3f ± %.0f%%", got, tt.want, 100*tt.tol)
			}
		})
	}
}

// TestMeanNoiseShrinks checks that the noise of Mean falls with the group's
// size, as dividing a noisy sum by a noisy count should: the spread for
// 10,000 rows is far below that for 100.
func TestMeanNoiseShrinks(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Laplace}
	r := dp.Range{Lo: 0, Hi: 100}
	b := dp.Budget{Epsilon: 1}
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 1}
	spread := func(rows int64) float64 {
		return sampleSD(t, 2000, func() (float64, error) {
			est, err := n.Mean(dp.Moments{Count: rows, Sum: 30 * rows}, r, b, bd)
			return est.Value, err
		})
	}
	// The normalised sum has λ = 50/(ε/2) = 100, so the mean's standard
	// deviation is about √2·100/rows.
	small, large := spread(100), spread(10_000)
	if want := math.Sqrt2 * 100 / 100; math.Abs(small/want-1) > 0.15 {
		t.Errorf("100 rows: got standard deviation %.4f, want about %.4f", small, want)
	}
	if large > small/50 {
		t.Errorf("10,000 rows: got standard deviation %.4f, want below %.4f", large, small/50)
	}
}
