package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
)

func TestMain(m *testing.M) {
	if os.Getenv(envChildSpec) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
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
	pipeline.SetHook(&opts, func(stage string) {
		if stage == os.Getenv(envChildStop) {
			os.WriteFile(os.Getenv(envChildReady), []byte(stage), 0o600)
			time.Sleep(time.Hour)
		}
	})
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
