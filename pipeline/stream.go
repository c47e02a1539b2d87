package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/schollz/progressbar/v3"

	"haze/anonymize"
	"haze/internal/duckstream"
)

// streamResult is what the batch loop wrote.
type streamResult struct {
	counts        counts
	readerRejects int64
	files         []FileInfo
	quarantine    []FileInfo
	reasons       map[string]int64
}

// result is what the stream wrote, as every engine reports it.
func (r streamResult) result() ExternalResult {
	return ExternalResult{Files: r.files, Quarantine: r.quarantine, Reasons: r.reasons,
		Read: r.counts.Read, Published: r.counts.Published, Erased: r.counts.Erased,
		NoConsent: r.counts.NoConsent, Quarantined: r.counts.Quarantined,
		ReaderRejects: r.readerRejects}
}

// stream runs the batch loop: DuckDB streams the source query, and each
// worker transforms units of batches and appends them to its own data and
// quarantine files, so transforming and encoding Parquet both run in
// parallel. Memory stays bounded by the queue length and the row groups
// being built, whatever the size of the export.
func stream(ctx context.Context, db *duckstream.DB, query, dir string, planned []plannedColumn,
	key anonymize.Key, unitName string, dk DataKey, opts Options) (*streamResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	schema, tokens, unit := outputShape(planned, key, unitName)
	b := &batcher{mem: opts.Allocator, schema: schema, columns: planned, unit: unit,
		unitName: unitName}

	reader, err := db.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("reading export: %s", firstLine(err))
	}
	defer reader.Release()

	var bar *progressbar.ProgressBar
	if opts.Progress != nil {
		bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription("rows"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionThrottle(200_000_000), progressbar.OptionClearOnFinish())
	}

	// Workers transform and write; the reader hands out units of batches.
	work := make(chan []arrow.RecordBatch, opts.Workers)
	writers := make([]*writer, opts.Workers)
	for i := range writers {
		w, err := newWriter(dir, i, b.schema, tokens, dk, opts)
		if err != nil {
			for _, prev := range writers[:i] {
				prev.abort()
			}
			return nil, err
		}
		writers[i] = w
	}
	var wg sync.WaitGroup
	var read atomic.Int64
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for recs := range work {
				for _, rec := range recs {
					if err := w.write(b.process(rec)); err != nil && w.err == nil {
						w.err = err
						cancel(err)
					}
					rec.Release()
				}
				if bar != nil {
					bar.Set64(read.Load())
				}
				if opts.OnProgress != nil {
					opts.OnProgress(read.Load())
				}
			}
		}()
	}

	var pending []arrow.RecordBatch
	var pendingRows int64
	for reader.Next() {
		rec := reader.RecordBatch()
		rec.Retain()
		pending = append(pending, rec)
		read.Add(rec.NumRows())
		if pendingRows += rec.NumRows(); pendingRows >= unitRows {
			work <- pending
			pending, pendingRows = nil, 0
		}
	}
	if len(pending) > 0 {
		work <- pending
	}
	close(work)
	wg.Wait()
	if bar != nil {
		bar.Finish()
	}

	var werr error
	for _, w := range writers {
		werr = errors.Join(werr, w.err)
	}
	if err := errors.Join(werr, context.Cause(ctx), reader.Err()); err != nil {
		for _, w := range writers {
			w.abort()
		}
		switch {
		case werr != nil:
			return nil, werr
		case context.Cause(ctx) != nil:
			return nil, context.Cause(ctx)
		default:
			return nil, fmt.Errorf("reading export: %s", firstLine(reader.Err()))
		}
	}
	return finish(ctx, db, writers)
}

// outputShape is what a run's planned columns publish: their schema, the
// token columns (written without dictionary or statistics), and the
// transform that makes the privacy unit's token for quarantine rows: the
// unit column's own policy, or a plain pseudonym when the unit is not
// published.
func outputShape(planned []plannedColumn, key anonymize.Key, unitName string) (*arrow.Schema,
	[]string, anonymize.Transform) {
	fields := make([]arrow.Field, len(planned))
	var tokens []string
	var unit anonymize.Transform = anonymize.NewPseudonymizer(key)
	for i, c := range planned {
		fields[i] = arrow.Field{Name: c.spec.OutputName(), Type: c.transform.Output(), Nullable: true}
		if anonymize.Tokenizing(c.spec.Policy.Action) {
			tokens = append(tokens, fields[i].Name)
		}
		if c.spec.Name == unitName {
			unit = c.transform
		}
	}
	return arrow.NewSchema(fields, nil), tokens, unit
}

