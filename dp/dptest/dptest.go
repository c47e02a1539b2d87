// Package dptest holds test helpers for code that uses package dp. It is
// for tests only: NoNoise panics outside a test binary.
package dptest

import (
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"

	"haze/dp"
)

// NoNoise returns a dp.Source that adds no noise: every value comes back
// unchanged and every confidence interval has zero width around it. Set it
// as dp.Noiser.Noise in tests that compare answers with exact SQL results.
// Validation of budgets, bounds and ranges still runs, and budgets are
// still charged by whoever charges them: only the randomness is gone.
//
// It offers no privacy at all. It panics unless called from a test binary
// (testing.Testing reports false), so that no configuration or request can
// switch it on in a server.
func NoNoise() dp.Source {
	if !testing.Testing() {
		panic("dptest.NoNoise called outside a test binary")
	}
	return exact{}
}

type exact struct{}

func (exact) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) {
	return x, nil
}

func (exact) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x, nil
}

// Threshold returns lInfSensitivity: without noise, a histogram cell holding
// at least one unit's full contribution passes.
func (exact) Threshold(_ int64, lInfSensitivity, _, _, _ float64) (float64, error) {
	return lInfSensitivity, nil
}

func (exact) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (
	noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: float64(x), UpperBound: float64(x)}, nil
}

func (exact) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (
	noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: x, UpperBound: x}, nil
}

func (exact) String() string { return "no noise" }
