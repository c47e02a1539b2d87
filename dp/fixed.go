package dp

import (
	"math"
	"math/big"
)

// MaxScale is the largest fixed-point scale a Range may have.
const MaxScale = 9

// maxExactFloat is 2^53: integers up to it are exact in a float64.
const maxExactFloat = 1 << 53

// Range is how the planner clamped and scaled a numeric column before
// aggregating it in SQL. Each row contributes the integer
//
//	round(clamp(v, Lo, Hi) × 10^Scale)
//
// to fixed-point sums, with any monotone rounding. Lo and Hi must be
// multiples of 10^-Scale, so every contribution lies in
// [Lo × 10^Scale, Hi × 10^Scale] exactly and the sensitivity is tight.
//
// Money in a currency with cents is, for example, Range{Lo: 0,
// Hi: 5000, Scale: 2}: rows are summed in cents, clamped to [0, 500000].
type Range struct {
	// Lo and Hi are the clamping bounds, in the column's unit. Required:
	// finite, Lo < Hi, both multiples of 10^-Scale, and |Lo|, |Hi| ×
	// 10^Scale at most 2^53.
	Lo, Hi float64
	// Scale is the number of decimal places kept, 0 to MaxScale.
	// Zero means whole units.
	Scale int
}

// Validate reports whether r can be used: see the field docs. The error is
// a *ParamError naming "lo", "hi" or "scale".
func (r Range) Validate() error {
	_, _, err := r.fixed()
	return err
}

// fixed returns Lo and Hi in fixed-point units, after validating r.
func (r Range) fixed() (lo, hi int64, err error) {
	if r.Scale < 0 || r.Scale > MaxScale {
		return 0, 0, paramErrorf("scale", "must be between 0 and %d, got %d", MaxScale, r.Scale)
	}
	if err := checkRange(r.Lo, r.Hi); err != nil {
		return 0, 0, err
	}
	if lo, err = toFixed("lo", r.Lo, r.Scale); err != nil {
		return 0, 0, err
	}
	if hi, err = toFixed("hi", r.Hi, r.Scale); err != nil {
		return 0, 0, err
	}
	return lo, hi, nil
}

// toFixed returns v × 10^scale as an integer, or a *ParamError if it is not
// one (allowing 1e-9 relative slack for decimal fractions such as 0.1 that
// float64 cannot hold exactly) or is beyond 2^53.
func toFixed(param string, v float64, scale int) (int64, error) {
	x := v * pow10(scale)
	if math.Abs(x) > maxExactFloat {
		return 0, paramErrorf(param, "times 10^%d must be at most 2^53 in magnitude, got %v",
			scale, v)
	}
	k := math.Round(x)
	if math.Abs(x-k) > 1e-9*math.Max(1, math.Abs(x)) {
		return 0, paramErrorf(param, "must be a multiple of 10^-%d, got %v", scale, v)
	}
	return int64(k), nil
}

// pow10 returns 10^s for 0 <= s <= MaxScale, exactly.
func pow10(s int) float64 {
	p := 1.0
	for range s {
		p *= 10
	}
	return p
}

// fromFixed converts a fixed-point value back to the column's unit.
func fromFixed(x float64, scale int) float64 {
	return x / pow10(scale)
}

// bigFloat64 returns the float64 nearest to x.
func bigFloat64(x *big.Int) float64 {
	f, _ := new(big.Float).SetInt(x).Float64()
	return f
}
