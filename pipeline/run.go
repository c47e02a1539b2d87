package pipeline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
	"haze/internal/duckstream"
	"haze/store"
)

// ErrTooManyRejected is returned when a run rejects more rows than its
// spec allows; nothing is published.
var ErrTooManyRejected = errors.New("too many rejected rows")

// Options configure a run. The zero value of each field is its default.
type Options struct {
	// Workers is the number of goroutines transforming batches. Defaults
	// to GOMAXPROCS.
	Workers int
	// MemoryLimit caps DuckDB's memory, such as "512MB". Defaults to
	// "512MB"; DuckDB spills to the data dir beyond it.
	MemoryLimit string
	// Progress receives a progress bar; nil keeps the run quiet.
	Progress io.Writer
	// OnProgress, when set, is told the number of export rows read so far,
	// from the workers' goroutines, after each unit of batches.
	OnProgress func(rowsRead int64)
	// Logger receives operational logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Allocator allocates Arrow memory. Defaults to memory.DefaultAllocator.
	Allocator memory.Allocator
	// Now returns the time; defaults to time.Now. Age bands without a
	// reference date are computed at Now's day.
	Now func() time.Time
	// Keyring replaces loading the spec's keyring, when set.
	Keyring *anonymize.Keyring

	// hook, when set, is called at named points of publishing; tests use
	// it to kill a run at an exact moment.
	hook func(stage string)
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MemoryLimit == "" {
		o.MemoryLimit = "512MB"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// unitRows is the number of source rows a worker takes at once.
const unitRows = 16 * 1024

// Run executes a job: reads the export, applies the policies, and
// publishes a new version of the output dataset in cat, atomically. It
// returns the run's manifest, also when the run failed for too many
// rejected rows (the error then wraps ErrTooManyRejected). Any other error
// means the job itself is wrong or the machine failed; nothing is
// published then either.
func Run(ctx context.Context, spec *Spec, cat *store.Catalog, opts Options) (*Manifest, error) {
	opts.defaults()
	start := opts.Now()
	m := &Manifest{Job: spec.Name, RunID: newRunID(), Dataset: spec.Output.Dataset,
		StartedAt: start.UTC(), PolicyHash: spec.PolicyHash(), KeyName: spec.Key,
		Reference: start.UTC().Format(time.DateOnly)}

	// Keys first: a job with a wrong key must not read anything.
	ring, key, err := loadKey(spec, opts.Keyring)
	if err != nil {
		return nil, err
	}
	m.KeyID = key.ID()
	m.Encryption = store.EncryptionPME
	if spec.Output.Plain {
		m.Encryption = store.EncryptionNone
	} else if _, err := ring.Master(); err != nil {
		return nil, err
	}

	format, _ := spec.Format()
	path := spec.SourcePath()
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("source %s is a folder, not an export file", path)
	}
	m.Input = Input{Path: path, Format: format, Bytes: info.Size()}

	// One job per dataset at a time; what killed runs left is removed.
	dsDir := DatasetDir(cat.Dir(), spec.Output.Dataset)
	lock, err := lockDataset(dsDir)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", spec.Output.Dataset, err)
	}
	defer lock.unlock()
	next, err := cat.NextVersion(ctx, spec.Output.Dataset)
	if err != nil {
		return nil, err
	}
	if err := cleanLeftovers(dsDir, next); err != nil {
		return nil, err
	}
	var dk DataKey
	var wrapped store.DataKey
	if !spec.Output.Plain {
		if dk, wrapped, err = newDataKey(ring, spec.Output.Dataset, next); err != nil {
			return nil, err
		}
		m.MasterKeyID = wrapped.MasterKeyID
	}

	db, err := duckstream.Open(map[string]string{
		"memory_limit":   opts.MemoryLimit,
		"temp_directory": filepath.Join(cat.Dir(), ".spill"),
		"threads":        fmt.Sprint(opts.Workers),
	})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Exec(ctx, "SET TimeZone = 'UTC'"); err != nil {
		return nil, fmt.Errorf("setting up duckdb: %w", err)
	}

	export, err := exportColumns(ctx, db, format, path)
	if err != nil {
		return nil, err
	}
	planned, dropped, err := plan(spec, export, key, start)
	if err != nil {
		return nil, err
	}
	m.DroppedColumns = dropped

	withErasure := spec.Erasure != nil
	if withErasure {
		n, err := loadErasure(ctx, db, spec.Erasure, spec.resolve(spec.Erasure.Path), spec.PrivacyUnit)
		if err != nil {
			return nil, err
		}
		m.Rows.ErasureSubjects = n
	}

	hashDone := hashFile(path)

	tmp := filepath.Join(dsDir, ".tmp-"+m.RunID)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating output folder: %w", err)
	}
	published := false
	defer func() {
		if !published {
			os.RemoveAll(tmp)
		}
	}()

	query := sourceQuery(spec, format, path, export, planned, withErasure)
	res, err := stream(ctx, db, query, tmp, planned, key, spec.PrivacyUnit, dk, opts)
	if err != nil {
		return nil, err
	}
	m.Files = res.files
	m.Quarantine = res.quarantine
	m.QuarantineReasons = res.reasons
	m.Rows.Published = res.counts.Published
	m.Rows.Quarantined = res.counts.Quarantined
	m.Rows.Rejected = res.readerRejects
	m.Rows.FilteredByConsent = res.counts.NoConsent
	m.Rows.Erased = res.counts.Erased
	m.Rows.Read = res.counts.Read + res.readerRejects
	if m.Rows.Read > 0 {
		m.Rows.RejectedShare = float64(m.Rows.Rejected+m.Rows.Quarantined) / float64(m.Rows.Read)
	}
	if spec.Risk != nil {
		if err := assessRun(ctx, spec, tmp, unitOutput(spec), dk, m, opts.Allocator); err != nil {
			return nil, err
		}
	}
	h := <-hashDone
	if h.err != nil {
		return nil, fmt.Errorf("hashing source: %w", h.err)
	}
	m.Input.SHA256 = h.sum

	for _, c := range planned {
		m.Columns = append(m.Columns, catalogColumn(c))
	}
	if err := publishRun(ctx, cat, spec, runOutput{dsDir: dsDir, tmp: tmp, next: next, key: key,
		wrapped: wrapped}, m, opts); err != nil {
		return m.orNil(err), err
	}
	published = true
	return m, nil
}

