package beamjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"haze/anonymize"
	"haze/pipeline"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*processShardFn)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*pipeline.Shard)(nil)).Elem())
	beam.RegisterFunction(countShard)
}

// batchRows is the number of published rows a shard buffers before
// writing them as one batch.
const batchRows = 16 * 1024

// shardAccount is what one shard did; processShard writes it as JSON in
// the run folder once its files are complete.
type shardAccount struct {
	Index         int               `json:"index"`
	Data          pipeline.FileInfo `json:"data"`
	Quarantine    pipeline.FileInfo `json:"quarantine"`
	Read          int64             `json:"read"`
	Published     int64             `json:"published"`
	Erased        int64             `json:"erased"`
	NoConsent     int64             `json:"no_consent"`
	Quarantined   int64             `json:"quarantined"`
	ReaderRejects int64             `json:"reader_rejects"`
	Reasons       map[string]int64  `json:"reasons"`
}

// accountsDir is the folder of the shards' accounts in the run folder;
// it is removed before publishing.
const accountsDir = ".shards"

func accountPath(runDir string, index int) string {
	return filepath.Join(runDir, accountsDir, fmt.Sprintf("part-%05d.json", index))
}

// processShardFn reads, routes, transforms and writes one shard. Its
// exported fields are its configuration, serialised into the pipeline:
// paths, names and hashes, never a key or a value.
type processShardFn struct {
	// SpecPath is the job spec file, as workers see it.
	SpecPath string
	// KeyringPath replaces the spec's keyring when not empty.
	KeyringPath string
	// Export lists the export's columns, as the launcher found them.
	Export []string
	// StartedUnixNano is the run's start: the reference of age bands.
	StartedUnixNano int64
	// Dialect is the CSV dialect of the whole file, nil for other formats.
	Dialect *pipeline.CSVDialect
	// RunDir is the run's temporary folder.
	RunDir string
	// Sealed is the run's data key, wrapped under a master key each
	// worker's keyring holds.
	Sealed pipeline.SealedKey
	// PolicyHash and KeyID are the launcher's, which workers must match.
	PolicyHash, KeyID string
	// MemoryLimit is DuckDB's limit per shard reader.
	MemoryLimit string
	// Slots is the number of shards one worker process works on at once;
	// 0 means no limit.
	Slots int

	plan  *pipeline.ExternalPlan
	slots chan struct{}
}

// slots limit the shards a process works on at once, over every
// processShardFn instance in it with the same Slots.
var (
	slotsMu sync.Mutex
	slots   = map[int]chan struct{}{}
)

// slotsFor returns the process's semaphore of n slots, nil for no limit.
func slotsFor(n int) chan struct{} {
	if n <= 0 {
		return nil
	}
	slotsMu.Lock()
	defer slotsMu.Unlock()
	if slots[n] == nil {
		slots[n] = make(chan struct{}, n)
	}
	return slots[n]
}

// Setup compiles the job from the worker's files and checks that it is
// the launcher's.
func (f *processShardFn) Setup(ctx context.Context) error {
	spec, err := pipeline.Load(f.SpecPath)
	if err != nil {
		return err
	}
	if spec.PolicyHash() != f.PolicyHash {
		return errors.New("job spec on the worker differs from the launcher's")
	}
	var ring *anonymize.Keyring
	if f.KeyringPath != "" {
		if ring, err = anonymize.LoadKeyring(f.KeyringPath); err != nil {
			return err
		}
	}
	plan, err := pipeline.PlanExternal(ctx, spec, ring, f.Export, time.Unix(0, f.StartedUnixNano).UTC())
	if err != nil {
		return err
	}
	if plan.KeyID() != f.KeyID {
		return fmt.Errorf("key on the worker is %s, the launcher's is %s", plan.KeyID(), f.KeyID)
	}
	if err := plan.OpenKey(f.Sealed); err != nil {
		return fmt.Errorf("opening the run's data key on the worker: %w", err)
	}
	f.plan = plan
	f.slots = slotsFor(f.Slots)
	return nil
}

var (
	rowsRead      = beam.NewCounter("haze", "rows_read")
	rowsPublished = beam.NewCounter("haze", "rows_published")
)

// ProcessElement works on one shard, records its account and returns the
// shard's index (see Run for why it returns anything).
func (f *processShardFn) ProcessElement(ctx context.Context, sh pipeline.Shard) (int, error) {
	if f.slots != nil {
		f.slots <- struct{}{}
		defer func() { <-f.slots }()
	}
	acc, err := f.process(ctx, sh)
	if err != nil {
		return 0, fmt.Errorf("shard %d: %w", sh.Index, err)
	}
	rowsRead.Inc(ctx, acc.Read+acc.ReaderRejects)
	rowsPublished.Inc(ctx, acc.Published)
	return sh.Index, writeAccount(f.RunDir, acc)
}

var shardsDone = beam.NewCounter("haze", "shards_done")

// countShard counts finished shards.
func countShard(ctx context.Context, _ int) { shardsDone.Inc(ctx, 1) }

