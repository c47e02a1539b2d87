package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"haze/anonymize"
	"haze/internal/duckstream"
)

// Names of the control columns the source query adds before the data
// columns c0, c1, ...
const (
	colErased  = 0
	colConsent = 1
	colBad     = 2
	colUnit    = 3 // the privacy unit as text, for quarantine tokens
	firstData  = 4
)

const (
	rejectsTable = "haze_rejects"
	rejectsScan  = "haze_reject_scans"
	erasureTable = "haze_erasure"
)

// quoteString returns s as a SQL string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent returns s as a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// reader returns the table function that reads the export. CSV and NDJSON
// are read as text so that every value is checked by the same casts;
// columns, when given, fixes NDJSON's keys and their order.
func reader(format, path string, columns []string) string {
	switch format {
	case FormatParquet:
		return "read_parquet(" + quoteString(path) + ")"
	case FormatNDJSON:
		if len(columns) == 0 {
			return "read_json(" + quoteString(path) + ", format='newline_delimited')"
		}
		fields := make([]string, len(columns))
		for i, c := range columns {
			fields[i] = quoteString(c) + ": 'VARCHAR'"
		}
		return "read_json(" + quoteString(path) + ", format='newline_delimited', columns={" +
			strings.Join(fields, ", ") + "})"
	default:
		return "read_csv(" + quoteString(path) + ", header=true, all_varchar=true, " +
			"store_rejects=true, rejects_table=" + quoteString(rejectsTable) +
			", rejects_scan=" + quoteString(rejectsScan) + ")"
	}
}

// exportColumns returns the column names of the export, in file order.
func exportColumns(ctx context.Context, db *duckstream.DB, format, path string) ([]string, error) {
	r, err := db.Query(ctx, "SELECT * FROM "+reader(format, path, nil)+" LIMIT 0")
	if err != nil {
		return nil, fmt.Errorf("reading export %s: %s", path, firstLine(err))
	}
	defer r.Release()
	var names []string
	for _, f := range r.Schema().Fields() {
		names = append(names, f.Name)
	}
	return names, nil
}

