package queries

import (
	"context"
	"errors"
	"strings"
)

// BoundedCell is one exact, contribution-bounded aggregate of one group.
type BoundedCell struct {
	// Keys are the group's keys in GROUP BY order, as DuckDB prints them.
	Keys []string
	// Aggregate is the output column's name.
	Aggregate string
	// Fixed is the exact value in fixed point: counts as they are, sums
	// multiplied by 10^Scale.
	Fixed int64
	// Scale is the number of decimal places of Fixed.
	Scale int
	// People is the number of distinct privacy units in the group.
	People int64
}

// Bounded computes the exact aggregates of a query over listed public
// groups, with the same checks, contribution bounds and clamping as a DP
// query, but without noise and without charging anything. It is for a
// data owner computing its own contribution to a federated round, which
// it then noises and masks itself; it must never answer an analyst.
//
// The query must list its groups (Options.PublicGroups) and may use only
// COUNT(*), COUNT(DISTINCT <privacy unit>) and SUM. Cells come in the
// order of the listed key combinations (each key list sorted), then of
// the select list.
func (e *Engine) Bounded(ctx context.Context, sql string, opts Options) ([]BoundedCell, error) {
	c, err := e.check(ctx, Request{Principal: "local", SQL: sql, Options: opts})
	if err != nil {
		return nil, err
	}
	q, s := c.q, c.s
	if s.public == nil {
		return nil, refuse(CodeBadOption, "a federated statistic must list its groups")
	}
	for _, it := range q.Select {
		if it.Agg != nil && it.Agg.Kind != AggCount && it.Agg.Kind != AggPeople &&
			it.Agg.Kind != AggSum {
			return nil, refuse(CodeUnsupportedAggregate,
				"a federated statistic may use count(*), count(DISTINCT unit) and sum, not %s",
				it.Agg.Kind)
		}
	}
	p, rows, err := e.run(ctx, c)
	if err != nil {
		return nil, err
	}

	var out []BoundedCell
	for _, r := range publicRows(rows, s.public, p) {
		keys := make([]string, len(r.keys))
		for i, k := range r.keys {
			if k == nil {
				return nil, errors.New("public group key is null")
			}
			keys[i] = *k
		}
		for i, it := range q.Select {
			if it.Agg == nil {
				continue
			}
			c := BoundedCell{Keys: keys, Aggregate: it.Alias(), People: r.people}
			switch it.Agg.Kind {
			case AggCount:
				c.Fixed = r.rows
				if it.Agg.Column != "" {
					c.Fixed = r.counted[indexOf(p.counted, it.Agg.Column)]
				}
			case AggPeople:
				c.Fixed = r.people
			case AggSum:
				j := p.inputOf[i]
				c.Fixed, c.Scale = r.inputs[j].sum, p.inputs[j].scale
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}
