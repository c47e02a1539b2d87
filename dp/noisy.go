package dp

import "fmt"

// noisyInt is an integer aggregate with noise added by a call's source.
type noisyInt struct{ value int64 }

// noisyFloat is a float aggregate with noise added by a call's source.
type noisyFloat struct{ value float64 }

// noisyInt adds integer noise of sensitivity (l0, linf) under b.
func (c call) noisyInt(exact int64, b Budget, l0, linf int64) (noisyInt, error) {
	v, err := c.src.AddNoiseInt64(exact, l0, linf, b.Epsilon, b.Delta)
	if err != nil {
		return noisyInt{}, fmt.Errorf("adding noise: %w", err)
	}
	return noisyInt{v}, nil
}

// noisyCount adds the noise of a row count under bd: l0 = MaxGroups,
// linf = MaxRows.
func (c call) noisyCount(exact int64, b Budget, bd Bounds) (noisyInt, error) {
	return c.noisyInt(exact, b, bd.MaxGroups, bd.MaxRows)
}

// noisyFloat adds float noise of sensitivity (l0, linf) under b.
func (c call) noisyFloat(exact float64, b Budget, l0 int64, linf float64) (noisyFloat, error) {
	v, err := c.src.AddNoiseFloat64(exact, l0, linf, b.Epsilon, b.Delta)
	if err != nil {
		return noisyFloat{}, fmt.Errorf("adding noise: %w", err)
	}
	return noisyFloat{v}, nil
}

// interval returns the library's confidence interval at level 1-alpha for
// the exact value behind x, given the parameters its noise was added with.
func (x noisyInt) interval(c call, b Budget, l0, linf int64, alpha float64) (
	lo, hi float64, err error) {
	ci, err := c.src.ComputeConfidenceIntervalInt64(x.value, l0, linf, b.Epsilon, b.Delta, alpha)
	if err != nil {
		return 0, 0, fmt.Errorf("computing interval: %w", err)
	}
	return ci.LowerBound, ci.UpperBound, nil
}

// interval returns the library's confidence interval at level 1-alpha for
// the exact value behind x, given the parameters its noise was added with.
func (x noisyFloat) interval(c call, b Budget, l0 int64, linf, alpha float64) (
	lo, hi float64, err error) {
	ci, err := c.src.ComputeConfidenceIntervalFloat64(x.value, l0, linf, b.Epsilon, b.Delta, alpha)
	if err != nil {
		return 0, 0, fmt.Errorf("computing interval: %w", err)
	}
	return ci.LowerBound, ci.UpperBound, nil
}
