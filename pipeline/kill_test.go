package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
	"haze/store"
)

// Environment of a child process that runs one job and may be killed.
const (
	envChildSpec  = "HAZE_TEST_CHILD_SPEC"
	envChildData  = "HAZE_TEST_CHILD_DATA"
	envChildStop  = "HAZE_TEST_CHILD_STOP"
	envChildReady = "HAZE_TEST_CHILD_READY"
	// A child that erases these comma-separated ids with this keyring.
	envChildErase   = "HAZE_TEST_CHILD_ERASE"
	envChildKeyring = "HAZE_TEST_CHILD_KEYRING"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChildSpec) != "" {
		os.Exit(runChild())
	}
	if os.Getenv(envChildErase) != "" {
		os.Exit(runEraseChild())
	}
	os.Exit(m.Run())
}

// stopHook writes the ready file at the stage the environment names and
// waits there to be killed.
func stopHook(stage string) {
	if stage == os.Getenv(envChildStop) {
		os.WriteFile(os.Getenv(envChildReady), []byte(stage), 0o600)
		time.Sleep(time.Hour)
	}
}

// runEraseChild erases the subjects the environment names.
func runEraseChild() int {
	ctx := context.Background()
	ring, err := anonymize.LoadKeyring(os.Getenv(envChildKeyring))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cat, err := store.Open(ctx, os.Getenv(envChildData))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer cat.Close()
	ids := strings.Split(os.Getenv(envChildErase), ",")
	if _, err := pipeline.EraseSubjectsWithHook(ctx, cat, ring, ids, "", stopHook); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runChild runs the job named by the environment. When told a stage, it
// writes the ready file there and waits to be killed.
func runChild() int {
	ctx := context.Background()
	spec, err := pipeline.Load(os.Getenv(envChildSpec))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cat, err := store.Open(ctx, os.Getenv(envChildData))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer cat.Close()
	opts := pipeline.Options{Logger: slog.New(slog.DiscardHandler)}
	pipeline.SetHook(&opts, stopHook)
	if _, err := pipeline.Run(ctx, spec, cat, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestKillDuringPublishKeepsPreviousVersion(t *testing.T) {
	f := newFixture(t)
	f.gen(4000, synth.CSV, false)
	spec := f.spec(testSpec, synth.CSV)
	first := f.mustRun(spec)
	f.cat.Close() // the children open the catalog themselves
	specPath := filepath.Join(f.dir, "job-csv.yaml")

	kills := []struct {
		name  string
		stop  string        // stage to be killed at, or ""
		delay time.Duration // kill after this long when stop is ""
	}{
		{"before rename", "before-rename", 0},
		{"after rename before commit", "before-commit", 0},
		{"while reading", "", 150 * time.Millisecond},
		{"early", "", 20 * time.Millisecond},
	}
	for _, k := range kills {
		t.Run(k.name, func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envChildSpec+"="+specPath, envChildData+"="+f.dataDir,
				envChildStop+"="+k.stop, envChildReady+"="+ready)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if k.stop != "" {
				waitForFile(t, ready, 60*time.Second)
			} else {
				time.Sleep(k.delay)
			}
			cmd.Process.Kill()
			cmd.Wait()

			assertCurrentReadable(t, f, first.Rows.Published)
		})
	}

	// A new run cleans up and publishes the next version.
	cat, err := store.Open(context.Background(), f.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	f.cat = cat
	t.Cleanup(func() { cat.Close() })
	m := f.mustRun(spec)
	if m.Version != 2 {
		t.Errorf("next run published version %d, want 2", m.Version)
	}
	entries, _ := os.ReadDir(pipeline.DatasetDir(f.dataDir, "bookings"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") || (strings.HasPrefix(e.Name(), "v") && e.Name() > "v2") {
			t.Errorf("leftover %s after a clean run", e.Name())
		}
	}
}

// assertCurrentReadable checks that the catalog's current version is the
// first one, complete, with no later version recorded.
func assertCurrentReadable(t *testing.T, f *fixture, rows int64) {
	t.Helper()
	cat, err := store.Open(context.Background(), f.dataDir)
	if err != nil {
		t.Fatalf("reopening catalog after kill: %v", err)
	}
	defer cat.Close()
	v, err := cat.Current(context.Background(), "bookings")
	if err != nil {
		t.Fatalf("current version after kill: %v", err)
	}
	if v.Version != 1 || v.Rows != rows {
		t.Fatalf("current = version %d with %d rows, want version 1 with %d", v.Version, v.Rows, rows)
	}
	versions, err := cat.Versions(context.Background(), "bookings")
	if err != nil || len(versions) != 1 {
		t.Fatalf("versions = %d, %v; want only version 1", len(versions), err)
	}
	db := f.db()
	prev := f.cat
	f.cat = cat
	src := f.scan(db, f.versionGlob("bookings", 1))
	f.cat = prev
	if n := queryInt(t, db, "SELECT count(*) FROM "+src); n != rows {
		t.Fatalf("version 1 holds %d rows, want %d", n, rows)
	}
}

func waitForFile(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("child never reached its stop (%s)", path)
}

func TestKillDuringEraseLeavesOldOrNewVersion(t *testing.T) {
	f := newFixture(t)
	path := f.gen(3000, synth.CSV, true) // dirty: quarantine rows with tokens too
	spec := strings.Replace(testSpec, "key: crm-test", "key: crm-test\nmax_rejected_share: 0.05", 1)
	f.mustRun(f.spec(spec, synth.CSV))
	f.mustRun(f.spec(spec, synth.CSV))
	ids := consentingPassengers(t, path, 2)
	key, _ := f.ring.Key("crm-test")
	p := anonymize.NewPseudonymizer(key)
	tokens := []any{p.Token(ids[0]), p.Token(ids[1])}
	db := f.db()
	holding := func(glob string) int64 {
		t.Helper()
		return queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, glob)+
			" WHERE passenger_id IN (?, ?)", tokens...)
	}
	v2Rows := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("bookings", 2)))
	erased := holding(f.versionGlob("bookings", 2))
	if erased == 0 {
		t.Fatal("the subjects hold no rows of version 2")
	}
	f.cat.Close() // the children open the catalog themselves

	for _, stop := range []string{"before-rename", "before-commit", "before-purge"} {
		t.Run(stop, func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envChildErase+"="+strings.Join(ids, ","),
				envChildKeyring+"="+filepath.Join(f.dir, "keys", "keyring.json"),
				envChildData+"="+f.dataDir, envChildStop+"="+stop, envChildReady+"="+ready)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitForFile(t, ready, 60*time.Second)
			cmd.Process.Kill()
			cmd.Wait()

			// Either version 2, whole, or version 3 without the subjects.
			want := 2
			if stop == "before-purge" {
				want = 3
			}
			v, versions := currentVersion(t, f.dataDir)
			if v.Version != want || len(versions) != want {
				t.Fatalf("after a kill %s: current version %d of %d, want %d of %d", stop,
					v.Version, len(versions), want, want)
			}
			glob := f.versionGlob("bookings", v.Version)
			rows := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, glob))
			if rows != v.Rows {
				t.Errorf("version %d holds %d rows, the catalog says %d", v.Version, rows, v.Rows)
			}
			switch n := holding(glob); {
			case want == 2 && (rows != v2Rows || n != erased):
				t.Errorf("version 2 holds %d rows, %d of the subjects; want %d and %d", rows, n,
					v2Rows, erased)
			case want == 3 && (rows != v2Rows-erased || n != 0):
				t.Errorf("version 3 holds %d rows, %d of the subjects; want %d and 0", rows, n,
					v2Rows-erased)
			}
		})
	}

	// A rerun finishes the work: no new version, the old files deleted.
	cat, err := store.Open(context.Background(), f.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	f.cat = cat
	t.Cleanup(func() { cat.Close() })
	done, err := pipeline.EraseSubjects(context.Background(), cat, f.ring, ids, "")
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if len(done) != 1 || done[0].Version != 0 || len(done[0].Purged) != 2 {
		t.Errorf("rerun = %+v, want no new version and versions 1 and 2 purged", done)
	}
	v, versions := currentVersion(t, f.dataDir)
	if v.Version != 3 || len(versions) != 3 {
		t.Errorf("current version %d of %d, want exactly one new version (3 of 3)", v.Version,
			len(versions))
	}
	err = filepath.Walk(f.dataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		name := info.Name()
		if strings.HasPrefix(name, ".tmp-") || (info.IsDir() && name == "v4") {
			t.Errorf("leftover %s", path)
		}
		if info.IsDir() || !strings.HasSuffix(name, ".parquet") {
			return nil
		}
		col := "passenger_id"
		if strings.Contains(path, string(filepath.Separator)+"quarantine"+string(filepath.Separator)) {
			col = "unit_token"
		}
		if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, path)+" WHERE "+col+" IN (?, ?)",
			tokens...); n != 0 {
			t.Errorf("%s still holds %d rows of the subjects", path, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// currentVersion reads the current version of bookings and all its
// versions from a freshly opened catalog.
func currentVersion(t *testing.T, dataDir string) (store.Version, []store.Version) {
	t.Helper()
	cat, err := store.Open(context.Background(), dataDir)
	if err != nil {
		t.Fatalf("reopening catalog after kill: %v", err)
	}
	defer cat.Close()
	v, err := cat.Current(context.Background(), "bookings")
	if err != nil {
		t.Fatalf("current version: %v", err)
	}
	versions, err := cat.Versions(context.Background(), "bookings")
	if err != nil {
		t.Fatal(err)
	}
	return v, versions
}

// consentingPassengers returns the ids of n passengers of an export who
// consented, so that their rows are published.
func consentingPassengers(t *testing.T, path string, n int) []string {
	t.Helper()
	recs := readCSV(t, path)
	id, consent := colIndex(t, recs[0], "passenger_id"), colIndex(t, recs[0], "marketing_consent")
	var ids []string
	for _, r := range recs[1:] {
		if len(r) > consent && r[consent] == "true" && r[id] != "" && !slices.Contains(ids, r[id]) {
			ids = append(ids, r[id])
		}
		if len(ids) == n {
			break
		}
	}
	if len(ids) < n {
		t.Fatalf("the export has %d consenting passengers, want %d", len(ids), n)
	}
	return ids
}
