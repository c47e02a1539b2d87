// Package dp turns exact bounded aggregates into differentially private
// answers: it adds noise, decides which groups may be released, attaches
// confidence intervals and does the arithmetic of privacy budgets. It knows
// nothing of SQL, HTTP or storage.
//
// # How it is used
//
// The query planner runs a bounded query in DuckDB that limits what each
// privacy unit (a passenger) can contribute — at most Bounds.MaxGroups
// groups, at most Bounds.MaxRows rows per group — and clamps values to a
// Range. It then hands this package, group by group, the exact aggregates
// of that bounded query:
//
//	per, sel, err := dp.PlanBudget(total, dp.Laplace, 2, true)
//	selector, err := dp.NewSelector(sel, bounds.MaxGroups)
//	n, err := dp.NewNoiser(dp.Laplace)
//	for _, g := range groups {
//		if !selector.Keep(g.People) {
//			continue // drop the group and all its aggregates
//		}
//		count, err := n.Count(g.Rows, per, bounds)
//		avg, err := n.Mean(g.Moments, fare, per, bounds)
//		…
//	}
//
// # What is guaranteed
//
// Each function is (ε, δ)-differentially private for the Budget it is given,
// with respect to adding or removing one privacy unit, provided the inputs
// obey the Bounds and Range it is given. A query that spends per-aggregate
// budgets on its aggregates and a selection budget on its groups spends the
// sum of them, by basic sequential composition; Budget.Add, Covers and Sub
// implement exactly that, and nothing tighter.
//
// All noise comes from Google's differential-privacy library (noise and
// dpagg), whose Laplace and Gaussian samplers draw from crypto/rand and are
// built to resist the floating-point attack on naive sampling. The
// randomness cannot be seeded; statistical tests therefore use tolerances
// wide enough for false failures to be negligible.
//
// Released values are post-processed only with public information —
// counts are raised to 0, means clamped to their Range, variances to
// [0, ((Hi−Lo)/2)²] — which costs no privacy. Confidence intervals are
// computed from the noisy values and the public parameters only, so they
// cost no privacy either; each function documents how its interval is
// built and whether it is exact, conservative or trivial.
//
// Every bad ε, δ, bound, range or option is an error naming the parameter
// (a *ParamError, matching ErrInvalidParam), never silently clamped or
// replaced. Error messages never contain exact aggregates.
//
// # What is not guaranteed
//
// This package cannot see rows, so it cannot enforce the Bounds or the
// Range: the planner must, in SQL, before aggregating. If one unit
// contributes to more groups or rows than declared, or values escape their
// Range, the noise is too small and the guarantee is void. Likewise the
// caller must charge the budget before releasing an answer, decide each
// group only once, and count distinct units correctly for selection.
//
// Budgets compose by basic composition only, per dataset; advanced or
// zero-concentrated composition, and protection across datasets that share
// passengers, are outside this package.
//
// # Splitting a query's budget
//
// PlanBudget gives every aggregate of a query an equal share of ε, and
// partition selection one more share when the groups are private. δ goes
// whole to selection for Laplace queries (their aggregates are pure ε-DP)
// and is split in the same equal shares for Gaussian ones. Inside Mean the
// share is halved between a noisy count and a noisy normalised sum; inside
// Variance and StdDev it is split in three, as the library does.
//
// # Rare groups
//
// When the groups come from the data, a Selector decides which to release
// (see Selector). A group holding one passenger is released with
// probability at most δ/MaxGroups of the selection budget, so one passenger
// makes any group appear with probability at most δ. With public groups
// there is nothing to select, and every listed group is released, empty
// ones included.
//
// # Tests of other packages
//
// Noiser.Noise defaults to the library's noise. Tests that compare answers
// with SQL set it to dptest.NoNoise(), which returns values unchanged with
// zero-width intervals; it panics outside test binaries, and a Source can be
// set only in code, never by configuration or a request.
//
// # Errors
//
// Functions return *ParamError (matching ErrInvalidParam) for bad
// parameters, ErrBudgetExhausted from Budget.Sub, and ErrReleased when a
// Quantiles is released twice. Other errors report impossible inputs (such
// as a negative exact count) and mean a bug in the caller.
package dp
