package queries

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"haze/dp"
	"haze/store"
)

// Answer is a released DP answer. Every aggregate cell is noisy; group
// keys are either public (listed by the analyst) or chosen by DP partition
// selection, so groups of few people do not appear.
type Answer struct {
	QueryID string `json:"query_id"`
	Dataset string `json:"dataset"`
	Version int    `json:"version"`
	// Query is the query in normal form.
	Query   string         `json:"query"`
	Columns []OutputColumn `json:"columns"`
	// Rows hold, per released group, a key (string, number or null) for
	// each group column and an Estimate for each aggregate column.
	Rows [][]any `json:"rows"`
	// Mechanism is laplace or gaussian.
	Mechanism string `json:"mechanism"`
	// Confidence is the level of the intervals, such as 0.95.
	Confidence float64 `json:"confidence"`
	// GroupSelection is "public", "private" (DP partition selection) or
	// "none" (no GROUP BY).
	GroupSelection string `json:"group_selection"`
	// Bounds are the contribution bounds the query enforced.
	MaxGroupsContributed     int64 `json:"max_groups_contributed"`
	MaxContributionsPerGroup int64 `json:"max_contributions_per_group"`
	// Cost is what the answer cost when first released.
	Cost Spent `json:"cost"`
	// Spent is what this request was charged: Cost, or zero when Cached.
	Spent Spent `json:"spent"`
	// Cached is true when the answer had been released before and was
	// returned at no cost.
	Cached bool `json:"cached"`
	// Remaining is what the analyst may still spend on the dataset.
	Remaining *Spent `json:"remaining,omitempty"`
}

// Spent is an amount of privacy budget.
type Spent struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// OutputColumn describes an output column of an answer.
type OutputColumn struct {
	Name string `json:"name"`
	// Kind is "group" or "aggregate".
	Kind string `json:"kind"`
	// Aggregate is the aggregate in normal form, such as avg(fare_amount).
	Aggregate string `json:"aggregate,omitempty"`
}

// Estimate is one noisy value with its confidence interval.
type Estimate struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// release adds noise to the exact bounded rows and selects the groups.
func (e *Engine) release(q *Query, t Table, v store.Version, s *settings, p *planned,
	rows []groupRow) (*Answer, error) {
	aggs := 0
	for _, it := range q.Select {
		if it.Agg != nil {
			aggs++
		}
	}
	selects := len(q.Groups) > 0 && s.public == nil
	per, selection, err := dp.PlanBudget(s.total, s.mech, aggs, selects)
	if err != nil {
		return nil, optionError(err)
	}
	noiser, err := dp.NewNoiser(s.mech)
	if err != nil {
		return nil, optionError(err)
	}
	if e.cfg.Noise != nil {
		noiser.Noise = e.cfg.Noise
	}

	a := &Answer{Dataset: v.Dataset, Version: v.Version, Query: q.Normalized,
		Mechanism: s.mech.String(), Confidence: 0.95, GroupSelection: "none",
		MaxGroupsContributed: s.bounds.MaxGroups, MaxContributionsPerGroup: s.bounds.MaxRows,
		Cost: Spent{Epsilon: s.total.Epsilon, Delta: s.total.Delta}}
	for _, it := range q.Select {
		c := OutputColumn{Name: it.Alias(), Kind: "group"}
		if it.Agg != nil {
			c.Kind, c.Aggregate = "aggregate", aggregateText(it.Agg)
		}
		a.Columns = append(a.Columns, c)
	}

	// Which groups are released: the listed ones, or those that pass DP
	// partition selection, or the single group of a query without GROUP BY.
	switch {
	case s.public != nil:
		a.GroupSelection = "public"
		rows = publicRows(rows, s.public, p)
	case selects:
		a.GroupSelection = "private"
		sel, err := dp.NewSelector(selection, s.bounds.MaxGroups)
		if err != nil {
			return nil, optionError(err)
		}
		kept := rows[:0]
		for _, r := range rows {
			if sel.Keep(r.people) {
				kept = append(kept, r)
			}
		}
		rows = kept
	default:
		if len(rows) == 0 {
			rows = []groupRow{emptyRow(nil, p)}
		}
	}

	for _, r := range rows {
		out, err := e.noisyRow(q, t, s, p, r, per, noiser)
		if err != nil {
			return nil, err
		}
		a.Rows = append(a.Rows, out)
	}
	orderRows(a, q)
	return a, nil
}

