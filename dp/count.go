package dp

import (
	"errors"
	"fmt"
	"math"
)

// Count releases COUNT(*) of one group: exact is the number of rows in the
// group after the planner enforced bd, so one privacy unit changes it by at
// most bd.MaxRows (linf) in each of at most bd.MaxGroups groups (l0).
//
// The noise is the library's AddNoiseInt64 with ε and δ of b, and the
// interval is its ComputeConfidenceIntervalInt64, which contains the exact
// count with probability at least the Noiser's confidence. The released
// value and both ends of the interval are then raised to 0 if negative:
// a count is never negative, and this post-processing does not affect
// privacy.
//
// Count returns a *ParamError for an invalid budget, mechanism, bound or
// confidence, and an error if exact < 0.
func (n Noiser) Count(exact int64, b Budget, bd Bounds) (Estimate, error) {
	c, err := n.prepare(b, bd)
	if err != nil {
		return Estimate{}, err
	}
	if exact < 0 {
		return Estimate{}, errors.New("count: exact count must be >= 0")
	}
	return c.count(exact, b, bd.MaxGroups, bd.MaxRows)
}

// People releases COUNT(DISTINCT privacy unit) of one group: exact is the
// number of distinct privacy units in the group after the planner enforced
// bd. One unit changes it by at most 1 (linf = 1) in each of at most
// bd.MaxGroups groups; bd.MaxRows plays no part. Noise, interval and the
// clamp at 0 are as for Count.
func (n Noiser) People(exact int64, b Budget, bd Bounds) (Estimate, error) {
	c, err := n.prepare(b, bd)
	if err != nil {
		return Estimate{}, err
	}
	if exact < 0 {
		return Estimate{}, errors.New("people: exact count must be >= 0")
	}
	return c.count(exact, b, bd.MaxGroups, 1)
}

// count adds integer noise to a non-negative count and clamps at 0.
func (c call) count(exact int64, b Budget, l0, linf int64) (Estimate, error) {
	noisy, low, high, err := c.withInterval(exact, b, l0, linf)
	if err != nil {
		return Estimate{}, fmt.Errorf("count: %w", err)
	}
	return Estimate{
		Value:     math.Max(0, noisy),
		Low:       math.Max(0, low),
		High:      math.Max(0, high),
		Mechanism: c.mech,
	}, nil
}

// withInterval adds integer noise of sensitivity (l0, linf) and returns
// the noisy value with its interval at the call's level.
func (c call) withInterval(exact int64, b Budget, l0, linf int64) (
	noisy, low, high float64, err error) {
	x, err := c.noisyInt(exact, b, l0, linf)
	if err != nil {
		return 0, 0, 0, err
	}
	low, high, err = x.interval(c, b, l0, linf, c.alpha)
	if err != nil {
		return 0, 0, 0, err
	}
	return float64(x.value), low, high, nil
}

// Sum releases SUM(v) of one group. exactFixed is the fixed-point sum the
// planner computed in SQL: Σ round(clamp(v, r.Lo, r.Hi) × 10^r.Scale) over
// the group's rows after enforcing bd (see Range).
//
// One privacy unit changes the fixed-point sum by at most
//
//	linf = bd.MaxRows × max(|r.Lo|, |r.Hi|) × 10^r.Scale
//
// in each of at most bd.MaxGroups groups. Integer noise for that
// sensitivity is added with the library's AddNoiseInt64, the interval is
// its ComputeConfidenceIntervalInt64 (covering the exact bounded sum with
// probability at least the Noiser's confidence), and all three are
// converted back to the column's unit by dividing by 10^r.Scale. When
// r.Lo >= 0 the value and interval are raised to 0 if negative, and when
// r.Hi <= 0 lowered to 0 if positive: post-processing that uses only the
// public range.
//
// Sum returns a *ParamError for an invalid budget, mechanism, bound, range
// or confidence, including an L1 sensitivity of 2^60 or more.
func (n Noiser) Sum(exactFixed int64, r Range, b Budget, bd Bounds) (Estimate, error) {
	c, err := n.prepare(b, bd)
	if err != nil {
		return Estimate{}, err
	}
	lo, hi, err := r.fixed()
	if err != nil {
		return Estimate{}, err
	}
	linf, err := sumSensitivity(lo, hi, bd)
	if err != nil {
		return Estimate{}, err
	}

	noisy, low, high, err := c.withInterval(exactFixed, b, bd.MaxGroups, linf)
	if err != nil {
		return Estimate{}, fmt.Errorf("sum: %w", err)
	}
	est := Estimate{
		Value:     fromFixed(noisy, r.Scale),
		Low:       fromFixed(low, r.Scale),
		High:      fromFixed(high, r.Scale),
		Mechanism: c.mech,
	}

	// The sign of the sum is public when the range has one sign.
	switch {
	case r.Lo >= 0:
		est.Value, est.Low, est.High = math.Max(0, est.Value), math.Max(0, est.Low),
			math.Max(0, est.High)
	case r.Hi <= 0:
		est.Value, est.Low, est.High = math.Min(0, est.Value), math.Min(0, est.Low),
			math.Min(0, est.High)
	}
	return est, nil
}

// sumSensitivity returns MaxRows × max(|lo|, |hi|) in fixed-point units,
// checking that the L1 sensitivity MaxGroups × linf stays below 2^60.
func sumSensitivity(lo, hi int64, bd Bounds) (int64, error) {
	m := max(abs(lo), abs(hi))
	linf, ok := mulInt64(bd.MaxRows, m)
	if ok {
		_, ok = mulInt64(bd.MaxGroups, linf)
	}
	if !ok {
		param := "hi"
		if abs(lo) > abs(hi) {
			param = "lo"
		}
		return 0, paramErrorf(param, "is too large for max rows %d, max groups %d and its scale: "+
			"the sensitivity reaches 2^60", bd.MaxRows, bd.MaxGroups)
	}
	return linf, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
