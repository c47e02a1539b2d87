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
	// Keys first: a job with a wrong key must not read anything.
	ring, key, err := loadKey(spec, opts.Keyring)
	if err != nil {
		return nil, err
	}
	r, err := beginRun(ctx, spec, cat, opts, ring, key, start)
	if err != nil {
		return nil, err
	}
	defer r.close()

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

	format, path := r.m.Input.Format, r.m.Input.Path
	export, err := exportColumns(ctx, db, format, path)
	if err != nil {
		return nil, err
	}
	planned, dropped, err := plan(spec, export, key, start)
	if err != nil {
		return nil, err
	}
	r.m.DroppedColumns = dropped

	withErasure := spec.Erasure != nil
	if withErasure {
		n, err := loadErasure(ctx, db, spec.Erasure, spec.resolve(spec.Erasure.Path), spec.PrivacyUnit)
		if err != nil {
			return nil, err
		}
		r.m.Rows.ErasureSubjects = n
	}

	r.hash()
	query := sourceQuery(spec, format, path, export, planned, withErasure)
	res, err := stream(ctx, db, query, r.tmp, planned, key, spec.PrivacyUnit, r.dk, opts)
	if err != nil {
		return nil, err
	}
	return r.finish(ctx, res.result(), planned)
}

// jobRun is one run of a job from its start to its publish. Run and
// ExternalRun both go through it, so they lock, number, key, count and
// publish alike.
type jobRun struct {
	spec      *Spec
	cat       *store.Catalog
	opts      Options
	m         *Manifest
	key       anonymize.Key
	dsDir     string
	tmp       string // the run's folder, published as version next
	next      int
	lock      *datasetLock
	dk        DataKey
	wrapped   store.DataKey
	hashDone  <-chan hashResult
	published bool
}

// beginRun starts a run of spec at start with the job's key: it checks
// the source, takes the dataset's lock (one job per dataset at a time),
// removes what killed runs left, numbers the version, draws its data key
// and creates the run's folder. Nothing is read from the export. The
// caller must close the run.
func beginRun(ctx context.Context, spec *Spec, cat *store.Catalog, opts Options,
	ring *anonymize.Keyring, key anonymize.Key, start time.Time) (*jobRun, error) {
	m := &Manifest{Job: spec.Name, RunID: newRunID(), Dataset: spec.Output.Dataset,
		StartedAt: start.UTC(), PolicyHash: spec.PolicyHash(), KeyName: spec.Key,
		KeyID: key.ID(), Reference: start.UTC().Format(time.DateOnly),
		Encryption: store.EncryptionPME}
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

	r := &jobRun{spec: spec, cat: cat, opts: opts, m: m, key: key,
		dsDir: DatasetDir(cat.Dir(), spec.Output.Dataset)}
	if r.lock, err = lockDataset(r.dsDir); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", spec.Output.Dataset, err)
	}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	if r.next, err = cat.NextVersion(ctx, spec.Output.Dataset); err != nil {
		return nil, err
	}
	if err := cleanLeftovers(r.dsDir, r.next); err != nil {
		return nil, err
	}
	if !spec.Output.Plain {
		if r.dk, r.wrapped, err = newDataKey(ring, spec.Output.Dataset, r.next); err != nil {
			return nil, err
		}
		m.MasterKeyID = r.wrapped.MasterKeyID
	}
	tmp := filepath.Join(r.dsDir, ".tmp-"+m.RunID)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("creating output folder: %w", err)
	}
	r.tmp = tmp
	ok = true
	return r, nil
}

// hash starts hashing the source in the background, for the manifest;
// call it once the export is known to be readable.
func (r *jobRun) hash() { r.hashDone = hashFile(r.m.Input.Path) }

// close removes the run's folder unless it was published, and releases
// the dataset's lock. It may be called more than once.
func (r *jobRun) close() {
	if !r.published && r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
	if r.lock != nil {
		r.lock.unlock()
		r.lock = nil
	}
}

// finish records what the run wrote and ends it: with too many rejects it
// keeps the manifest and quarantine in a failed-runs folder and returns
// the manifest and an error wrapping ErrTooManyRejected; otherwise it adds
// the risk report, writes the manifest and publishes the folder as
// version next, atomically.
func (r *jobRun) finish(ctx context.Context, res ExternalResult, planned []plannedColumn) (*Manifest,
	error) {
	m, spec := r.m, r.spec
	m.Files, m.Quarantine, m.QuarantineReasons = res.Files, res.Quarantine, res.Reasons
	if m.QuarantineReasons == nil {
		m.QuarantineReasons = map[string]int64{}
	}
	m.Rows.Published = res.Published
	m.Rows.Quarantined = res.Quarantined
	m.Rows.Rejected = res.ReaderRejects
	m.Rows.FilteredByConsent = res.NoConsent
	m.Rows.Erased = res.Erased
	m.Rows.Read = res.Read + res.ReaderRejects
	if m.Rows.Read > 0 {
		m.Rows.RejectedShare = float64(m.Rows.Rejected+m.Rows.Quarantined) / float64(m.Rows.Read)
	}
	if spec.Risk != nil {
		if err := assessRun(ctx, spec, r.tmp, unitOutput(spec), r.dk, m, r.opts.Allocator); err != nil {
			return nil, err
		}
	}
	h := <-r.hashDone
	if h.err != nil {
		return nil, fmt.Errorf("hashing source: %w", h.err)
	}
	m.Input.SHA256 = h.sum
	for _, c := range planned {
		m.Columns = append(m.Columns, catalogColumn(c))
	}

	end := func() {
		m.FinishedAt = r.opts.Now().UTC()
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
		end()
		keepFailedRun(r.dsDir, r.tmp, m)
		return m, fmt.Errorf("%s: %w", m.Error, ErrTooManyRejected)
	}

	m.Status = StatusPublished
	m.Version = r.next
	end()
	if err := writeManifest(r.tmp, m); err != nil {
		return nil, err
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	v := store.Version{
		Dataset: spec.Output.Dataset, Version: r.next, CreatedAt: m.FinishedAt,
		Path: VersionDir(spec.Output.Dataset, r.next), PrivacyUnit: unitOutput(spec),
		KeyName: r.key.Name(), KeyID: r.key.ID(), Columns: m.Columns, DP: spec.dpDefaults(),
		Rows: m.Rows.Published, PolicyHash: m.PolicyHash, Manifest: manifest,
		Encryption: m.Encryption, DataKey: r.wrapped,
	}
	if err := publish(ctx, r.cat, r.tmp, v, r.opts.hook); err != nil {
		return nil, err
	}
	r.published = true
	r.opts.Logger.Info("dataset published", "job", spec.Name, "dataset", v.Dataset,
		"version", v.Version, "rows", v.Rows, "run_id", m.RunID)
	return m, nil
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
