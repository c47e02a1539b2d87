package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
	"haze/internal/duckstream"
	"haze/store"
)

// This file lets another engine (Apache Beam, in pipeline/beamjob) run a
// job with the same reader, the same transforms, the same Parquet writer
// and the same atomic publish as Run. The engine reads the export in
// shards (see Split and ExternalPlan.ReadShard), routes and transforms
// each row, writes one data and one quarantine file per shard into the
// run's folder with the sinks below, and hands the totals to
// ExternalRun.Finish, which publishes as Run does.

// ExternalPlan is a job compiled for an engine that reads the export in
// shards and transforms values one at a time. It holds the job's key: it
// is built on each worker from the keyring there, never shipped. It is
// safe for concurrent use.
type ExternalPlan struct {
	// Spec is the job.
	Spec *Spec
	// Format and Path are the export's.
	Format, Path string
	// Export lists the export's columns in file order.
	Export []string
	// Columns are the published columns in output order.
	Columns []ExternalColumn
	// Schema is the shape of the published rows.
	Schema *arrow.Schema

	ring    *anonymize.Keyring
	key     anonymize.Key
	dk      DataKey
	unit    anonymize.Transform
	planned []plannedColumn
	dropped []DroppedColumn
	tokens  []string
}

// SealedKey is a run's data key as it travels to workers: wrapped under a
// master key that each worker's keyring holds, never in clear. Its fields
// are plain values, so an engine can serialise it.
type SealedKey struct {
	Dataset     string
	Version     int
	Encryption  string // store.EncryptionPME or store.EncryptionNone
	MasterKeyID string
	Wrapped     []byte
}

// Seal returns the data key of a published version as it travels to
// workers that read it.
func Seal(v store.Version) SealedKey {
	return SealedKey{Dataset: v.Dataset, Version: v.Version, Encryption: v.Encryption,
		MasterKeyID: v.DataKey.MasterKeyID, Wrapped: v.DataKey.Wrapped}
}

// Open unwraps the key with ring's master, as VersionKey does.
func (s SealedKey) Open(ring *anonymize.Keyring) (DataKey, error) {
	return VersionKey(ring, store.Version{Dataset: s.Dataset, Version: s.Version,
		Encryption: s.Encryption, DataKey: store.DataKey{MasterKeyID: s.MasterKeyID,
			Wrapped: s.Wrapped}})
}

// OpenKey unwraps the run's data key with the plan's keyring, so the
// plan's sinks encrypt under it. A plain run's key opens to plain.
func (p *ExternalPlan) OpenKey(s SealedKey) error {
	dk, err := s.Open(p.ring)
	if err != nil {
		return err
	}
	p.dk = dk
	return nil
}

// ExternalColumn is one published column.
type ExternalColumn struct {
	// Name is the export column; Output the dataset column.
	Name, Output string
	// Transform is the column's compiled policy.
	Transform anonymize.Transform
}

// PlanExternal compiles spec against the export's columns. ring replaces
// the spec's keyring when not nil. export lists the export's columns; nil
// reads them from the file. now is the run's start, the reference of age
// bands: every worker must be given the same.
func PlanExternal(ctx context.Context, spec *Spec, ring *anonymize.Keyring, export []string,
	now time.Time) (*ExternalPlan, error) {
	ring, key, err := loadKey(spec, ring)
	if err != nil {
		return nil, err
	}
	format, err := spec.Format()
	if err != nil {
		return nil, err
	}
	p := &ExternalPlan{Spec: spec, Format: format, Path: spec.SourcePath(), Export: export,
		ring: ring, key: key}
	if p.Export == nil {
		db, err := duckstream.Open(map[string]string{"threads": "1"})
		if err != nil {
			return nil, err
		}
		defer db.Close()
		if p.Export, err = exportColumns(ctx, db, format, p.Path); err != nil {
			return nil, err
		}
	}
	if p.planned, p.dropped, err = plan(spec, p.Export, key, now); err != nil {
		return nil, err
	}
	p.Schema, p.tokens, p.unit = outputShape(p.planned, key, spec.PrivacyUnit)
	for _, c := range p.planned {
		p.Columns = append(p.Columns, ExternalColumn{Name: c.spec.Name,
			Output: c.spec.OutputName(), Transform: c.transform})
	}
	return p, nil
}

