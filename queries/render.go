package queries

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Query is a checked query in normal form. Column names in it are the
// catalog's, never the analyst's spelling.
type Query struct {
	// Dataset is the Name of the one Table the query reads.
	Dataset string
	// Groups are the GROUP BY columns in their order; empty for a query
	// without GROUP BY, which answers one row.
	Groups []GroupKey
	// Select are the output columns in select order.
	Select []Item
	// Where is the filter on rows, nil when the query has none.
	Where *Expr
	// OrderBy is the order of the output rows, empty when unspecified.
	OrderBy []Order
	// Limit is the largest number of output rows, nil when unlimited.
	Limit *int64
	// Normalized is the checked query rendered as canonical DuckDB SQL:
	// queries that differ only in white space, comments, keyword case,
	// identifier case, redundant parentheses or the way a column or output
	// is referred to share it. It covers the text only, not the catalog:
	// a cache keyed on it must also key on the bounds in use.
	Normalized string
}

// GroupKey is one GROUP BY column.
type GroupKey struct {
	// Column is the column's catalog name.
	Column string
	// Alias is the name of the output column that shows the group, or ""
	// when the group is not selected.
	Alias string
}

// Item is one output column: exactly one of Group and Agg is non-nil.
type Item struct {
	// Group points into Query.Groups when the item shows a group column.
	Group *GroupKey
	// Agg is the aggregate the item shows.
	Agg *Aggregate
}

// Alias returns the name of the output column. Aliases are unique within a
// query, ignoring case.
func (it Item) Alias() string {
	if it.Agg != nil {
		return it.Agg.Alias
	}
	return it.Group.Alias
}

// AggKind is the kind of an aggregate.
type AggKind int

// The aggregates a query may ask for.
const (
	// AggCount is count(*), or count(column) counting its non-NULL values.
	AggCount AggKind = iota + 1
	// AggPeople is count(DISTINCT <privacy unit>): distinct passengers.
	AggPeople
	// AggSum is sum(column).
	AggSum
	// AggAvg is avg(column) or mean(column).
	AggAvg
	// AggQuantile is quantile_cont(column, p).
	AggQuantile
	// AggMedian is median(column); its P is 0.5.
	AggMedian
	// AggStdDev is stddev(column) or stddev_samp(column).
	AggStdDev
	// AggVariance is variance(column) or var_samp(column).
	AggVariance
)

// aggNames are the SQL function names of the aggregates.
var aggNames = map[AggKind]string{
	AggCount: "count", AggPeople: "count", AggSum: "sum", AggAvg: "avg",
	AggQuantile: "quantile_cont", AggMedian: "median", AggStdDev: "stddev",
	AggVariance: "variance",
}

// String returns the SQL function name of k.
func (k AggKind) String() string {
	if s, ok := aggNames[k]; ok {
		return s
	}
	return "AggKind(" + strconv.Itoa(int(k)) + ")"
}

// NeedsBounds reports whether an aggregate of kind k needs public bounds on
// its column.
func (k AggKind) NeedsBounds() bool {
	return k != AggCount && k != AggPeople
}

// Aggregate is one aggregate of the select list.
type Aggregate struct {
	Kind AggKind
	// Column is the aggregated column's catalog name; "" for count(*).
	// For AggPeople it is the privacy unit.
	Column string
	// P is the quantile in (0, 1) for AggQuantile, 0.5 for AggMedian and 0
	// otherwise.
	P float64
	// Alias is the output column's name: the AS name, or else the
	// aggregate as written in normal form, such as "avg(fare_amount)".
	Alias string
	// Bounds are the column's public bounds [lo, hi], set when
	// Kind.NeedsBounds, nil otherwise.
	Bounds *[2]float64
}

// Order is one ORDER BY term.
type Order struct {
	// Item is the index in Query.Select of the output column, from 0.
	Item int
	// Desc is true for descending order, false for ascending.
	Desc bool
}

// Op is the operator of an Expr node.
type Op string

