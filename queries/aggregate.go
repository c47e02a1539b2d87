package queries

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// aggKinds maps the aggregate functions on the allow-list to their kinds.
var aggKinds = map[string]AggKind{
	"count_star": AggCount, "count": AggCount, "sum": AggSum, "avg": AggAvg, "mean": AggAvg,
	"median": AggMedian, "quantile_cont": AggQuantile, "stddev": AggStdDev,
	"stddev_samp": AggStdDev, "stddev_pop": AggStdDev, "variance": AggVariance,
	"var_samp": AggVariance, "var_pop": AggVariance,
}

// otherAggregates are DuckDB aggregates that are not on the allow-list, so
// that their use in WHERE or GROUP BY is named as an aggregate.
var otherAggregates = strings.Fields(`min max first last any_value arbitrary arg_min arg_max
	argmin argmax min_by max_by list array_agg string_agg group_concat listagg bit_and bit_or
	bit_xor bool_and bool_or every mode quantile quantile_disc approx_count_distinct
	approx_quantile reservoir_quantile histogram entropy kurtosis kurtosis_pop skewness corr
	covar_pop covar_samp product fsum sumkahan kahan_sum favg count_if countif sum_no_overflow
	mad bitstring_agg geomean geometric_mean weighted_avg regr_avgx regr_avgy
	regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy`)

// isAggregateName reports whether name is an aggregate function of DuckDB.
func isAggregateName(name string) bool {
	if _, ok := aggKinds[name]; ok {
		return true
	}
	for _, a := range otherAggregates {
		if a == name {
			return true
		}
	}
	return false
}

// functionName returns the lower-case function name of a FUNCTION or
// WINDOW node, or "".
func functionName(raw json.RawMessage) string {
	var n struct {
		FunctionName string `json:"function_name"`
	}
	_ = json.Unmarshal(raw, &n)
	return strings.ToLower(n.FunctionName)
}

// aggregate checks one FUNCTION node of the select list or ORDER BY.
func (c *checker) aggregate(raw json.RawMessage) (*Aggregate, *Error) {
	var f functionNode
	if err := decodeStrict(raw, &f); err != nil {
		return nil, c.unknownNode(head(raw))
	}
	name := strings.ToLower(f.FunctionName)
	kind, ok := aggKinds[name]
	if !ok && f.IsOperator {
		return nil, refuse(CodeUnsupportedExpression,
			"operator %s is not supported: select group columns and aggregates only%s",
			quoted(name), c.at(f.nodeHead))
	}
	if !ok || f.Schema != "" || f.Catalog != "" || len(f.QualifiedName.Path) > 1 {
		return nil, refuse(CodeUnsupportedAggregate,
			"%s is not a supported aggregate: use count(*), count(DISTINCT %s), count, sum, avg, "+
				"median, quantile_cont, stddev or variance", quoted(name), c.table.PrivacyUnit)
	}

	// Modifiers of the call come before its arguments.
	switch {
	case !isNull(f.Filter):
		return nil, refuse(CodeUnsupportedClause,
			"FILTER on %s is not supported: move the condition to WHERE", name)
	case len(f.OrderBys.Orders) > 0:
		return nil, refuse(CodeUnsupportedClause, "ORDER BY inside %s is not supported", name)
	case f.ExportState:
		return nil, refuse(CodeUnsupportedClause, "EXPORT_STATE is not supported")
	}
	want := 1
	switch name {
	case "count_star":
		want = 0
	case "quantile_cont":
		want = 2
	}
	if len(f.Arguments) != want {
		return nil, refuse(CodeUnsupportedAggregate, "%s takes %d argument(s), not %d",
			name, want, len(f.Arguments))
	}
	for _, a := range f.Arguments {
		if a.Name != "" {
			return nil, refuse(CodeUnsupportedExpression, "named arguments such as %s := are not supported",
				quoted(a.Name))
		}
	}
	if want == 0 {
		return &Aggregate{Kind: AggCount, Alias: "count(*)"}, nil
	}

	col, err := c.aggColumn(name, f.Arguments[0].Expression)
	if err != nil {
		return nil, err
	}
	call := kind.String() + "(" + col.Name + ")"
	agg := &Aggregate{Kind: kind, Column: col.Name, Alias: call}
	switch {
	case f.Distinct && kind == AggCount && c.isUnit(col):
		agg.Kind = AggPeople
		agg.Alias = "count(DISTINCT " + col.Name + ")"
		return agg, nil
	case f.Distinct && !c.isUnit(col) && !col.Protected:
		return nil, refuse(CodeUnsupportedClause,
			"DISTINCT is allowed only as count(DISTINCT %s), not in %s(DISTINCT %s)",
			c.table.PrivacyUnit, name, col.Name)
	}
	if _, err := c.usable([]string{col.Name}); err != nil {
		return nil, err
	}
	if kind == AggCount {
		return agg, nil
	}

	// The remaining kinds add up or rank values: numbers with public bounds.
	if typeOf(col.Type) != typeNumber {
		return nil, refuse(CodeBadType, "%s needs a numeric column; %s is %s",
			call, quoted(col.Name), col.Type)
	}
	switch b := col.Bounds; {
	case b == nil:
		return nil, refuse(CodeMissingBounds,
			"%s needs public bounds: declare bounds in the job spec or pass them with the query", call)
	case !finite(b[0]) || !finite(b[1]) || b[0] > b[1]:
		return nil, refuse(CodeBadBounds, "the public bounds of %s must be finite with lo ≤ hi",
			quoted(col.Name))
	}
	bounds := *col.Bounds
	agg.Bounds = &bounds

	switch kind {
	case AggMedian:
		agg.P = 0.5
	case AggQuantile:
		p, ok := c.quantileP(f.Arguments[1].Expression)
		if !ok {
			return nil, refuse(CodeBadQuantile,
				"the p of quantile_cont(%s, p) must be a constant number between 0 and 1, exclusive",
				col.Name)
		}
		agg.P = p
		agg.Alias = "quantile_cont(" + col.Name + ", " + formatP(p) + ")"
	}
	return agg, nil
}

