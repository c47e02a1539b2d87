package queries

import (
	"encoding/json"
	"strings"
	"time"
)

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