// The operators of a checked WHERE clause.
const (
	OpColumn    Op = "column"      // a column: Expr.Column
	OpConst     Op = "const"       // a constant: Expr.Const
	OpEq        Op = "="           // Args[0] = Args[1]
	OpNe        Op = "<>"          // Args[0] <> Args[1]
	OpLt        Op = "<"           // Args[0] < Args[1]
	OpLe        Op = "<="          // Args[0] <= Args[1]
	OpGt        Op = ">"           // Args[0] > Args[1]
	OpGe        Op = ">="          // Args[0] >= Args[1]
	OpAnd       Op = "and"         // all of Args, two or more
	OpOr        Op = "or"          // any of Args, two or more
	OpNot       Op = "not"         // not Args[0]
	OpIn        Op = "in"          // Args[0] in (Args[1:]), all constants
	OpBetween   Op = "between"     // Args[0] between Args[1] and Args[2]
	OpIsNull    Op = "is null"     // Args[0] is null
	OpIsNotNull Op = "is not null" // Args[0] is not null
	OpLike      Op = "like"        // Args[0] like Args[1], a constant pattern
	OpNotLike   Op = "not like"    // Args[0] not like Args[1]
	OpILike     Op = "ilike"       // like, ignoring case
	OpNotILike  Op = "not ilike"   // not like, ignoring case
	OpFunc      Op = "func"        // Expr.Func(Args...)
)

// Expr is a node of a checked WHERE clause. Parse builds only the forms
// listed with the Op constants; for OpFunc, Func is one of lower(text),
// upper(text), year(date), month(date) and date_trunc(part, date) with part
// a constant 'year', 'quarter', 'month', 'week' or 'day'.
type Expr struct {
	Op Op
	// Column is the catalog name of the column, for OpColumn.
	Column string
	// Const is the value, for OpConst.
	Const Const
	// Func is the lower-case function name, for OpFunc.
	Func string
	// Args are the operands in order.
	Args []Expr
}

// ConstKind is the kind of a Const.
type ConstKind int

// The kinds of constants.
const (
	ConstNull      ConstKind = iota // NULL; Text is empty
	ConstBool                       // Text is "true" or "false"
	ConstNumber                     // Text is canonical: 42, -0.5, 1e+300
	ConstString                     // Text is the string itself, unquoted
	ConstDate                       // Text is yyyy-mm-dd
	ConstTimestamp                  // Text is yyyy-mm-dd hh:mm:ss[.ffffff]
)

// Const is a constant of a WHERE clause.
type Const struct {
	Kind ConstKind
	Text string
}

