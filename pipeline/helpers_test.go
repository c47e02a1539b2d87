package pipeline_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
	"haze/store"
)

// testSpec is the job used by most tests; %s are replaced by the fixture.
const testSpec = `
name: test-job
source: {path: exports/crm.FORMAT}
privacy_unit: passenger_id
keyring: keys/keyring.json
key: crm-test
output: {dataset: bookings}
consent: {column: marketing_consent, equals: true}
columns:
  passenger_id:     {action: pseudonymize}
  email:            {action: pseudonymize, normalize: lower}
  first_name:       {action: drop}
  date_of_birth:    {action: generalize, to: year, as: birth_year}
  postcode:         {action: truncate, length: 2}
  card_number:      {action: mask, keep_first: 0, keep_last: 4}
  booking_date:     {action: generalize, to: month}
  flight_date:      {action: generalize, to: month}
  consent_timestamp: {action: generalize, to: week, as: consent_week}
  destination:      {action: keep, type: string}
  cabin:            {action: keep, type: string}
  home_airport:     {action: keep, type: string}
  fare_amount:      {action: keep, type: decimal, bounds: [0, 10000]}
  ancillary_amount: {action: keep, type: decimal, bounds: [0, 1000]}
`

// fixture is a data dir, a keyring and an export for one test.
type fixture struct {
	t       *testing.T
	dir     string
	dataDir string
	ring    *anonymize.Keyring
	cat     *store.Catalog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ring, err := anonymize.InitKeyring(filepath.Join(dir, "keys", "keyring.json"),
		[]string{"crm-test", "other"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, dataDir: filepath.Join(dir, "data"), ring: ring}
	f.cat, err = store.Open(context.Background(), f.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cat.Close() })
	return f
}

// gen writes a synthetic export and returns its path.
func (f *fixture) gen(rows int, format synth.Format, dirty bool) string {
	f.t.Helper()
	path := filepath.Join(f.dir, "exports", "crm."+string(format))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if _, err := synth.WriteFile(context.Background(), path,
		synth.Options{Rows: rows, Seed: 7, Format: format, Dirty: dirty}); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// spec writes a job spec file for format and loads it.
func (f *fixture) spec(yaml string, format synth.Format) *pipeline.Spec {
	f.t.Helper()
	path := filepath.Join(f.dir, "job-"+string(format)+".yaml")
	text := strings.ReplaceAll(yaml, "FORMAT", string(format))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		f.t.Fatal(err)
	}
	s, err := pipeline.Load(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// run runs a spec with a checked allocator and asserts nothing leaks.
func (f *fixture) run(s *pipeline.Spec) (*pipeline.Manifest, error) {
	f.t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(f.t, 0)
	return pipeline.Run(context.Background(), s, f.cat, pipeline.Options{
		Allocator: mem,
		Logger:    slog.New(slog.DiscardHandler),
		Now:       func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) },
	})
}

// mustRun runs a spec that must publish.
func (f *fixture) mustRun(s *pipeline.Spec) *pipeline.Manifest {
	f.t.Helper()
	m, err := f.run(s)
	if err != nil {
		f.t.Fatalf("run: %v", err)
	}
	return m
}

// db opens an in-memory DuckDB for checking outputs.
func (f *fixture) db() *sql.DB {
	f.t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	return db
}

// versionGlob returns the Parquet glob of a dataset version.
func (f *fixture) versionGlob(dataset string, version int) string {
	return filepath.Join(f.dataDir, pipeline.VersionDir(dataset, version), "data", "*.parquet")
}

// queryInt runs a query returning one integer.
func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// readCSV reads an export into records, header first.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r := csv.NewReader(file)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func colIndex(t *testing.T, header []string, name string) int {
	t.Helper()
	for i, h := range header {
		if h == name {
			return i
		}
	}
	t.Fatalf("no column %s in %v", name, header)
	return -1
}

// scan returns SQL reading the Parquet files of glob, a data or quarantine
// glob of one dataset version, with the version's data key handed to db.
func (f *fixture) scan(db *sql.DB, glob string) string {
	f.t.Helper()
	rel, err := filepath.Rel(f.dataDir, glob)
	if err != nil {
		f.t.Fatal(err)
	}
	parts := strings.Split(rel, string(filepath.Separator)) // datasets/<name>/v<N>/...
	version, err := strconv.Atoi(strings.TrimPrefix(parts[2], "v"))
	if err != nil {
		f.t.Fatalf("glob %s names no version", glob)
	}
	versions, err := f.cat.Versions(context.Background(), parts[1])
	if err != nil { // the fixture's catalog was closed for a child process
		cat, oerr := store.Open(context.Background(), f.dataDir)
		if oerr != nil {
			f.t.Fatalf("reopening catalog: %v (after %v)", oerr, err)
		}
		versions, err = cat.Versions(context.Background(), parts[1])
		cat.Close()
	}
	if err != nil || version > len(versions) {
		f.t.Fatalf("glob %s: versions %v, %v", glob, len(versions), err)
	}
	dk, err := pipeline.VersionKey(f.ring, versions[version-1])
	if err != nil {
		f.t.Fatal(err)
	}
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		f.t.Fatalf("glob %s matches no file", glob)
	}
	src, _, err := dk.Scan(context.Background(), func(ctx context.Context, q string) error {
		_, err := db.ExecContext(ctx, q)
		return err
	}, files)
	if err != nil {
		f.t.Fatal(err)
	}
	return src
}
