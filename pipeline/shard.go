package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"haze/internal/duckstream"
)

// Shard is a part of an export that one reader can read on its own: a
// byte range of whole records of a CSV or NDJSON file, or a range of rows
// (whole row groups) of a Parquet file. Shards of one export cover every
// record exactly once. A Shard is a plain value, so engines can ship it to
// their workers.
type Shard struct {
	// Index numbers the shards of an export from 0; it names their files.
	Index int `json:"index"`
	// Start and End are byte offsets (CSV, NDJSON) or file row numbers
	// (Parquet), End excluded.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// HeaderEnd is the length in bytes of a CSV file's header record,
	// which every CSV shard is read with.
	HeaderEnd int64 `json:"header_end,omitempty"`
	// FirstLine is the line number DuckDB gives the shard's first record
	// when it reads the whole file (records, not physical lines, counted
	// from 1 at the header), so reject lines match a whole-file read.
	FirstLine int64 `json:"first_line,omitempty"`
}

// CSVDialect is how a CSV export is written, as DuckDB's sniffer found it
// on the whole file. Shards are read with it spelled out, so that no
// shard is sniffed differently from the whole file.
type CSVDialect struct {
	Delimiter string `json:"delimiter"`
	Quote     string `json:"quote"`
	Escape    string `json:"escape"`
	NewLine   string `json:"new_line"`
}

// Split cuts the export of spec into shards of about shardBytes bytes
// (CSV, NDJSON) or whole row groups of about shardRows rows (Parquet). It
// reads CSV and NDJSON files once from start to end, tracking quotes, so
// that no shard starts inside a quoted line break. For CSV it also returns
// the dialect every shard must be read with.
func Split(ctx context.Context, format, path string, shardBytes, shardRows int64) ([]Shard,
	*CSVDialect, error) {
	switch format {
	case FormatParquet:
		shards, err := splitParquet(ctx, path, shardRows)
		return shards, nil, err
	case FormatCSV:
		db, err := duckstream.Open(map[string]string{"threads": "1"})
		if err != nil {
			return nil, nil, err
		}
		defer db.Close()
		d, err := SniffCSV(ctx, db, path)
		if err != nil {
			return nil, nil, err
		}
		shards, err := splitText(path, shardBytes, &d)
		return shards, &d, err
	default:
		shards, err := splitText(path, shardBytes, nil)
		return shards, nil, err
	}
}

// SniffCSV returns the dialect DuckDB detects for a whole CSV file.
func SniffCSV(ctx context.Context, db *duckstream.DB, path string) (CSVDialect, error) {
	// The options that shape detection are the reader's own (see reader):
	// without store_rejects, a dirty file can be sniffed differently.
	r, err := db.Query(ctx, "SELECT Delimiter, Quote, Escape, NewLineDelimiter FROM sniff_csv("+
		quoteString(path)+", header=true, all_varchar=true, store_rejects=true)")
	if err != nil {
		return CSVDialect{}, fmt.Errorf("reading export %s: %s", path, firstLine(err))
	}
	defer r.Release()
	var d CSVDialect
	for r.Next() {
		rec := r.RecordBatch()
		if rec.NumRows() == 0 {
			continue
		}
		get := func(i int) string {
			v := strings.Clone(rec.Column(i).(*array.String).Value(0))
			if v == "(empty)" {
				return ""
			}
			return v
		}
		d = CSVDialect{Delimiter: get(0), Quote: get(1), Escape: get(2), NewLine: get(3)}
	}
	if err := r.Err(); err != nil {
		return CSVDialect{}, fmt.Errorf("reading export %s: %s", path, firstLine(err))
	}
	if len(d.Delimiter) != 1 || len(d.Quote) > 1 || len(d.Escape) > 1 {
		return CSVDialect{}, fmt.Errorf("export %s: cannot split a CSV file with delimiter %q, "+
			"quote %q, escape %q", path, d.Delimiter, d.Quote, d.Escape)
	}
	return d, nil
}

