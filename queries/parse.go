package queries

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxQueryBytes is the longest query text, in bytes, that Parse reads.
const MaxQueryBytes = 16 << 10

// maxDepth is the deepest nesting of expressions that Parse checks.
const maxDepth = 48

// Table describes a published dataset as Parse needs it.
type Table struct {
	// Name is the dataset's name; Query.Dataset carries it.
	Name string
	// PrivacyUnit is the name of the column that holds the pseudonymised
	// privacy unit (a passenger). It is protected whatever its Column says.
	// Required.
	PrivacyUnit string
	// Columns holds the dataset's columns by lower-case name.
	Columns map[string]Column
}

// Column describes one column of a dataset.
type Column struct {
	// Name is the column's name as published; Query fields carry it.
	Name string
	// Type is the DuckDB type name: VARCHAR, INTEGER, BIGINT, DOUBLE,
	// DECIMAL(18,2), DATE, TIMESTAMP, BOOLEAN and so on.
	Type string
	// Protected marks a pseudonymised or encrypted column. A query may not
	// select, group, filter on or aggregate it in any way.
	Protected bool
	// Bounds are the public bounds [lo, hi] of a numeric column, nil when
	// it has none. Sum, avg, median, quantile_cont, stddev and variance
	// need them.
	Bounds *[2]float64
}

// Catalog finds the datasets a query may name. Parse calls Table with the
// name written after FROM, lower-cased; ok is false for a name it does not
// publish. To apply bounds given with one query rather than in the job spec,
// wrap the catalog so that Table returns the columns with those bounds.
type Catalog interface {
	Table(name string) (t Table, ok bool)
}

// CatalogFunc adapts a function to Catalog.
type CatalogFunc func(name string) (Table, bool)

// Table calls f(name).
func (f CatalogFunc) Table(name string) (Table, bool) { return f(name) }

// Parse reads one query with DuckDB's parser and checks it against what
// haze answers: one SELECT of group columns and aggregates over one dataset
// of cat, with optional WHERE, GROUP BY, ORDER BY and LIMIT (see the
// package documentation for the full list).
//
// db is used only to call json_serialize_sql, which parses and runs
// nothing; any DuckDB connection does, an in-memory one included. Parse is
// safe for concurrent use when db and cat are.
//
// A refused query yields an *Error, whose message may be shown to the
// analyst. Any other error comes from db or ctx and is not for the analyst.
func Parse(ctx context.Context, db *sql.DB, text string, cat Catalog) (*Query, error) {
	if err := checkText(text); err != nil {
		return nil, err
	}

	tree, err := serialize(ctx, db, text)
	if err != nil {
		return nil, err
	}
	node, qerr := singleSelect(tree)
	if qerr != nil {
		return nil, qerr
	}

	c := &checker{text: text}
	q, qerr := c.query(node, cat)
	if qerr != nil {
		return nil, qerr
	}
	q.Normalized = q.render()
	return q, nil
}

// checkText refuses text that DuckDB should not be handed.
func checkText(text string) *Error {
	switch {
	case len(text) > MaxQueryBytes:
		return refuse(CodeTooComplex, "the query is %d bytes long; the limit is %d",
			len(text), MaxQueryBytes)
	case !utf8.ValidString(text):
		return refuse(CodeSyntax, "the query is not valid UTF-8 text")
	case strings.IndexByte(text, 0) >= 0:
		return refuse(CodeSyntax, "the query contains a NUL character")
	}
	return nil
}

// serialized is the JSON that json_serialize_sql returns.
type serialized struct {
	Error        bool              `json:"error"`
	ErrorType    string            `json:"error_type"`
	ErrorMessage string            `json:"error_message"`
	Position     string            `json:"position"`
	Statements   []json.RawMessage `json:"statements"`
}

// serialize returns DuckDB's parse tree of text, or an *Error when DuckDB
// refuses to parse it.
func serialize(ctx context.Context, db *sql.DB, text string) (*serialized, error) {
	const stmt = "SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)"
	var out string
	if err := db.QueryRowContext(ctx, stmt, text).Scan(&out); err != nil {
		return nil, fmt.Errorf("serializing query: %w", err)
	}

	var tree serialized
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return nil, fmt.Errorf("decoding parse tree: %w", err)
	}
	if tree.Error {
		return nil, parserError(&tree, text)
	}
	return &tree, nil
}

// parserError turns DuckDB's parse error of text into an *Error that
// repeats no more of DuckDB's message than a syntax error and its position.
func parserError(tree *serialized, text string) *Error {
	if strings.HasPrefix(tree.ErrorMessage, "Only SELECT statements") {
		return refuse(CodeNotSelect, "only SELECT statements are answered")
	}
	if strings.HasPrefix(tree.ErrorMessage, "Max expression depth") {
		return refuse(CodeTooComplex, "the query is nested too deeply")
	}
	msg := "the query could not be parsed"
	if strings.HasPrefix(tree.ErrorMessage, "syntax error at ") {
		msg = tree.ErrorMessage
		if i := strings.Index(msg, "\n"); i >= 0 {
			msg = msg[:i]
		}
		if len(msg) > 2*maxQuoted {
			msg = "syntax error"
		}
	}
	if pos, err := strconv.ParseUint(tree.Position, 10, 64); err == nil {
		msg += at(text, pos)
	}
	return refuse(CodeSyntax, "%s", msg)
}

