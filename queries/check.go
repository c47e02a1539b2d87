package queries

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// nodeHead holds the fields that every expression node has. Decoded on its
// own, loosely, it tells which node struct to decode strictly.
type nodeHead struct {
	Class               string `json:"class"`
	Type                string `json:"type"`
	Alias               string `json:"alias"`
	QueryLocation       uint64 `json:"query_location"`
	QueryLocationLength uint64 `json:"query_location_length"`
}

// head decodes the nodeHead of raw, ignoring the other fields. A raw that
// is not an object yields a zero nodeHead, which no check accepts.
func head(raw json.RawMessage) nodeHead {
	var h nodeHead
	_ = json.Unmarshal(raw, &h)
	return h
}

// columnRefNode is DuckDB's COLUMN_REF.
type columnRefNode struct {
	nodeHead
	ColumnNames []string `json:"column_names"`
}

// constantNode is DuckDB's CONSTANT.
type constantNode struct {
	nodeHead
	Literal struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
	} `json:"literal"`
}

// functionNode is DuckDB's FUNCTION: a scalar function, an aggregate or an
// operator such as LIKE.
type functionNode struct {
	nodeHead
	FunctionName string          `json:"function_name"`
	Schema       string          `json:"schema"`
	Catalog      string          `json:"catalog"`
	Filter       json.RawMessage `json:"filter"`
	OrderBys     orderModifier   `json:"order_bys"`
	Distinct     bool            `json:"distinct"`
	IsOperator   bool            `json:"is_operator"`
	ExportState  bool            `json:"export_state"`
	Arguments    []struct {
		Name       string          `json:"name"`
		Expression json.RawMessage `json:"expression"`
	} `json:"arguments"`
	QualifiedName qualifiedName `json:"qualified_name"`
}

// comparisonNode is DuckDB's COMPARISON.
type comparisonNode struct {
	nodeHead
	Left  json.RawMessage `json:"left"`
	Right json.RawMessage `json:"right"`
}

// childrenNode is DuckDB's CONJUNCTION and OPERATOR.
type childrenNode struct {
	nodeHead
	Children []json.RawMessage `json:"children"`
}

// betweenNode is DuckDB's BETWEEN.
type betweenNode struct {
	nodeHead
	Input json.RawMessage `json:"input"`
	Lower json.RawMessage `json:"lower"`
	Upper json.RawMessage `json:"upper"`
}

// castNode is DuckDB's CAST.
type castNode struct {
	nodeHead
	Child    json.RawMessage `json:"child"`
	TryCast  bool            `json:"try_cast"`
	TypeExpr json.RawMessage `json:"type_expr"`
}

// typeNode is DuckDB's TYPE, the target of a cast.
type typeNode struct {
	nodeHead
	Catalog       string            `json:"catalog"`
	Schema        string            `json:"schema"`
	TypeName      string            `json:"type_name"`
	Children      []json.RawMessage `json:"children"`
	QualifiedName qualifiedName     `json:"qualified_name"`
}

// at returns " (at character N)" for the node with head h, or "" when DuckDB
// gave no position.
func (c *checker) at(h nodeHead) string {
	return at(c.text, h.QueryLocation)
}

// at returns " (at character N)" for the byte offset off of text, counting
// characters from 1, or "" when off lies outside text.
func at(text string, off uint64) string {
	if off >= uint64(len(text)) {
		return ""
	}
	n := utf8.RuneCountInString(text[:off]) + 1
	return " (at character " + strconv.Itoa(n) + ")"
}

// brief returns the SQL of e for a message, cut short.
func (e Expr) brief() string {
	return clip(e.SQL(), 2*maxQuoted)
}

// unknownNode refuses a node whose fields are not the ones expected.
func (c *checker) unknownNode(h nodeHead) *Error {
	return refuse(CodeUnsupportedExpression, "this expression is not supported%s", c.at(h))
}

// lookup resolves a column reference without judging how it is used. A
// qualified reference must use the FROM alias, or the name after FROM when
// there is none.
func (c *checker) lookup(names []string) (Column, *Error) {
	ref := strings.Join(names, ".")
	switch len(names) {
	case 1:
	case 2:
		if strings.ToLower(names[0]) != c.qualifier {
			return Column{}, refuse(CodeUnknownColumn, "unknown column %s", quoted(ref))
		}
	default:
		return Column{}, refuse(CodeUnknownColumn, "unknown column %s", quoted(ref))
	}

	col, ok := c.table.Columns[strings.ToLower(names[len(names)-1])]
	if !ok {
		return Column{}, refuse(CodeUnknownColumn, "unknown column %s in dataset %s",
			quoted(ref), quoted(c.table.Name))
	}
	return col, nil
}