// runOutput is where a run wrote and what the version it publishes holds.
type runOutput struct {
	dsDir, tmp string
	next       int
	key        anonymize.Key
	wrapped    store.DataKey
}

// publishRun ends a run whose counts m holds, for Run and for engines
// that write the rows themselves: with too many rejects it keeps the
// manifest and quarantine in a failed-runs folder and returns an error
// wrapping ErrTooManyRejected; otherwise it writes the manifest and
// publishes the folder as version next, atomically.
func publishRun(ctx context.Context, cat *store.Catalog, spec *Spec, out runOutput, m *Manifest,
	opts Options) error {
	finish := func() {
		m.FinishedAt = opts.Now().UTC()
		m.Seconds = m.FinishedAt.Sub(m.StartedAt).Seconds()
	}

	// Too many rejects: keep the manifest and quarantine for diagnosis in
	// a failed-runs folder, publish nothing.
	if m.Rows.Read == 0 || m.Rows.RejectedShare > spec.maxRejectedShare() {
		m.Status = StatusFailed
		m.Error = fmt.Sprintf("%.2f%% of %d rows rejected, more than the %.2f%% allowed",
			100*m.Rows.RejectedShare, m.Rows.Read, 100*spec.maxRejectedShare())
		if m.Rows.Read == 0 {
			m.Error = "the export holds no rows"
		}
		finish()
		keepFailedRun(out.dsDir, out.tmp, m)
		return fmt.Errorf("%s: %w", m.Error, ErrTooManyRejected)
	}

	m.Status = StatusPublished
	m.Version = out.next
	finish()
	if err := writeManifest(out.tmp, m); err != nil {
		return err
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	v := store.Version{
		Dataset: spec.Output.Dataset, Version: out.next, CreatedAt: m.FinishedAt,
		Path: VersionDir(spec.Output.Dataset, out.next), PrivacyUnit: unitOutput(spec),
		KeyName: out.key.Name(), KeyID: out.key.ID(), Columns: m.Columns, DP: spec.dpDefaults(),
		Rows: m.Rows.Published, PolicyHash: m.PolicyHash, Manifest: manifest,
		Encryption: m.Encryption, DataKey: out.wrapped,
	}
	if err := publish(ctx, cat, out.tmp, v, opts.hook); err != nil {
		return err
	}
	opts.Logger.Info("dataset published", "job", spec.Name, "dataset", v.Dataset,
		"version", v.Version, "rows", v.Rows, "run_id", m.RunID)
	return nil
}

// orNil returns m when err says the run failed for its rejects (the
// manifest then explains why), else nil.
func (m *Manifest) orNil(err error) *Manifest {
	if errors.Is(err, ErrTooManyRejected) {
		return m
	}
	return nil
}

func loadKey(spec *Spec, ring *anonymize.Keyring) (*anonymize.Keyring, anonymize.Key, error) {
	if ring == nil {
		path, err := spec.KeyringPath()
		if err != nil {
			return nil, anonymize.Key{}, err
		}
		if ring, err = anonymize.LoadKeyring(path); err != nil {
			return nil, anonymize.Key{}, err
		}
	}
	key, err := ring.Key(spec.Key)
	return ring, key, err
}

// plan matches the spec to the export's columns and compiles the policies.
func plan(spec *Spec, export []string, key anonymize.Key, now time.Time) ([]plannedColumn,
	[]DroppedColumn, error) {
	var planned []plannedColumn
	var dropped []DroppedColumn
	named := map[string]bool{}
	for _, c := range spec.Columns {
		named[c.Name] = true
		if !slices.Contains(export, c.Name) {
			return nil, nil, fmt.Errorf("columns.%s: the export has no such column (it has %s)",
				c.Name, strings.Join(export, ", "))
		}
		t, err := c.Policy.Compile(key, now)
		if err != nil {
			return nil, nil, fmt.Errorf("columns.%s: %w", c.Name, err)
		}
		if t == nil {
			dropped = append(dropped, DroppedColumn{Name: c.Name, Reason: "action drop"})
			continue
		}
		planned = append(planned, plannedColumn{spec: c, transform: t})
	}
	if c := spec.Consent; c != nil && !slices.Contains(export, c.Column) {
		return nil, nil, fmt.Errorf("consent.column: the export has no column %q", c.Column)
	}
	for _, name := range export {
		if !named[name] {
			dropped = append(dropped, DroppedColumn{Name: name, Reason: "not named in the job"})
		}
	}
	return planned, dropped, nil
}

func unitOutput(spec *Spec) string {
	for _, c := range spec.Columns {
		if c.Name == spec.PrivacyUnit {
			return c.OutputName()
		}
	}
	return spec.PrivacyUnit
}

func catalogColumn(c plannedColumn) store.Column {
	policy, _ := json.Marshal(c.spec.Policy)
	return store.Column{
		Name: c.spec.OutputName(), Type: duckType(c.transform.Output()), Source: c.spec.Name,
		Action: c.spec.Policy.Action, Policy: policy, Bounds: c.spec.Policy.Bounds,
	}
}

// duckType names an Arrow type as DuckDB does.
func duckType(t arrow.DataType) string {
	switch t := t.(type) {
	case *arrow.Decimal128Type:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	case *arrow.TimestampType:
		return "TIMESTAMPTZ"
	}
	switch t.ID() {
	case arrow.INT32:
		return "INTEGER"
	case arrow.INT64:
		return "BIGINT"
	case arrow.FLOAT64:
		return "DOUBLE"
	case arrow.BOOL:
		return "BOOLEAN"
	case arrow.DATE32:
		return "DATE"
	default:
		return "VARCHAR"
	}
}

// keepFailedRun moves a failed run's quarantine and manifest to
// failed/<run id> and drops its data files.
func keepFailedRun(dsDir, tmp string, m *Manifest) {
	os.RemoveAll(filepath.Join(tmp, "data"))
	m.Files = nil
	if err := writeManifest(tmp, m); err != nil {
		return
	}
	failed := filepath.Join(dsDir, "failed")
	if os.MkdirAll(failed, 0o700) == nil {
		os.Rename(tmp, filepath.Join(failed, m.RunID))
	}
}

func newRunID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

type hashResult struct {
	sum string
	err error
}

// hashFile computes a file's SHA-256 in the background.
func hashFile(path string) <-chan hashResult {
	out := make(chan hashResult, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			out <- hashResult{err: err}
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			out <- hashResult{err: err}
			return
		}
		out <- hashResult{sum: hex.EncodeToString(h.Sum(nil))}
	}()
	return out
}

