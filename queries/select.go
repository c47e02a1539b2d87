package queries

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// checker walks one SELECT_NODE and builds its Query. Each method refuses
// what it does not know: anything not on the allow-list is an *Error.
type checker struct {
	text      string // the query, for positions in messages
	table     Table
	unit      string // lower-case name of the privacy unit
	qualifier string // what qualified column names start with, lower-case
	depth     int    // nesting of the expression being checked
}

// selected is one select-list entry before GROUP BY is known.
type selected struct {
	col   string // catalog name of a group column, "" for an aggregate
	agg   *Aggregate
	alias string // the AS name, "" when none
}

// query checks n and returns its Query, without Normalized.
func (c *checker) query(n *selectNode, cat Catalog) (*Query, *Error) {
	// WITH may define the name FROM uses, so it is refused first; then FROM
	// decides which columns exist.
	if err := c.clauses(n); err != nil {
		return nil, err
	}
	if err := c.from(n.FromTable, cat); err != nil {
		return nil, err
	}

	items, err := c.selectList(n.SelectList)
	if err != nil {
		return nil, err
	}
	q := &Query{Dataset: c.table.Name}
	if q.Groups, err = c.groupBy(n, items); err != nil {
		return nil, err
	}
	if q.Select, err = bindItems(items, q.Groups); err != nil {
		return nil, err
	}

	if !isNull(n.WhereClause) {
		where, err := c.where(n.WhereClause)
		if err != nil {
			return nil, err
		}
		q.Where = &where
	}
	if err := c.modifiers(n.Modifiers, q); err != nil {
		return nil, err
	}
	return q, nil
}

// from checks that raw names one dataset of cat and sets c.table.
func (c *checker) from(raw json.RawMessage, cat Catalog) *Error {
	var h struct {
		Type     string `json:"type"`
		Function struct {
			FunctionName string `json:"function_name"`
		} `json:"function"`
	}
	_ = json.Unmarshal(raw, &h)
	switch h.Type {
	case "BASE_TABLE":
	case "EMPTY":
		return refuse(CodeUnknownDataset, "the query names no dataset: add FROM <dataset>")
	case "JOIN":
		return refuse(CodeJoin, "joins are not supported: query one dataset")
	case "SUBQUERY":
		return refuse(CodeSubquery, "subqueries are not supported: FROM must name a dataset")
	case "TABLE_FUNCTION":
		return refuse(CodeForbiddenSource,
			"table functions such as %s(...) are not allowed: FROM must name a dataset",
			quoted(h.Function.FunctionName))
	case "EXPRESSION_LIST":
		return refuse(CodeForbiddenSource, "VALUES lists are not allowed: FROM must name a dataset")
	case "SHOW_REF":
		return refuse(CodeForbiddenSource, "DESCRIBE, SHOW and SUMMARIZE are not allowed")
	default:
		return refuse(CodeForbiddenSource, "FROM must name one dataset")
	}

	var t baseTable
	if err := decodeStrict(raw, &t); err != nil {
		return refuse(CodeUnsupportedClause, "FROM uses a construct that is not supported")
	}
	name := strings.ToLower(t.TableName)
	switch {
	case isSystemName(name) || isSystemName(strings.ToLower(t.SchemaName)) ||
		isSystemName(strings.ToLower(t.CatalogName)):
		return refuse(CodeForbiddenSource,
			"%s is not a dataset: system and catalog tables are not allowed", quoted(t.TableName))
	case t.SchemaName != "" || t.CatalogName != "" || len(t.QualifiedName.Path) > 1:
		return refuse(CodeForbiddenSource,
			"schema-qualified names are not allowed: write FROM %s", quoted(t.TableName))
	case strings.ContainsAny(name, "./\\:'\"*?"):
		return refuse(CodeForbiddenSource, "files such as %s are not allowed: FROM must name a dataset",
			quoted(t.TableName))
	case !isNull(t.Sample):
		return refuse(CodeUnsupportedClause, "TABLESAMPLE is not supported")
	case !isNull(t.AtClause):
		return refuse(CodeUnsupportedClause, "AT (time travel) is not supported")
	case len(t.ColumnNameAlias) > 0:
		return refuse(CodeUnsupportedClause, "renaming columns in FROM is not supported")
	}

	table, ok := cat.Table(name)
	if !ok {
		return refuse(CodeUnknownDataset, "unknown dataset %s", quoted(t.TableName))
	}
	c.table = table
	c.unit = strings.ToLower(table.PrivacyUnit)
	c.qualifier = name
	if t.Alias != "" {
		c.qualifier = strings.ToLower(t.Alias)
	}
	return nil
}

