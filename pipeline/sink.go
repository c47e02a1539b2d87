package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// rowGroupRows is the number of rows in a Parquet row group.
const rowGroupRows = 128 * 1024

// encryptedPageSize bounds a page of an encrypted file, in bytes: more than
// any column of a row group takes, so each chunk is one page (see
// newParquetSink).
const encryptedPageSize = 1 << 30

// FileInfo describes one file a run wrote.
type FileInfo struct {
	// Path is relative to the version folder.
	Path   string `json:"path"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// hashingWriter writes to a file and hashes what it writes.
type hashingWriter struct {
	f *os.File
	h hash.Hash
	n int64
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// parquetSink writes record batches to one Parquet file.
type parquetSink struct {
	dir, name string
	out       *hashingWriter
	w         *pqarrow.FileWriter
	rows      int64
}

// newParquetSink creates a Parquet file in dir, encrypted under key (footer
// and columns, AES-GCM) unless key is plain. Columns named in plain are
// written without dictionary encoding or statistics: their values
// (pseudonym tokens) are nearly all distinct and random, so a dictionary
// and min/max only cost time.
func newParquetSink(dir, name string, schema *arrow.Schema, plain []string, key DataKey,
	mem memory.Allocator) (*parquetSink, error) {
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating output folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating output file: %w", err)
	}
	out := &hashingWriter{f: f, h: sha256.New()}
	options := []parquet.WriterProperty{
		// zstd at its fastest level: about as fast to write as Snappy here,
		// and a fifth smaller, so a read of an encrypted file has less to
		// decrypt.
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithMaxRowGroupLength(rowGroupRows),
		parquet.WithCreatedBy("haze"),
	}
	for _, c := range plain {
		options = append(options, parquet.WithDictionaryFor(c, false), parquet.WithStatsFor(c, false))
	}
	if enc := key.fileEncryption(); enc != nil {
		// TODO: DuckDB 2.0 fails to decrypt the second data page of a column
		// chunk ("Computed AES tag differs"), so encrypted files hold one
		// data page per chunk: pages as large as a row group's column, and no
		// fallback from a full dictionary to a second, plain page. Drop the
		// sizes once a DuckDB release reads multi-page chunks.
		options = append(options, parquet.WithEncryptionProperties(enc),
			parquet.WithDataPageSize(encryptedPageSize),
			parquet.WithDictionaryPageSizeLimit(encryptedPageSize))
	}
	props := parquet.NewWriterProperties(options...)
	w, err := pqarrow.NewFileWriter(schema, out, props,
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("creating parquet writer: %w", err)
	}
	return &parquetSink{dir: dir, name: name, out: out, w: w}, nil
}

func (s *parquetSink) write(rec arrow.RecordBatch) error {
	s.rows += rec.NumRows()
	if err := s.w.WriteBuffered(rec); err != nil {
		return fmt.Errorf("writing %s: %w", s.name, err)
	}
	return nil
}

// close finishes the file, syncs it to disk and describes it.
func (s *parquetSink) close() (FileInfo, error) {
	err := s.w.Close()
	if err == nil {
		err = s.out.f.Sync()
	}
	if cerr := s.out.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return FileInfo{}, fmt.Errorf("finishing %s: %w", s.name, err)
	}
	return FileInfo{Path: s.name, Rows: s.rows, Bytes: s.out.n,
		SHA256: hex.EncodeToString(s.out.h.Sum(nil))}, nil
}

// abort closes the file without caring for its contents.
func (s *parquetSink) abort() {
	s.w.Close()
	s.out.f.Close()
}

// quarantineSchema is the shape of quarantine files: why each row was set
// aside, never its values.
var quarantineSchema = arrow.NewSchema([]arrow.Field{
	{Name: "line", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "stage", Type: arrow.BinaryTypes.String},
	{Name: "column", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "reason", Type: arrow.BinaryTypes.String},
	{Name: "unit_token", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// quarantineBuilder collects quarantined rows into record batches.
type quarantineBuilder struct {
	b *array.RecordBuilder
	n int
}

func newQuarantineBuilder(mem memory.Allocator) *quarantineBuilder {
	return &quarantineBuilder{b: array.NewRecordBuilder(mem, quarantineSchema)}
}

// add appends a row; line < 0 means unknown.
func (q *quarantineBuilder) add(line int64, stage, column, reason, unit string) {
	f := q.b.Fields()
	if line < 0 {
		f[0].AppendNull()
	} else {
		f[0].(*array.Int64Builder).Append(line)
	}
	f[1].(*array.StringBuilder).Append(stage)
	appendOptional(f[2].(*array.StringBuilder), column)
	f[3].(*array.StringBuilder).Append(reason)
	appendOptional(f[4].(*array.StringBuilder), unit)
	q.n++
}

func appendOptional(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.Append(s)
}

// flush returns the rows collected so far, or nil; the caller releases it.
func (q *quarantineBuilder) flush() arrow.RecordBatch {
	if q.n == 0 {
		return nil
	}
	q.n = 0
	return q.b.NewRecordBatch()
}

func (q *quarantineBuilder) release() { q.b.Release() }