// noisyRow releases one group.
func (e *Engine) noisyRow(q *Query, t Table, s *settings, p *planned, r groupRow, per dp.Budget,
	n dp.Noiser) ([]any, error) {
	out := make([]any, len(q.Select))
	for i, it := range q.Select {
		if it.Group != nil {
			g := slices.IndexFunc(q.Groups, func(k GroupKey) bool { return k.Column == it.Group.Column })
			out[i] = keyValue(r.keys[g], t.Columns[strings.ToLower(it.Group.Column)].Type)
			continue
		}
		est, err := e.noisyAggregate(it.Agg, s, p, r, i, per, n)
		if err != nil {
			return nil, err
		}
		out[i] = Estimate{Value: est.Value, Low: est.Low, High: est.High}
	}
	return out, nil
}

func (e *Engine) noisyAggregate(a *Aggregate, s *settings, p *planned, r groupRow, item int,
	per dp.Budget, n dp.Noiser) (dp.Estimate, error) {
	var est dp.Estimate
	var err error
	switch a.Kind {
	case AggCount:
		exact := r.rows
		if a.Column != "" {
			exact = r.counted[slices.Index(p.counted, a.Column)]
		}
		est, err = n.Count(exact, per, s.bounds)
	case AggPeople:
		est, err = n.People(r.people, per, s.bounds)
	default:
		j := p.inputOf[item]
		in, st := p.inputs[j], r.inputs[j]
		m := dp.Moments{Count: st.count, Sum: st.sum, SumSquares: st.squares}
		switch a.Kind {
		case AggSum:
			est, err = n.Sum(st.sum, in.dpRange(), per, s.bounds)
		case AggAvg:
			est, err = n.Mean(m, in.dpRange(), per, s.bounds)
		case AggVariance:
			est, err = n.Variance(m, in.dpRange(), per, s.bounds)
		case AggStdDev:
			est, err = n.StdDev(m, in.dpRange(), per, s.bounds)
		case AggQuantile, AggMedian:
			est, err = quantile(n, per, s.bounds, in, st.values, a.P)
		default:
			err = fmt.Errorf("aggregate %s has no mechanism", a.Kind)
		}
	}
	if err != nil {
		return est, optionError(err)
	}
	return est, nil
}

func quantile(n dp.Noiser, per dp.Budget, b dp.Bounds, in aggInput, values []float64,
	p float64) (dp.Estimate, error) {
	qs, err := n.NewQuantiles(per, b, in.lo, in.hi)
	if err != nil {
		return dp.Estimate{}, err
	}
	for _, v := range values {
		if err := qs.Add(v); err != nil {
			return dp.Estimate{}, err
		}
	}
	res, err := qs.Result(p)
	if err != nil {
		return dp.Estimate{}, err
	}
	return res[0], nil
}

// optionError turns a dp parameter error (a bound or budget the analyst
// chose) into a refusal; other errors pass through.
func optionError(err error) error {
	var pe *dp.ParamError
	if errors.As(err, &pe) {
		return refuse(CodeBadOption, "%s", err.Error())
	}
	return err
}

// publicRows returns one row per combination of the listed keys, in key
// order, with empty rows for combinations the data lacks.
func publicRows(rows []groupRow, public [][]string, p *planned) []groupRow {
	byKey := map[string]groupRow{}
	for _, r := range rows {
		byKey[joinKeys(r.keys)] = r
	}
	var out []groupRow
	var walk func(prefix []*string)
	walk = func(prefix []*string) {
		if len(prefix) == len(public) {
			if r, ok := byKey[joinKeys(prefix)]; ok {
				out = append(out, r)
			} else {
				out = append(out, emptyRow(slices.Clone(prefix), p))
			}
			return
		}
		for _, k := range public[len(prefix)] {
			walk(append(prefix, &k))
		}
	}
	walk(nil)
	return out
}