func (f *processShardFn) process(ctx context.Context, sh pipeline.Shard) (*shardAccount, error) {
	mem := memory.DefaultAllocator
	w, err := newShardWriter(f.plan, f.RunDir, sh.Index, mem)
	if err != nil {
		return nil, err
	}
	scratch := filepath.Join(f.RunDir, ".scratch")
	rejects, err := f.plan.ReadShard(ctx, sh, f.Dialect, scratch, f.MemoryLimit, w.batch)
	if err != nil {
		w.abort()
		return nil, err
	}
	for _, r := range rejects {
		w.quarantine = append(w.quarantine, r)
		w.acc.Reasons[r.Reason]++
	}
	w.acc.ReaderRejects = int64(len(rejects))
	return w.close()
}

// shardWriter routes and transforms the rows of one shard and writes them.
type shardWriter struct {
	plan       *pipeline.ExternalPlan
	mem        memory.Allocator
	data, quar *pipeline.Sink
	b          *array.RecordBuilder
	quarantine []pipeline.QuarantineRow
	values     []any
	acc        shardAccount
}

func newShardWriter(plan *pipeline.ExternalPlan, dir string, index int,
	mem memory.Allocator) (*shardWriter, error) {
	data, err := plan.NewDataSink(dir, index, mem)
	if err != nil {
		return nil, err
	}
	quar, err := plan.NewQuarantineSink(dir, index, mem)
	if err != nil {
		data.Abort()
		return nil, err
	}
	return &shardWriter{plan: plan, mem: mem, data: data, quar: quar,
		b: array.NewRecordBuilder(mem, plan.Schema), values: make([]any, len(plan.Columns)),
		acc: shardAccount{Index: index, Reasons: map[string]int64{}}}, nil
}

// batch routes every row of a source batch as pipeline.Run does, and
// transforms the published ones value by value.
func (w *shardWriter) batch(rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	w.acc.Read += int64(n)
	inputs := make([]arrow.Array, len(w.plan.Columns))
	for j := range inputs {
		inputs[j] = w.plan.Data(rec, j)
	}
	for i := 0; i < n; i++ {
		route, reason := w.plan.Route(rec, i)
		switch route {
		case pipeline.RouteErased:
			w.acc.Erased++
			continue
		case pipeline.RouteNoConsent:
			w.acc.NoConsent++
			continue
		case pipeline.RouteBad:
			w.setAside(rec, i, reason)
			continue
		}
		reason, err := w.transform(inputs, i)
		if err != nil {
			return err
		}
		if reason != "" {
			w.setAside(rec, i, reason)
			continue
		}
		if err := w.append(); err != nil {
			return err
		}
	}
	return nil
}

// transform applies each column's Value to row i into w.values. A value
// a policy cannot transform gives its reason, "column: why", the first in
// column order, as Run reports it.
func (w *shardWriter) transform(inputs []arrow.Array, i int) (string, error) {
	for j, c := range w.plan.Columns {
		x, err := anonymize.ValueAt(inputs[j], i)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", c.Name, err)
		}
		v, err := c.Transform.Value(x)
		var rej *anonymize.RejectError
		switch {
		case errors.As(err, &rej):
			return c.Name + ": " + rej.Reason, nil
		case err != nil:
			return "", fmt.Errorf("column %s: %w", c.Name, err)
		}
		w.values[j] = v
	}
	return "", nil
}

func (w *shardWriter) setAside(rec arrow.RecordBatch, i int, reason string) {
	q := w.plan.Quarantined(rec, i, reason)
	w.quarantine = append(w.quarantine, q)
	w.acc.Quarantined++
	w.acc.Reasons[q.Reason]++
}

// append adds w.values as a published row, writing a batch when full.
func (w *shardWriter) append() error {
	for j, v := range w.values {
		if err := anonymize.AppendValue(w.b.Field(j), v); err != nil {
			return fmt.Errorf("column %s: %w", w.plan.Columns[j].Name, err)
		}
	}
	w.acc.Published++
	if w.b.Field(0).Len() >= batchRows {
		return w.flush()
	}
	return nil
}

func (w *shardWriter) flush() error {
	rec := w.b.NewRecordBatch()
	defer rec.Release()
	if rec.NumRows() == 0 {
		return nil
	}
	return w.data.Write(rec)
}

func (w *shardWriter) abort() {
	w.b.Release()
	w.data.Abort()
	w.quar.Abort()
}

// close writes what is left and finishes both files.
func (w *shardWriter) close() (*shardAccount, error) {
	defer w.b.Release()
	err := w.flush()
	if err == nil {
		err = w.quar.WriteQuarantine(w.mem, w.quarantine)
	}
	if err != nil {
		w.data.Abort()
		w.quar.Abort()
		return nil, err
	}
	if w.acc.Data, err = w.data.Close(); err != nil {
		w.quar.Abort()
		return nil, err
	}
	if w.acc.Quarantine, err = w.quar.Close(); err != nil {
		return nil, err
	}
	return &w.acc, nil
}

// writeAccount writes a shard's account atomically: it exists only once
// the shard's files are complete.
func writeAccount(runDir string, acc *shardAccount) error {
	path := accountPath(runDir, acc.Index)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing shard account: %w", err)
	}
	data, err := json.Marshal(acc)
	if err != nil {
		return fmt.Errorf("writing shard account: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing shard account: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing shard account: %w", err)
	}
	return nil
}