// KeyID is the public ID of the job's key.
func (p *ExternalPlan) KeyID() string { return p.key.ID() }

// ReadShard reads one shard of the export with the pipeline's source
// query and calls each with every batch (released after each returns).
// The batches hold the control columns that Route reads, then one column
// per published column (see Data). scratch is a folder for the shard's
// copy of its bytes (CSV, NDJSON); d is the whole file's CSV dialect. It
// returns the rows the reader rejected, with the line numbers a read of
// the whole file gives.
func (p *ExternalPlan) ReadShard(ctx context.Context, sh Shard, d *CSVDialect, scratch string,
	memoryLimit string, each func(arrow.RecordBatch) error) ([]QuarantineRow, error) {
	db, err := duckstream.Open(map[string]string{"threads": "1", "memory_limit": memoryLimit,
		"temp_directory": filepath.Join(scratch, fmt.Sprintf("spill-%05d", sh.Index))})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Exec(ctx, "SET TimeZone = 'UTC'"); err != nil {
		return nil, fmt.Errorf("setting up duckdb: %w", err)
	}
	withErasure := p.Spec.Erasure != nil
	if withErasure {
		e := p.Spec.Erasure
		if _, err := loadErasure(ctx, db, e, p.Spec.resolve(e.Path), p.Spec.PrivacyUnit); err != nil {
			return nil, err
		}
	}

	var from string
	switch p.Format {
	case FormatParquet:
		from = fmt.Sprintf("(SELECT * EXCLUDE (file_row_number) FROM read_parquet(%s, "+
			"file_row_number=true) WHERE file_row_number >= %d AND file_row_number < %d)",
			quoteString(p.Path), sh.Start, sh.End)
	default:
		chunk, err := copyShard(p.Path, sh, scratch)
		if err != nil {
			return nil, err
		}
		defer os.Remove(chunk)
		from = reader(p.Format, chunk, p.Export)
		if p.Format == FormatCSV {
			if d == nil {
				return nil, errors.New("reading a CSV shard needs the file's dialect")
			}
			from = "read_csv(" + quoteString(chunk) + ", header=true, all_varchar=true, delim=" +
				quoteString(d.Delimiter) + ", quote=" + quoteString(d.Quote) + ", escape=" +
				quoteString(d.Escape) + ", new_line=" + quoteString(d.NewLine) +
				", store_rejects=true, rejects_table=" + quoteString(rejectsTable) +
				", rejects_scan=" + quoteString(rejectsScan) + ")"
		}
	}

	r, err := db.Query(ctx, sourceQueryFrom(p.Spec, from, p.planned, withErasure))
	if err != nil {
		return nil, fmt.Errorf("reading export: %s", firstLine(err))
	}
	defer r.Release()
	for r.Next() {
		if err := each(r.RecordBatch()); err != nil {
			return nil, err
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("reading export: %s", firstLine(err))
	}

	rejects, err := readerRejectsIfAny(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]QuarantineRow, len(rejects))
	for i, rj := range rejects {
		// The shard's line 1 is the header, line 2 its first record.
		out[i] = QuarantineRow{Line: rj.line - 2 + sh.FirstLine, Stage: "read", Reason: rj.reason}
	}
	return out, nil
}

// copyShard writes the shard's bytes, after the CSV header, to a file in
// scratch and returns its path.
func copyShard(path string, sh Shard, scratch string) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return "", fmt.Errorf("creating scratch folder: %w", err)
	}
	dst, err := os.CreateTemp(scratch, fmt.Sprintf("shard-%05d-*%s", sh.Index, filepath.Ext(path)))
	if err != nil {
		return "", fmt.Errorf("creating shard copy: %w", err)
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, 0, sh.HeaderEnd))
	if err == nil {
		_, err = io.Copy(dst, io.NewSectionReader(src, sh.Start, sh.End-sh.Start))
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst.Name())
		return "", fmt.Errorf("copying shard: %w", err)
	}
	return dst.Name(), nil
}