// aggColumn resolves the argument of an aggregate, which must be a column.
// It does not judge protection: count(DISTINCT <privacy unit>) may use it.
func (c *checker) aggColumn(name string, raw json.RawMessage) (Column, *Error) {
	h := head(raw)
	switch h.Class {
	case "COLUMN_REF":
		var n columnRefNode
		if err := decodeStrict(raw, &n); err != nil {
			return Column{}, c.unknownNode(h)
		}
		return c.lookup(n.ColumnNames)
	case "FUNCTION", "WINDOW":
		if inner := functionName(raw); isAggregateName(inner) || h.Class == "WINDOW" {
			return Column{}, refuse(CodeMisplacedAggregate,
				"aggregates cannot be nested: %s inside %s", quoted(inner), name)
		}
	case "SUBQUERY":
		return Column{}, refuse(CodeSubquery, "subqueries are not supported%s", c.at(h))
	}
	return Column{}, refuse(CodeUnsupportedExpression,
		"the argument of %s must be a column name%s", name, c.at(h))
}

// quantileP returns the constant p of quantile_cont when it lies in (0, 1).
func (c *checker) quantileP(raw json.RawMessage) (float64, bool) {
	var n constantNode
	if head(raw).Class != "CONSTANT" || decodeStrict(raw, &n) != nil {
		return 0, false
	}
	if n.Literal.Kind != "NUMERIC" && n.Literal.Kind != "INTEGER" {
		return 0, false
	}
	p, err := strconv.ParseFloat(strings.ReplaceAll(n.Literal.Text, "_", ""), 64)
	return p, err == nil && p > 0 && p < 1
}

// finite reports whether f is neither infinite nor NaN.
func finite(f float64) bool {
	return !math.IsInf(f, 0) && !math.IsNaN(f)
}

// formatP formats a quantile in the shortest form that reads back equal.
func formatP(p float64) string {
	return strconv.FormatFloat(p, 'g', -1, 64)
}
