package dp

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/dpagg"
)

// Quantiles releases quantiles (median, percentiles) of one group's values
// with the library's quantile tree, dpagg.BoundedQuantiles: values are
// counted in a tree of height 4 and branching 16 over [lo, hi] (65,536
// leaves), every count gets noise for the whole budget, and a quantile is
// found by walking down the noisy tree. One privacy unit touches 4 counts
// per row, which the noise accounts for.
//
// Use it in three steps: NewQuantiles, Add for every bounded row value of
// the group, then Result once with every rank wanted. Result is the release:
// its budget is spent once, however many ranks it answers, and a second
// call returns ErrReleased.
//
// A Quantiles is not safe for concurrent use.
type Quantiles struct {
	tree     *dpagg.BoundedQuantiles
	lo, hi   float64
	mech     string
	released bool
}

// NewQuantiles returns an empty Quantiles over [lo, hi] that will spend b on
// its release, for a group to which the planner limited each privacy unit
// to bd.MaxRows rows, in at most bd.MaxGroups groups.
//
// It returns a *ParamError for an invalid budget, mechanism or bound, or
// for lo and hi not finite with lo < hi.
func (n Noiser) NewQuantiles(b Budget, bd Bounds, lo, hi float64) (*Quantiles, error) {
	c, err := n.prepare(b, bd)
	if err != nil {
		return nil, err
	}
	if err := checkRange(lo, hi); err != nil {
		return nil, err
	}

	tree, err := dpagg.NewBoundedQuantiles(&dpagg.BoundedQuantilesOptions{
		Epsilon:                      b.Epsilon,
		Delta:                        b.Delta,
		MaxPartitionsContributed:     bd.MaxGroups,
		MaxContributionsPerPartition: bd.MaxRows,
		Lower:                        lo,
		Upper:                        hi,
		Noise:                        c.src,
	})
	if err != nil {
		return nil, fmt.Errorf("quantiles: %w", err)
	}
	return &Quantiles{tree: tree, lo: lo, hi: hi, mech: c.mech}, nil
}

// Add counts one row value of the group. Values outside [lo, hi] are
// clamped, as the planner should already have done. NaN values are skipped
// rather than reported: an error would tell whether the data holds a NaN.
//
// Add returns ErrReleased once Result has been called.
func (q *Quantiles) Add(v float64) error {
	if q.released {
		return fmt.Errorf("quantiles: adding a value: %w", ErrReleased)
	}
	if err := q.tree.Add(v); err != nil {
		return fmt.Errorf("quantiles: %w", err)
	}
	return nil
}

// Result releases the quantile of every rank, each in [0, 1] (0.5 is the
// median), in the order given. The answers are non-decreasing in rank.
// Ranks are validated first: a *ParamError naming "rank" releases nothing.
// Any later call returns ErrReleased.
//
// The tree is approximate even without noise: a value is located to within
// one leaf, (hi − lo)/65,536, and ranks are clamped to [0.005, 0.995].
//
// TODO: a real confidence interval; the library offers none. Until then Low
// and High are lo and hi, the trivial interval that always holds the
// bounded quantile. It can go once the tree's noisy counts are exposed or
// the interval is derived from the tree's noise scale.
func (q *Quantiles) Result(ranks ...float64) ([]Estimate, error) {
	if q.released {
		return nil, fmt.Errorf("quantiles: %w", ErrReleased)
	}
	if len(ranks) == 0 {
		return nil, paramErrorf("rank", "must be given at least once")
	}
	for _, r := range ranks {
		if !(r >= 0 && r <= 1) || math.IsNaN(r) {
			return nil, paramErrorf("rank", "must be >= 0 and <= 1, got %v", r)
		}
	}

	q.released = true
	out := make([]Estimate, len(ranks))
	for i, r := range ranks {
		v, err := q.tree.Result(r)
		if err != nil {
			return nil, fmt.Errorf("quantiles: rank %v: %w", r, err)
		}
		out[i] = Estimate{Value: v, Low: q.lo, High: q.hi, Mechanism: q.mech}
	}
	return out, nil
}