// writer is one worker's output: a data file and a quarantine file. It is
// used by one goroutine at a time.
type writer struct {
	data, quar *parquetSink
	qb         *quarantineBuilder
	counts     counts
	reasons    map[string]int64
	err        error
}

func newWriter(dir string, i int, schema *arrow.Schema, tokens []string, dk DataKey,
	opts Options) (*writer, error) {
	name := fmt.Sprintf("part-%05d.parquet", i)
	data, err := newParquetSink(dir, "data/"+name, schema, tokens, dk, opts.Allocator)
	if err != nil {
		return nil, err
	}
	quar, err := newParquetSink(dir, "quarantine/"+name, quarantineSchema, nil, dk, opts.Allocator)
	if err != nil {
		data.abort()
		return nil, err
	}
	return &writer{data: data, quar: quar, qb: newQuarantineBuilder(opts.Allocator),
		reasons: map[string]int64{}}, nil
}

// write appends one batch's result and releases its data.
func (w *writer) write(r batchResult) error {
	if r.data != nil {
		defer r.data.Release()
	}
	if w.err != nil {
		return w.err
	}
	if r.err != nil {
		return r.err
	}
	w.counts.add(r.counts)
	if r.data != nil {
		if err := w.data.write(r.data); err != nil {
			return err
		}
	}
	for _, q := range r.quarantine {
		w.qb.add(-1, "policy", q.column, q.reason, q.unit)
		w.reasons[q.reason]++
	}
	if w.qb.n >= unitRows {
		return w.flushQuarantine()
	}
	return nil
}

func (w *writer) flushQuarantine() error {
	rec := w.qb.flush()
	if rec == nil {
		return nil
	}
	defer rec.Release()
	return w.quar.write(rec)
}

func (w *writer) abort() {
	w.data.abort()
	w.quar.abort()
	w.qb.release()
}

// close finishes the writer's files.
func (w *writer) close() (FileInfo, FileInfo, error) {
	defer w.qb.release()
	if err := w.flushQuarantine(); err != nil {
		w.data.abort()
		w.quar.abort()
		return FileInfo{}, FileInfo{}, err
	}
	data, err := w.data.close()
	if err != nil {
		w.quar.abort()
		return FileInfo{}, FileInfo{}, err
	}
	quar, err := w.quar.close()
	return data, quar, err
}

// finish adds the reader's rejects to the first quarantine file, closes
// every file and adds up the counts.
func finish(ctx context.Context, db *duckstream.DB, writers []*writer) (*streamResult, error) {
	res := &streamResult{reasons: map[string]int64{}}
	rejects, err := readerRejectsIfAny(ctx, db)
	if err != nil {
		for _, w := range writers {
			w.abort()
		}
		return nil, err
	}
	for _, r := range rejects {
		writers[0].qb.add(r.line, "read", "", r.reason, "")
		writers[0].reasons[r.reason]++
	}
	res.readerRejects = int64(len(rejects))

	var errs error
	for _, w := range writers {
		data, quar, err := w.close()
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		res.counts.add(w.counts)
		for reason, n := range w.reasons {
			res.reasons[reason] += n
		}
		res.files = append(res.files, data)
		res.quarantine = append(res.quarantine, quar)
	}
	if errs != nil {
		return nil, errs
	}
	return res, nil
}

// readerRejectsIfAny reads the CSV reader's rejects; other formats have
// no reject table.
func readerRejectsIfAny(ctx context.Context, db *duckstream.DB) ([]readerReject, error) {
	n, err := countRows(ctx, db, "SELECT count(*) FROM duckdb_tables() WHERE table_name = "+
		quoteString(rejectsTable))
	if err != nil || n == 0 {
		return nil, err
	}
	return readerRejects(ctx, db)
}
