package dptest_test

import (
	"math"
	"testing"

	"haze/dp"
	"haze/dp/dptest"
)

func TestNoNoiseSource(t *testing.T) {
	src := dptest.NoNoise()
	for _, x := range []int64{0, 1, -7, math.MaxInt64} {
		got, err := src.AddNoiseInt64(x, 3, 5, 0.1, 0)
		if err != nil || got != x {
			t.Errorf("AddNoiseInt64(%d) = %d, %v, want %d", x, got, err, x)
		}
		ci, err := src.ComputeConfidenceIntervalInt64(x, 3, 5, 0.1, 0, 0.05)
		if err != nil || ci.LowerBound != float64(x) || ci.UpperBound != float64(x) {
			t.Errorf("interval of %d = %+v, %v, want zero width", x, ci, err)
		}
	}
	for _, x := range []float64{0, 1.5, -1e300} {
		got, err := src.AddNoiseFloat64(x, 3, 5, 0.1, 0)
		if err != nil || got != x {
			t.Errorf("AddNoiseFloat64(%v) = %v, %v, want %v", x, got, err, x)
		}
		ci, err := src.ComputeConfidenceIntervalFloat64(x, 3, 5, 0.1, 0, 0.05)
		if err != nil || ci.LowerBound != x || ci.UpperBound != x {
			t.Errorf("interval of %v = %+v, %v, want zero width", x, ci, err)
		}
	}
}

func TestNoNoiseNoiser(t *testing.T) {
	n := dp.Noiser{Mechanism: dp.Gaussian, Noise: dptest.NoNoise()}
	b := dp.Budget{Epsilon: 0.1, Delta: 1e-6}
	bd := dp.Bounds{MaxGroups: 4, MaxRows: 2}

	for _, exact := range []int64{0, 1, 42, 1_000_000} {
		est, err := n.Count(exact, b, bd)
		if err != nil {
			t.Fatal(err)
		}
		if est.Value != float64(exact) || est.Low != est.Value || est.High != est.Value {
			t.Errorf("count %d: got %+v, want the exact value with a zero-width interval", exact, est)
		}
	}
	est, err := n.Sum(123456, dp.Range{Lo: -5, Hi: 5000, Scale: 2}, b, bd)
	if err != nil {
		t.Fatal(err)
	}
	if est.Value != 1234.56 || est.Low != est.Value || est.High != est.Value {
		t.Errorf("sum: got %+v, want 1234.56 with a zero-width interval", est)
	}

	// Validation is unchanged without noise.
	if _, err := n.Count(1, dp.Budget{Epsilon: 1}, bd); err == nil {
		t.Errorf("gaussian without delta: got no error")
	}
}
