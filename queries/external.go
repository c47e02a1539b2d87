package queries

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"haze/dp"
	"haze/store"
)

// This file lets another engine compute a DP answer (Apache Beam with
// Privacy on Beam, in queries/beamreport) while the Engine keeps what
// makes an answer an answer: the same check of the query, the same
// budget split, the same fingerprint, and the same charge, so the result
// lands in the ledger where released answers live and repeating the same
// query through the API or the CLI returns it at no cost.

// Prepared is a request checked and priced against the current version of
// its dataset, but not run. It is only valid for the Engine that made it.
type Prepared struct {
	// Version is the dataset version the answer is about.
	Version store.Version
	// Query is the checked query.
	Query *Query
	// Mechanism is the noise.
	Mechanism dp.Mechanism
	// Total is what the answer costs; PerAggregate and Selection are its
	// split, as dp.PlanBudget makes it (Selection is zero with public
	// groups or without GROUP BY).
	Total, PerAggregate, Selection dp.Budget
	// Bounds are the contribution bounds to enforce.
	Bounds dp.Bounds
	// Public holds, per group column, the listed keys as DuckDB prints
	// them, or nil when groups must be selected privately.
	Public [][]string
	// Files are the version's Parquet files.
	Files []string

	req Request
	c   *checked
	fp  string
}

// Prepare checks req as Query does, without running it. It refuses (with
// an *Error) what an external engine cannot compute the way the Engine
// would: WHERE filters, count(column), variances and standard deviations.
func (e *Engine) Prepare(ctx context.Context, req Request) (*Prepared, error) {
	if req.Principal == "" {
		return nil, errors.New("principal is required")
	}
	c, err := e.check(ctx, req)
	if err != nil {
		return nil, err
	}
	if c.q.Where != nil {
		return nil, refuse(CodeUnsupportedClause, "reports take no WHERE filter")
	}
	aggs := 0
	for _, it := range c.q.Select {
		if it.Agg == nil {
			continue
		}
		aggs++
		switch a := it.Agg; {
		case a.Kind == AggCount && a.Column != "", a.Kind == AggStdDev, a.Kind == AggVariance:
			return nil, refuse(CodeUnsupportedAggregate, "reports cannot compute %s", aggregateText(a))
		}
	}
	selects := len(c.q.Groups) > 0 && c.s.public == nil
	per, sel, err := dp.PlanBudget(c.s.total, c.s.mech, aggs, selects)
	if err != nil {
		return nil, optionError(err)
	}
	files, err := e.dataFiles(c.v)
	if err != nil {
		return nil, err
	}
	return &Prepared{Version: c.v, Query: c.q, Mechanism: c.s.mech, Total: c.s.total,
		PerAggregate: per, Selection: sel, Bounds: c.s.bounds, Public: c.s.public, Files: files,
		req: req, c: c, fp: fingerprint(c.q, c.v, c.s)}, nil
}

// Released returns the answer already released for p's query, at no
// cost and recorded as such, or nil when there is none.
func (e *Engine) Released(ctx context.Context, p *Prepared) (*Answer, error) {
	prev, ok, err := e.cat.Released(ctx, p.Version.Dataset, p.Version.Version, p.fp)
	if err != nil || !ok {
		return nil, err
	}
	return e.charge(ctx, p.req, p.c, p.fp, newID(), prev)
}

// Allow refuses p when its cost does not fit the principal's budget now,
// so that no work is done for a query that cannot be charged.
func (e *Engine) Allow(ctx context.Context, p *Prepared) error {
	b, err := e.cat.Balance(ctx, p.req.Principal, p.Version.Dataset)
	if err != nil {
		return err
	}
	return allow(b, store.Amount(p.Total))
}

// Group is one released group of an external engine's answer.
type Group struct {
	// Keys holds the group's key per group column, as DuckDB prints the
	// value (CAST to VARCHAR), nil for NULL.
	Keys []*string
	// Values holds an Estimate per aggregate, in select order.
	Values []Estimate
}

// Release builds the answer from an external engine's noisy groups and
// charges it exactly as Query does: in one transaction that records the
// answer in the ledger, before it is returned. The groups must have been
// computed with p's budget split, bounds and group rule; only then is the
// charge the answer's true cost.
func (e *Engine) Release(ctx context.Context, p *Prepared, groups []Group) (*Answer, error) {
	q, t := p.Query, p.c.t
	a := &Answer{Dataset: p.Version.Dataset, Version: p.Version.Version, Query: q.Normalized,
		Mechanism: p.Mechanism.String(), Confidence: 0.95, GroupSelection: "none",
		MaxGroupsContributed: p.Bounds.MaxGroups, MaxContributionsPerGroup: p.Bounds.MaxRows,
		Cost: Spent{Epsilon: p.Total.Epsilon, Delta: p.Total.Delta}}
	switch {
	case p.Public != nil:
		a.GroupSelection = "public"
	case len(q.Groups) > 0:
		a.GroupSelection = "private"
	}
	for _, it := range q.Select {
		c := OutputColumn{Name: it.Alias(), Kind: "group"}
		if it.Agg != nil {
			c.Kind, c.Aggregate = "aggregate", aggregateText(it.Agg)
		}
		a.Columns = append(a.Columns, c)
	}
	for _, g := range groups {
		row := make([]any, 0, len(q.Select))
		v := 0
		for _, it := range q.Select {
			if it.Group != nil {
				gi := 0
				for i, gk := range q.Groups {
					if gk.Column == it.Group.Column {
						gi = i
					}
				}
				row = append(row, keyValue(g.Keys[gi], t.Columns[strings.ToLower(it.Group.Column)].Type))
				continue
			}
			if v >= len(g.Values) {
				return nil, fmt.Errorf("group has %d values, the query %d aggregates", len(g.Values), v+1)
			}
			row = append(row, g.Values[v])
			v++
		}
		a.Rows = append(a.Rows, row)
	}
	orderRows(a, q)

	a.QueryID = newID()
	a.Spent = Spent{Epsilon: p.Total.Epsilon, Delta: p.Total.Delta}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encoding answer: %w", err)
	}
	return e.charge(ctx, p.req, p.c, p.fp, a.QueryID, data)
}
