package synth

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

func TestCSVParses(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"one row", Options{Rows: 1, Seed: 1}},
		{"clean", Options{Rows: 20_000, Seed: 2}},
		{"seed zero", Options{Rows: 3_000, Seed: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, records, stats := generateCSV(t, tt.opts)
			if !slices.Equal(header, Columns) {
				t.Errorf("header: got %q, want %q", header, Columns)
			}
			if len(records) != tt.opts.Rows || stats.Rows != tt.opts.Rows {
				t.Fatalf("rows: got %d records and Stats.Rows %d, want %d",
					len(records), stats.Rows, tt.opts.Rows)
			}
			for i, rec := range records {
				if len(rec) != len(Columns) {
					t.Fatalf("record %d: got %d fields, want %d", i, len(rec), len(Columns))
				}
			}
			if stats.DirtyRows != 0 {
				t.Errorf("clean export: got %d dirty rows, want 0", stats.DirtyRows)
			}
		})
	}
}

func TestCSVQuotesOnlyWhenNeeded(t *testing.T) {
	opts := Options{Rows: 50_000, Seed: 4, Dirty: true}
	data, _ := generate(t, opts)
	header, records, _ := generateCSV(t, opts)

	// encoding/csv quotes exactly the fields that need it, so writing the
	// parsed records again must give the same bytes.
	var again bytes.Buffer
	w := csv.NewWriter(&again)
	if err := w.Write(header); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAll(records); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again.Bytes()) {
		t.Fatalf("export differs from its records written by encoding/csv (%d and %d bytes)",
			len(data), again.Len())
	}

	// The fields that need quotes do occur.
	var commaInName, newlineInName, quoteInName int
	for _, rec := range records {
		commaInName += boolInt(strings.Contains(rec[colLastName], ", "))
		newlineInName += boolInt(strings.Contains(rec[colLastName], "\n"))
		quoteInName += boolInt(strings.Contains(rec[colFirstName], `"`))
	}
	if commaInName == 0 || newlineInName == 0 || quoteInName == 0 {
		t.Errorf("names with a comma, a line break, a quote: got %d, %d, %d; want some of each",
			commaInName, newlineInName, quoteInName)
	}
}

func TestAppendCSVQuoted(t *testing.T) {
	tests := []struct{ in, want string }{
		{`O'Brien, Jr.`, `"O'Brien, Jr."`},
		{`Robert "Bob"`, `"Robert ""Bob"""`},
		{"García\nLópez", "\"García\nLópez\""},
		{"", `""`},
	}
	for _, tt := range tests {
		if got := string(appendCSVQuoted(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendCSVQuoted(%q): got %s, want %s", tt.in, got, tt.want)
		}
		if !csvNeedsQuote([]byte(tt.in)) && tt.in != "" {
			t.Errorf("csvNeedsQuote(%q) = false, want true", tt.in)
		}
	}
	if csvNeedsQuote([]byte("SW1A 1AA")) {
		t.Error(`csvNeedsQuote("SW1A 1AA") = true, want false`)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
