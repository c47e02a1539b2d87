package queries

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// refusal is a query that Parse must refuse with code, naming msg.
type refusal struct {
	name string
	text string
	cat  Catalog // nil for the bookings catalog
	code string
	msg  string // a part of the message naming what is refused
}

// refusals holds a case for every code; FuzzParse seeds its corpus with
// them.
var refusals = func() []refusal {
	long := "SELECT count(*) FROM bookings WHERE cabin IN ('" +
		strings.Repeat("x', '", MaxQueryBytes/5) + "')"
	deep := "SELECT count(*) FROM bookings WHERE " + strings.Repeat("NOT ", maxDepth+1) +
		"marketing_consent"
	badBounds := bookings()
	badBounds.Columns["fare_amount"] = Column{Name: "fare_amount", Type: "DOUBLE",
		Bounds: &[2]float64{10, math.Inf(1)}}

	return []refusal{
		{"syntax error", "SELEC count(*) FROM bookings", nil, CodeSyntax, `"SELEC"`},
		{"syntax error position", "SELECT count(*) FROM bookings WHERE", nil, CodeSyntax, "character"},
		{"invalid utf-8", "SELECT count(*) FROM bookings WHERE cabin = '\xff'", nil, CodeSyntax, "UTF-8"},
		{"nul byte", "SELECT count(*) FROM bookings\x00; DROP TABLE x", nil, CodeSyntax, "NUL"},
		{"too long", long, nil, CodeTooComplex, "bytes"},
		{"too deep", deep, nil, CodeTooComplex, "nested"},
		{"empty", "  -- nothing\n", nil, CodeNotSelect, "empty"},
		{"two statements", "SELECT count(*) FROM bookings; SELECT 1", nil, CodeNotSelect, "2 statements"},
		{"insert", "INSERT INTO bookings VALUES (1)", nil, CodeNotSelect, "SELECT"},
		{"copy", "COPY bookings TO 'out.csv'", nil, CodeNotSelect, "SELECT"},
		{"pragma", "PRAGMA database_list", nil, CodeNotSelect, "SELECT"},
		{"star", "SELECT * FROM bookings", nil, CodeSelectStar, "SELECT *"},
		{"star exclude", "SELECT * EXCLUDE (email), count(*) FROM bookings", nil, CodeSelectStar, "*"},
		{"columns", "SELECT COLUMNS('.*amount'), count(*) FROM bookings", nil, CodeSelectStar, "*"},
		{"from first", "FROM bookings", nil, CodeSelectStar, "*"},
		{"ungrouped", "SELECT cabin, count(*) FROM bookings", nil, CodeUngroupedColumn, `"cabin"`},
		{"ungrouped other", "SELECT cabin, channel, count(*) FROM bookings GROUP BY cabin", nil,
			CodeUngroupedColumn, `"channel"`},
		{"group by unit", "SELECT count(*) FROM bookings GROUP BY passenger_id", nil,
			CodeProtectedColumn, `"passenger_id"`},
		{"select unit", "SELECT passenger_id, count(*) FROM bookings GROUP BY 1", nil,
			CodeProtectedColumn, `"passenger_id"`},
		{"select protected", "SELECT email, count(*) FROM bookings GROUP BY email", nil,
			CodeProtectedColumn, `"email"`},
		{"filter protected", "SELECT count(*) FROM bookings WHERE email LIKE '%@x.com'", nil,
			CodeProtectedColumn, `"email"`},
		{"filter unit is null", "SELECT count(*) FROM bookings WHERE passenger_id IS NULL", nil,
			CodeProtectedColumn, `"passenger_id"`},
		{"count unit", "SELECT count(passenger_id) FROM bookings", nil, CodeProtectedColumn,
			"count(DISTINCT passenger_id)"},
		{"count distinct protected", "SELECT count(DISTINCT email) FROM bookings", nil,
			CodeProtectedColumn, `"email"`},
		{"sum distinct unit", "SELECT sum(DISTINCT passenger_id) FROM bookings", nil,
			CodeProtectedColumn, `"passenger_id"`},
		{"order by unit", "SELECT count(*) FROM bookings ORDER BY passenger_id", nil,
			CodeUnsupportedClause, "ORDER BY"},
		{"min", "SELECT min(fare_amount) FROM bookings", nil, CodeUnsupportedAggregate, `"min"`},
		{"max", "SELECT cabin, max(fare_amount) FROM bookings GROUP BY cabin", nil,
			CodeUnsupportedAggregate, `"max"`},
		{"list", "SELECT list(cabin) FROM bookings", nil, CodeUnsupportedAggregate, `"list"`},
		{"quantile disc", "SELECT quantile_disc(fare_amount, 0.5) FROM bookings", nil,
			CodeUnsupportedAggregate, `"quantile_disc"`},
		{"scalar in select", "SELECT lower(cabin), count(*) FROM bookings GROUP BY 1", nil,
			CodeUnsupportedAggregate, `"lower"`},
		{"window", "SELECT count(*) OVER () FROM bookings", nil, CodeUnsupportedAggregate, "count"},
		{"distinct", "SELECT DISTINCT cabin, count(*) FROM bookings GROUP BY cabin", nil,
			CodeUnsupportedClause, "DISTINCT"},
		{"count distinct other", "SELECT count(DISTINCT cabin) FROM bookings", nil,
			CodeUnsupportedClause, "count(DISTINCT cabin)"},
		{"sum distinct", "SELECT sum(DISTINCT fare_amount) FROM bookings", nil,
			CodeUnsupportedClause, "sum(DISTINCT fare_amount)"},
		{"filter", "SELECT count(*) FILTER (WHERE cabin = 'Y') FROM bookings", nil,
			CodeUnsupportedClause, "FILTER"},
		{"having", "SELECT cabin, count(*) FROM bookings GROUP BY cabin HAVING count(*) > 10", nil,
			CodeUnsupportedClause, "HAVING"},
		{"qualify", "SELECT count(*) FROM bookings QUALIFY true", nil, CodeUnsupportedClause, "QUALIFY"},
		{"with", "WITH b AS (SELECT * FROM bookings) SELECT count(*) FROM b", nil,
			CodeUnsupportedClause, "WITH"},
		{"union", "SELECT count(*) FROM bookings UNION ALL SELECT count(*) FROM bookings", nil,
			CodeUnsupportedClause, "UNION"},
		{"offset", "SELECT count(*) FROM bookings LIMIT 5 OFFSET 5", nil, CodeUnsupportedClause,
			"OFFSET"},
		{"rollup", "SELECT cabin, count(*) FROM bookings GROUP BY ROLLUP (cabin)", nil,
			CodeUnsupportedClause, "ROLLUP"},
		{"nulls first", "SELECT cabin, count(*) FROM bookings GROUP BY cabin ORDER BY cabin NULLS FIRST",
			nil, CodeUnsupportedClause, "NULLS"},
		{"order by non-output", "SELECT count(*) FROM bookings GROUP BY cabin ORDER BY cabin", nil,
			CodeUnsupportedClause, "ORDER BY"},
		{"order by position", "SELECT count(*) FROM bookings ORDER BY 2", nil, CodeUnsupportedClause,
			"from 1 to 1"},
		{"aggregate order by", "SELECT sum(fare_amount ORDER BY cabin) FROM bookings", nil,
			CodeUnsupportedClause, "ORDER BY inside sum"},
		{"sample", "SELECT count(*) FROM bookings USING SAMPLE 10%", nil, CodeUnsupportedClause,
			"SAMPLE"},
		{"tablesample", "SELECT count(*) FROM bookings TABLESAMPLE 10%", nil, CodeUnsupportedClause,
			"TABLESAMPLE"},
		{"from subquery", "SELECT count(*) FROM (SELECT * FROM bookings)", nil, CodeSubquery, "FROM"},
		{"in subquery", "SELECT count(*) FROM bookings WHERE cabin IN (SELECT cabin FROM bookings)", nil,
			CodeSubquery, "character"},
		{"exists", "SELECT count(*) FROM bookings WHERE EXISTS (SELECT 1)", nil, CodeSubquery, "subquer"},
		{"scalar subquery", "SELECT (SELECT 1), count(*) FROM bookings", nil, CodeSubquery, "subquer"},
		{"join", "SELECT count(*) FROM bookings JOIN bookings b2 USING (cabin)", nil, CodeJoin, "join"},
		{"comma join", "SELECT count(*) FROM bookings, bookings b2", nil, CodeJoin, "join"},
		{"read_csv", "SELECT count(*) FROM read_csv('/etc/passwd')", nil, CodeForbiddenSource,
			`"read_csv"`},
		{"read_parquet", "SELECT count(*) FROM read_parquet('x.parquet')", nil, CodeForbiddenSource,
			`"read_parquet"`},
		{"file", "SELECT count(*) FROM 'bookings.csv'", nil, CodeForbiddenSource, `"bookings.csv"`},
		{"information schema", "SELECT count(*) FROM information_schema.tables", nil,
			CodeForbiddenSource, `"tables"`},
		{"duckdb table", "SELECT count(*) FROM duckdb_tables", nil, CodeForbiddenSource,
			`"duckdb_tables"`},
		{"pg catalog", "SELECT count(*) FROM pg_catalog.pg_class", nil, CodeForbiddenSource,
			`"pg_class"`},
		{"system schema", "SELECT count(*) FROM information_schema.bookings", nil,
			CodeForbiddenSource, "system"},
		{"schema qualified", "SELECT count(*) FROM main.bookings", nil, CodeForbiddenSource,
			`"bookings"`},
		{"values", "SELECT count(*) FROM (VALUES (1))", nil, CodeSubquery, "FROM"},
		{"describe", "DESCRIBE bookings", nil, CodeForbiddenSource, "DESCRIBE"},
		{"unknown dataset", "SELECT count(*) FROM flights", nil, CodeUnknownDataset, `"flights"`},
		{"no from", "SELECT 1", nil, CodeUnknownDataset, "FROM"},
		{"unknown column", "SELECT seat, count(*) FROM bookings GROUP BY seat", nil,
			CodeUnknownColumn, `"seat"`},
		{"unknown qualifier", "SELECT count(*) FROM bookings b WHERE x.cabin = 'Y'", nil,
			CodeUnknownColumn, `"x.cabin"`},
		{"unknown column in aggregate", "SELECT sum(price) FROM bookings", nil, CodeUnknownColumn,
			`"price"`},
		{"no aggregate", "SELECT cabin FROM bookings GROUP BY cabin", nil, CodeNoAggregate, "aggregate"},
		{"sum of text", "SELECT sum(cabin) FROM bookings", nil, CodeBadType, "sum(cabin)"},
		{"avg of boolean", "SELECT avg(marketing_consent) FROM bookings", nil, CodeBadType,
			"avg(marketing_consent)"},
		{"number against text", "SELECT count(*) FROM bookings WHERE birth_year = '1980'", nil,
			CodeBadType, `'1980'`},
		{"like on number", "SELECT count(*) FROM bookings WHERE birth_year LIKE '19%'", nil,
			CodeBadType, `"birth_year"`},
		{"where not a condition", "SELECT count(*) FROM bookings WHERE cabin", nil, CodeBadType,
			"condition"},
		{"year of text", "SELECT count(*) FROM bookings WHERE year(booking_date) = 2026", nil,
			CodeBadType, `"booking_date"`},
		{"quantile above one", "SELECT quantile_cont(fare_amount, 1.5) FROM bookings", nil,
			CodeBadQuantile, "quantile_cont(fare_amount, p)"},
		{"quantile zero", "SELECT quantile_cont(fare_amount, 0) FROM bookings", nil, CodeBadQuantile,
			"between 0 and 1"},
		{"quantile column", "SELECT quantile_cont(fare_amount, birth_year) FROM bookings", nil,
			CodeBadQuantile, "constant"},
		{"quantile list", "SELECT quantile_cont(fare_amount, [0.1, 0.9]) FROM bookings", nil,
			CodeBadQuantile, "constant"},
		{"no bounds", "SELECT sum(birth_year) FROM bookings", nil, CodeMissingBounds,
			"sum(birth_year) needs public bounds: " +
				"declare bounds in the job spec or pass them with the query"},
		{"bad bounds", "SELECT sum(fare_amount) FROM bookings", testCatalog(badBounds), CodeBadBounds,
			`"fare_amount"`},
		{"aggregate in where", "SELECT count(*) FROM bookings WHERE count(*) > 1", nil,
			CodeMisplacedAggregate, `"count_star"`},
		{"min in where", "SELECT count(*) FROM bookings WHERE fare_amount > min(fare_amount)", nil,
			CodeMisplacedAggregate, `"min"`},
		{"aggregate in group by", "SELECT count(*) FROM bookings GROUP BY sum(fare_amount)", nil,
			CodeMisplacedAggregate, `"sum"`},
		{"group by aggregate position", "SELECT cabin, count(*) FROM bookings GROUP BY 1, 2", nil,
			CodeMisplacedAggregate, "GROUP BY 2"},
		{"nested aggregate", "SELECT sum(avg(fare_amount)) FROM bookings", nil, CodeMisplacedAggregate,
			`"avg" inside sum`},
		{"negative limit", "SELECT count(*) FROM bookings LIMIT -1", nil, CodeBadLimit, "LIMIT"},
		{"column limit", "SELECT count(*) FROM bookings LIMIT birth_year", nil, CodeBadLimit, "constant"},
		{"fractional limit", "SELECT count(*) FROM bookings LIMIT 1.5", nil, CodeBadLimit, "whole"},
		{"percent limit", "SELECT count(*) FROM bookings LIMIT 10%", nil, CodeBadLimit, "percentage"},
		{"huge limit", "SELECT count(*) FROM bookings LIMIT 99999999999999999999", nil, CodeBadLimit,
			"LIMIT"},
		{"arithmetic", "SELECT count(*) FROM bookings WHERE fare_amount + 1 > 10", nil,
			CodeUnsupportedExpression, `"+"`},
		{"arithmetic on aggregate", "SELECT sum(fare_amount) / 100 FROM bookings", nil,
			CodeUnsupportedExpression, `"/"`},
		{"aggregate of expression", "SELECT sum(fare_amount * 2) FROM bookings", nil,
			CodeUnsupportedExpression, "argument of sum"},
		{"case", "SELECT count(*) FROM bookings WHERE CASE WHEN cabin = 'Y' THEN true END", nil,
			CodeUnsupportedExpression, "CASE"},
		{"parameter", "SELECT count(*) FROM bookings WHERE cabin = ?", nil, CodeUnsupportedExpression,
			"parameters"},
		{"cast of column", "SELECT count(*) FROM bookings WHERE CAST(birth_year AS VARCHAR) = '1'", nil,
			CodeUnsupportedExpression, "casts"},
		{"in list of columns", "SELECT count(*) FROM bookings WHERE cabin IN (channel)", nil,
			CodeUnsupportedExpression, "IN"},
		{"is distinct from", "SELECT count(*) FROM bookings WHERE cabin IS DISTINCT FROM 'Y'", nil,
			CodeUnsupportedExpression, "compare"},
		{"collate", "SELECT count(*) FROM bookings WHERE cabin COLLATE nocase = 'y'", nil,
			CodeUnsupportedExpression, "character"},
		{"hex constant", "SELECT count(*) FROM bookings WHERE cabin = x'41'", nil,
			CodeUnsupportedExpression, "constant"},
		{"select constant", "SELECT 1, count(*) FROM bookings", nil, CodeUnsupportedExpression,
			"group columns and aggregates"},
		{"unknown function", "SELECT count(*) FROM bookings WHERE length(cabin) > 1", nil,
			CodeUnsupportedFunction, `"length"`},
		{"regexp", "SELECT count(*) FROM bookings WHERE regexp_matches(email, '.')", nil,
			CodeUnsupportedFunction, `"regexp_matches"`},
		{"qualified function", "SELECT count(*) FROM bookings WHERE main.lower(cabin) = 'y'", nil,
			CodeUnsupportedFunction, `"lower"`},
		{"bad date part", "SELECT count(*) FROM bookings WHERE date_trunc('hour', DATE '2026-01-01') " +
			"= DATE '2026-01-01'", nil, CodeUnsupportedFunction, "date_trunc"},
		{"bad date", "SELECT count(*) FROM bookings WHERE booking_date = DATE '2026-13-01'", nil,
			CodeBadConstant, `"2026-13-01"`},
		{"infinite number", "SELECT count(*) FROM bookings WHERE fare_amount < 1e400", nil,
			CodeBadConstant, `"1e400"`},
		{"same alias", "SELECT count(*) AS n, sum(fare_amount) AS N FROM bookings", nil,
			CodeDuplicateOutput, `"N"`},
		{"same aggregate", "SELECT count(*), count(*) FROM bookings", nil, CodeDuplicateOutput,
			`"count(*)"`},
		{"column twice", "SELECT cabin, cabin AS c2, count(*) FROM bookings GROUP BY cabin", nil,
			CodeDuplicateOutput, `"cabin"`},
	}
}()

