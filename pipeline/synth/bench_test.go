package synth

import (
	"context"
	"io"
	"testing"
)

// benchmarkWrite measures writing rows rows of format f to io.Discard and
// reports the throughput in rows/s.
func benchmarkWrite(b *testing.B, f Format, rows int) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	opts := Options{Rows: rows, Seed: 1, Format: f, Dirty: true}
	for b.Loop() {
		if _, err := Write(ctx, io.Discard, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkWriteCSV(b *testing.B)     { benchmarkWrite(b, CSV, 200_000) }
func BenchmarkWriteNDJSON(b *testing.B)  { benchmarkWrite(b, NDJSON, 200_000) }
func BenchmarkWriteParquet(b *testing.B) { benchmarkWrite(b, Parquet, 200_000) }
