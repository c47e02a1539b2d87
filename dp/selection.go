package dp

import (
	"math"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// magicMaxGroups is the largest MaxGroups for which the library selects
// partitions with its optimal keep probabilities; above it, it thresholds a
// Gaussian-noised count instead.
const magicMaxGroups = 3

func errSelectionDelta(delta float64) error {
	return paramErrorf("delta", "must be > 0: partition selection needs delta > 0, got %v", delta)
}

// Selector decides which groups of a query may be released when the set of
// groups itself comes from private data (GROUP BY over a column of the
// dataset). Without it, a group holding a single passenger would reveal
// that passenger's presence merely by appearing in the answer, whatever the
// noise on its aggregates.
//
// It wraps the library's pre-aggregation partition selection
// (dpagg.PreAggSelectPartition), which decides from the exact number of
// distinct privacy units in a group and is (ε, δ)-DP for the Budget given
// to NewSelector, assuming each unit is in at most maxGroups groups. Groups
// that are not kept must be dropped with all their aggregates.
//
// # The rare-group bound
//
// A group with exactly one privacy unit is kept with probability at most
// δ/maxGroups, so a single passenger, who can be alone in at most maxGroups
// groups, makes any of them appear with probability at most δ:
//
//   - for maxGroups <= 3 the library keeps a group of n units with the
//     largest probability p(n) that (ε/l0, δ/l0)-DP allows, where l0 is
//     maxGroups: p(0) = 0 and p(n) = min(e^(ε/l0)·p(n−1) + δ/l0,
//     1 − e^(−ε/l0)·(1 − p(n−1) − δ/l0), 1), so p(1) is exactly δ/l0 and
//     p(n) reaches 1 at a finite n;
//   - for maxGroups > 3 it keeps a group if its count of units, with
//     Gaussian noise for (ε, δ/2), reaches the threshold for which one unit
//     is kept with probability 1 − (1 − δ/2)^(1/maxGroups) ≤ δ/(2·maxGroups).
//
// # Public groups
//
// When the groups are public, that is fixed in advance without looking at
// the data (a list the analyst gives, or every value of a public code
// list such as airports), there is nothing to select and no Selector is
// needed: the planner releases every listed group, empty ones with an exact
// aggregate of 0, and spends no budget on selection (see PlanBudget).
// Releasing only the non-empty groups of a public list would leak again.
//
// A Selector is immutable and safe for concurrent use.
type Selector struct {
	budget    Budget
	maxGroups int64
}

// NewSelector returns a Selector spending b on each decision, for queries
// where one privacy unit contributes to at most maxGroups groups. The
// selection's budget b is spent once per query, however many groups are
// decided: the decisions together are (ε, δ)-DP.
//
// It returns a *ParamError if b is invalid, b.Delta is 0 (partition
// selection needs delta > 0) or maxGroups < 1.
func NewSelector(b Budget, maxGroups int64) (*Selector, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if b.Delta == 0 {
		return nil, errSelectionDelta(b.Delta)
	}
	if maxGroups < 1 {
		return nil, paramErrorf("max groups", "must be >= 1, got %d", maxGroups)
	}

	// Let the library check the parameters it will be given, so that Keep
	// cannot fail later.
	if _, err := dpagg.NewPreAggSelectPartition(&dpagg.PreAggSelectPartitionOptions{
		Epsilon: b.Epsilon, Delta: b.Delta, MaxPartitionsContributed: maxGroups,
	}); err != nil {
		return nil, paramErrorf("epsilon", "is not accepted by partition selection: %v", err)
	}
	if maxGroups > magicMaxGroups {
		half := b.Delta / 2
		if _, err := noise.Gaussian().Threshold(maxGroups, 1, b.Epsilon, half, half); err != nil {
			return nil, paramErrorf("epsilon", "is not accepted by partition selection: %v", err)
		}
	}
	return &Selector{budget: b, maxGroups: maxGroups}, nil
}

// Keep decides, at random, whether to release a group with people distinct
// privacy units, counted after the planner enforced the contribution
// bounds. Call it once per group and query: every call is a fresh random
// decision, so asking again for a dropped group would erode the guarantee.
//
// Keep fails closed: a group with people <= 0, or any error inside the
// library (which NewSelector's checks rule out), is not kept.
func (s *Selector) Keep(people int64) bool {
	if people <= 0 {
		return false
	}
	p, err := dpagg.NewPreAggSelectPartition(&dpagg.PreAggSelectPartitionOptions{
		Epsilon: s.budget.Epsilon, Delta: s.budget.Delta, MaxPartitionsContributed: s.maxGroups,
	})
	if err != nil {
		return false
	}
	if err := p.IncrementBy(people); err != nil {
		return false
	}
	keep, err := p.ShouldKeepPartition()
	return err == nil && keep
}

// KeepProbability returns the probability that Keep keeps a group with
// people distinct privacy units. It spends no budget and is meant for
// tests, documentation and choosing group sizes in exact tests of other
// packages (a group is kept surely when the result is 1).
//
// For maxGroups <= 3 it is exact: the recurrence in the Selector's doc,
// computed step by step (one step per unit until it reaches 1). For
// maxGroups > 3 it approximates the library's rounded Gaussian noise by a
// normal distribution, 1 − Φ((⌈T⌉ − ½ − people)/σ), and never returns
// exactly 1.
func (s *Selector) KeepProbability(people int64) float64 {
	if people <= 0 {
		return 0
	}
	l0 := float64(s.maxGroups)
	if s.maxGroups > magicMaxGroups {
		eps, half := s.budget.Epsilon, s.budget.Delta/2
		threshold, err := noise.Gaussian().Threshold(s.maxGroups, 1, eps, half, half)
		if err != nil {
			return 0
		}
		sigma := noise.SigmaForGaussian(s.maxGroups, 1, eps, half)
		z := (math.Ceil(threshold) - 0.5 - float64(people)) / sigma
		return math.Erfc(z/math.Sqrt2) / 2 // 1 − Φ(z)
	}

	eps, delta := s.budget.Epsilon/l0, s.budget.Delta/l0
	grow, shrink := math.Exp(eps), math.Exp(-eps)
	p := 0.0
	for i := int64(0); i < people && p < 1; i++ {
		p = math.Min(math.Min(grow*p+delta, 1-shrink*(1-p-delta)), 1)
	}
	return p
}
