package dp

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// Moments are the exact bounded aggregates of one group that Mean,
// Variance and StdDev start from, computed by the planner in SQL over the
// group's rows after enforcing the Bounds, in the fixed-point units of a
// Range: each row's x = round(clamp(v, Lo, Hi) × 10^Scale).
type Moments struct {
	// Count is the number of rows, >= 0.
	Count int64
	// Sum is Σ x.
	Sum int64
	// SumSquares is Σ x², exact: it overflows int64 quickly, so SQL should
	// compute it as HUGEINT. Required by Variance and StdDev, ignored by
	// Mean.
	SumSquares *big.Int
}

// Mean releases AVG(v) of one group from m.Count and m.Sum, following the
// library's dpagg.BoundedMean: the sum is normalised around the midpoint of
// the range, so each row contributes at most half the range's width, and
// the noisy normalised sum is divided by a noisy count (raised to 1 if
// lower). ε and δ of b are split in half between the two. The released
// mean is clamped to [r.Lo, r.Hi], post-processing that uses only the
// public range.
//
// The library's interval for BoundedMean combines separate intervals for
// the sum and the count and covers far more often than asked when the
// count's noise matters. The interval here is instead the set of means in
// [r.Lo, r.Hi] consistent with both noisy values at the Noiser's
// confidence, found by inverting the pivot S' − mean·C', whose
// distribution does not depend on the data (Fieller's method; see
// meaninterval.go). Its coverage is the nominal level up to the rounding of
// the library's discrete noise. It always contains the released value.
//
// Mean returns a *ParamError for an invalid budget, mechanism, bound, range
// or confidence, and an error if m.Count < 0.
func (n Noiser) Mean(m Moments, r Range, b Budget, bd Bounds) (Estimate, error) {
	c, err := n.prepare(b, bd)
	if err != nil {
		return Estimate{}, err
	}
	lo, hi, err := r.fixed()
	if err != nil {
		return Estimate{}, err
	}
	if m.Count < 0 {
		return Estimate{}, errors.New("mean: exact count must be >= 0")
	}
	half := Budget{Epsilon: b.Epsilon / 2, Delta: b.Delta / 2}
	norm := newNormalizer(lo, hi, bd)

	count, err := c.noisyCount(m.Count, half, bd)
	if err != nil {
		return Estimate{}, fmt.Errorf("mean: %w", err)
	}
	sum, err := c.noisyFloat(norm.sum(m), half, bd.MaxGroups, norm.sumLinf)
	if err != nil {
		return Estimate{}, fmt.Errorf("mean: %w", err)
	}

	den := math.Max(1, float64(count.value))
	est := Estimate{
		Value:     clamp(fromFixed(sum.value/(2*den)+norm.mid, r.Scale), r.Lo, r.Hi),
		Mechanism: c.mech,
	}
	low, high, err := c.meanInterval(count, sum, half, bd, norm)
	if err != nil {
		return Estimate{}, fmt.Errorf("mean: %w", err)
	}
	est.Low = clamp(fromFixed(low, r.Scale), r.Lo, r.Hi)
	est.High = clamp(fromFixed(high, r.Scale), r.Lo, r.Hi)
	return est, nil
}

// Variance releases VAR_POP(v) of one group from m.Count, m.Sum and
// m.SumSquares, following the library's dpagg.BoundedVariance: noisy
// count, noisy sum and noisy sum of squares, both sums normalised around
// the midpoint of the range, with ε and δ of b split in three equal parts.
// The released variance is clamped to [0, ((r.Hi-r.Lo)/2)²], the largest
// variance a variable in the range can have.
//
// The library has no interval for the variance. The interval here is
// conservative: intervals of the three noisy parts at levels whose product
// is the Noiser's confidence, combined by taking the extremes of the
// formula over them, then clamped like the value. It covers the exact
// bounded variance with probability at least the confidence, usually more.
//
// Variance returns a *ParamError for an invalid budget, mechanism, bound,
// range or confidence, and an error if m.Count < 0 or m.SumSquares is nil
// or negative.
func (n Noiser) Variance(m Moments, r Range, b Budget, bd Bounds) (Estimate, error) {
	return n.variance("variance", m, r, b, bd)
}

// StdDev releases STDDEV_POP(v) of one group: the square root of Variance,
// applied to the value and to both ends of its interval (the square root is
// monotone, so the interval keeps its coverage). Inputs, budget split and
// errors are those of Variance.
func (n Noiser) StdDev(m Moments, r Range, b Budget, bd Bounds) (Estimate, error) {
	est, err := n.variance("stddev", m, r, b, bd)
	if err != nil {
		return Estimate{}, err
	}
	est.Value, est.Low, est.High = math.Sqrt(est.Value), math.Sqrt(est.Low), math.Sqrt(est.High)
	return est, nil
}