// isSystemName reports whether name is one of DuckDB's system or catalog
// tables, views or schemas.
func isSystemName(name string) bool {
	for _, p := range []string{"duckdb_", "pragma_", "sqlite_", "pg_", "information_schema"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// clauses refuses the clauses of n that no accepted query has.
func (c *checker) clauses(n *selectNode) *Error {
	switch {
	case len(n.CTEMap.Map) > 0:
		return refuse(CodeUnsupportedClause, "WITH (common table expressions) is not supported")
	case !isNull(n.Having):
		return refuse(CodeUnsupportedClause,
			"HAVING is not supported: filter rows with WHERE, or filter the answer afterwards")
	case !isNull(n.Qualify):
		return refuse(CodeUnsupportedClause, "QUALIFY is not supported")
	case !isNull(n.Sample):
		return refuse(CodeUnsupportedClause, "USING SAMPLE is not supported")
	}
	return nil
}

// selectList checks each select-list entry: a column or an aggregate.
func (c *checker) selectList(list []json.RawMessage) ([]selected, *Error) {
	var items []selected
	hasAgg := false
	for _, raw := range list {
		h := head(raw)
		switch h.Class {
		case "COLUMN_REF":
			col, err := c.columnRef(raw)
			if err != nil {
				return nil, err
			}
			items = append(items, selected{col: col.Name, alias: h.Alias})
		case "FUNCTION":
			agg, err := c.aggregate(raw)
			if err != nil {
				return nil, err
			}
			items = append(items, selected{agg: agg, alias: h.Alias})
			hasAgg = true
		case "STAR":
			return nil, refuse(CodeSelectStar,
				"SELECT * is not allowed: select group columns and aggregates by name")
		case "WINDOW":
			return nil, refuse(CodeUnsupportedAggregate,
				"window functions such as %s(...) OVER (...) are not supported", functionName(raw))
		case "SUBQUERY":
			return nil, refuse(CodeSubquery, "subqueries are not supported%s", c.at(h))
		default:
			return nil, refuse(CodeUnsupportedExpression,
				"select group columns and aggregates only; this entry is neither%s", c.at(h))
		}
	}
	if !hasAgg {
		return nil, refuse(CodeNoAggregate, "the query has no aggregate: select at least one of "+
			"count(*), count(DISTINCT %s), sum, avg, median, quantile_cont, stddev or variance",
			c.table.PrivacyUnit)
	}
	return items, nil
}

// groupBy returns the GROUP BY columns of n, in their order and each once.
func (c *checker) groupBy(n *selectNode, items []selected) ([]GroupKey, *Error) {
	var cols []string
	switch n.AggregateHandling {
	case "STANDARD_HANDLING":
		// The one grouping set must hold every expression: anything else is
		// GROUPING SETS, ROLLUP or CUBE.
		ok := len(n.GroupSets) == 0 && len(n.GroupExpressions) == 0
		if len(n.GroupSets) == 1 {
			ok = isPermutation(n.GroupSets[0], len(n.GroupExpressions))
		}
		if !ok {
			return nil, refuse(CodeUnsupportedClause, "GROUPING SETS, ROLLUP and CUBE are not supported")
		}
		for _, raw := range n.GroupExpressions {
			col, err := c.groupTerm(raw, items)
			if err != nil {
				return nil, err
			}
			cols = append(cols, col)
		}
	case "FORCE_AGGREGATES":
		// GROUP BY ALL groups by every selected column.
		for _, it := range items {
			if it.agg == nil {
				cols = append(cols, it.col)
			}
		}
	default:
		return nil, refuse(CodeUnsupportedClause, "this form of GROUP BY is not supported")
	}

	var groups []GroupKey
	seen := map[string]bool{}
	for _, col := range cols {
		if !seen[col] {
			seen[col] = true
			groups = append(groups, GroupKey{Column: col})
		}
	}
	return groups, nil
}

// groupTerm resolves one GROUP BY expression to a column's catalog name:
// a column, the alias of a selected column or a 1-based select position.
func (c *checker) groupTerm(raw json.RawMessage, items []selected) (string, *Error) {
	h := head(raw)
	switch h.Class {
	case "COLUMN_REF":
		var n columnRefNode
		if err := decodeStrict(raw, &n); err != nil {
			return "", c.unknownNode(h)
		}
		if len(n.ColumnNames) == 1 {
			if _, ok := c.table.Columns[strings.ToLower(n.ColumnNames[0])]; !ok {
				for _, it := range items {
					if it.agg == nil && strings.EqualFold(it.alias, n.ColumnNames[0]) {
						return it.col, nil
					}
				}
			}
		}
		col, err := c.usable(n.ColumnNames)
		return col.Name, err
	case "CONSTANT":
		pos, ok := c.position(raw)
		if !ok || pos < 1 || pos > len(items) {
			return "", refuse(CodeUnsupportedClause,
				"GROUP BY takes column names or select positions 1 to %d%s", len(items), c.at(h))
		}
		if items[pos-1].agg != nil {
			return "", refuse(CodeMisplacedAggregate,
				"GROUP BY %d refers to an aggregate: group by columns only", pos)
		}
		return items[pos-1].col, nil
	case "FUNCTION", "WINDOW":
		if name := functionName(raw); isAggregateName(name) || h.Class == "WINDOW" {
			return "", refuse(CodeMisplacedAggregate,
				"aggregates such as %s are not allowed in GROUP BY", quoted(name))
		}
	case "SUBQUERY":
		return "", refuse(CodeSubquery, "subqueries are not supported%s", c.at(h))
	}
	return "", refuse(CodeUnsupportedExpression, "GROUP BY takes column names only%s", c.at(h))
}

// isPermutation reports whether set holds each of 0 to n-1 exactly once.
func isPermutation(set []int, n int) bool {
	if len(set) != n {
		return false
	}
	seen := make([]bool, n)
	for _, i := range set {
		if i < 0 || i >= n || seen[i] {
			return false
		}
		seen[i] = true
	}
	return true
}

// bindItems ties each selected column to its group and names every output.
func bindItems(items []selected, groups []GroupKey) ([]Item, *Error) {
	out := make([]Item, len(items))
	names := map[string]bool{}
	for i, it := range items {
		if it.agg != nil {
			if it.alias != "" {
				it.agg.Alias = it.alias
			}
			out[i] = Item{Agg: it.agg}
		} else {
			g := groupOf(groups, it.col)
			switch {
			case g == nil:
				return nil, refuse(CodeUngroupedColumn,
					"%s must appear in GROUP BY or inside an aggregate", quoted(it.col))
			case g.Alias != "":
				return nil, refuse(CodeDuplicateOutput, "%s is selected twice: select it once",
					quoted(it.col))
			}
			g.Alias = it.col
			if it.alias != "" {
				g.Alias = it.alias
			}
			out[i] = Item{Group: g}
		}

		name := strings.ToLower(out[i].Alias())
		if names[name] {
			return nil, refuse(CodeDuplicateOutput,
				"two output columns are named %s: give each a distinct name with AS",
				quoted(out[i].Alias()))
		}
		names[name] = true
	}
	return out, nil
}

// groupOf returns the group of column col, or nil.
func groupOf(groups []GroupKey, col string) *GroupKey {
	for i := range groups {
		if groups[i].Column == col {
			return &groups[i]
		}
	}
	return nil
}

// modifiers checks ORDER BY and LIMIT and refuses DISTINCT and the rest.
func (c *checker) modifiers(mods []json.RawMessage, q *Query) *Error {
	for _, raw := range mods {
		switch head(raw).Type {
		case "ORDER_MODIFIER":
			var m orderModifier
			if err := decodeStrict(raw, &m); err != nil {
				return refuse(CodeUnsupportedClause, "this form of ORDER BY is not supported")
			}
			for _, t := range m.Orders {
				o, err := c.orderTerm(t, q)
				if err != nil {
					return err
				}
				q.OrderBy = append(q.OrderBy, o)
			}
		case "LIMIT_MODIFIER":
			var m limitModifier
			if err := decodeStrict(raw, &m); err != nil {
				return refuse(CodeUnsupportedClause, "this form of LIMIT is not supported")
			}
			if err := c.limit(m, q); err != nil {
				return err
			}
		case "DISTINCT_MODIFIER":
			return refuse(CodeUnsupportedClause,
				"SELECT DISTINCT is not supported: GROUP BY already yields each group once")
		default:
			return refuse(CodeUnsupportedClause, "this clause is not supported")
		}
	}
	return nil
}

// orderTerm resolves one ORDER BY term to an output column: a 1-based
// position, an output name, a selected group column or a selected aggregate.
func (c *checker) orderTerm(t orderTerm, q *Query) (Order, *Error) {
	var o Order
	switch t.Type {
	case "ORDER_DEFAULT", "ASCENDING":
	case "DESCENDING":
		o.Desc = true
	default:
		return o, refuse(CodeUnsupportedClause, "this form of ORDER BY is not supported")
	}
	if t.NullOrder != "ORDER_DEFAULT" {
		return o, refuse(CodeUnsupportedClause, "NULLS FIRST and NULLS LAST are not supported")
	}

	h := head(t.Expression)
	o.Item = -1
	switch h.Class {
	case "CONSTANT":
		if pos, ok := c.position(t.Expression); ok && pos >= 1 && pos <= len(q.Select) {
			o.Item = pos - 1
		}
	case "COLUMN_REF":
		var n columnRefNode
		if err := decodeStrict(t.Expression, &n); err != nil {
			return o, c.unknownNode(h)
		}
		o.Item = c.outputNamed(n.ColumnNames, q.Select)
	case "FUNCTION":
		if _, ok := aggKinds[functionName(t.Expression)]; !ok {
			break
		}
		agg, err := c.aggregate(t.Expression)
		if err != nil {
			return o, err
		}
		for i, it := range q.Select {
			if it.Agg != nil && it.Agg.Kind == agg.Kind && it.Agg.Column == agg.Column &&
				it.Agg.P == agg.P {
				o.Item = i
				break
			}
		}
	}
	if o.Item < 0 {
		return o, refuse(CodeUnsupportedClause,
			"ORDER BY takes output columns only: a name, a selected aggregate or a position "+
				"from 1 to %d%s", len(q.Select), c.at(h))
	}
	return o, nil
}

// outputNamed returns the index of the output that names refers to, by its
// output name or as a selected group column, or -1.
func (c *checker) outputNamed(names []string, items []Item) int {
	if len(names) == 1 {
		for i, it := range items {
			if strings.EqualFold(it.Alias(), names[0]) {
				return i
			}
		}
	}
	col, err := c.usable(names)
	if err != nil {
		return -1
	}
	for i, it := range items {
		if it.Group != nil && it.Group.Column == col.Name {
			return i
		}
	}
	return -1
}

// limit checks the LIMIT of the query and sets q.Limit.
func (c *checker) limit(m limitModifier, q *Query) *Error {
	if !isNull(m.Offset) {
		return refuse(CodeUnsupportedClause, "OFFSET is not supported")
	}
	if m.LimitType != "ROW_COUNT" {
		return refuse(CodeBadLimit, "LIMIT must be a whole number of rows, not a percentage")
	}
	if isNull(m.Limit) {
		return nil
	}

	var n constantNode
	if head(m.Limit).Class != "CONSTANT" || decodeStrict(m.Limit, &n) != nil {
		n.Literal.Kind = ""
	}
	switch n.Literal.Kind {
	case "NULL_LITERAL": // LIMIT ALL
		return nil
	case "INTEGER":
		v, err := strconv.ParseInt(strings.ReplaceAll(n.Literal.Text, "_", ""), 10, 64)
		if err == nil && v >= 0 {
			q.Limit = &v
			return nil
		}
	}
	return refuse(CodeBadLimit, "LIMIT must be a constant whole number from 0 to %d",
		int64(math.MaxInt64))
}

// position returns the value of an integer constant, as in GROUP BY 1.
func (c *checker) position(raw json.RawMessage) (int, bool) {
	var n constantNode
	if decodeStrict(raw, &n) != nil || n.Literal.Kind != "INTEGER" {
		return 0, false
	}
	v, err := strconv.Atoi(n.Literal.Text)
	return v, err == nil
}