func TestParseRefuses(t *testing.T) {
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			cat := tt.cat
			if cat == nil {
				cat = testCatalog(bookings())
			}
			q, err := Parse(context.Background(), testDB(t), tt.text, cat)
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("Parse() = %+v, %v; want *Error with code %s", q, err, tt.code)
			}
			if got.Code != tt.code {
				t.Errorf("code = %s (%s), want %s", got.Code, got.Message, tt.code)
			}
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message = %q, want it to contain %q", got.Message, tt.msg)
			}
		})
	}
}

func TestRefusalsCoverEveryCode(t *testing.T) {
	// codes is the set that errors.go declares.
	codes := []string{CodeSyntax, CodeTooComplex, CodeNotSelect, CodeSelectStar,
		CodeUngroupedColumn, CodeProtectedColumn, CodeUnsupportedAggregate, CodeUnsupportedClause,
		CodeSubquery, CodeJoin, CodeForbiddenSource, CodeUnknownDataset, CodeUnknownColumn,
		CodeNoAggregate, CodeBadType, CodeBadQuantile, CodeMissingBounds, CodeBadBounds,
		CodeMisplacedAggregate, CodeBadLimit, CodeUnsupportedExpression, CodeUnsupportedFunction,
		CodeBadConstant, CodeDuplicateOutput}
	seen := map[string]bool{}
	for _, c := range codes {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
		if c != strings.ToLower(c) || strings.ContainsAny(c, " -") {
			t.Errorf("code %q is not snake_case", c)
		}
	}

	tested := map[string]bool{}
	for _, r := range refusals {
		tested[r.code] = true
	}
	for _, c := range codes {
		if !tested[c] {
			t.Errorf("code %s has no case in refusals", c)
		}
	}
}

