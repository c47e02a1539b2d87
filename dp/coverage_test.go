package dp_test

import (
	"math"
	"testing"

	"haze/dp"
)

// coverageRuns is the number of releases per coverage test. At 95% the
// standard error of the observed coverage is 0.35%, so the accepted band
// 93–97% is more than five standard errors wide on each side.
const coverageRuns = 4000

// coverage returns the fraction of runs whose interval holds exact.
func coverage(t *testing.T, exact float64, release func() (dp.Estimate, error)) float64 {
	t.Helper()
	hits := 0
	for range coverageRuns {
		est, err := release()
		if err != nil {
			t.Fatal(err)
		}
		if est.Low > est.High {
			t.Fatalf("got interval [%v, %v], low above high", est.Low, est.High)
		}
		if est.Low <= exact && exact <= est.High {
			hits++
		}
	}
	return float64(hits) / coverageRuns
}

// TestCoverage checks that 95% intervals hold the exact bounded aggregate
// in 93–97% of releases: neither too narrow nor uselessly wide.
func TestCoverage(t *testing.T) {
	bd := dp.Bounds{MaxGroups: 2, MaxRows: 3}
	pure := dp.Budget{Epsilon: 0.5}
	approx := dp.Budget{Epsilon: 0.5, Delta: 1e-5}
	laplace := dp.Noiser{Mechanism: dp.Laplace}
	gaussian := dp.Noiser{Mechanism: dp.Gaussian}

	fares := randomColumn(7, 2000, dp.Range{Lo: 0, Hi: 400, Scale: 2})
	fares.values = fares.values[:1500]
	// Skew the data so that the mean is far from the midpoint of the range,
	// where the count's noise matters most.
	for i := range fares.values {
		fares.values[i] /= 4
	}
	m := fares.moments()

	tests := []struct {
		name    string
		exact   float64
		release func() (dp.Estimate, error)
	}{
		{"laplace count", 120, func() (dp.Estimate, error) { return laplace.Count(120, pure, bd) }},
		{"gaussian count", 120, func() (dp.Estimate, error) { return gaussian.Count(120, approx, bd) }},
		{"laplace people", 40, func() (dp.Estimate, error) { return laplace.People(40, pure, bd) }},
		{"laplace sum", float64(m.Sum) / 100,
			func() (dp.Estimate, error) { return laplace.Sum(m.Sum, fares.rng, pure, bd) }},
		{"gaussian sum", float64(m.Sum) / 100,
			func() (dp.Estimate, error) { return gaussian.Sum(m.Sum, fares.rng, approx, bd) }},
		{"laplace mean", fares.mean(),
			func() (dp.Estimate, error) { return laplace.Mean(m, fares.rng, pure, bd) }},
		{"gaussian mean", fares.mean(),
			func() (dp.Estimate, error) { return gaussian.Mean(m, fares.rng, approx, bd) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := coverage(t, tt.exact, tt.release)
			t.Logf("coverage %.4f", got)
			if got < 0.93 || got > 0.97 {
				t.Errorf("got coverage %.4f, want between 0.93 and 0.97", got)
			}
		})
	}
}

// TestCoverageVariance checks the variance's interval, which is
// conservative by construction: it must hold the exact variance in at
// least 95% of releases (93% allowing for sampling).
func TestCoverageVariance(t *testing.T) {
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 2}
	col := randomColumn(8, 3000, dp.Range{Lo: 0, Hi: 100})
	m := col.moments()
	n := dp.Noiser{Mechanism: dp.Laplace}
	b := dp.Budget{Epsilon: 1}

	got := coverage(t, col.variance(), func() (dp.Estimate, error) {
		return n.Variance(m, col.rng, b, bd)
	})
	t.Logf("coverage %.4f", got)
	if got < 0.93 {
		t.Errorf("got coverage %.4f, want at least 0.93", got)
	}

	// The standard deviation's interval is the square root of the same.
	sd := coverage(t, math.Sqrt(col.variance()), func() (dp.Estimate, error) {
		return n.StdDev(m, col.rng, b, bd)
	})
	t.Logf("stddev coverage %.4f", sd)
	if sd < 0.93 {
		t.Errorf("stddev: got coverage %.4f, want at least 0.93", sd)
	}
}

// TestCoverageSmallMean checks the mean's interval on groups so small that
// the noisy count is often below 1: the interval must still hold the exact
// mean in at least 95% of releases (93% allowing for sampling), though
// clamping to the range may make it cover more.
func TestCoverageSmallMean(t *testing.T) {
	bd := dp.Bounds{MaxGroups: 1, MaxRows: 1}
	r := dp.Range{Lo: 0, Hi: 100}
	for _, tt := range []struct {
		name string
		n    dp.Noiser
		b    dp.Budget
	}{
		{"laplace", dp.Noiser{Mechanism: dp.Laplace}, dp.Budget{Epsilon: 0.5}},
		{"gaussian", dp.Noiser{Mechanism: dp.Gaussian}, dp.Budget{Epsilon: 0.5, Delta: 1e-5}},
	} {
		for _, rows := range []int64{3, 30} {
			m := dp.Moments{Count: rows, Sum: 10 * rows} // every value 10
			got := coverage(t, 10, func() (dp.Estimate, error) { return tt.n.Mean(m, r, tt.b, bd) })
			t.Logf("%s, %d rows: coverage %.4f", tt.name, rows, got)
			if got < 0.93 {
				t.Errorf("%s, %d rows: got coverage %.4f, want at least 0.93", tt.name, rows, got)
			}
		}
	}
}
