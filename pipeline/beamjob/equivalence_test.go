package beamjob_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	_ "github.com/duckdb/duckdb-go/v2"

	"haze/anonymize"
	"haze/dp/dptest"
	"haze/pipeline"
	"haze/pipeline/beamjob"
	"haze/pipeline/synth"
	"haze/queries"
	"haze/store"
)

func TestMain(m *testing.M) {
	beamlog.LogLevel = "warn"
	beam.Init()
	os.Exit(m.Run())
}

// jobSpec uses every kind of transform, consent, erasure and a reject
// limit the dirty export stays under.
const jobSpec = `
name: beam-equivalence
source: {path: exports/crm.FORMAT}
privacy_unit: passenger_id
keyring: keys/keyring.json
key: crm-test
output: {dataset: bookings}
consent: {column: marketing_consent, equals: true}
erasure: {path: requests/erasure.csv, column: passenger_id}
max_rejected_share: 0.05
columns:
  passenger_id:      {action: pseudonymize}
  email:             {action: pseudonymize, normalize: lower}
  first_name:        {action: drop}
  date_of_birth:     {action: generalize, to: age_band, width: 10, as: age_band}
  postcode:          {action: truncate, length: 2}
  card_number:       {action: mask, keep_first: 0, keep_last: 4}
  booking_date:      {action: generalize, to: month}
  flight_date:       {action: generalize, to: year, as: flight_year}
  consent_timestamp: {action: generalize, to: week, as: consent_week}
  destination:       {action: keep, type: string}
  cabin:             {action: keep, type: string}
  fare_amount:       {action: keep, type: decimal, bounds: [0, 10000]}
  ancillary_amount:  {action: generalize, to: bucket, width: 25}
`

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// fixture is a folder with a keyring, an export, an erasure list and
// a job spec, and two data dirs: one for each engine.
type fixture struct {
	t    *testing.T
	dir  string
	spec string // job spec path
}

