package synth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteIsDeterministic(t *testing.T) {
	for _, format := range []Format{CSV, NDJSON, Parquet} {
		for _, dirty := range []bool{false, true} {
			opts := Options{Rows: 5000, Seed: 42, Format: format, Dirty: dirty}
			name := fmt.Sprintf("%s/dirty=%v", format, dirty)
			t.Run(name, func(t *testing.T) {
				first, stats1 := generate(t, opts)
				again, stats2 := generate(t, opts)
				if !bytes.Equal(first, again) {
					t.Errorf("two runs of %+v differ (%d and %d bytes)", opts, len(first), len(again))
				}
				if stats1 != stats2 {
					t.Errorf("stats of two runs: got %+v and %+v", stats1, stats2)
				}

				other := opts
				other.Seed++
				if data, _ := generate(t, other); bytes.Equal(first, data) {
					t.Errorf("seeds %d and %d gave the same bytes", opts.Seed, other.Seed)
				}
			})
		}
	}
}

func TestStatsAgreeAcrossFormats(t *testing.T) {
	var want Stats
	for i, format := range []Format{CSV, NDJSON, Parquet} {
		_, got := generate(t, Options{Rows: 30_000, Seed: 9, Format: format, Dirty: true})
		if i == 0 {
			want = got
			if got.Rows != 30_000 || got.Passengers == 0 || got.DirtyRows == 0 {
				t.Fatalf("stats of %s: got %+v, want 30000 rows, some passengers and dirty rows", format, got)
			}
			continue
		}
		if got != want {
			t.Errorf("stats of %s: got %+v, want %+v as for csv", format, got, want)
		}
	}
}

func TestDefaultFormatIsCSV(t *testing.T) {
	empty, _ := generate(t, Options{Rows: 100, Seed: 3})
	csv, _ := generate(t, Options{Rows: 100, Seed: 3, Format: CSV})
	if !bytes.Equal(empty, csv) {
		t.Error("empty format and csv gave different bytes")
	}
}

func TestWriteStopsWhenCanceled(t *testing.T) {
	for _, format := range []Format{CSV, NDJSON, Parquet} {
		t.Run(string(format), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			w := &countingWriter{}
			_, err := Write(ctx, w, Options{Rows: 10, Format: format})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Write: got %v, want context.Canceled", err)
			}
		})
	}
}

func TestWriteReportsWriterErrors(t *testing.T) {
	for _, format := range []Format{CSV, NDJSON, Parquet} {
		t.Run(string(format), func(t *testing.T) {
			boom := errors.New("disk full")
			w := &stoppingWriter{after: 1 << 20, err: boom}
			stats, err := Write(context.Background(), w, Options{Rows: 200_000, Format: format})
			if !errors.Is(err, boom) {
				t.Fatalf("Write: got %v, want an error wrapping %v", err, boom)
			}
			if stats != (Stats{}) {
				t.Errorf("stats on error: got %+v, want zero", stats)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bookings.ndjson")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Rows: 1000, Seed: 5, Format: NDJSON}

	stats, err := WriteFile(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, wantStats := generate(t, opts)
	if !bytes.Equal(got, want) {
		t.Errorf("file holds %d bytes that differ from Write's %d", len(got), len(want))
	}
	if stats != wantStats {
		t.Errorf("stats: got %+v, want %+v", stats, wantStats)
	}
	assertOnlyFiles(t, dir, "bookings.ndjson")
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bookings.csv")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if _, err := WriteFile(ctx, path, Options{Rows: 10}); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteFile: got %v, want context.Canceled", err)
	}
	assertOnlyFiles(t, dir)

	missing := filepath.Join(dir, "no-such-dir", "bookings.csv")
	if _, err := WriteFile(context.Background(), missing, Options{Rows: 10}); err == nil {
		t.Fatal("WriteFile into a missing directory: got no error")
	}
}

// assertOnlyFiles fails unless dir holds exactly the files named.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("files in %s: got %q, want %q", dir, got, names)
	}
}
