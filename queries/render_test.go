package queries

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

func TestNormalizedEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"white space and keyword case",
			"SELECT cabin, AVG(fare_amount) FROM bookings WHERE campaign = 'x' GROUP BY cabin",
			"select\n\tcabin ,avg( fare_amount )\nfrom   bookings\nwhere campaign='x'\ngroup  by cabin"},
		{"comments and trailing semicolon",
			"SELECT count(*) FROM bookings",
			"SELECT /* all */ count(*) -- rows\nFROM bookings;"},
		{"identifier case and qualifiers",
			"SELECT cabin, count(*) FROM bookings GROUP BY cabin",
			`SELECT B.CABIN, COUNT(*) FROM "Bookings" b GROUP BY "Cabin"`},
		{"group by all, position or alias",
			"SELECT cabin AS c, count(*) FROM bookings GROUP BY ALL",
			"SELECT cabin AS c, count(*) FROM bookings GROUP BY c"},
		{"group by position",
			"SELECT cabin, count(*) FROM bookings GROUP BY 1",
			"SELECT cabin, count(*) FROM bookings GROUP BY cabin, cabin"},
		{"order by position, alias or aggregate",
			"SELECT cabin, count(*) AS n FROM bookings GROUP BY cabin ORDER BY 2 DESC, 1 ASC",
			"SELECT cabin, count(*) AS n FROM bookings GROUP BY cabin ORDER BY count(*) DESC, cabin"},
		{"aggregate synonyms",
			"SELECT avg(fare_amount), stddev(fare_amount) FROM bookings",
			"SELECT mean(fare_amount), stddev_samp(fare_amount) FROM bookings"},
		{"default alias spelled out",
			"SELECT avg(fare_amount) FROM bookings",
			`SELECT avg(fare_amount) AS "avg(fare_amount)" FROM bookings`},
		{"constants",
			"SELECT count(*) FROM bookings WHERE fare_amount > 0.5 AND booking_date IS NOT NULL",
			"SELECT count(*) FROM bookings WHERE fare_amount > 000.50 AND booking_date IS NOT NULL"},
		{"dates",
			"SELECT count(*) FROM bookings WHERE DATE '2026-01-01' < DATE '2026-02-01'",
			"SELECT count(*) FROM bookings WHERE CAST('2026-01-01' AS DATE) < '2026-02-01'::date"},
		{"operators and parentheses",
			"SELECT count(*) FROM bookings WHERE cabin <> 'Y' AND channel = 'web' AND origin = 'LHR'",
			"SELECT count(*) FROM bookings " +
				"WHERE ((cabin != 'Y') AND (channel = 'web' AND (origin = 'LHR')))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mustParse(t, tt.a), mustParse(t, tt.b)
			if a.Normalized != b.Normalized {
				t.Errorf("Normalized differ:\n%s\n%s", a.Normalized, b.Normalized)
			}
		})
	}
}

func TestNormalizedDiffer(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{"string constant",
			"SELECT count(*) FROM bookings WHERE cabin = 'Y'",
			"SELECT count(*) FROM bookings WHERE cabin = 'W'"},
		{"string case",
			"SELECT count(*) FROM bookings WHERE cabin = 'y'",
			"SELECT count(*) FROM bookings WHERE cabin = 'Y'"},
		{"number constant",
			"SELECT count(*) FROM bookings WHERE birth_year > 1980",
			"SELECT count(*) FROM bookings WHERE birth_year > 1981"},
		{"quantile",
			"SELECT quantile_cont(fare_amount, 0.9) FROM bookings",
			"SELECT quantile_cont(fare_amount, 0.95) FROM bookings"},
		{"limit", "SELECT count(*) FROM bookings LIMIT 5", "SELECT count(*) FROM bookings LIMIT 6"},
		{"alias", "SELECT count(*) AS n FROM bookings", "SELECT count(*) AS m FROM bookings"},
		{"direction",
			"SELECT cabin, count(*) FROM bookings GROUP BY cabin ORDER BY 2",
			"SELECT cabin, count(*) FROM bookings GROUP BY cabin ORDER BY 2 DESC"},
		{"group order",
			"SELECT count(*) FROM bookings GROUP BY cabin, channel",
			"SELECT count(*) FROM bookings GROUP BY channel, cabin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mustParse(t, tt.a), mustParse(t, tt.b)
			if a.Normalized == b.Normalized {
				t.Errorf("Normalized equal: %s", a.Normalized)
			}
		})
	}
}