func joinKeys(keys []*string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		if k == nil {
			parts[i] = "\x00null"
		} else {
			parts[i] = *k
		}
	}
	return strings.Join(parts, "\x00")
}

// emptyRow is a group no row falls into.
func emptyRow(keys []*string, p *planned) groupRow {
	r := groupRow{keys: keys, counted: make([]int64, len(p.counted)),
		inputs: make([]inputStats, len(p.inputs))}
	for i := range r.inputs {
		r.inputs[i].squares = new(big.Int)
	}
	return r
}

// keyValue shows a group key as a number when its column is numeric.
func keyValue(k *string, typ string) any {
	if k == nil {
		return nil
	}
	if scaleOf(typ) == 0 || strings.HasPrefix(strings.ToUpper(typ), "DECIMAL") ||
		strings.ToUpper(typ) == "DOUBLE" {
		if f, err := strconv.ParseFloat(*k, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	return *k
}

// orderRows applies ORDER BY and LIMIT to the released rows (post-
// processing of noisy values), or orders by the group keys.
func orderRows(a *Answer, q *Query) {
	less := func(x, y []any) int {
		for _, o := range q.OrderBy {
			c := compareCells(x[o.Item], y[o.Item])
			if o.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		for i, it := range q.Select {
			if it.Group != nil {
				if c := compareCells(x[i], y[i]); c != 0 {
					return c
				}
			}
		}
		return 0
	}
	slices.SortStableFunc(a.Rows, less)
	if q.Limit != nil && int64(len(a.Rows)) > *q.Limit {
		a.Rows = a.Rows[:*q.Limit]
	}
}

func compareCells(x, y any) int {
	switch {
	case x == nil && y == nil:
		return 0
	case x == nil:
		return 1
	case y == nil:
		return -1
	}
	switch xv := x.(type) {
	case Estimate:
		return cmp.Compare(xv.Value, y.(Estimate).Value)
	case float64:
		if yv, ok := y.(float64); ok {
			return cmp.Compare(xv, yv)
		}
	case string:
		if yv, ok := y.(string); ok {
			return strings.Compare(xv, yv)
		}
	}
	return strings.Compare(fmt.Sprint(x), fmt.Sprint(y))
}

func aggregateText(a *Aggregate) string {
	switch a.Kind {
	case AggCount:
		if a.Column == "" {
			return "count(*)"
		}
		return "count(" + a.Column + ")"
	case AggPeople:
		return "count(DISTINCT " + a.Column + ")"
	case AggQuantile:
		return "quantile_cont(" + a.Column + ", " + strconv.FormatFloat(a.P, 'g', -1, 64) + ")"
	default:
		return a.Kind.String() + "(" + a.Column + ")"
	}
}

// UnmarshalJSON decodes an answer, turning aggregate cells back into
// Estimates.
func (a *Answer) UnmarshalJSON(data []byte) error {
	type plain Answer
	var raw struct {
		plain
		Rows [][]json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*a = Answer(raw.plain)
	a.Rows = make([][]any, len(raw.Rows))
	for i, row := range raw.Rows {
		a.Rows[i] = make([]any, len(row))
		for j, cell := range row {
			var v any
			if j < len(a.Columns) && a.Columns[j].Kind == "aggregate" {
				var e Estimate
				if err := json.Unmarshal(cell, &e); err != nil {
					return fmt.Errorf("row %d column %d: %w", i, j, err)
				}
				v = e
			} else if err := json.Unmarshal(cell, &v); err != nil {
				return fmt.Errorf("row %d column %d: %w", i, j, err)
			}
			a.Rows[i][j] = v
		}
	}
	return nil
}