// Route is what happens to a source row, in the order Run decides it.
type Route int

// Routes of a source row.
const (
	RoutePublish   Route = iota // transform and publish (or quarantine on failure)
	RouteErased                 // the subject is on the erasure list
	RouteNoConsent              // the consent rule leaves it out
	RouteBad                    // a cast failed: quarantine with the reason
)

// Route decides row i of a batch from ReadShard as Run does: erased
// first, then no consent, then a failed cast (whose reason it returns,
// copied: it outlives the batch).
func (p *ExternalPlan) Route(rec arrow.RecordBatch, i int) (Route, string) {
	switch {
	case rec.Column(colErased).(*array.Boolean).Value(i):
		return RouteErased, ""
	case !rec.Column(colConsent).(*array.Boolean).Value(i):
		return RouteNoConsent, ""
	}
	if bad := rec.Column(colBad).(*array.String); bad.IsValid(i) {
		return RouteBad, strings.Clone(bad.Value(i))
	}
	return RoutePublish, ""
}

// Data is the input of published column j in a batch from ReadShard.
func (p *ExternalPlan) Data(rec arrow.RecordBatch, j int) arrow.Array {
	return rec.Column(firstData + j)
}

// Quarantined describes row i of a batch set aside by a policy, as Run
// does: the column from the reason, the privacy unit as its token.
func (p *ExternalPlan) Quarantined(rec arrow.RecordBatch, i int, reason string) QuarantineRow {
	q := QuarantineRow{Line: -1, Stage: "policy", Reason: reason}
	if col, _, ok := cutColumn(reason); ok {
		q.Column = col
	}
	q.UnitToken = unitToken(p.unit, rec.Column(colUnit).(*array.String), i)
	return q
}

// QuarantineRow is one row of a quarantine file: why a row was set aside,
// never its values.
type QuarantineRow struct {
	// Line is the reader's line number, -1 when unknown.
	Line int64
	// Stage is read (the reader rejected it) or policy.
	Stage, Column, Reason string
	// UnitToken is the privacy unit's token, "" when there is none.
	UnitToken string
}

// Sink is one Parquet file of a run, written by the pipeline's own
// writer, so that every engine's files are the same. It is not safe for
// concurrent use.
type Sink struct{ s *parquetSink }

// NewDataSink creates data/part-NNNNN.parquet for shard in the run folder
// dir, replacing what an earlier attempt at the shard left. It encrypts
// under the key OpenKey opened.
func (p *ExternalPlan) NewDataSink(dir string, shard int, mem memory.Allocator) (*Sink, error) {
	return newSink(dir, fmt.Sprintf("data/part-%05d.parquet", shard), p.Schema, p.tokens, p.dk,
		mem)
}

// NewQuarantineSink creates quarantine/part-NNNNN.parquet for shard in
// the run folder dir, replacing what an earlier attempt left. It encrypts
// under the key OpenKey opened.
func (p *ExternalPlan) NewQuarantineSink(dir string, shard int, mem memory.Allocator) (*Sink,
	error) {
	return newSink(dir, fmt.Sprintf("quarantine/part-%05d.parquet", shard), quarantineSchema, nil,
		p.dk, mem)
}

func newSink(dir, name string, schema *arrow.Schema, plain []string, dk DataKey,
	mem memory.Allocator) (*Sink, error) {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing an earlier attempt: %w", err)
	}
	s, err := newParquetSink(dir, name, schema, plain, dk, mem)
	if err != nil {
		return nil, err
	}
	return &Sink{s: s}, nil
}