// usable resolves a column reference that the query selects, groups,
// filters on or aggregates, refusing the protected ones.
func (c *checker) usable(names []string) (Column, *Error) {
	col, err := c.lookup(names)
	if err != nil {
		return col, err
	}
	if c.isUnit(col) {
		return col, refuse(CodeProtectedColumn,
			"%s is the privacy unit: it may be used only as count(DISTINCT %s)", quoted(col.Name), col.Name)
	}
	if col.Protected {
		return col, refuse(CodeProtectedColumn,
			"%s is protected: it may not be selected, grouped, filtered on or aggregated", quoted(col.Name))
	}
	return col, nil
}

// isUnit reports whether col is the privacy unit.
func (c *checker) isUnit(col Column) bool {
	return strings.ToLower(col.Name) == c.unit
}

// columnRef decodes a COLUMN_REF node and resolves it with usable.
func (c *checker) columnRef(raw json.RawMessage) (Column, *Error) {
	var n columnRefNode
	if err := decodeStrict(raw, &n); err != nil {
		return Column{}, c.unknownNode(head(raw))
	}
	return c.usable(n.ColumnNames)
}

// aggKinds maps the aggregate functions on the allow-list to their kinds.
var aggKinds = map[string]AggKind{
	"count_star": AggCount, "count": AggCount, "sum": AggSum, "avg": AggAvg, "mean": AggAvg,
	"median": AggMedian, "quantile_cont": AggQuantile, "stddev": AggStdDev,
	"stddev_samp": AggStdDev, "variance": AggVariance, "var_samp": AggVariance,
}