// number matches the numbers that Const.SQL writes as they are.
var number = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$`)

// SQL renders c as a DuckDB literal. Text never reaches the output
// unquoted: a ConstNumber whose Text is not a plain number is rendered as a
// string literal.
func (c Const) SQL() string {
	switch c.Kind {
	case ConstBool:
		if c.Text == "true" {
			return "true"
		}
		return "false"
	case ConstNumber:
		if number.MatchString(c.Text) {
			return c.Text
		}
		return QuoteString(c.Text)
	case ConstString:
		return QuoteString(c.Text)
	case ConstDate:
		return "DATE " + QuoteString(c.Text)
	case ConstTimestamp:
		return "TIMESTAMP " + QuoteString(c.Text)
	}
	return "null"
}

// funcName matches the function names that Expr.SQL writes unquoted.
var funcName = regexp.MustCompile(`^[a-z_]+$`)

// SQL renders e as a DuckDB expression in which every operation is
// parenthesised, every identifier double-quoted and every string
// single-quoted, so that the text can be placed into a larger query as it
// is. Keywords are lower-case, type names upper-case. An Expr that Parse
// did not build also renders without splicing any of its text, but its
// missing operands render as null.
func (e Expr) SQL() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

// write appends the SQL of e to b.
func (e Expr) write(b *strings.Builder) {
	arg := func(i int) {
		if i < len(e.Args) {
			e.Args[i].write(b)
		} else {
			b.WriteString("null")
		}
	}
	list := func(from int, sep string) {
		for i := from; i < len(e.Args); i++ {
			if i > from {
				b.WriteString(sep)
			}
			e.Args[i].write(b)
		}
	}

	switch e.Op {
	case OpColumn:
		b.WriteString(QuoteIdent(e.Column))
	case OpConst:
		b.WriteString(e.Const.SQL())
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpLike, OpNotLike, OpILike, OpNotILike:
		b.WriteByte('(')
		arg(0)
		b.WriteString(" " + string(e.Op) + " ")
		arg(1)
		b.WriteByte(')')
	case OpAnd, OpOr:
		if len(e.Args) == 0 {
			b.WriteString(strconv.FormatBool(e.Op == OpAnd))
			return
		}
		b.WriteByte('(')
		list(0, " "+string(e.Op)+" ")
		b.WriteByte(')')
	case OpNot:
		b.WriteString("(not ")
		arg(0)
		b.WriteByte(')')
	case OpIn:
		if len(e.Args) < 2 {
			b.WriteString("false")
			return
		}
		b.WriteByte('(')
		arg(0)
		b.WriteString(" in (")
		list(1, ", ")
		b.WriteString("))")
	case OpBetween:
		b.WriteByte('(')
		arg(0)
		b.WriteString(" between ")
		arg(1)
		b.WriteString(" and ")
		arg(2)
		b.WriteByte(')')
	case OpIsNull, OpIsNotNull:
		b.WriteByte('(')
		arg(0)
		b.WriteString(" " + string(e.Op) + ")")
	case OpFunc:
		if funcName.MatchString(e.Func) {
			b.WriteString(e.Func)
		} else {
			b.WriteString(QuoteIdent(e.Func))
		}
		b.WriteByte('(')
		list(0, ", ")
		b.WriteByte(')')
	default:
		b.WriteString("null")
	}
}

// QuoteIdent returns name as a DuckDB quoted identifier: in double quotes,
// with each double quote doubled.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// QuoteString returns s as a DuckDB string literal: in single quotes, with
// each single quote doubled. DuckDB reads backslashes in such literals as
// themselves.
func QuoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// SQL renders a as a DuckDB aggregate call over its column, without alias,
// such as avg("fare_amount") or count(distinct "passenger_id").
func (a Aggregate) SQL() string {
	col := QuoteIdent(a.Column)
	switch a.Kind {
	case AggCount:
		if a.Column == "" {
			return "count(*)"
		}
		return "count(" + col + ")"
	case AggPeople:
		return "count(distinct " + col + ")"
	case AggQuantile:
		return "quantile_cont(" + col + ", " + formatP(a.P) + ")"
	}
	return a.Kind.String() + "(" + col + ")"
}

// render returns the canonical text of q that Query.Normalized holds.
func (q *Query) render() string {
	var b strings.Builder
	b.WriteString("select ")
	for i, it := range q.Select {
		if i > 0 {
			b.WriteString(", ")
		}
		if it.Agg != nil {
			b.WriteString(it.Agg.SQL())
		} else {
			b.WriteString(QuoteIdent(it.Group.Column))
		}
		b.WriteString(" as " + QuoteIdent(it.Alias()))
	}
	b.WriteString(" from " + QuoteIdent(q.Dataset))
	if q.Where != nil {
		b.WriteString(" where " + q.Where.SQL())
	}
	for i, g := range q.Groups {
		if i == 0 {
			b.WriteString(" group by ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(QuoteIdent(g.Column))
	}
	for i, o := range q.OrderBy {
		if i == 0 {
			b.WriteString(" order by ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(o.Item + 1))
		if o.Desc {
			b.WriteString(" desc")
		}
	}
	if q.Limit != nil {
		b.WriteString(" limit " + strconv.FormatInt(*q.Limit, 10))
	}
	return b.String()
}

// timestampLayout renders timestamps to the microsecond, without trailing
// zeros.
const timestampLayout = "2006-01-02 15:04:05.999999"

// canonicalNumber returns the canonical text of a numeric literal: an
// integer without leading zeros, a decimal without redundant zeros, or a
// float in exponent form. ok is false for malformed or infinite numbers.
func canonicalNumber(text string) (string, bool) {
	t := strings.ReplaceAll(text, "_", "")
	if strings.ContainsAny(t, "eE") {
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", false
		}
		return strconv.FormatFloat(f, 'e', -1, 64), true
	}

	sign := ""
	if strings.HasPrefix(t, "-") {
		sign, t = "-", t[1:]
	}
	whole, frac, isDecimal := strings.Cut(t, ".")
	if !digitsOnly(whole) || !digitsOnly(frac) || whole == "" && frac == "" {
		return "", false
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	frac = strings.TrimRight(frac, "0")
	if isDecimal && frac == "" {
		frac = "0"
	}
	if whole == "0" && strings.Trim(frac, "0") == "" {
		sign = ""
	}
	if !isDecimal {
		return sign + whole, true
	}
	return sign + whole + "." + frac, true
}

// digitsOnly reports whether s holds only ASCII digits.
func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
