package queries

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Codes of the refusals that Parse returns as *Error. A code is stable: the
// query API and notebooks may branch on it. The message beside it may be
// reworded at any time.
const (
	// CodeSyntax: DuckDB's parser could not read the text, or the text is
	// not valid UTF-8 or holds a NUL byte.
	CodeSyntax = "syntax"
	// CodeTooComplex: the text is longer than MaxQueryBytes, or its
	// expressions are nested too deeply.
	CodeTooComplex = "too_complex"
	// CodeNotSelect: the text holds no statement, several, or one that is
	// not a SELECT (INSERT, COPY, PRAGMA, EXPLAIN, ...).
	CodeNotSelect = "not_select"
	// CodeSelectStar: the select list holds *, t.* or COLUMNS(...).
	CodeSelectStar = "select_star"
	// CodeUngroupedColumn: a selected column is neither grouped nor aggregated.
	CodeUngroupedColumn = "ungrouped_column"
	// CodeProtectedColumn: the query uses the privacy unit or a protected
	// column anywhere but in count(DISTINCT <privacy unit>).
	CodeProtectedColumn = "protected_column"
	// CodeUnsupportedAggregate: the select list calls an aggregate, window
	// or other function that is not on the allow-list.
	CodeUnsupportedAggregate = "unsupported_aggregate"
	// CodeUnsupportedClause: the query uses a clause or modifier that is not
	// allowed: DISTINCT (except count(DISTINCT <privacy unit>)), FILTER,
	// HAVING, QUALIFY, WITH, UNION and other set operations, OFFSET,
	// sampling, GROUPING SETS, ROLLUP, CUBE, ORDER BY inside an aggregate,
	// NULLS FIRST/LAST, ordering by what is not an output column.
	CodeUnsupportedClause = "unsupported_clause"
	// CodeSubquery: a subquery appears in FROM (VALUES lists included) or in
	// an expression (IN, EXISTS, ANY, a scalar subquery).
	CodeSubquery = "subquery"
	// CodeJoin: FROM joins or lists more than one source.
	CodeJoin = "join"
	// CodeForbiddenSource: FROM names a table function, a file, a system or
	// catalog table, or a schema-qualified name; or the statement is
	// DESCRIBE, SHOW or SUMMARIZE.
	CodeForbiddenSource = "forbidden_source"
	// CodeUnknownDataset: FROM names no dataset the catalog knows, or the
	// query has no FROM.
	CodeUnknownDataset = "unknown_dataset"
	// CodeUnknownColumn: a column is not in the dataset.
	CodeUnknownColumn = "unknown_column"
	// CodeNoAggregate: the select list holds no aggregate.
	CodeNoAggregate = "no_aggregate"
	// CodeBadType: an operand has the wrong type, such as sum over text or
	// LIKE on a number.
	CodeBadType = "bad_type"
	// CodeBadQuantile: the p of quantile_cont is not a constant in (0, 1).
	CodeBadQuantile = "bad_quantile"
	// CodeMissingBounds: an aggregate needs public bounds that the column
	// does not have.
	CodeMissingBounds = "missing_bounds"
	// CodeBadBounds: the column's public bounds are not finite or lo > hi.
	CodeBadBounds = "bad_bounds"
	// CodeMisplacedAggregate: an aggregate appears in WHERE, GROUP BY or
	// inside another aggregate.
	CodeMisplacedAggregate = "misplaced_aggregate"
	// CodeBadLimit: LIMIT is not a constant integer in [0, 2^63).
	CodeBadLimit = "bad_limit"
	// CodeUnsupportedExpression: an expression that is not on the allow-list,
	// such as arithmetic, CASE, COLLATE, a cast other than DATE or TIMESTAMP
	// of a string, a parameter, a named argument, a constant of another kind
	// than string, number, boolean or NULL, or a select entry that is
	// neither a column nor an aggregate.
	CodeUnsupportedExpression = "unsupported_expression"
	// CodeUnsupportedFunction: WHERE calls a scalar function that is not on
	// the allow-list.
	CodeUnsupportedFunction = "unsupported_function"
	// CodeBadConstant: a constant is out of range or malformed, such as
	// DATE '2026-13-01' or 1e400.
	CodeBadConstant = "bad_constant"
	// CodeDuplicateOutput: two output columns share a name, or one column is
	// selected twice.
	CodeDuplicateOutput = "duplicate_output"
)

// Error is a refusal of a query, written for the analyst who sent it.
//
// Code is one of the Code constants above. Message names the offending
// part of the query (an aggregate, a column, a clause) and, where there is
// one, the way out. Message quotes nothing but the analyst's own text, cut
// short, and holds no internal detail: no Go error text, no DuckDB message
// beyond a syntax error and its position, no value read from a dataset.
type Error struct {
	Code    string
	Message string
}

// Error returns the message prefixed with the code.
func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// refuse returns an *Error with the given code and a formatted message.
func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// maxQuoted is the longest piece of the analyst's text, in bytes, that a
// message quotes.
const maxQuoted = 64

// quoted returns s in double quotes, cut to maxQuoted bytes, for use in a
// message.
func quoted(s string) string {
	return `"` + strings.ReplaceAll(clip(s, maxQuoted), `"`, `\"`) + `"`
}

// clip cuts s to at most n bytes on a rune boundary, marking a cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
