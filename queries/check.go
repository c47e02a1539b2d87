package queries

import (
	"encoding/json"
	"strconv"
	"strings"
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