// firstLine keeps the first line of a DuckDB error, which names the
// problem; later lines can quote file contents.
func firstLine(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// plannedColumn is a column the job publishes.
type plannedColumn struct {
	spec      ColumnSpec
	transform anonymize.Transform
}

// sourceQuery builds the query that reads, casts and marks every row: the
// control columns (erased, consented, why it is bad, unit text) and one
// data column per published column, cast to what its transform expects.
func sourceQuery(s *Spec, format, path string, export []string, cols []plannedColumn,
	withErasure bool) string {
	return sourceQueryFrom(s, reader(format, path, export), cols, withErasure)
}

// sourceQueryFrom is sourceQuery over any table expression, such as the
// reader of one shard of the export.
func sourceQueryFrom(s *Spec, from string, cols []plannedColumn, withErasure bool) string {
	text := func(name string) string {
		return "NULLIF(CAST(" + quoteIdent(name) + " AS VARCHAR), '')"
	}
	unit := "trim(" + text(s.PrivacyUnit) + ")"

	var sel []string
	if withErasure {
		sel = append(sel, "coalesce("+unit+" IN (SELECT id FROM "+erasureTable+"), false)")
	} else {
		sel = append(sel, "false")
	}
	sel = append(sel, consentExpr(s.Consent))

	bad := []string{"WHEN " + unit + " IS NULL OR " + unit + " = '' THEN " +
		quoteString(s.PrivacyUnit+": privacy unit is empty")}
	for _, c := range cols {
		t := c.transform.Source()
		if t == "VARCHAR" {
			continue
		}
		bad = append(bad, "WHEN "+text(c.spec.Name)+" IS NOT NULL AND TRY_CAST("+text(c.spec.Name)+
			" AS "+t+") IS NULL THEN "+quoteString(c.spec.Name+": not a valid "+describeType(t)))
	}
	sel = append(sel, "CASE "+strings.Join(bad, " ")+" END", unit)

	for i, c := range cols {
		expr := text(c.spec.Name)
		if t := c.transform.Source(); t != "VARCHAR" {
			expr = "TRY_CAST(" + expr + " AS " + t + ")"
		}
		sel = append(sel, expr+" AS c"+strconv.Itoa(i))
	}
	for i := range sel[:firstData] {
		sel[i] += " AS __" + strconv.Itoa(i)
	}
	return "SELECT " + strings.Join(sel, ",\n  ") + "\nFROM " + from
}

// describeType names a DuckDB type for a data engineer.
func describeType(t string) string {
	switch {
	case t == "DATE":
		return "date (YYYY-MM-DD)"
	case t == "TIMESTAMPTZ":
		return "timestamp"
	case t == "BIGINT":
		return "whole number"
	case t == "DOUBLE", strings.HasPrefix(t, "DECIMAL"):
		return "number"
	case t == "BOOLEAN":
		return "boolean"
	default:
		return strings.ToLower(t)
	}
}

// consentExpr is true for rows the consent rule keeps.
func consentExpr(c *Consent) string {
	if c == nil {
		return "true"
	}
	col := quoteIdent(c.Column)
	switch v := c.Equals.(type) {
	case bool:
		return "coalesce(TRY_CAST(" + col + " AS BOOLEAN) = " + strconv.FormatBool(v) + ", false)"
	case int:
		return "coalesce(TRY_CAST(" + col + " AS DOUBLE) = " + strconv.Itoa(v) + ", false)"
	case float64:
		return "coalesce(TRY_CAST(" + col + " AS DOUBLE) = " +
			strconv.FormatFloat(v, 'g', -1, 64) + ", false)"
	default:
		return "coalesce(trim(CAST(" + col + " AS VARCHAR)) = " + quoteString(fmt.Sprint(v)) + ", false)"
	}
}

// loadErasure reads the erasure list into a table of trimmed identifiers
// and returns how many distinct subjects it names.
func loadErasure(ctx context.Context, db *duckstream.DB, e *Erasure, path, unit string) (int64, error) {
	column := e.Column
	if column == "" {
		column = unit
	}
	cols, err := exportColumns(ctx, db, FormatCSV, path)
	if err != nil {
		return 0, fmt.Errorf("erasure list: %w", err)
	}
	if !slices.Contains(cols, column) {
		return 0, fmt.Errorf("erasure list %s has no column %q (it has %s)", path, column,
			strings.Join(cols, ", "))
	}
	q := "CREATE TEMP TABLE " + erasureTable + " AS SELECT DISTINCT trim(" + quoteIdent(column) +
		") AS id FROM read_csv(" + quoteString(path) + ", header=true, all_varchar=true) WHERE " +
		"trim(" + quoteIdent(column) + ") <> ''"
	if err := db.Exec(ctx, q); err != nil {
		return 0, fmt.Errorf("reading erasure list %s: %s", path, firstLine(err))
	}
	return countRows(ctx, db, "SELECT count(*) FROM "+erasureTable)
}

func countRows(ctx context.Context, db *duckstream.DB, q string) (int64, error) {
	r, err := db.Query(ctx, q)
	if err != nil {
		return 0, err
	}
	defer r.Release()
	var n int64
	for r.Next() {
		rec := r.RecordBatch()
		if rec.NumRows() > 0 {
			n = rec.Column(0).(*array.Int64).Value(0)
		}
	}
	return n, r.Err()
}

// readerReject is a row DuckDB could not read at all.
type readerReject struct {
	line   int64
	reason string
}

// readerRejects returns the rows the CSV reader rejected, one per line,
// with a reason built from DuckDB's error type and the columns concerned.
// DuckDB's own message and the raw line are not used: they can hold
// personal data.
func readerRejects(ctx context.Context, db *duckstream.DB) ([]readerReject, error) {
	r, err := db.Query(ctx, "SELECT line::BIGINT, min(error_type)::VARCHAR, "+
		"coalesce(string_agg(DISTINCT column_name, ', ' ORDER BY column_name), '') FROM "+
		rejectsTable+" GROUP BY line ORDER BY line")
	if err != nil {
		return nil, fmt.Errorf("reading rejected rows: %s", firstLine(err))
	}
	defer r.Release()

	var out []readerReject
	for r.Next() {
		rec := r.RecordBatch()
		lines := rec.Column(0).(*array.Int64)
		kinds := rec.Column(1).(*array.String)
		cols := rec.Column(2).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, readerReject{
				line:   lines.Value(i),
				reason: rejectReason(kinds.Value(i), cols.Value(i)),
			})
		}
	}
	return out, r.Err()
}

func rejectReason(kind, cols string) string {
	switch kind {
	case "MISSING COLUMNS":
		return "row has fewer fields than the header (missing " + cols + ")"
	case "TOO MANY COLUMNS":
		return "row has more fields than the header"
	case "UNQUOTED VALUE":
		return "a quote inside an unquoted field"
	case "LINE SIZE OVER MAXIMUM":
		return "line longer than the reader's maximum"
	case "INVALID UNICODE", "INVALID ENCODING":
		return "bytes that are not valid UTF-8"
	default:
		return strings.ToLower(kind)
	}
}