func TestNormalizedReparses(t *testing.T) {
	for _, tt := range accepts() {
		t.Run(tt.name, func(t *testing.T) {
			q := mustParse(t, tt.text)
			again := mustParse(t, q.Normalized)
			if again.Normalized != q.Normalized {
				t.Errorf("Normalized of Normalized = %s, want %s", again.Normalized, q.Normalized)
			}
			if !reflect.DeepEqual(again, q) {
				t.Errorf("re-parsed query differs:\n%s\nwant\n%s", describe(again), describe(q))
			}
		})
	}
}

// whereTree returns DuckDB's parse tree of the WHERE clause of a count over
// bookings filtered by where, without source positions.
func whereTree(t *testing.T, where string) any {
	t.Helper()
	var out string
	err := testDB(t).QueryRowContext(context.Background(),
		"SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)",
		"SELECT count(*) FROM bookings WHERE "+where).Scan(&out)
	if err != nil {
		t.Fatalf("json_serialize_sql: %v", err)
	}
	var tree struct {
		Statements []struct {
			Node struct {
				WhereClause any `json:"where_clause"`
			} `json:"node"`
		} `json:"statements"`
	}
	if err := json.Unmarshal([]byte(out), &tree); err != nil || len(tree.Statements) != 1 {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return stripLocations(tree.Statements[0].Node.WhereClause)
}

// stripLocations removes the source positions from a decoded JSON tree.
func stripLocations(v any) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "query_location")
		delete(v, "query_location_length")
		for k, e := range v {
			v[k] = stripLocations(e)
		}
	case []any:
		for i, e := range v {
			v[i] = stripLocations(e)
		}
	}
	return v
}

func TestExprSQLRoundTrips(t *testing.T) {
	// Each condition is written in canonical form, so that DuckDB's tree of
	// the rendering equals its tree of the original.
	tests := []struct {
		name  string
		where string
	}{
		{"comparisons", "cabin = 'Y' AND birth_year <> 1 AND fare_amount < 2.5 AND " +
			"fare_amount <= 3 AND birth_year > -4 AND ancillary_amount >= 1e+05"},
		{"or and not", "NOT (cabin = 'Y' OR channel = 'web') OR marketing_consent"},
		{"in", "cabin IN ('Y', 'W', 'F') AND birth_year NOT IN (1, 2)"},
		{"between", "birth_year BETWEEN 1970 AND 1990 AND NOT fare_amount BETWEEN 0 AND 1"},
		{"null", "postcode IS NULL AND origin IS NOT NULL AND cabin = NULL"},
		{"like", "channel LIKE 'w%' AND origin NOT LIKE '_' AND cabin ILIKE 'y' AND " +
			"gender NOT ILIKE 'M'"},
		{"functions", "lower(cabin) = 'y' AND upper(channel) = 'WEB' AND " +
			"year(DATE '2026-01-02') = 2026 AND month(TIMESTAMP '2026-01-02 03:04:05.5') = 1 AND " +
			"date_trunc('week', DATE '2026-01-02') = DATE '2025-12-29'"},
		{"quotes", `cabin = 'it''s' AND channel = '"' AND origin = '\' AND ` +
			`gender = '''; DROP TABLE x; --'`},
		{"unicode and new line", "destination = 'Zürich' AND origin = 'a\nb' AND cabin = '€'"},
		{"booleans", "marketing_consent = true AND NOT marketing_consent = false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustParse(t, "SELECT count(*) FROM bookings WHERE "+tt.where)
			rendered := q.Where.SQL()

			if got, want := whereTree(t, rendered), whereTree(t, tt.where); !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("tree of %s =\n%s\nwant\n%s", rendered, g, w)
			}
			again := mustParse(t, "SELECT count(*) FROM bookings WHERE "+rendered)
			if !reflect.DeepEqual(again.Where, q.Where) {
				t.Errorf("re-parsed Where = %s, want %s", again.Where.SQL(), rendered)
			}
		})
	}
}

