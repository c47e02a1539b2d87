package dp

import (
	"fmt"
	"math"
)

// budgetTolerance is the relative slack Covers allows for rounding in sums
// of float64 budgets, so that ten spends of ε = 0.1 fit in ε = 1. It is far
// below any privacy loss that matters (1e-9 of the budget).
const budgetTolerance = 1e-9

// Budget is an amount of privacy loss (ε, δ). Budgets compose by basic
// sequential composition: answering queries that spend (ε₁, δ₁), …, (εₖ, δₖ)
// on the same data spends (Σεᵢ, Σδᵢ) in total, which is what Add computes.
//
// The zero Budget spends nothing and is not a valid budget to spend; it is
// what is left once a budget is used up.
type Budget struct {
	// Epsilon is ε, the multiplicative privacy loss; > 0 and finite.
	Epsilon float64
	// Delta is δ, the probability that the ε bound fails; in [0, 1).
	// Laplace noise needs δ = 0; Gaussian noise and partition selection
	// need δ > 0.
	Delta float64
}

// Validate reports whether b can be spent: ε > 0 and finite, 0 ≤ δ < 1.
// The error is a *ParamError naming "epsilon" or "delta".
func (b Budget) Validate() error {
	if !(b.Epsilon > 0) || math.IsInf(b.Epsilon, 0) {
		return paramErrorf("epsilon", "must be > 0 and finite, got %v", b.Epsilon)
	}
	if !(b.Delta >= 0 && b.Delta < 1) {
		return paramErrorf("delta", "must be >= 0 and < 1, got %v", b.Delta)
	}
	return nil
}

// Add returns the budget spent by spending b and then o: (ε+ε', δ+δ').
// Add does not validate; validate each budget before spending it.
func (b Budget) Add(o Budget) Budget {
	return Budget{Epsilon: b.Epsilon + o.Epsilon, Delta: b.Delta + o.Delta}
}

// Covers reports whether b is at least o in both ε and δ, allowing a
// relative slack of 1e-9 for rounding in float sums: a budget of ε = 1
// covers ten spends of ε = 0.1 added up. A NaN in either budget is never
// covered.
func (b Budget) Covers(o Budget) bool {
	return covers(b.Epsilon, o.Epsilon) && covers(b.Delta, o.Delta)
}

func covers(have, want float64) bool {
	if math.IsNaN(have) || math.IsNaN(want) {
		return false
	}
	slack := budgetTolerance * math.Max(math.Abs(have), math.Abs(want))
	return have+slack >= want
}

// Sub returns what is left of b after spending o. o must be a valid budget
// (see Validate); otherwise Sub returns a *ParamError. If b does not cover o,
// Sub returns an error wrapping ErrBudgetExhausted and b is unchanged.
// Differences within the rounding slack of Covers are returned as 0, never
// as a negative budget.
func (b Budget) Sub(o Budget) (Budget, error) {
	if err := o.Validate(); err != nil {
		return b, err
	}
	if !b.Covers(o) {
		return b, fmt.Errorf("spending (ε=%g, δ=%g) from (ε=%g, δ=%g) left: %w",
			o.Epsilon, o.Delta, b.Epsilon, b.Delta, ErrBudgetExhausted)
	}

	return Budget{
		Epsilon: math.Max(0, b.Epsilon-o.Epsilon),
		Delta:   math.Max(0, b.Delta-o.Delta),
	}, nil
}

// Split divides b into one share per weight, each share getting ε and δ in
// proportion to its weight: Split(2, 1, 1) of (1, 1e-5) is (0.5, 5e-6),
// (0.25, 2.5e-6), (0.25, 2.5e-6). The shares add up to b within the
// rounding slack of Covers.
//
// b must be valid, and there must be at least one weight, each > 0 and
// finite; otherwise Split returns a *ParamError.
func (b Budget) Split(weights ...float64) ([]Budget, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if len(weights) == 0 {
		return nil, paramErrorf("weights", "must not be empty")
	}
	var total float64
	for i, w := range weights {
		if !(w > 0) || math.IsInf(w, 0) {
			return nil, paramErrorf("weights", "must be > 0 and finite, got %v at %d", w, i)
		}
		total += w
	}
	if math.IsInf(total, 0) {
		return nil, paramErrorf("weights", "must have a finite sum")
	}

	shares := make([]Budget, len(weights))
	for i, w := range weights {
		f := w / total
		shares[i] = Budget{Epsilon: b.Epsilon * f, Delta: b.Delta * f}
	}
	return shares, nil
}

// PlanBudget is the rule that divides a query's budget between its
// aggregates and, when the groups are not public, partition selection.
//
// The ε of total is split in equal shares: one share per aggregate, plus one
// share for selection when selectGroups is true. δ is split by mechanism:
//
//   - Laplace: aggregates get δ = 0 (Laplace noise is pure ε-DP) and
//     selection gets all of total.Delta. Without selection δ is not spent.
//   - Gaussian: δ is split in the same equal shares as ε, selection included.
//
// For example, with total (1, 1e-5), two aggregates and selection, Laplace
// gives each aggregate (1/3, 0) and selection (1/3, 1e-5); Gaussian gives
// every share (1/3, 1e-5/3).
//
// The query spends aggregates × perAggregate + selection, which is at most
// total and may be less (a Laplace query over public groups spends no δ);
// charge that, not total. selection is the zero Budget when selectGroups is
// false.
//
// PlanBudget returns a *ParamError if total is invalid, aggregates < 1,
// selection is asked for with δ = 0 ("partition selection needs delta > 0")
// or Gaussian noise is asked for with δ = 0.
func PlanBudget(total Budget, m Mechanism, aggregates int, selectGroups bool) (
	perAggregate, selection Budget, err error) {
	if err := total.Validate(); err != nil {
		return Budget{}, Budget{}, err
	}
	if err := m.valid(); err != nil {
		return Budget{}, Budget{}, err
	}
	if aggregates < 1 {
		return Budget{}, Budget{}, paramErrorf("aggregates", "must be >= 1, got %d", aggregates)
	}
	if selectGroups && total.Delta == 0 {
		return Budget{}, Budget{}, errSelectionDelta(total.Delta)
	}
	if m == Gaussian && total.Delta == 0 {
		return Budget{}, Budget{}, paramErrorf("delta", "must be > 0 for gaussian noise, got 0")
	}

	shares := float64(aggregates)
	if selectGroups {
		shares++
	}
	eps := total.Epsilon / shares

	// Laplace aggregates are pure ε-DP: only selection spends δ.
	if m == Laplace {
		perAggregate = Budget{Epsilon: eps}
		if selectGroups {
			selection = Budget{Epsilon: eps, Delta: total.Delta}
		}
		return perAggregate, selection, nil
	}

	perAggregate = Budget{Epsilon: eps, Delta: total.Delta / shares}
	if selectGroups {
		selection = perAggregate
	}
	return perAggregate, selection, nil
}
