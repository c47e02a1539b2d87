// Package queries answers analysts' SQL about a published dataset with
// differential privacy.
//
// # What SQL is accepted
//
// Parse reads a query with DuckDB's own parser (json_serialize_sql, which
// parses and runs nothing) and checks the tree against an allow-list:
// whatever the list does not name is refused with an *Error whose Code is
// stable and whose Message is written for the analyst. The accepted shape
// is plain DuckDB SQL over one dataset:
//
//	SELECT <group columns and aggregates>
//	FROM <dataset> [[AS] alias]
//	[WHERE <condition>]
//	[GROUP BY <columns> | GROUP BY ALL]
//	[ORDER BY <output columns> [ASC | DESC], ...]
//	[LIMIT <n>]
//
// for example
//
//	SELECT home_airport, ff_tier, count(DISTINCT passenger_id) AS people
//	FROM bookings
//	WHERE campaign = 'summer-2026' AND booking_date >= '2026-01'
//	GROUP BY home_airport, ff_tier
//	ORDER BY people DESC
//	LIMIT 20
//
// The select list holds group columns, each also in GROUP BY, and at least
// one aggregate. The aggregates are count(*), count(column),
// count(DISTINCT <privacy unit>) (the number of people), sum, avg (or mean),
// median, quantile_cont(column, p) with a constant p in (0, 1), stddev (or
// stddev_samp, stddev_pop) and variance (or var_samp, var_pop): all of
// these release the population form, as the DP library computes it; the
// sample form differs by a factor n/(n-1), far below the noise for any
// group large enough to be released, and would need the exact n. Their argument is a column name.
// All but the counts need a numeric column with public bounds, taken from
// the catalog. An output may be renamed with AS; output names are unique.
//
// GROUP BY takes column names, output names of group columns and select
// positions. ORDER BY takes output names, select positions, selected group
// columns and selected aggregates. LIMIT takes a constant whole number.
//
// WHERE is a condition built from columns; constants (strings, numbers,
// TRUE, FALSE, NULL, DATE 'yyyy-mm-dd', TIMESTAMP 'yyyy-mm-dd hh:mm:ss',
// the latter two also as CAST or ::); the comparisons =, <>, !=, <, <=, >,
// >=; AND, OR, NOT; IN and NOT IN over a list of constants; [NOT] BETWEEN;
// IS [NOT] NULL; [NOT] LIKE and [NOT] ILIKE with a constant pattern; and the
// functions lower(text), upper(text), year(date), month(date) and
// date_trunc(part, date) with part 'year', 'quarter', 'month', 'week' or
// 'day'. Operands are type-checked: text is compared with text, numbers with
// numbers, dates with dates.
//
// The privacy unit (Table.PrivacyUnit) and every protected column may
// appear only as count(DISTINCT <privacy unit>): they are never selected,
// grouped, filtered on or aggregated otherwise. Refused besides, each with
// its code in errors.go: SELECT *, several statements or other statements
// than SELECT, joins, subqueries, WITH, UNION and the other set operations,
// table functions and files in FROM, system tables, schema-qualified names,
// HAVING, QUALIFY, DISTINCT, FILTER, window functions, other aggregates
// (min, max, ...), aggregates in WHERE or GROUP BY or inside an aggregate,
// GROUPING SETS, ROLLUP, CUBE, OFFSET, sampling, parameters, arithmetic,
// CASE and any cast but the two above.
//
// Parse returns a Query: the dataset, group keys, outputs, a checked WHERE
// tree (Expr), order and limit, with every column under its catalog name,
// and Normalized, the query rendered as canonical SQL for use as a cache
// key. Expr.SQL, Aggregate.SQL, QuoteIdent and QuoteString render checked
// parts back to DuckDB SQL with identifiers and strings quoted, so that no
// text of the analyst is ever spliced into SQL.
//
// # How an Engine answers
//
// Engine.Query checks the query against the catalog's current version of
// the dataset, resolves the options (ε is required and capped per query;
// contribution bounds default to the dataset's and may only be tightened),
// and rewrites the query into bounded SQL: per privacy unit and group at
// most MaxContributionsPerGroup rows, per unit at most
// MaxGroupsContributed groups, both chosen in a random order drawn afresh
// per query; numeric values clamped to their public bounds and summed as
// fixed-point integers. DuckDB runs it; package dp adds noise, selects
// groups (unless the analyst listed them as public) and attaches intervals.
//
// The answer is then charged, with its record, in one catalog transaction
// that also re-checks the analyst's grant and the dataset's cap under a
// lock, so concurrent queries cannot overspend; only after the commit does
// Query return it. An answer already released for the same normalised
// query, options and dataset version is returned again, marked Cached, at
// no cost. Refusals are *Error values with codes; budget refusals use
// CodeBudgetExhausted and CodeNoGrant.
package queries