// otherAggregates are DuckDB aggregates that are not on the allow-list, so
// that their use in WHERE or GROUP BY is named as an aggregate.
var otherAggregates = strings.Fields(`min max first last any_value arbitrary arg_min arg_max
	argmin argmax min_by max_by list array_agg string_agg group_concat listagg bit_and bit_or
	bit_xor bool_and bool_or every mode quantile quantile_disc approx_count_distinct
	approx_quantile reservoir_quantile histogram entropy kurtosis kurtosis_pop skewness corr
	covar_pop covar_samp product fsum sumkahan kahan_sum favg count_if countif sum_no_overflow
	stddev_pop var_pop mad bitstring_agg geomean geometric_mean weighted_avg regr_avgx regr_avgy
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

// valueType is the class of type that the WHERE checker tracks.
type valueType int

const (
	typeOther valueType = iota // usable only with IS [NOT] NULL
	typeNull                   // the NULL constant, compatible with every type
	typeBool
	typeNumber
	typeString
	typeTime // DATE and TIMESTAMP
)

var typeNames = map[valueType]string{
	typeOther: "a value of another type", typeNull: "NULL", typeBool: "a boolean",
	typeNumber: "a number", typeString: "text", typeTime: "a date or timestamp",
}

// typeOf returns the class of the DuckDB type named t.
func typeOf(t string) valueType {
	t = strings.ToUpper(strings.TrimSpace(t))
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
		"UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "REAL", "DOUBLE", "DECIMAL", "NUMERIC":
		return typeNumber
	case "VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR":
		return typeString
	case "BOOLEAN", "BOOL":
		return typeBool
	case "DATE", "TIMESTAMP", "DATETIME", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		return typeTime
	}
	return typeOther
}

// compatible reports whether values of types a and b may be compared.
func compatible(a, b valueType) bool {
	if a == typeNull || b == typeNull {
		return true
	}
	return a == b && a != typeOther
}

// comparisons maps DuckDB's comparison types to operators.
var comparisons = map[string]Op{
	"COMPARE_EQUAL": OpEq, "COMPARE_NOTEQUAL": OpNe, "COMPARE_LESSTHAN": OpLt,
	"COMPARE_LESSTHANOREQUALTO": OpLe, "COMPARE_GREATERTHAN": OpGt,
	"COMPARE_GREATERTHANOREQUALTO": OpGe,
}

// likeOps maps the function names DuckDB gives LIKE and ILIKE to operators.
var likeOps = map[string]Op{"~~": OpLike, "!~~": OpNotLike, "~~*": OpILike, "!~~*": OpNotILike}

// dateParts are the first arguments date_trunc accepts.
var dateParts = map[string]bool{
	"year": true, "quarter": true, "month": true, "week": true, "day": true,
}

// where checks the WHERE clause, which must be a boolean expression.
func (c *checker) where(raw json.RawMessage) (Expr, *Error) {
	e, t, err := c.expr(raw)
	if err != nil {
		return e, err
	}
	if t != typeBool {
		return e, refuse(CodeBadType, "WHERE needs a condition, not %s", typeNames[t])
	}
	return e, nil
}

// expr checks one expression node of WHERE and returns it with its type.
func (c *checker) expr(raw json.RawMessage) (Expr, valueType, *Error) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth {
		return Expr{}, 0, refuse(CodeTooComplex, "WHERE is nested more than %d levels deep", maxDepth)
	}

	h := head(raw)
	switch h.Class {
	case "COLUMN_REF":
		col, err := c.columnRef(raw)
		return Expr{Op: OpColumn, Column: col.Name}, typeOf(col.Type), err
	case "CONSTANT", "CAST":
		v, err := c.constant(raw)
		return Expr{Op: OpConst, Const: v}, constTypes[v.Kind], err
	case "COMPARISON":
		return c.comparison(raw)
	case "CONJUNCTION", "OPERATOR":
		return c.operator(raw)
	case "BETWEEN":
		var n betweenNode
		if err := decodeStrict(raw, &n); err != nil {
			return Expr{}, 0, c.unknownNode(h)
		}
		e, err := c.sameType(OpBetween, n.Input, n.Lower, n.Upper)
		return e, typeBool, err
	case "FUNCTION":
		return c.function(raw)
	case "WINDOW":
		return Expr{}, 0, refuse(CodeMisplacedAggregate, "window functions are not allowed in WHERE")
	case "SUBQUERY":
		return Expr{}, 0, refuse(CodeSubquery, "subqueries are not supported%s", c.at(h))
	case "PARAMETER":
		return Expr{}, 0, refuse(CodeUnsupportedExpression,
			"parameters such as ? or $1 are not supported: write the values into the query")
	case "CASE":
		return Expr{}, 0, refuse(CodeUnsupportedExpression, "CASE is not supported in WHERE%s", c.at(h))
	}
	return Expr{}, 0, refuse(CodeUnsupportedExpression, "this expression is not supported in WHERE%s",
		c.at(h))
}

// sameType checks operands that must share one comparable type.
func (c *checker) sameType(op Op, raws ...json.RawMessage) (Expr, *Error) {
	e := Expr{Op: op}
	typ := typeNull
	for _, raw := range raws {
		arg, t, err := c.expr(raw)
		if err != nil {
			return e, err
		}
		if t == typeOther {
			return e, refuse(CodeBadType, "%s can only be tested with IS NULL or IS NOT NULL", arg.brief())
		}
		if !compatible(typ, t) {
			return e, refuse(CodeBadType, "%s is %s and cannot be compared with %s",
				arg.brief(), typeNames[t], typeNames[typ])
		}
		if t != typeNull {
			typ = t
		}
		e.Args = append(e.Args, arg)
	}
	return e, nil
}

// comparison checks =, <>, <, <=, > and >=.
func (c *checker) comparison(raw json.RawMessage) (Expr, valueType, *Error) {
	var n comparisonNode
	if err := decodeStrict(raw, &n); err != nil {
		return Expr{}, 0, c.unknownNode(head(raw))
	}
	op, ok := comparisons[n.Type]
	if !ok {
		return Expr{}, 0, refuse(CodeUnsupportedExpression,
			"only =, <>, <, <=, > and >= compare values%s", c.at(n.nodeHead))
	}
	e, err := c.sameType(op, n.Left, n.Right)
	return e, typeBool, err
}

// operator checks AND, OR, NOT, IS [NOT] NULL and IN.
func (c *checker) operator(raw json.RawMessage) (Expr, valueType, *Error) {
	var n childrenNode
	if err := decodeStrict(raw, &n); err != nil || len(n.Children) == 0 {
		return Expr{}, 0, c.unknownNode(head(raw))
	}
	switch n.Type {
	case "CONJUNCTION_AND", "CONJUNCTION_OR":
		op := OpAnd
		if n.Type == "CONJUNCTION_OR" {
			op = OpOr
		}
		e := Expr{Op: op}
		for _, raw := range n.Children {
			arg, t, err := c.expr(raw)
			if err != nil {
				return e, 0, err
			}
			if t != typeBool {
				return e, 0, refuse(CodeBadType, "%s needs conditions, not %s: %s",
					strings.ToUpper(string(op)), typeNames[t], arg.brief())
			}
			// Nested ANDs (or ORs) flatten into one, as DuckDB reads them.
			if arg.Op == op {
				e.Args = append(e.Args, arg.Args...)
			} else {
				e.Args = append(e.Args, arg)
			}
		}
		return e, typeBool, nil
	case "OPERATOR_NOT", "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL":
		if len(n.Children) != 1 {
			return Expr{}, 0, c.unknownNode(n.nodeHead)
		}
		arg, t, err := c.expr(n.Children[0])
		if err != nil {
			return arg, 0, err
		}
		if n.Type != "OPERATOR_NOT" {
			op := map[string]Op{"OPERATOR_IS_NULL": OpIsNull, "OPERATOR_IS_NOT_NULL": OpIsNotNull}[n.Type]
			return Expr{Op: op, Args: []Expr{arg}}, typeBool, nil
		}
		if t != typeBool {
			return arg, 0, refuse(CodeBadType, "NOT needs a condition, not %s: %s",
				typeNames[t], arg.brief())
		}
		return Expr{Op: OpNot, Args: []Expr{arg}}, typeBool, nil
	case "COMPARE_IN", "COMPARE_NOT_IN":
		for _, raw := range n.Children[1:] {
			if cl := head(raw).Class; cl != "CONSTANT" && cl != "CAST" {
				return Expr{}, 0, refuse(CodeUnsupportedExpression,
					"IN takes a list of constants%s", c.at(head(raw)))
			}
		}
		e, err := c.sameType(OpIn, n.Children...)
		if n.Type == "COMPARE_NOT_IN" {
			e = Expr{Op: OpNot, Args: []Expr{e}}
		}
		return e, typeBool, err
	}
	return Expr{}, 0, refuse(CodeUnsupportedExpression, "this operator is not supported in WHERE%s",
		c.at(n.nodeHead))
}

// function checks LIKE, ILIKE and the scalar functions on the allow-list.
func (c *checker) function(raw json.RawMessage) (Expr, valueType, *Error) {
	var f functionNode
	if err := decodeStrict(raw, &f); err != nil {
		return Expr{}, 0, c.unknownNode(head(raw))
	}
	name := strings.ToLower(f.FunctionName)
	switch {
	case isAggregateName(name):
		return Expr{}, 0, refuse(CodeMisplacedAggregate,
			"aggregates such as %s are not allowed in WHERE", quoted(name))
	case f.Schema != "" || f.Catalog != "" || len(f.QualifiedName.Path) > 1 || f.Distinct ||
		!isNull(f.Filter) || len(f.OrderBys.Orders) > 0 || f.ExportState:
		return Expr{}, 0, refuse(CodeUnsupportedFunction, "this form of %s is not supported%s",
			quoted(name), c.at(f.nodeHead))
	}
	for _, a := range f.Arguments {
		if a.Name != "" {
			return Expr{}, 0, refuse(CodeUnsupportedExpression,
				"named arguments such as %s := are not supported", quoted(a.Name))
		}
	}

	// want lists the argument types, result the type of the value.
	var want []valueType
	result := typeBool
	e := Expr{Op: OpFunc, Func: name}
	if op, ok := likeOps[name]; ok {
		e = Expr{Op: op}
		want = []valueType{typeString, typeString}
		if len(f.Arguments) == 2 && head(f.Arguments[1].Expression).Class != "CONSTANT" {
			return e, 0, refuse(CodeUnsupportedExpression, "the pattern of LIKE must be a constant%s",
				c.at(f.nodeHead))
		}
	} else {
		switch name {
		case "lower", "upper":
			want, result = []valueType{typeString}, typeString
		case "year", "month":
			want, result = []valueType{typeTime}, typeNumber
		case "date_trunc":
			want, result = []valueType{typeString, typeTime}, typeTime
		default:
			if f.IsOperator {
				return e, 0, refuse(CodeUnsupportedExpression, "operator %s is not supported in WHERE%s",
					quoted(name), c.at(f.nodeHead))
			}
			return e, 0, refuse(CodeUnsupportedFunction, "function %s is not supported in WHERE: "+
				"use lower, upper, year, month or date_trunc", quoted(name))
		}
	}
	if len(f.Arguments) != len(want) {
		return e, 0, refuse(CodeUnsupportedFunction, "%s takes %d argument(s), not %d",
			quoted(name), len(want), len(f.Arguments))
	}

	for i, a := range f.Arguments {
		arg, t, err := c.expr(a.Expression)
		if err != nil {
			return e, 0, err
		}
		if t != want[i] && t != typeNull {
			return e, 0, refuse(CodeBadType, "argument %d of %s must be %s, not %s: %s",
				i+1, quoted(name), typeNames[want[i]], typeNames[t], arg.brief())
		}
		e.Args = append(e.Args, arg)
	}
	if name == "date_trunc" {
		part := e.Args[0]
		if part.Op != OpConst || part.Const.Kind != ConstString ||
			!dateParts[strings.ToLower(part.Const.Text)] {
			return e, 0, refuse(CodeUnsupportedFunction,
				"date_trunc takes 'year', 'quarter', 'month', 'week' or 'day' as its first argument")
		}
		e.Args[0].Const.Text = strings.ToLower(part.Const.Text)
	}
	return e, result, nil
}

// constTypes gives the type of each kind of constant.
var constTypes = map[ConstKind]valueType{
	ConstNull: typeNull, ConstBool: typeBool, ConstNumber: typeNumber, ConstString: typeString,
	ConstDate: typeTime, ConstTimestamp: typeTime,
}

// constant checks a CONSTANT node, or a CAST of a string constant to DATE or
// TIMESTAMP, and returns its value in canonical form.
func (c *checker) constant(raw json.RawMessage) (Const, *Error) {
	h := head(raw)
	if h.Class == "CAST" {
		return c.cast(raw)
	}
	var n constantNode
	if err := decodeStrict(raw, &n); err != nil {
		return Const{}, c.unknownNode(h)
	}

	text := n.Literal.Text
	switch n.Literal.Kind {
	case "STRING":
		return Const{Kind: ConstString, Text: text}, nil
	case "BOOLEAN":
		if t := strings.ToLower(text); t == "true" || t == "false" {
			return Const{Kind: ConstBool, Text: t}, nil
		}
	case "NULL_LITERAL":
		return Const{Kind: ConstNull}, nil
	case "INTEGER", "NUMERIC":
		if num, ok := canonicalNumber(text); ok {
			return Const{Kind: ConstNumber, Text: num}, nil
		}
		return Const{}, refuse(CodeBadConstant, "the number %s is out of range%s", quoted(text), c.at(h))
	}
	return Const{}, refuse(CodeUnsupportedExpression, "this kind of constant is not supported%s",
		c.at(h))
}

// cast checks DATE 'yyyy-mm-dd' and TIMESTAMP 'yyyy-mm-dd hh:mm:ss[.ffffff]',
// also written as CAST('...' AS DATE) or '...'::DATE.
func (c *checker) cast(raw json.RawMessage) (Const, *Error) {
	refusal := refuse(CodeUnsupportedExpression,
		"casts are allowed only as DATE 'yyyy-mm-dd' or TIMESTAMP 'yyyy-mm-dd hh:mm:ss'%s",
		c.at(head(raw)))
	var n castNode
	var t typeNode
	var v constantNode
	if decodeStrict(raw, &n) != nil || n.TryCast || decodeStrict(n.TypeExpr, &t) != nil ||
		decodeStrict(n.Child, &v) != nil || v.Class != "CONSTANT" || v.Literal.Kind != "STRING" {
		return Const{}, refusal
	}
	if t.Catalog != "" || t.Schema != "" || len(t.Children) > 0 || len(t.QualifiedName.Path) > 1 {
		return Const{}, refusal
	}

	switch strings.ToUpper(t.TypeName) {
	case "DATE":
		d, err := time.Parse(time.DateOnly, v.Literal.Text)
		if err != nil {
			return Const{}, refuse(CodeBadConstant, "DATE %s is not a date of the form yyyy-mm-dd",
				quoted(v.Literal.Text))
		}
		return Const{Kind: ConstDate, Text: d.Format(time.DateOnly)}, nil
	case "TIMESTAMP":
		ts, err := time.Parse(time.DateTime, strings.Replace(v.Literal.Text, "T", " ", 1))
		if err != nil || ts.Nanosecond()%1000 != 0 { // DuckDB keeps microseconds
			return Const{}, refuse(CodeBadConstant,
				"TIMESTAMP %s is not a timestamp of the form yyyy-mm-dd hh:mm:ss[.ffffff]",
				quoted(v.Literal.Text))
		}
		return Const{Kind: ConstTimestamp, Text: ts.Format(timestampLayout)}, nil
	}
	return Const{}, refusal
}
