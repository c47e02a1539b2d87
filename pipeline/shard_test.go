package pipeline_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"haze/pipeline"
)

// TestSplitCSVKeepsRecordsWhole cuts a CSV with quoted line breaks,
// quoted quotes and a short line into the smallest shards and checks that
// every shard holds whole records, that together they hold the file once,
// and that FirstLine numbers records as DuckDB does (header is line 1).
func TestSplitCSVKeepsRecordsWhole(t *testing.T) {
	header := "id,name,city\n"
	records := []string{
		"1,\"García\nLópez\",Madrid\n",
		"2,\"Robert \"\"Bob\"\"\",\"New\r\nYork\"\n",
		"3,short\n",
		"4,\"a,b\",\"\"\n",
		"5,plain,Paris", // no final line break
	}
	path := filepath.Join(t.TempDir(), "x.csv")
	if err := os.WriteFile(path, []byte(header+strings.Join(records, "")), 0o600); err != nil {
		t.Fatal(err)
	}

	shards, d, err := pipeline.Split(context.Background(), pipeline.FormatCSV, path, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || d.Delimiter != "," || d.Quote != `"` {
		t.Fatalf("dialect %+v, want comma and double quote", d)
	}
	if len(shards) != len(records) {
		t.Fatalf("got %d shards, want one per record (%d): %+v", len(shards), len(records), shards)
	}
	data, _ := os.ReadFile(path)
	for i, sh := range shards {
		got := string(data[sh.Start:sh.End])
		if got != records[i] {
			t.Errorf("shard %d = %q, want %q", i, got, records[i])
		}
		if sh.HeaderEnd != int64(len(header)) || sh.FirstLine != int64(i+2) || sh.Index != i {
			t.Errorf("shard %d: header end %d, first line %d, index %d; want %d, %d, %d", i,
				sh.HeaderEnd, sh.FirstLine, sh.Index, len(header), i+2, i)
		}
		// Read on its own with the header, a shard is one whole record.
		r := csv.NewReader(strings.NewReader(header + got))
		r.FieldsPerRecord = -1
		recs, err := r.ReadAll()
		if err != nil || len(recs) != 2 {
			t.Errorf("shard %d read alone: %d records, %v; want the header and one", i, len(recs), err)
		}
	}

	// Large shards: one shard holds everything after the header.
	all, _, err := pipeline.Split(context.Background(), pipeline.FormatCSV, path, 1<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []pipeline.Shard{{Start: int64(len(header)), End: int64(len(data)),
		HeaderEnd: int64(len(header)), FirstLine: 2}}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("one shard = %+v, want %+v", all, want)
	}
}
