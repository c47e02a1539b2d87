package synth

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // error text; empty for valid options
	}{
		{"zero rows", Options{}, "rows must be > 0"},
		{"negative rows", Options{Rows: -5}, "rows must be > 0"},
		{"too many rows", Options{Rows: MaxRows + 1}, "rows must be ≤ 536870912"},
		{"unknown format", Options{Rows: 1, Format: "xml"},
			`format "xml" is not one of csv, parquet, ndjson`},
		{"format in capitals", Options{Rows: 1, Format: "CSV"},
			`format "CSV" is not one of csv, parquet, ndjson`},
		{"default format", Options{Rows: 1}, ""},
		{"every format", Options{Rows: 1, Format: NDJSON, Dirty: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write(context.Background(), io.Discard, tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Write: got %v, want no error", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Write: got error %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("errors.Is(%v, ErrInvalidOptions) = false, want true", err)
			}
		})
	}
}

func TestInvalidOptionsWriteNothing(t *testing.T) {
	w := &countingWriter{}
	if _, err := Write(context.Background(), w, Options{Format: Parquet}); err == nil {
		t.Fatal("Write with zero rows: got no error")
	}
	if w.n != 0 {
		t.Errorf("Write with zero rows wrote %d bytes, want 0", w.n)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "x.csv")
	_, err := WriteFile(context.Background(), path, Options{Format: "xml", Rows: 3})
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("WriteFile: got %v, want ErrInvalidOptions", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("WriteFile with bad options left %d files, want 0", len(entries))
	}
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}
