package synth

import (
	"bufio"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetBatchRows is the number of rows built into one Arrow record and
// written as one Parquet row group. It bounds the encoder's memory.
const parquetBatchRows = 128 * 1024

// ParquetSchema returns the Arrow schema of Parquet exports: dates as
// date32, consent_timestamp as timestamp[us, UTC], amounts as float64,
// marketing_consent as bool and every other column as utf8. All fields
// are nullable. Clean exports hold nulls only in consent_timestamp; dirty
// ones also in the dates and fare_amount of defective rows and in the
// missing fields of short lines.
func ParquetSchema() *arrow.Schema {
	fields := make([]arrow.Field, numCols)
	for i, c := range Columns {
		var t arrow.DataType = arrow.BinaryTypes.String
		switch i {
		case colDateOfBirth, colBookingDate, colFlightDate:
			t = arrow.FixedWidthTypes.Date32
		case colConsentTime:
			t = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case colFare, colAncillary:
			t = arrow.PrimitiveTypes.Float64
		case colConsent:
			t = arrow.FixedWidthTypes.Boolean
		}
		fields[i] = arrow.Field{Name: c, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// parquetPlainColumns are nearly unique per row or per passenger, so a
// dictionary would cost time and save no space.
var parquetPlainColumns = []int{
	colPassengerID, colEmail, colPhone, colPassport, colFFNumber, colCardNumber,
	colBookingRef, colFare, colAncillary, colConsentTime,
}

// parquetEncoder builds Arrow records of parquetBatchRows rows and hands
// each to a goroutine that writes it as one snappy-compressed row group,
// so that generating a batch overlaps with encoding the previous one. At
// most three batches are held at once: one being built, one queued and
// one being written.
type parquetEncoder struct {
	w       *bufio.Writer
	fw      *pqarrow.FileWriter
	rb      *array.RecordBuilder
	rows    int
	strs    [numCols]*array.StringBuilder // nil for typed columns
	dates   [numCols]*array.Date32Builder
	floats  [numCols]*array.Float64Builder
	consent *array.BooleanBuilder
	stamp   *array.TimestampBuilder

	batches chan arrow.RecordBatch // to the writing goroutine
	done    chan error             // its first error, sent once it stops
	failed  atomic.Bool            // set by it when a write fails
	stopped bool                   // batches is closed and done received
	werr    error                  // what done carried
	closed  bool                   // fw is closed
}

// newParquetEncoder starts a Parquet file on w, allocating Arrow memory
// from mem. The caller must call release.
func newParquetEncoder(w *bufio.Writer, mem memory.Allocator) (*parquetEncoder, error) {
	schema := ParquetSchema()
	settings := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(parquetBatchRows),
		parquet.WithAllocator(mem),
	}
	for _, c := range parquetPlainColumns {
		settings = append(settings, parquet.WithDictionaryFor(Columns[c], false))
	}
	props := parquet.NewWriterProperties(settings...)
	arrowProps := pqarrow.NewArrowWriterProperties(
		pqarrow.WithStoreSchema(),
		pqarrow.WithAllocator(mem),
	)
	fw, err := pqarrow.NewFileWriter(schema, w, props, arrowProps)
	if err != nil {
		return nil, err
	}

	e := &parquetEncoder{
		w:       w,
		fw:      fw,
		rb:      array.NewRecordBuilder(mem, schema),
		batches: make(chan arrow.RecordBatch, 1),
		done:    make(chan error, 1),
	}
	for i := range numCols {
		switch b := e.rb.Field(i).(type) {
		case *array.StringBuilder:
			e.strs[i] = b
		case *array.Date32Builder:
			e.dates[i] = b
		case *array.Float64Builder:
			e.floats[i] = b
		case *array.BooleanBuilder:
			e.consent = b
		case *array.TimestampBuilder:
			e.stamp = b
		}
	}
	e.rb.Reserve(parquetBatchRows)
	go e.writeBatches()
	return e, nil
}

// writeBatches writes and releases the batches it receives, in order,
// until batches is closed. After a failed write it only releases them.
func (e *parquetEncoder) writeBatches() {
	var err error
	for rec := range e.batches {
		if err == nil {
			if err = e.fw.Write(rec); err != nil {
				e.failed.Store(true)
			}
		}
		rec.Release()
	}
	e.done <- err
}

func (e *parquetEncoder) writeRow(g *generator) error {
	x, b, rec := &g.pax, &g.bk, &g.rec
	for i := range numCols {
		if i >= rec.n {
			e.rb.Field(i).AppendNull()
			continue
		}
		switch i {
		case colDateOfBirth:
			e.appendDate(i, x.dob, b.defect == defectBirthDate)
		case colBookingDate:
			e.appendDate(i, b.bookDay, b.defect == defectBookingDate)
		case colFlightDate:
			e.appendDate(i, b.flightDay, false)
		case colFare:
			if b.fareIsText() {
				e.floats[i].AppendNull()
			} else {
				e.floats[i].Append(float64(b.fare) / 100)
			}
		case colAncillary:
			e.floats[i].Append(float64(b.ancillary) / 100)
		case colConsent:
			e.consent.Append(x.consent)
		case colConsentTime:
			if x.consent {
				e.stamp.Append(arrow.Timestamp(x.consentS * 1_000_000))
			} else {
				e.stamp.AppendNull()
			}
		default:
			e.strs[i].BinaryBuilder.Append(rec.field(i))
		}
	}

	e.rows++
	if e.rows == parquetBatchRows {
		return e.flush()
	}
	return nil
}

// appendDate appends day to date column i, or a null for a defect.
func (e *parquetEncoder) appendDate(i int, day int32, null bool) {
	if null {
		e.dates[i].AppendNull()
		return
	}
	e.dates[i].Append(arrow.Date32(day))
}

// flush queues the rows built so far as one row group.
func (e *parquetEncoder) flush() error {
	if e.failed.Load() {
		return fmt.Errorf("writing row group: %w", e.stop())
	}
	if e.rows == 0 {
		return nil
	}
	// Size the next batch's string data like this one's.
	var dataLen [numCols]int
	for i, b := range e.strs {
		if b != nil {
			dataLen[i] = b.DataLen()
		}
	}
	e.batches <- e.rb.NewRecordBatch()
	e.rows = 0
	e.rb.Reserve(parquetBatchRows)
	for i, b := range e.strs {
		if b != nil {
			b.ReserveData(dataLen[i] + dataLen[i]/8)
		}
	}
	return nil
}

// stop waits for the writing goroutine to write what is queued and end,
// and returns its error. It may be called more than once.
func (e *parquetEncoder) stop() error {
	if !e.stopped {
		e.stopped = true
		close(e.batches)
		e.werr = <-e.done
	}
	return e.werr
}

func (e *parquetEncoder) finish() error {
	if err := e.flush(); err != nil {
		return err
	}
	if err := e.stop(); err != nil {
		return fmt.Errorf("writing row group: %w", err)
	}
	e.closed = true
	if err := e.fw.Close(); err != nil {
		return fmt.Errorf("closing parquet file: %w", err)
	}
	return e.w.Flush()
}

// release stops the writing goroutine and frees the Arrow memory, closing
// the file writer if finish was not reached.
func (e *parquetEncoder) release() {
	_ = e.stop() // finish returned this error, or an earlier one was
	if !e.closed {
		e.closed = true
		_ = e.fw.Close() // the export already failed; that error was returned
	}
	e.rb.Release()
}
