package dp

import (
	"math"
)

// The mean's interval inverts a pivot, as Fieller's method does for ratios.
// In doubled normalised units (see normalizer) the exact sum S and count C
// of a group with mean a satisfy S = a·C, so for the noisy S' = S + X and
// C' = C + Y
//
//	S' − a·C' = X − a·Y,
//
// whose distribution depends only on a and the two noise scales, not on
// the data. The set of a in the range for which |S' − a·C'| is below the
// (1−α) quantile of |X − a·Y| therefore holds the exact mean with
// probability 1−α. The interval is that set's hull, which can only be
// wider. Unlike intervals built from separate intervals for S and C, its
// coverage is close to the nominal level instead of well above it.

// meanGrid is the number of points at which meanInterval looks for the
// edges of the confidence set before refining them by bisection.
const meanGrid = 128

// meanInterval returns the interval, in fixed-point units, for the mean
// behind the noisy normalised sum and count. When the confidence set is
// empty (which happens with probability at most α) it returns the whole
// range.
func (c call) meanInterval(count noisyInt, sum noisyFloat, half Budget, bd Bounds,
	norm normalizer) (low, high float64, err error) {
	sx, err := c.scale(half, bd.MaxGroups, norm.sumLinf)
	if err != nil {
		return 0, 0, err
	}
	sy, err := c.scale(half, bd.MaxGroups, float64(bd.MaxRows))
	if err != nil {
		return 0, 0, err
	}
	s, n, w := sum.value, float64(count.value), norm.width
	v := clamp(s/math.Max(1, n), -w, w) // the released mean
	if sx == 0 && sy == 0 {
		// A source without noise: the value is exact.
		return v/2 + norm.mid, v/2 + norm.mid, nil
	}
	quantiles := make(map[float64]float64) // by |a|: the grid is symmetric
	in := func(a float64) bool {
		q, ok := quantiles[math.Abs(a)]
		if !ok {
			q = c.pivotQuantile(sx, math.Abs(a)*sy)
			quantiles[math.Abs(a)] = q
		}
		// The slack absorbs float rounding in s − a·n and only widens.
		slack := 1e-12 * (math.Abs(s) + math.Abs(a*n))
		return math.Abs(s-a*n) <= q+slack
	}

	// Start from the point estimate, which is in the set whenever the
	// noisy count is positive and the estimate is in range.
	var start float64
	var found bool
	if n > 0 {
		start = clamp(s/n, -w, w)
		found = in(start)
	}
	lo, hi := start, start
	for i := range meanGrid + 1 {
		a := -w + 2*w*float64(i)/meanGrid
		if in(a) {
			if !found {
				lo, hi, found = a, a, true
			}
			lo, hi = math.Min(lo, a), math.Max(hi, a)
		}
	}
	if !found {
		return float64(norm.lo), float64(norm.hi), nil
	}

	// Refine each edge between the outermost point inside and the next
	// grid point outside, keeping the outer end of the bracket.
	step := 2 * w / meanGrid
	if lo > -w {
		lo = edge(in, lo, math.Max(-w, lo-step))
	}
	if hi < w {
		hi = edge(in, hi, math.Min(w, hi+step))
	}

	// The released mean lies in the interval, even when the noisy count
	// was below 1 and Mean divided by 1 instead.
	lo, hi = math.Min(lo, v), math.Max(hi, v)
	return lo/2 + norm.mid, hi/2 + norm.mid, nil
}

// edge returns a point at or beyond the boundary of the set between inside
// (in the set) and outside (not in it, or the end of the range), found by
// bisection and rounded outwards.
func edge(in func(float64) bool, inside, outside float64) float64 {
	for range 50 {
		mid := inside + (outside-inside)/2
		if mid == inside || mid == outside {
			break
		}
		if in(mid) {
			inside = mid
		} else {
			outside = mid
		}
	}
	return outside
}

// scale returns the scale of the noise the call's source adds for the
// given parameters: λ for Laplace, σ for Gaussian. It reads it off the
// source's own interval at the level whose half-width is one scale, so a
// source without noise has scale 0.
func (c call) scale(b Budget, l0 int64, linf float64) (float64, error) {
	alpha := 1 / math.E // Laplace: the half-width is −λ·ln α
	if c.gaussian {
		alpha = math.Erfc(1 / math.Sqrt2) // Gaussian: the half-width is σ·√2·erfcinv(α)
	}
	_, high, err := noisyFloat{0}.interval(c, b, l0, linf, alpha)
	if err != nil {
		return 0, err
	}
	return high, nil
}

// pivotQuantile returns q with P(|X + Z| > q) = α for independent noises X
// and Z of scales sx and sz, both of the call's mechanism.
func (c call) pivotQuantile(sx, sz float64) float64 {
	if c.gaussian {
		return math.Sqrt2 * math.Erfcinv(c.alpha) * math.Hypot(sx, sz)
	}
	if sx == 0 && sz == 0 {
		return 0
	}

	// The tail falls monotonically; bracket the quantile, then bisect.
	tail := func(q float64) float64 { return 2 * laplaceSumTail(q, sx, sz) }
	lo, hi := 0.0, sx+sz
	for tail(hi) > c.alpha {
		lo, hi = hi, 2*hi
	}
	for range 40 {
		mid := lo + (hi-lo)/2
		if tail(mid) > c.alpha {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// laplaceSumTail returns P(X + Z > q) for q >= 0 and independent Laplace
// X and Z of scales b1 and b2. Their sum's distribution is the signed
// mixture (b1²·L(b1) − b2²·L(b2)) / (b1² − b2²) of Laplace distributions,
// or, for equal scales b, has tail e^(−q/b)·(2 + q/b)/4.
func laplaceSumTail(q, b1, b2 float64) float64 {
	if b1 < b2 {
		b1, b2 = b2, b1
	}
	switch {
	case b2 == 0:
		return math.Exp(-q/b1) / 2
	case b1-b2 <= 1e-6*b1:
		b := (b1 + b2) / 2
		return math.Exp(-q/b) * (2 + q/b) / 4
	}
	return (b1*b1*math.Exp(-q/b1) - b2*b2*math.Exp(-q/b2)) / (2 * (b1*b1 - b2*b2))
}