// statement is one element of serialized.Statements.
type statement struct {
	Node          json.RawMessage   `json:"node"`
	NamedParamMap []json.RawMessage `json:"named_param_map"`
}

// selectNode is DuckDB's SELECT_NODE. Fields it does not list make the
// decoding fail, so that a construct unknown here is refused.
type selectNode struct {
	Type              string            `json:"type"`
	Modifiers         []json.RawMessage `json:"modifiers"`
	CTEMap            cteMap            `json:"cte_map"`
	SelectList        []json.RawMessage `json:"select_list"`
	FromTable         json.RawMessage   `json:"from_table"`
	WhereClause       json.RawMessage   `json:"where_clause"`
	GroupExpressions  []json.RawMessage `json:"group_expressions"`
	GroupSets         [][]int           `json:"group_sets"`
	AggregateHandling string            `json:"aggregate_handling"`
	Having            json.RawMessage   `json:"having"`
	Sample            json.RawMessage   `json:"sample"`
	Qualify           json.RawMessage   `json:"qualify"`
}

// cteMap holds the WITH clause of a SELECT_NODE.
type cteMap struct {
	Map []json.RawMessage `json:"map"`
}

// singleSelect returns the one SELECT_NODE of tree.
func singleSelect(tree *serialized) (*selectNode, *Error) {
	switch n := len(tree.Statements); {
	case n == 0:
		return nil, refuse(CodeNotSelect, "the query is empty: send one SELECT statement")
	case n > 1:
		return nil, refuse(CodeNotSelect,
			"the text holds %d statements: send exactly one SELECT statement", n)
	}

	var st statement
	if err := decodeStrict(tree.Statements[0], &st); err != nil {
		return nil, refuse(CodeUnsupportedClause, "the statement uses a construct that is not supported")
	}
	if len(st.NamedParamMap) > 0 {
		return nil, refuse(CodeUnsupportedExpression,
			"parameters such as ? or $1 are not supported: write the values into the query")
	}

	var kind struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(st.Node, &kind); err != nil {
		return nil, refuse(CodeNotSelect, "only SELECT statements are answered")
	}
	switch kind.Type {
	case "SELECT_NODE":
	case "SET_OPERATION_NODE":
		return nil, refuse(CodeUnsupportedClause,
			"UNION, INTERSECT and EXCEPT are not supported: send one SELECT")
	case "RECURSIVE_CTE_NODE", "CTE_NODE":
		return nil, refuse(CodeUnsupportedClause, "WITH (common table expressions) is not supported")
	default:
		return nil, refuse(CodeUnsupportedClause, "only a plain SELECT is supported")
	}

	var node selectNode
	if err := decodeStrict(st.Node, &node); err != nil {
		return nil, refuse(CodeUnsupportedClause, "the SELECT uses a construct that is not supported")
	}
	return &node, nil
}

// decodeStrict decodes one JSON value from raw into v, failing on fields
// that v does not declare and on trailing data.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// qualifiedName is a dotted name as DuckDB splits it.
type qualifiedName struct {
	Path []string `json:"path"`
}

// baseTable is DuckDB's BASE_TABLE reference.
type baseTable struct {
	Type                string          `json:"type"`
	Alias               string          `json:"alias"`
	Sample              json.RawMessage `json:"sample"`
	QueryLocation       uint64          `json:"query_location"`
	QueryLocationLength uint64          `json:"query_location_length"`
	SchemaName          string          `json:"schema_name"`
	TableName           string          `json:"table_name"`
	ColumnNameAlias     []string        `json:"column_name_alias"`
	CatalogName         string          `json:"catalog_name"`
	AtClause            json.RawMessage `json:"at_clause"`
	QualifiedName       qualifiedName   `json:"qualified_name"`
}

// orderModifier is DuckDB's ORDER_MODIFIER, of a SELECT or an aggregate.
type orderModifier struct {
	Type   string      `json:"type"`
	Orders []orderTerm `json:"orders"`
}

// orderTerm is one term of an orderModifier.
type orderTerm struct {
	Type       string          `json:"type"`
	NullOrder  string          `json:"null_order"`
	Expression json.RawMessage `json:"expression"`
}

// limitModifier is DuckDB's LIMIT_MODIFIER.
type limitModifier struct {
	Type      string          `json:"type"`
	Limit     json.RawMessage `json:"limit"`
	Offset    json.RawMessage `json:"offset"`
	LimitType string          `json:"limit_type"`
}