// splitText cuts a line-oriented file at record ends. With a dialect (CSV)
// the first record is the header, and line breaks inside quoted fields do
// not end records: the scan follows RFC 4180, where a quote opens a field
// only at its start. Without one (NDJSON) every line break ends a record.
func splitText(path string, shardBytes int64, d *CSVDialect) ([]Shard, error) {
	if shardBytes <= 0 {
		return nil, errors.New("shard size must be > 0 bytes")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	r := f

	var quote, escape, delim byte = 0, 0, 0
	if d != nil {
		delim = d.Delimiter[0]
		if d.Quote != "" {
			quote = d.Quote[0]
		}
		if d.Escape != "" {
			escape = d.Escape[0]
		}
	}
	const (
		fieldStart = iota
		unquoted
		quoted
		quotedEnd // a quote inside a quoted field: its end, or an escaped quote
		escaped   // after an escape character other than the quote
	)
	state := fieldStart
	var (
		shards    []Shard
		pos       int64
		record    int64 = 1 // DuckDB's line number of the record being read
		headerEnd int64 = -1
		start     int64
		startLine int64 = 1
	)
	if d == nil {
		headerEnd = 0
	}
	recordEnd := func(end int64) {
		if headerEnd < 0 {
			headerEnd, start, startLine = end, end, record+1
			return
		}
		if end-start >= shardBytes {
			shards = append(shards, Shard{Index: len(shards), Start: start, End: end,
				HeaderEnd: headerEnd, FirstLine: startLine})
			start, startLine = end, record+1
		}
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			pos++
			if d == nil {
				if c == '\n' {
					record++
					recordEnd(pos)
				}
				continue
			}
			switch state {
			case quoted:
				switch {
				case c == quote:
					state = quotedEnd
				case c == escape && escape != 0 && escape != quote:
					state = escaped
				}
				continue
			case escaped:
				state = quoted
				continue
			case quotedEnd:
				if c == quote && escape == quote {
					state = quoted
					continue
				}
			}
			switch {
			case c == '\n':
				state = fieldStart
				recordEnd(pos)
				record++
			case c == delim:
				state = fieldStart
			case c == quote && state == fieldStart:
				state = quoted
			case c != '\r':
				state = unquoted
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading export: %w", err)
		}
	}
	if headerEnd < 0 {
		headerEnd, start = pos, pos
	}
	if pos > start || len(shards) == 0 {
		shards = append(shards, Shard{Index: len(shards), Start: start, End: pos,
			HeaderEnd: headerEnd, FirstLine: startLine})
	}
	if d == nil {
		for i := range shards {
			shards[i].HeaderEnd, shards[i].FirstLine = 0, 0
		}
	}
	return shards, nil
}

// splitParquet groups whole row groups into shards of about shardRows.
func splitParquet(ctx context.Context, path string, shardRows int64) ([]Shard, error) {
	if shardRows <= 0 {
		return nil, errors.New("shard size must be > 0 rows")
	}
	db, err := duckstream.Open(map[string]string{"threads": "1"})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	r, err := db.Query(ctx, "SELECT row_group_num_rows::BIGINT FROM parquet_metadata("+
		quoteString(path)+") GROUP BY row_group_id, row_group_num_rows ORDER BY row_group_id")
	if err != nil {
		return nil, fmt.Errorf("reading export %s: %s", path, firstLine(err))
	}
	defer r.Release()
	var shards []Shard
	var start, end int64
	for r.Next() {
		rows := r.RecordBatch().Column(0).(*array.Int64)
		for i := 0; i < rows.Len(); i++ {
			end += rows.Value(i)
			if end-start >= shardRows {
				shards = append(shards, Shard{Index: len(shards), Start: start, End: end})
				start = end
			}
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("reading export %s: %s", path, firstLine(err))
	}
	if end > start || len(shards) == 0 {
		shards = append(shards, Shard{Index: len(shards), Start: start, End: end})
	}
	return shards, nil
}