// assessRun adds the risk report to a finished run and, when asked,
// suppresses the rows of classes below k before anything is published.
func assessRun(ctx context.Context, spec *Spec, dir, unit string, dk DataKey, m *Manifest,
	mem memory.Allocator) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	paths := func() []string {
		out := make([]string, len(m.Files))
		for i, f := range m.Files {
			out[i] = filepath.Join(dir, f.Path)
		}
		return out
	}
	report, err := AssessRisk(ctx, db, dk, paths(), unit, *spec.Risk)
	if err != nil {
		return err
	}
	if spec.Risk.Suppress && report.ClassesBelowK > 0 {
		moved, files, quar, err := suppress(ctx, dir, unit, *spec.Risk, m.Files, dk, mem)
		if err != nil {
			return err
		}
		m.Files = files
		m.Quarantine = append(m.Quarantine, quar)
		m.Rows.Published -= moved
		m.Rows.Suppressed = moved
		m.QuarantineReasons[fmt.Sprintf("suppressed: equivalence class of fewer than %d people",
			report.K)] += moved
		after, err := AssessRisk(ctx, db, dk, paths(), unit, *spec.Risk)
		if err != nil {
			return err
		}
		report.Suppressed, report.After = true, &after
	}
	m.Risk = &report
	return nil
}
