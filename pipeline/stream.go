package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	quarantine    *FileInfo
	reasons       map[string]int64
}

// unit is a group of source batches one worker transforms; out receives
// the results, in the batches' order.
type unit struct {
	recs []arrow.RecordBatch
	out  chan []batchResult
}

// stream runs the batch loop: DuckDB streams the source query, workers
// transform units of batches in parallel, and one writer appends their
// results to the data and quarantine files in source order. Memory stays
// bounded by the queue lengths, whatever the size of the export.
func stream(ctx context.Context, db *duckstream.DB, query, dir string, planned []plannedColumn,
	key anonymize.Key, unitName string, opts Options) (*streamResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	fields := make([]arrow.Field, len(planned))
	for i, c := range planned {
		fields[i] = arrow.Field{Name: c.spec.OutputName(), Type: c.transform.Output(), Nullable: true}
	}
	b := &batcher{mem: opts.Allocator, schema: arrow.NewSchema(fields, nil), columns: planned,
		unit: anonymize.NewPseudonymizer(key), unitName: unitName}

	reader, err := db.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("reading export: %s", firstLine(err))
	}
	defer reader.Release()

	data, err := newParquetSink(dir, "data/part-00000.parquet", b.schema, opts.Allocator)
	if err != nil {
		return nil, err
	}
	quar, err := newParquetSink(dir, "quarantine/part-00000.parquet", quarantineSchema, opts.Allocator)
	if err != nil {
		data.abort()
		return nil, err
	}
	w := &writer{data: data, quar: quar, qb: newQuarantineBuilder(opts.Allocator),
		reasons: map[string]int64{}}
	defer w.qb.release()
	if opts.Progress != nil {
		w.bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription("rows"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionThrottle(200_000_000), progressbar.OptionClearOnFinish())
	}

	// Workers transform units; the writer takes their results in order.
	work := make(chan unit, opts.Workers)
	order := make(chan chan []batchResult, 2*opts.Workers)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				results := make([]batchResult, len(u.recs))
				for i, rec := range u.recs {
					results[i] = b.process(rec)
					rec.Release()
				}
				u.out <- results
			}
		}()
	}
	writeDone := make(chan error, 1)
	go func() { writeDone <- w.run(order, cancel) }()

	// Read: group source batches into units and hand them out.
	var pending []arrow.RecordBatch
	var pendingRows int64
	send := func() {
		u := unit{recs: pending, out: make(chan []batchResult, 1)}
		order <- u.out
		work <- u
		pending, pendingRows = nil, 0
	}
	for reader.Next() {
		rec := reader.RecordBatch()
		rec.Retain()
		pending = append(pending, rec)
		if pendingRows += rec.NumRows(); pendingRows >= unitRows {
			send()
		}
	}
	if len(pending) > 0 {
		send()
	}
	close(work)
	close(order)
	wg.Wait()
	werr := <-writeDone

	if err := errors.Join(werr, context.Cause(ctx), reader.Err()); err != nil {
		data.abort()
		quar.abort()
		if werr != nil {
			return nil, werr
		}
		if cause := context.Cause(ctx); cause != nil {
			return nil, cause
		}
		return nil, fmt.Errorf("reading export: %s", firstLine(reader.Err()))
	}
	return w.finish(ctx, db)
}

// writer appends results to the output files. It runs on one goroutine.
type writer struct {
	data, quar *parquetSink
	qb         *quarantineBuilder
	counts     counts
	reasons    map[string]int64
	bar        *progressbar.ProgressBar
}

// run writes every result in order. After an error it cancels the run and
// keeps draining so that no worker blocks and every batch is released.
func (w *writer) run(order <-chan chan []batchResult, cancel context.CancelCauseFunc) error {
	var failed error
	for out := range order {
		for _, r := range <-out {
			if failed == nil {
				failed = w.write(r)
				if failed != nil {
					cancel(failed)
				}
			}
			if r.data != nil {
				r.data.Release()
			}
		}
	}
	return failed
}

func (w *writer) write(r batchResult) error {
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
		if err := w.flushQuarantine(); err != nil {
			return err
		}
	}
	if w.bar != nil {
		w.bar.Add64(r.counts.Read)
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

// finish adds the reader's rejects to the quarantine and closes the files.
func (w *writer) finish(ctx context.Context, db *duckstream.DB) (*streamResult, error) {
	res := &streamResult{counts: w.counts, reasons: w.reasons}
	rejects, err := readerRejectsIfAny(ctx, db)
	if err != nil {
		w.data.abort()
		w.quar.abort()
		return nil, err
	}
	for _, r := range rejects {
		w.qb.add(r.line, "read", "", r.reason, "")
		w.reasons[r.reason]++
	}
	res.readerRejects = int64(len(rejects))
	if err := w.flushQuarantine(); err != nil {
		w.data.abort()
		w.quar.abort()
		return nil, err
	}
	if w.bar != nil {
		w.bar.Finish()
	}

	dataInfo, err := w.data.close()
	if err != nil {
		w.quar.abort()
		return nil, err
	}
	quarInfo, err := w.quar.close()
	if err != nil {
		return nil, err
	}
	res.files = []FileInfo{dataInfo}
	res.quarantine = &quarInfo
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
