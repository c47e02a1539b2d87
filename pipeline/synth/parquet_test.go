package synth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func TestParquetMatchesCSV(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		rowGroups int
	}{
		{"clean, two row groups", Options{Rows: parquetBatchRows + 5_000, Seed: 41}, 2},
		{"dirty", Options{Rows: 30_000, Seed: 42, Dirty: true}, 1},
		{"one row", Options{Rows: 1, Seed: 43}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)

			_, want, _ := generateCSV(t, tt.opts)
			opts := tt.opts
			opts.Format = Parquet
			var buf bytes.Buffer
			stats, err := write(context.Background(), &buf, opts, mem)
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			if stats.Rows != opts.Rows {
				t.Errorf("Stats.Rows: got %d, want %d", stats.Rows, opts.Rows)
			}

			// Beyond the row-by-row comparison, check that the nulls
			// standing for defects do occur.
			nulls := readParquet(t, buf.Bytes(), mem, tt.rowGroups, want)
			if opts.Dirty {
				for _, col := range []int{colDateOfBirth, colBookingDate, colFare, colCampaign} {
					if nulls[col] == 0 {
						t.Errorf("dirty export: no null %s", Columns[col])
					}
				}
			}
		})
	}
}

// readParquet reads a Parquet export back, checks its shape and schema,
// and compares every row with the CSV records of the same options. It
// returns the number of nulls in each column.
func readParquet(
	t *testing.T, data []byte, mem memory.Allocator, rowGroups int, want [][]string,
) [numCols]int {
	t.Helper()
	props := file.WithReadProps(parquet.NewReaderProperties(mem))
	rdr, err := file.NewParquetReader(bytes.NewReader(data), props)
	if err != nil {
		t.Fatalf("opening parquet: %v", err)
	}
	defer rdr.Close()
	if got := rdr.NumRows(); got != int64(len(want)) {
		t.Fatalf("rows: got %d, want %d", got, len(want))
	}
	if got := rdr.NumRowGroups(); got != rowGroups {
		t.Errorf("row groups: got %d, want %d", got, rowGroups)
	}

	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 10_000}, mem)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()

	schema := ParquetSchema()
	if got := rr.Schema(); len(got.Fields()) != numCols {
		t.Fatalf("schema: got %s, want %s", got, schema)
	}
	for i, f := range rr.Schema().Fields() {
		if w := schema.Field(i); f.Name != w.Name || !arrow.TypeEqual(f.Type, w.Type) {
			t.Errorf("field %d: got %s %s, want %s %s", i, f.Name, f.Type, w.Name, w.Type)
		}
	}

	var nulls [numCols]int
	row := 0
	for rr.Next() {
		rec := rr.RecordBatch()
		for r := range int(rec.NumRows()) {
			d := defectOf(want[row])
			for col := range numCols {
				arr := rec.Column(col)
				if arr.IsNull(r) {
					nulls[col]++
				}
				if err := compareCell(arr, r, col, want[row], d); err != nil {
					t.Fatalf("row %d: %v", row, err)
				}
			}
			row++
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	if row != len(want) {
		t.Errorf("rows read: got %d, want %d", row, len(want))
	}
	return nulls
}

// compareCell checks Parquet cell (arr, r) of column col against the CSV
// record of the same row, which shows defect d: a null where CSV shows
// the defect, no field or an empty consent_timestamp, else the same value.
func compareCell(arr arrow.Array, r, col int, csvRec []string, d defect) error {
	wantNull := col >= len(csvRec) ||
		d == defectBirthDate && col == colDateOfBirth ||
		d == defectBookingDate && col == colBookingDate ||
		(d == defectFareNA || d == defectFareThousands) && col == colFare ||
		col == colConsentTime && csvRec[col] == ""
	if arr.IsNull(r) || wantNull {
		if arr.IsNull(r) != wantNull {
			return fmt.Errorf("%s: null is %v, want %v", Columns[col], arr.IsNull(r), wantNull)
		}
		return nil
	}

	var got string
	switch a := arr.(type) {
	case *array.String:
		got = a.Value(r)
	case *array.Date32:
		got = string(appendDate(nil, int32(a.Value(r))))
	case *array.Float64:
		got = strconv.FormatFloat(a.Value(r), 'f', 2, 64)
	case *array.Boolean:
		got = strconv.FormatBool(a.Value(r))
	case *array.Timestamp:
		got = string(appendTimestamp(nil, int64(a.Value(r))/1_000_000))
	default:
		return fmt.Errorf("%s: unexpected array type %T", Columns[col], arr)
	}
	if got != csvRec[col] {
		return fmt.Errorf("%s: got %q, want %q as in CSV", Columns[col], got, csvRec[col])
	}
	return nil
}

func TestParquetReleasesMemoryOnError(t *testing.T) {
	boom := errors.New("disk full")
	tests := []struct {
		name   string
		fail   error // the writer's error after its first 64 KiB
		cancel int   // cancel the context: 0 never, 1 before, 2 while writing
		want   error
	}{
		{"writer fails", boom, 0, boom},
		{"canceled before", nil, 1, context.Canceled},
		{"canceled while writing", nil, 2, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			w := &stoppingWriter{after: 1 << 16, err: tt.fail}
			switch tt.cancel {
			case 1:
				cancel()
			case 2:
				w.cancel = cancel
			}
			opts := Options{Rows: parquetBatchRows * 3, Format: Parquet}
			if _, err := write(ctx, w, opts, mem); !errors.Is(err, tt.want) {
				t.Fatalf("write: got %v, want %v", err, tt.want)
			}
		})
	}
}
