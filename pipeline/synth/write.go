package synth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ctxEvery is how many rows pass between checks of the context.
const ctxEvery = 1 << 16

// writeBufferBytes is the size of the buffer in front of the writer.
const writeBufferBytes = 256 << 10

// encoder turns generated rows into one file format.
type encoder interface {
	// writeRow encodes the row the generator holds.
	writeRow(g *generator) error
	// finish writes what is buffered and the file's trailer, if any.
	finish() error
	// release frees the encoder's memory; it is called once, last.
	release()
}

// Write generates the export described by opts and writes it to w.
//
// Equal opts produce byte-identical output from the same build (see the
// package documentation). Write buffers its output and does not close w.
// It checks ctx every 65,536 rows and stops with ctx's error once ctx is
// done. Memory use is about 4 bytes per row plus, for Parquet, up to
// three batches of 131,072 rows. Parquet exports are encoded on a second
// goroutine, which has ended by the time Write returns.
//
// Write returns an error matching ErrInvalidOptions for bad opts, before
// writing anything. On any error the Stats are zero and w may have
// received part of the export.
func Write(ctx context.Context, w io.Writer, opts Options) (Stats, error) {
	return write(ctx, w, opts, memory.DefaultAllocator)
}

// write is Write with the allocator for Parquet's Arrow memory.
func write(ctx context.Context, w io.Writer, opts Options, mem memory.Allocator) (Stats, error) {
	opts, err := opts.normalize()
	if err != nil {
		return Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}

	bw := bufio.NewWriterSize(w, writeBufferBytes)
	var enc encoder
	switch opts.Format {
	case CSV:
		enc, err = newCSVEncoder(bw)
	case NDJSON:
		enc = newNDJSONEncoder(bw)
	case Parquet:
		enc, err = newParquetEncoder(bw, mem)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("starting %s: %w", opts.Format, err)
	}
	defer enc.release()

	g := newGenerator(opts)
	for i := range opts.Rows {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return Stats{}, err
			}
		}
		g.next(i)
		if err := enc.writeRow(g); err != nil {
			return Stats{}, fmt.Errorf("writing %s row %d: %w", opts.Format, i, err)
		}
	}
	if err := enc.finish(); err != nil {
		return Stats{}, fmt.Errorf("finishing %s: %w", opts.Format, err)
	}
	return g.stats(), nil
}

// WriteFile writes the export described by opts to the file at path,
// replacing any file there, as Write does for a writer.
//
// The export is written to a temporary file beside path, named
// path+".tmp-<random>", synced, and renamed to path only when complete, so
// path never holds a partial export. On error the temporary file is
// removed. The file is created with mode 0600 since exports look like
// personal data.
func WriteFile(ctx context.Context, path string, opts Options) (stats Stats, err error) {
	if _, err := opts.normalize(); err != nil {
		return Stats{}, err
	}

	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return Stats{}, fmt.Errorf("creating temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // may already be closed; the first error is kept
			err = errors.Join(err, removeIfExists(tmp))
		}
	}()

	if stats, err = Write(ctx, f, opts); err != nil {
		return Stats{}, err
	}
	if err = f.Sync(); err != nil {
		return Stats{}, fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return Stats{}, fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return Stats{}, fmt.Errorf("renaming temporary file: %w", err)
	}
	return stats, nil
}

// removeIfExists removes path, treating a missing file as success.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing temporary file: %w", err)
	}
	return nil
}
