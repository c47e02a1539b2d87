// Package duckstream runs DuckDB queries whose results stream out as Arrow
// record batches without being materialised first.
//
// The database/sql driver materialises a whole result before the first row
// can be read, which for a ten-million-row export means gigabytes held by
// DuckDB. A DB here opens its own DuckDB instance through the C API and
// executes queries in streaming mode, so memory stays bounded by DuckDB's
// memory_limit plus the batches the caller holds.
//
// A DB is not safe for concurrent use: run one query at a time and release
// its reader before the next.
package duckstream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	bindings "github.com/duckdb/duckdb-go-bindings"
)

// DB is an in-memory DuckDB instance with one connection.
type DB struct {
	db   bindings.Database
	conn bindings.Connection
}

// Open starts an in-memory DuckDB instance. Settings are applied with SET
// before Open returns, for example {"memory_limit": "512MB", "threads": "2"}.
func Open(settings map[string]string) (*DB, error) {
	var cfg bindings.Config
	if bindings.CreateConfig(&cfg) == bindings.StateError {
		return nil, errors.New("creating duckdb config")
	}
	defer bindings.DestroyConfig(&cfg)
	for name, value := range settings {
		if bindings.SetConfig(cfg, name, value) == bindings.StateError {
			return nil, fmt.Errorf("duckdb setting %s: invalid value", name)
		}
	}

	d := &DB{}
	var msg string
	if bindings.OpenExt("", &d.db, cfg, &msg) == bindings.StateError {
		return nil, fmt.Errorf("opening duckdb: %s", msg)
	}
	if bindings.Connect(d.db, &d.conn) == bindings.StateError {
		bindings.Close(&d.db)
		return nil, errors.New("connecting to duckdb")
	}
	return d, nil
}

// Close ends the connection and the instance. Readers must be released first.
func (d *DB) Close() error {
	bindings.Disconnect(&d.conn)
	bindings.Close(&d.db)
	return nil
}

// Exec runs a statement and discards its result.
func (d *DB) Exec(ctx context.Context, query string) error {
	r, err := d.Query(ctx, query)
	if err != nil {
		return err
	}
	defer r.Release()
	for r.Next() {
	}
	return r.Err()
}

// Query prepares and executes query in streaming mode. The caller must
// Release the reader; records it returns are valid until the next call to
// Next, as array.RecordReader promises. Cancelling ctx interrupts DuckDB.
func (d *DB) Query(ctx context.Context, query string) (array.RecordReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var stmt bindings.PreparedStatement
	if bindings.Prepare(d.conn, query, &stmt) == bindings.StateError {
		err := errors.New(bindings.PrepareError(stmt))
		bindings.DestroyPrepare(&stmt)
		return nil, err
	}
	defer bindings.DestroyPrepare(&stmt)

	var pending bindings.PendingResult
	if bindings.PendingPreparedStreaming(stmt, &pending) == bindings.StateError {
		err := errors.New(bindings.PendingError(pending))
		bindings.DestroyPending(&pending)
		return nil, err
	}
	defer bindings.DestroyPending(&pending)

	stop := d.interruptOnCancel(ctx)
	defer stop()
	var res bindings.Result
	if bindings.ExecutePending(pending, &res) == bindings.StateError {
		err := errors.New(bindings.ResultError(&res))
		bindings.DestroyResult(&res)
		return nil, errors.Join(ctx.Err(), err)
	}

	r, err := newReader(ctx, d, res)
	if err != nil {
		bindings.DestroyResult(&res)
		return nil, err
	}
	return r, nil
}

// interruptOnCancel interrupts the running query when ctx ends, until stop
// is called.
func (d *DB) interruptOnCancel(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
			bindings.Interrupt(d.conn)
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// reader streams a DuckDB result as Arrow record batches.
type reader struct {
	ctx    context.Context
	db     *DB
	res    bindings.Result
	opts   bindings.ArrowOptions
	schema *arrow.Schema

	mu      sync.Mutex
	refs    int64
	current arrow.RecordBatch
	err     error
	done    bool
}

func newReader(ctx context.Context, db *DB, res bindings.Result) (*reader, error) {
	opts := bindings.ResultGetArrowOptions(&res)
	n := bindings.ColumnCount(&res)
	names := make([]string, n)
	types := make([]bindings.LogicalType, n)
	for i := range n {
		names[i] = bindings.ColumnName(&res, i)
		types[i] = bindings.ColumnLogicalType(&res, i)
	}
	defer func() {
		for i := range types {
			bindings.DestroyLogicalType(&types[i])
		}
	}()

	schema, ed := bindings.NewArrowSchema(opts, types, names)
	defer bindings.DestroyErrorData(&ed)
	if bindings.ErrorDataHasError(ed) {
		bindings.DestroyArrowOptions(&opts)
		return nil, fmt.Errorf("arrow schema: %s", bindings.ErrorDataMessage(ed))
	}
	return &reader{ctx: ctx, db: db, res: res, opts: opts, schema: schema, refs: 1}, nil
}

func (r *reader) Schema() *arrow.Schema { return r.schema }

func (r *reader) Retain() {
	r.mu.Lock()
	r.refs++
	r.mu.Unlock()
}

func (r *reader) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refs <= 0 {
		return
	}
	r.refs--
	if r.refs > 0 {
		return
	}
	if r.current != nil {
		r.current.Release()
		r.current = nil
	}
	bindings.DestroyArrowOptions(&r.opts)
	bindings.DestroyResult(&r.res)
}

func (r *reader) Next() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil {
		r.current.Release()
		r.current = nil
	}
	if r.done || r.err != nil {
		return false
	}
	if err := r.ctx.Err(); err != nil {
		r.err = err
		return false
	}

	stop := r.db.interruptOnCancel(r.ctx)
	chunk := bindings.FetchChunk(r.res)
	stop()
	if chunk.Ptr == nil {
		r.done = true
		if msg := bindings.ResultError(&r.res); msg != "" {
			r.err = errors.Join(r.ctx.Err(), errors.New(msg))
		}
		return false
	}
	defer bindings.DestroyDataChunk(&chunk)

	rec, ed := bindings.DataChunkToArrowArray(r.opts, r.schema, chunk)
	defer bindings.DestroyErrorData(&ed)
	if bindings.ErrorDataHasError(ed) {
		r.err = fmt.Errorf("arrow conversion: %s", bindings.ErrorDataMessage(ed))
		return false
	}
	r.current = rec
	return true
}

func (r *reader) RecordBatch() arrow.RecordBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

func (r *reader) Record() arrow.RecordBatch { return r.RecordBatch() }

func (r *reader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
