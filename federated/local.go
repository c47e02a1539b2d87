package federated

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"haze/queries"
	"haze/store"
)

// LocalAggregate computes a partner's own exact vector for a round, on its
// own published dataset, with the same checks, contribution bounds and
// clamping as DP queries (queries.Engine.Bounded). It returns the fixed-
// point values in the round's cell order and, per cell, whether at least
// one privacy unit contributed. Nothing here is noised: the vector must
// only ever leave through Prepare.
func LocalAggregate(ctx context.Context, eng *queries.Engine, cat *store.Catalog, r Round) (
	[]int64, []bool, error) {
	st := r.Statistic
	v, err := cat.Current(ctx, st.Dataset)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset %s: %w", st.Dataset, err)
	}

	// The statistic as a query over listed groups.
	var sel, groups []string
	opts := queries.Options{Epsilon: 1e-6, PublicGroups: map[string][]string{},
		MaxGroupsContributed: st.MaxGroupsContributed, MaxContributionsPerGroup: st.MaxContributionsPerGroup}
	for _, g := range st.Groups {
		sel = append(sel, queries.QuoteIdent(g.Column))
		groups = append(groups, queries.QuoteIdent(g.Column))
		opts.PublicGroups[g.Column] = g.Keys
	}
	for i, a := range st.Aggregates {
		alias := "a" + strconv.Itoa(i)
		switch a.Kind {
		case KindCount:
			sel = append(sel, "count(*) AS "+alias)
		case KindPeople:
			sel = append(sel, "count(DISTINCT "+queries.QuoteIdent(v.PrivacyUnit)+") AS "+alias)
		case KindSum:
			sel = append(sel, "sum("+queries.QuoteIdent(a.Column)+") AS "+alias)
			if opts.Bounds == nil {
				opts.Bounds = map[string][2]float64{}
			}
			opts.Bounds[a.Column] = [2]float64{a.Lo, a.Hi}
		default:
			return nil, nil, fmt.Errorf("aggregate %d: unknown kind %q", i, a.Kind)
		}
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM " + queries.QuoteIdent(st.Dataset) +
		" GROUP BY " + strings.Join(groups, ", ")
	cells, err := eng.Bounded(ctx, sql, opts)
	if err != nil {
		return nil, nil, err
	}

	// Place each cell where the round expects it.
	values := make([]float64, r.Cells())
	contributes := make([]bool, r.Cells())
	for _, c := range cells {
		a, err := strconv.Atoi(strings.TrimPrefix(c.Aggregate, "a"))
		if err != nil {
			return nil, nil, fmt.Errorf("unexpected output %q", c.Aggregate)
		}
		i, err := r.CellIndex(a, c.Keys...)
		if err != nil {
			return nil, nil, fmt.Errorf("group %v is not a cell of the round: %w", c.Keys, err)
		}
		values[i] = float64(c.Fixed) / math.Pow10(c.Scale)
		contributes[i] = c.People > 0
	}
	exact, err := r.ToFixed(values)
	if err != nil {
		return nil, nil, err
	}
	return exact, contributes, nil
}