func TestCanonicalNumber(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"42", "42", true},
		{"007", "7", true},
		{"1_000", "1000", true},
		{"-5", "-5", true},
		{"-0", "0", true},
		{"0.50", "0.5", true},
		{".5", "0.5", true},
		{"5.", "5.0", true},
		{"-0.000", "0.0", true},
		{"123456789012345678901234567890", "123456789012345678901234567890", true},
		{"1e5", "1e+05", true},
		{"1E-3", "1e-03", true},
		{"1e400", "", false},
		{"1.2.3", "", false},
		{"+5", "", false},
		{"", "", false},
		{".", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := canonicalNumber(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("canonicalNumber(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseWhereConstants(t *testing.T) {
	tests := []struct {
		name  string
		where string
		want  string // Where.SQL()
	}{
		{"date literal", "booking_date IS NULL OR DATE '2026-01-31' < DATE '2026-02-01'",
			`(("booking_date" is null) or (DATE '2026-01-31' < DATE '2026-02-01'))`},
		{"date casts", "CAST('2026-01-31' AS DATE) = '2026-01-31'::DATE",
			`(DATE '2026-01-31' = DATE '2026-01-31')`},
		{"timestamp", "TIMESTAMP '2026-01-31T10:00:00.500' > TIMESTAMP '2026-01-31 10:00:00'",
			`(TIMESTAMP '2026-01-31 10:00:00.5' > TIMESTAMP '2026-01-31 10:00:00')`},
		{"date functions", "year(DATE '2026-01-31') = 2026 AND month(DATE '2026-01-31') = 1 AND " +
			"date_trunc('MONTH', DATE '2026-01-31') = DATE '2026-01-01'",
			`((year(DATE '2026-01-31') = 2026) and (month(DATE '2026-01-31') = 1) and ` +
				`(date_trunc('month', DATE '2026-01-31') = DATE '2026-01-01'))`},
		{"numbers", "fare_amount > 0.50 AND fare_amount < 1e4 AND birth_year <> -1_970",
			`(("fare_amount" > 0.5) and ("fare_amount" < 1e+04) and ("birth_year" <> -1970))`},
		{"booleans and null", "marketing_consent = TRUE AND cabin <> NULL",
			`(("marketing_consent" = true) and ("cabin" <> null))`},
		{"strings", `upper(cabin) = 'IT''S' AND channel NOT LIKE '%\_%' AND origin NOT ILIKE 'a'`,
			`((upper("cabin") = 'IT''S') and ("channel" not like '%\_%') and ("origin" not ilike 'a'))`},
		{"nested and flattens", "(cabin = 'Y' AND (channel = 'web' AND origin = 'LHR')) OR gender = 'f'",
			`((("cabin" = 'Y') and ("channel" = 'web') and ("origin" = 'LHR')) or ("gender" = 'f'))`},
		{"not between", "birth_year NOT BETWEEN 1 AND 2",
			`(not ("birth_year" between 1 and 2))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustParse(t, "SELECT count(*) FROM bookings WHERE "+tt.where)
			if got := q.Where.SQL(); got != tt.want {
				t.Errorf("Where.SQL() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestUnknownFieldsAreRefused(t *testing.T) {
	// A field DuckDB might add in a later version could carry meaning the
	// checker does not know, so the node carrying it is refused.
	c := &checker{table: bookings(), unit: "passenger_id", qualifier: "bookings"}
	tests := []struct {
		name string
		node string
		code string
	}{
		{"column", `{"class":"COLUMN_REF","type":"COLUMN_REF","column_names":["cabin"],"collate":"x"}`,
			CodeUnsupportedExpression},
		{"constant", `{"class":"CONSTANT","type":"VALUE_CONSTANT",` +
			`"literal":{"kind":"STRING","text":"a","escape":true}}`, CodeUnsupportedExpression},
		{"comparison", `{"class":"COMPARISON","type":"COMPARE_EQUAL","left":null,"right":null,"any":1}`,
			CodeUnsupportedExpression},
		{"unknown class", `{"class":"MAGIC","type":"MAGIC"}`, CodeUnsupportedExpression},
		{"not an object", `[1,2]`, CodeUnsupportedExpression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := c.expr(json.RawMessage(tt.node))
			if err == nil || err.Code != tt.code {
				t.Errorf("expr(%s) = %v, want code %s", tt.node, err, tt.code)
			}
		})
	}

	t.Run("select node", func(t *testing.T) {
		tree := &serialized{Statements: []json.RawMessage{json.RawMessage(
			`{"node":{"type":"SELECT_NODE","select_list":[],"pivot":{}},"named_param_map":[]}`)}}
		if _, err := singleSelect(tree); err == nil || err.Code != CodeUnsupportedClause {
			t.Errorf("singleSelect() = %v, want code %s", err, CodeUnsupportedClause)
		}
	})
}