// variance computes Variance; op names the caller in errors that are not
// parameter errors.
func (n Noiser) variance(op string, m Moments, r Range, b Budget, bd Bounds) (Estimate, error) {
	c, err := n.prepare(b, bd)
	if err != nil {
		return Estimate{}, err
	}
	lo, hi, err := r.fixed()
	if err != nil {
		return Estimate{}, err
	}
	if m.Count < 0 {
		return Estimate{}, fmt.Errorf("%s: exact count must be >= 0", op)
	}
	if m.SumSquares == nil || m.SumSquares.Sign() < 0 {
		return Estimate{}, fmt.Errorf("%s: exact sum of squares must be set and >= 0", op)
	}
	norm := newNormalizer(lo, hi, bd)

	// Split ε and δ in three; the last part takes what rounding left.
	third := Budget{Epsilon: b.Epsilon / 3, Delta: b.Delta / 3}
	last := Budget{Epsilon: b.Epsilon - 2*third.Epsilon, Delta: b.Delta - 2*third.Delta}

	count, err := c.noisyCount(m.Count, third, bd)
	if err != nil {
		return Estimate{}, fmt.Errorf("%s: %w", op, err)
	}
	sum, err := c.noisyFloat(norm.sum(m), third, bd.MaxGroups, norm.sumLinf)
	if err != nil {
		return Estimate{}, fmt.Errorf("%s: %w", op, err)
	}
	squares, err := c.noisyFloat(norm.squares(m), last, bd.MaxGroups, norm.squaresLinf)
	if err != nil {
		return Estimate{}, fmt.Errorf("%s: %w", op, err)
	}

	// The normalised variables: s = S/2 and q = Q/4, in fixed-point units.
	maxVar := norm.width * norm.width / 4
	den := math.Max(1, float64(count.value))
	mean := sum.value / (2 * den)
	value := clamp(squares.value/(4*den)-mean*mean, 0, maxVar)

	low, high, err := c.varianceInterval(count, sum, squares, third, last, bd, norm)
	if err != nil {
		return Estimate{}, fmt.Errorf("%s: %w", op, err)
	}

	unit := pow10(r.Scale) * pow10(r.Scale)
	return Estimate{Value: value / unit, Low: low / unit, High: high / unit, Mechanism: c.mech}, nil
}

// varianceInterval returns the variance's interval in squared fixed-point
// units: each noisy part's interval at level (1-α)^(1/3), so that all three
// hold together with probability at least 1-α (their noises are
// independent), and the extremes of q/c − (s/c)² over them.
func (c call) varianceInterval(count noisyInt, sum, squares noisyFloat, third, last Budget,
	bd Bounds, norm normalizer) (low, high float64, err error) {
	alpha := -math.Expm1(math.Log1p(-c.alpha) / 3)
	cl, ch, err := count.interval(c, third, bd.MaxGroups, bd.MaxRows, alpha)
	if err != nil {
		return 0, 0, err
	}
	sl, sh, err := sum.interval(c, third, bd.MaxGroups, norm.sumLinf, alpha)
	if err != nil {
		return 0, 0, err
	}
	ql, qh, err := squares.interval(c, last, bd.MaxGroups, norm.squaresLinf, alpha)
	if err != nil {
		return 0, 0, err
	}

	// The exact count is at least 1 wherever a variance means anything,
	// and the exact sum of squares is never negative.
	cl, ch = math.Max(1, cl), math.Max(1, ch)
	ql, qh = math.Max(0, ql), math.Max(0, qh)

	ml, mh := divideRanges(sl, sh, cl, ch)
	sqLow, sqHigh := squareRange(ml/2, mh/2)
	maxVar := norm.width * norm.width / 4
	return clamp(ql/(4*ch)-sqHigh, 0, maxVar), clamp(qh/(4*cl)-sqLow, 0, maxVar), nil
}

// normalizer centres fixed-point values on the midpoint of [lo, hi]. To
// stay in integers it works with doubled values: a row x becomes
// 2x − (lo+hi), in [−width, width].
type normalizer struct {
	lo, hi      int64
	mid         float64 // (lo+hi)/2
	width       float64 // hi − lo
	sumLinf     float64 // one unit's effect on Σ(2x − lo − hi) in one group
	squaresLinf float64 // one unit's effect on Σ(2x − lo − hi)² in one group
}

func newNormalizer(lo, hi int64, bd Bounds) normalizer {
	w := float64(hi - lo)
	return normalizer{
		lo: lo, hi: hi,
		mid:         (float64(lo) + float64(hi)) / 2,
		width:       w,
		sumLinf:     float64(bd.MaxRows) * w,
		squaresLinf: float64(bd.MaxRows) * w * w,
	}
}

// sum returns Σ(2x − lo − hi) = 2·Sum − Count·(lo+hi), computed exactly.
func (z normalizer) sum(m Moments) float64 {
	s := new(big.Int).Lsh(big.NewInt(m.Sum), 1)
	s.Sub(s, new(big.Int).Mul(big.NewInt(m.Count), big.NewInt(z.lo+z.hi)))
	return bigFloat64(s)
}

// squares returns Σ(2x − lo − hi)² = 4·SumSquares − 4(lo+hi)·Sum +
// Count·(lo+hi)², computed exactly.
func (z normalizer) squares(m Moments) float64 {
	c := big.NewInt(z.lo + z.hi)
	q := new(big.Int).Lsh(m.SumSquares, 2)
	q.Sub(q, new(big.Int).Mul(new(big.Int).Lsh(c, 2), big.NewInt(m.Sum)))
	q.Add(q, new(big.Int).Mul(big.NewInt(m.Count), new(big.Int).Mul(c, c)))
	return bigFloat64(q)
}

// divideRanges returns the range of a/b for a in [al, ah] and b in
// [bl, bh], where bl >= 1.
func divideRanges(al, ah, bl, bh float64) (low, high float64) {
	if al >= 0 {
		low = al / bh
	} else {
		low = al / bl
	}
	if ah >= 0 {
		high = ah / bl
	} else {
		high = ah / bh
	}
	return low, high
}

// squareRange returns the range of x² for x in [l, h].
func squareRange(l, h float64) (low, high float64) {
	high = math.Max(l*l, h*h)
	if l <= 0 && h >= 0 {
		return 0, high
	}
	return math.Min(l*l, h*h), high
}

func clamp(x, lo, hi float64) float64 {
	return math.Min(hi, math.Max(lo, x))
}