// Write appends a batch; the caller keeps and releases it.
func (s *Sink) Write(rec arrow.RecordBatch) error { return s.s.write(rec) }

// WriteQuarantine appends quarantine rows.
func (s *Sink) WriteQuarantine(mem memory.Allocator, rows []QuarantineRow) error {
	if len(rows) == 0 {
		return nil
	}
	qb := newQuarantineBuilder(mem)
	defer qb.release()
	for _, q := range rows {
		qb.add(q.Line, q.Stage, q.Column, q.Reason, q.UnitToken)
	}
	rec := qb.flush()
	defer rec.Release()
	return s.s.write(rec)
}

// Close finishes the file, syncs it and describes it.
func (s *Sink) Close() (FileInfo, error) { return s.s.close() }

// Abort closes the file without caring for its contents.
func (s *Sink) Abort() { s.s.abort() }

// ExternalRun is a run whose rows another engine writes: it holds the
// dataset's lock and the run folder from BeginExternal until Close, and
// publishes with Finish exactly as Run does.
type ExternalRun struct {
	// Plan is the job, compiled.
	Plan *ExternalPlan
	// Dir is the run's temporary folder; the engine writes its files there.
	Dir string
	// Started is the run's start, to give every worker.
	Started time.Time
	// Sealed is the run's data key, wrapped, to give every worker (see
	// ExternalPlan.OpenKey).
	Sealed SealedKey

	run *jobRun
}

// ExternalResult is what the engine wrote, added up over its shards.
type ExternalResult struct {
	Files, Quarantine []FileInfo
	// Read counts the rows the source query gave (not reader rejects).
	Read, Published, Erased, NoConsent, Quarantined int64
	// ReaderRejects counts the rows the reader could not read.
	ReaderRejects int64
	// Reasons counts quarantined rows by reason.
	Reasons map[string]int64
}

// BeginExternal starts a run of spec as Run does (key, source, dataset
// lock, leftovers, erasure list) and creates its temporary folder. The
// caller must Close it.
func BeginExternal(ctx context.Context, spec *Spec, cat *store.Catalog,
	opts Options) (*ExternalRun, error) {
	opts.defaults()
	start := opts.Now()
	p, err := PlanExternal(ctx, spec, opts.Keyring, nil, start)
	if err != nil {
		return nil, err
	}
	run, err := beginRun(ctx, spec, cat, opts, p.ring, p.key, start)
	if err != nil {
		return nil, err
	}
	r := &ExternalRun{Plan: p, Dir: run.tmp, Started: start, run: run,
		Sealed: SealedKey{Dataset: spec.Output.Dataset, Version: run.next,
			Encryption: run.m.Encryption, MasterKeyID: run.wrapped.MasterKeyID,
			Wrapped: run.wrapped.Wrapped}}
	p.dk = run.dk
	run.m.DroppedColumns = p.dropped
	if spec.Erasure != nil {
		if run.m.Rows.ErasureSubjects, err = countErasure(ctx, spec); err != nil {
			r.Close()
			return nil, err
		}
	}
	run.hash()
	return r, nil
}

// countErasure counts the subjects of the job's erasure list.
func countErasure(ctx context.Context, spec *Spec) (int64, error) {
	db, err := duckstream.Open(map[string]string{"threads": "1"})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return loadErasure(ctx, db, spec.Erasure, spec.resolve(spec.Erasure.Path), spec.PrivacyUnit)
}

// Close releases the dataset's lock and, unless the run published,
// removes its temporary folder.
func (r *ExternalRun) Close() { r.run.close() }

// Finish records the engine's result in the manifest and publishes the
// run folder as the dataset's next version, atomically, as Run does: the
// same rejected-share rule, risk report, manifest and catalog entry. Its
// results and errors are Run's. Files in the folder that res does not
// list (such as an engine's bookkeeping) must be gone before.
func (r *ExternalRun) Finish(ctx context.Context, res ExternalResult) (*Manifest, error) {
	return r.run.finish(ctx, res, r.Plan.planned)
}