func TestQuoteRoundTripsThroughDuckDB(t *testing.T) {
	texts := []string{"", "plain", "it's", "''", `\`, `\'`, `a"b`, `""`, "line\nbreak", "tab\there",
		"'; DROP TABLE bookings; --", `"; DROP TABLE bookings; --`, "Zürich €", "$$x$$", "%_",
		"E'\\n'"}
	db := testDB(t)
	for _, s := range texts {
		t.Run(s, func(t *testing.T) {
			var got string
			if err := db.QueryRow("SELECT " + QuoteString(s)).Scan(&got); err != nil {
				t.Fatalf("SELECT %s: %v", QuoteString(s), err)
			}
			if got != s {
				t.Errorf("SELECT %s = %q, want %q", QuoteString(s), got, s)
			}
			if s == "" {
				return // DuckDB refuses an empty identifier
			}

			rows, err := db.Query("SELECT 1 AS " + QuoteIdent(s))
			if err != nil {
				t.Fatalf("SELECT 1 AS %s: %v", QuoteIdent(s), err)
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil || len(cols) != 1 || cols[0] != s {
				t.Errorf("columns of SELECT 1 AS %s = %q, %v; want [%q]", QuoteIdent(s), cols, err, s)
			}
		})
	}
}

func TestSQLNeverSplices(t *testing.T) {
	evil := "1) OR (1=1"
	tests := []struct {
		name string
		e    Expr
		want string
	}{
		{"number text", Expr{Op: OpConst, Const: Const{Kind: ConstNumber, Text: evil}}, `'1) OR (1=1'`},
		{"bool text", Expr{Op: OpConst, Const: Const{Kind: ConstBool, Text: evil}}, "false"},
		{"null text", Expr{Op: OpConst, Const: Const{Kind: ConstNull, Text: evil}}, "null"},
		{"date text", Expr{Op: OpConst, Const: Const{Kind: ConstDate, Text: evil}}, `DATE '1) OR (1=1'`},
		{"column", Expr{Op: OpColumn, Column: `x" OR "1`}, `"x"" OR ""1"`},
		{"function", Expr{Op: OpFunc, Func: "x() OR f", Args: []Expr{{Op: OpColumn, Column: "a"}}},
			`"x() OR f"("a")`},
		{"unknown op", Expr{Op: Op(evil)}, "null"},
		{"missing operands", Expr{Op: OpBetween}, "(null between null and null)"},
		{"empty in", Expr{Op: OpIn, Args: []Expr{{Op: OpColumn, Column: "a"}}}, "false"},
		{"empty and", Expr{Op: OpAnd}, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.SQL(); got != tt.want {
				t.Errorf("SQL() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAggregateSQL(t *testing.T) {
	tests := []struct {
		a    Aggregate
		want string
	}{
		{Aggregate{Kind: AggCount}, "count(*)"},
		{Aggregate{Kind: AggCount, Column: "birth_year"}, `count("birth_year")`},
		{Aggregate{Kind: AggPeople, Column: "passenger_id"}, `count(distinct "passenger_id")`},
		{Aggregate{Kind: AggSum, Column: "fare_amount"}, `sum("fare_amount")`},
		{Aggregate{Kind: AggAvg, Column: "fare_amount"}, `avg("fare_amount")`},
		{Aggregate{Kind: AggMedian, Column: "fare_amount", P: 0.5}, `median("fare_amount")`},
		{Aggregate{Kind: AggQuantile, Column: "fare_amount", P: 0.25},
			`quantile_cont("fare_amount", 0.25)`},
		{Aggregate{Kind: AggStdDev, Column: "fare_amount"}, `stddev("fare_amount")`},
		{Aggregate{Kind: AggVariance, Column: "fare_amount"}, `variance("fare_amount")`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.a.SQL(); got != tt.want {
				t.Errorf("SQL() = %s, want %s", got, tt.want)
			}
		})
	}
}
