package pipeline

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
)

// counts are the row counts of one batch or of a whole run.
type counts struct {
	Read        int64
	Published   int64
	Erased      int64
	NoConsent   int64
	Quarantined int64
}

func (c *counts) add(o counts) {
	c.Read += o.Read
	c.Published += o.Published
	c.Erased += o.Erased
	c.NoConsent += o.NoConsent
	c.Quarantined += o.Quarantined
}

// quarantined is one row set aside by a policy, without its values.
type quarantined struct {
	column string
	reason string
	unit   string // token of the privacy unit, "" when there is none
}

// batchResult is what a worker makes of one batch of source rows.
type batchResult struct {
	data       arrow.RecordBatch // nil when no row is published
	quarantine []quarantined
	counts     counts
	err        error
}

// batcher applies the job's column policies to source batches. It is safe
// for concurrent use.
type batcher struct {
	mem      memory.Allocator
	schema   *arrow.Schema
	columns  []plannedColumn
	unit     anonymize.Transform // the privacy unit's policy, for quarantine tokens
	unitName string
}

// process filters and transforms one source batch. rec is not released.
func (b *batcher) process(rec arrow.RecordBatch) batchResult {
	var res batchResult
	n := int(rec.NumRows())
	res.counts.Read = int64(n)

	erased := rec.Column(colErased).(*array.Boolean)
	consent := rec.Column(colConsent).(*array.Boolean)
	bad := rec.Column(colBad).(*array.String)
	unit := rec.Column(colUnit).(*array.String)

	// Erased subjects go first: not even their bad rows are kept. Then
	// rows without consent, then rows the casts found bad.
	rows := make([]int, 0, n)
	for i := 0; i < n; i++ {
		switch {
		case erased.Value(i):
			res.counts.Erased++
		case !consent.Value(i):
			res.counts.NoConsent++
		case bad.IsValid(i):
			res.quarantine = append(res.quarantine, b.quarantine(unit, i, strings.Clone(bad.Value(i))))
		default:
			rows = append(rows, i)
		}
	}

	// Transform; rows a policy cannot handle are quarantined and the
	// batch is transformed again without them.
	failed := map[int]string{}
	cols, err := b.transform(rec, rows, failed)
	if err != nil {
		res.err = err
		return res
	}
	if len(failed) > 0 {
		releaseAll(cols)
		kept := rows[:0:0]
		for _, i := range rows {
			if reason, ok := failed[i]; ok {
				res.quarantine = append(res.quarantine, b.quarantine(unit, i, reason))
				continue
			}
			kept = append(kept, i)
		}
		rows = kept
		if cols, err = b.transform(rec, rows, map[int]string{}); err != nil {
			res.err = err
			return res
		}
	}
	res.counts.Quarantined = int64(len(res.quarantine))
	res.counts.Published = int64(len(rows))
	if len(rows) == 0 {
		releaseAll(cols)
		return res
	}
	res.data = array.NewRecordBatch(b.schema, cols, int64(len(rows)))
	releaseAll(cols)
	return res
}

// transform applies every column policy to the listed rows. Failures are
// recorded in failed by row, first failure wins.
func (b *batcher) transform(rec arrow.RecordBatch, rows []int, failed map[int]string) ([]arrow.Array, error) {
	cols := make([]arrow.Array, 0, len(b.columns))
	for j, c := range b.columns {
		name := c.spec.Name
		fail := func(row int, reason string) {
			if _, ok := failed[row]; !ok {
				failed[row] = name + ": " + reason
			}
		}
		out, err := c.transform.Apply(b.mem, rec.Column(firstData+j), rows, fail)
		if err != nil {
			releaseAll(cols)
			return nil, fmt.Errorf("column %s: %w", name, err)
		}
		cols = append(cols, out)
	}
	return cols, nil
}

// quarantine describes row i without its values: the unit as a token.
// reason must not alias the batch's memory, which is released later.
func (b *batcher) quarantine(unit *array.String, i int, reason string) quarantined {
	q := quarantined{reason: reason}
	if col, _, ok := cutColumn(reason); ok {
		q.column = col
	}
	q.unit = unitToken(b.unit, unit, i)
	return q
}

// unitToken is the privacy unit of row i as its token under the unit's
// transform; empty when the row has no unit or the transform refuses it.
func unitToken(t anonymize.Transform, unit *array.String, i int) string {
	if !unit.IsValid(i) || unit.Value(i) == "" {
		return ""
	}
	tok, err := t.Value(unit.Value(i))
	if err != nil {
		return ""
	}
	return tok.(string)
}

// cutColumn splits "column: reason".
func cutColumn(reason string) (string, string, bool) {
	for i := 0; i+1 < len(reason); i++ {
		if reason[i] == ':' && reason[i+1] == ' ' {
			return reason[:i], reason[i+2:], true
		}
	}
	return "", reason, false
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		a.Release()
	}
}