func newFixture(t *testing.T, rows int, format synth.Format) *fixture {
	t.Helper()
	dir := t.TempDir()
	if _, err := anonymize.InitKeyring(filepath.Join(dir, "keys", "keyring.json"),
		[]string{"crm-test"}); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(dir, "exports", "crm."+string(format))
	if err := os.MkdirAll(filepath.Dir(export), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteFile(context.Background(), export,
		synth.Options{Rows: rows, Seed: 11, Format: format, Dirty: true}); err != nil {
		t.Fatal(err)
	}

	// The ten passengers with the most bookings ask for erasure.
	db := openDB(t)
	reader := map[synth.Format]string{synth.CSV: "read_csv('%s', all_varchar=true, ignore_errors=true)",
		synth.Parquet: "read_parquet('%s')", synth.NDJSON: "read_json('%s')"}[format]
	rs, err := db.Query("SELECT passenger_id::VARCHAR FROM " + fmt.Sprintf(reader, export) +
		" WHERE passenger_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 10")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"passenger_id"}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rs.Close()
	if len(ids) != 11 {
		t.Fatalf("erasure list has %d ids, want 10", len(ids)-1)
	}
	erasure := filepath.Join(dir, "requests", "erasure.csv")
	os.MkdirAll(filepath.Dir(erasure), 0o755)
	if err := os.WriteFile(erasure, []byte(strings.Join(ids, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	spec := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(spec, []byte(strings.ReplaceAll(jobSpec, "FORMAT", string(format))),
		0o600); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, spec: spec}
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openCatalog(t *testing.T, dir string) *store.Catalog {
	t.Helper()
	cat, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// runLocal runs the job with pipeline.Run into its own data dir.
func (f *fixture) runLocal() (*pipeline.Manifest, string) {
	f.t.Helper()
	dataDir := filepath.Join(f.dir, "local")
	spec, err := pipeline.Load(f.spec)
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := pipeline.Run(context.Background(), spec, openCatalog(f.t, dataDir), pipeline.Options{
		Workers: 3, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	if err != nil {
		f.t.Fatalf("local run: %v", err)
	}
	return m, dataDir
}

// runBeam runs the job on prism into its own data dir.
func (f *fixture) runBeam(opts beamjob.Options) (*pipeline.Manifest, string) {
	f.t.Helper()
	dataDir := filepath.Join(f.dir, "beam")
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Now = func() time.Time { return now }
	m, err := beamjob.Run(context.Background(), f.spec, openCatalog(f.t, dataDir), opts)
	if err != nil {
		f.t.Fatalf("beam run: %v", err)
	}
	return m, dataDir
}

// TestBeamMatchesLocal runs one job with both engines and compares what
// they published, order-insensitively with DuckDB: every row and every
// quarantine entry, and the manifest's counts.
func TestBeamMatchesLocal(t *testing.T) {
	tests := []struct {
		format synth.Format
		opts   beamjob.Options
	}{
		{synth.CSV, beamjob.Options{ShardBytes: 256 << 10, Workers: 2}},
		{synth.Parquet, beamjob.Options{ShardRows: 1}},
		{synth.NDJSON, beamjob.Options{ShardBytes: 512 << 10}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			f := newFixture(t, 4000, tt.format)
			local, localDir := f.runLocal()
			got, beamDir := f.runBeam(tt.opts)

			if local.Rows.Read != 4000 && tt.format != synth.CSV {
				t.Fatalf("local run read %d rows, want 4000", local.Rows.Read)
			}
			if local.Rows.Erased == 0 || local.Rows.FilteredByConsent == 0 ||
				local.Rows.Quarantined == 0 {
				t.Fatalf("local rows %+v: the fixture must erase, filter and quarantine", local.Rows)
			}
			if tt.format == synth.CSV && local.Rows.Rejected == 0 {
				t.Fatalf("local rows %+v: the dirty CSV must have reader rejects", local.Rows)
			}
			lr, gr := local.Rows, got.Rows
			lr.RejectedShare, gr.RejectedShare = 0, 0
			if gr != lr {
				t.Errorf("beam rows %+v, local %+v", gr, lr)
			}
			if len(got.Files) < 2 && tt.format == synth.CSV {
				t.Errorf("beam wrote %d data files, want one per shard (several)", len(got.Files))
			}
			if fmt.Sprint(got.QuarantineReasons) != fmt.Sprint(local.QuarantineReasons) {
				t.Errorf("quarantine reasons:\nbeam  %v\nlocal %v", got.QuarantineReasons,
					local.QuarantineReasons)
			}
			if got.Encryption != store.EncryptionPME || got.MasterKeyID != local.MasterKeyID {
				t.Errorf("beam files: encryption %q under %q, want %q under %q like local",
					got.Encryption, got.MasterKeyID, store.EncryptionPME, local.MasterKeyID)
			}
			if got.KeyID != local.KeyID || got.PolicyHash != local.PolicyHash ||
				got.Input.SHA256 != local.Input.SHA256 {
				t.Errorf("beam manifest key, policy or input differ from local")
			}

			db := openDB(t)
			ring := filepath.Join(f.dir, "keys", "keyring.json")
			for _, part := range []string{"data", "quarantine"} {
				a := scanPart(t, db, localDir, "bookings", part, ring)
				b := scanPart(t, db, beamDir, "bookings", part, ring)
				const missing = "SELECT count(*) FROM (FROM %s EXCEPT ALL FROM %s)"
				for _, q := range []string{fmt.Sprintf(missing, a, b), fmt.Sprintf(missing, b, a)} {
					var n int64
					if err := db.QueryRow(q).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n != 0 {
						t.Errorf("%s: %d rows of one engine are missing from the other", part, n)
					}
				}
			}

			// The query engine serves the Beam version like any other.
			if l, b := people(t, localDir, ring), people(t, beamDir, ring); l != b || l == 0 {
				t.Errorf("people through the query engine: beam %v, local %v", b, l)
			}
		})
	}
}

// people asks the query engine, without noise, how many people the
// dataset in dataDir holds.
func people(t *testing.T, dataDir, ringPath string) float64 {
	t.Helper()
	ctx := context.Background()
	cat := openCatalog(t, dataDir)
	if err := cat.SetGrant(ctx, "maya", "bookings", store.Amount{Epsilon: 1}); err != nil {
		t.Fatal(err)
	}
	ring, err := anonymize.LoadKeyring(ringPath)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := queries.NewEngine(cat, queries.Config{Noise: dptest.NoNoise(), Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	a, err := eng.Query(ctx, queries.Request{Principal: "maya",
		SQL:     "SELECT COUNT(DISTINCT passenger_id) AS people FROM bookings",
		Options: queries.Options{Epsilon: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Rows[0][0].(queries.Estimate).Value
}

// TestBeamTooManyRejectsPublishesNothing checks that the Beam path keeps
// the pipeline's reject rule: over the limit, nothing is published and
// the manifest says why.
func TestBeamTooManyRejectsPublishesNothing(t *testing.T) {
	f := newFixture(t, 2000, synth.CSV)
	text, err := os.ReadFile(f.spec)
	if err != nil {
		t.Fatal(err)
	}
	strict := strings.Replace(string(text), "max_rejected_share: 0.05", "max_rejected_share: 0", 1)
	if err := os.WriteFile(f.spec, []byte(strict), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(f.dir, "beam")
	cat := openCatalog(t, dataDir)
	m, err := beamjob.Run(context.Background(), f.spec, cat, beamjob.Options{ShardBytes: 64 << 10,
		Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, pipeline.ErrTooManyRejected) || m == nil || m.Status != pipeline.StatusFailed {
		t.Fatalf("Run = %v, %v; want a failed manifest and ErrTooManyRejected", m, err)
	}
	if _, err := cat.Current(context.Background(), "bookings"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a version was published: %v", err)
	}
	failed, _ := filepath.Glob(filepath.Join(pipeline.DatasetDir(dataDir, "bookings"), "failed", "*",
		"manifest.json"))
	if len(failed) != 1 {
		t.Errorf("failed runs kept: %v, want one manifest", failed)
	}
}

// scanPart returns SQL reading the data or quarantine files of dataset's
// current version in dataDir, with its data key handed to db.
func scanPart(t *testing.T, db *sql.DB, dataDir, dataset, part, ringPath string) string {
	t.Helper()
	ctx := context.Background()
	v, err := openCatalog(t, dataDir).Current(ctx, dataset)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := anonymize.LoadKeyring(ringPath)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := pipeline.VersionKey(ring, v)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dataDir, v.Path, part, "*.parquet"))
	if len(files) == 0 {
		t.Fatalf("%s holds no %s files", dataDir, part)
	}
	src, _, err := dk.Scan(ctx, func(ctx context.Context, q string) error {
		_, err := db.ExecContext(ctx, q)
		return err
	}, files)
	if err != nil {
		t.Fatal(err)
	}
	return src
}
