package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"haze/store"
)

// openCatalog opens a fresh catalog of t's backend, closed at cleanup.
func openCatalog(t *testing.T) *store.Catalog {
	t.Helper()
	return newBackend(t).mustOpen(t)
}

// migrationRows returns the catalog's schema_migrations as "version@time".
func migrationRows(t *testing.T, cat *store.Catalog) []string {
	t.Helper()
	rows, err := cat.DB().Query(
		"SELECT version, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d@%s", v, at.Format(time.RFC3339Nano)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenRunsMigrationsOnce(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	dir := b.dir
	cat, err := b.open(ctx)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	first := migrationRows(t, cat)
	if len(first) < 2 {
		t.Fatalf("migrations applied = %v, want at least 2", first)
	}
	for i, r := range first {
		var v int
		fmt.Sscanf(r, "%d@", &v)
		if v != i+1 {
			t.Errorf("migration %d recorded as version %d, want %d", i, v, i+1)
		}
	}
	if err := cat.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// A second open finds every migration applied and applies none again.
	cat, err = b.open(ctx)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer cat.Close()
	if again := migrationRows(t, cat); !reflect.DeepEqual(again, first) {
		t.Errorf("migrations after reopening = %v, want %v", again, first)
	}
	if cat.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", cat.Dir(), dir)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	cat, err := b.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.DB().Exec(`INSERT INTO schema_migrations (version)
		SELECT max(version) + 1 FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	if err := cat.Close(); err != nil {
		t.Fatal(err)
	}

	cat, err = b.open(ctx)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		if cat != nil {
			cat.Close()
		}
		t.Fatalf("Open = %v, want %v", err, store.ErrSchemaTooNew)
	}
}

func TestOpenRequiresDir(t *testing.T) {
	b := newBackend(t)
	b.dir = ""
	if cat, err := b.open(context.Background()); err == nil {
		cat.Close()
		t.Fatalf("opening without a data dir = nil error, want one")
	}
}

func TestOpenURLRefusesOtherSchemes(t *testing.T) {
	for _, url := range []string{"mysql://root:s3cret@db/haze", "s3cret", "file:catalog.duckdb"} {
		cat, err := store.OpenURL(context.Background(), url, t.TempDir())
		if err == nil {
			cat.Close()
			t.Errorf("OpenURL(%q) = nil error, want one", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenURL(%q) = %q, which shows the password", url, err)
		}
	}
}

// testVersion is a version of dataset with every field set.
func testVersion(dataset string, version int) store.Version {
	return store.Version{
		Dataset:     dataset,
		Version:     version,
		CreatedAt:   time.Date(2026, 11, 30, 12, version, 0, 0, time.UTC),
		Path:        fmt.Sprintf("datasets/%s/v%d", dataset, version),
		PrivacyUnit: "passenger_id",
		KeyName:     "crm",
		KeyID:       "k" + fmt.Sprint(version),
		Columns: []store.Column{
			{Name: "passenger_id", Type: "VARCHAR", Source: "passenger_id", Action: "pseudonymize",
				Policy: json.RawMessage(`{"action":"pseudonymize"}`)},
			{Name: "fare_amount", Type: "DECIMAL(18,2)", Source: "fare", Action: "keep",
				Bounds: []float64{0, 10000}},
		},
		DP:         store.DPDefaults{MaxGroupsContributed: 4, MaxContributionsPerGroup: 2},
		Rows:       int64(1000 * version),
		PolicyHash: "sha256:abc",
		Manifest:   json.RawMessage(`{"run":"r1"}`),
		Encryption: store.EncryptionPME,
		DataKey: store.DataKey{MasterKeyID: "master:0a0b0c0d0e0f",
			Wrapped: []byte(fmt.Sprintf("wrapped-%s-%d", dataset, version))},
	}
}

func TestPublishVersionsInOrder(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)

	steps := []struct {
		name    string
		dataset string
		version int
		err     error // nil: must succeed
	}{
		{"zero is not first", "trips", 0, store.ErrConflict},
		{"two is not first", "trips", 2, store.ErrConflict},
		{"first", "trips", 1, nil},
		{"the same again", "trips", 1, store.ErrConflict},
		{"skipping one", "trips", 3, store.ErrConflict},
		{"second", "trips", 2, nil},
		{"another dataset starts at one", "bookings", 1, nil},
	}
	for _, s := range steps {
		err := cat.Publish(ctx, testVersion(s.dataset, s.version))
		switch {
		case s.err == nil && err != nil:
			t.Errorf("%s: Publish = %v, want nil", s.name, err)
		case s.err != nil && !errors.Is(err, s.err):
			t.Errorf("%s: Publish = %v, want %v", s.name, err, s.err)
		}
	}

	cur, err := cat.Current(ctx, "trips")
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	if want := testVersion("trips", 2); !reflect.DeepEqual(normal(cur), normal(want)) {
		t.Errorf("Current = %+v, want %+v", cur, want)
	}
	if n, err := cat.NextVersion(ctx, "trips"); err != nil || n != 3 {
		t.Errorf("NextVersion = %d, %v, want 3", n, err)
	}
	if n, err := cat.NextVersion(ctx, "nothing"); err != nil || n != 1 {
		t.Errorf("NextVersion of a new dataset = %d, %v, want 1", n, err)
	}

	vs, err := cat.Versions(ctx, "trips")
	if err != nil {
		t.Fatalf("Versions: %v", err)
	}
	if len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 {
		t.Errorf("Versions = %v, want versions 1 and 2, oldest first", versionNumbers(vs))
	}
	if vs, err := cat.Versions(ctx, "nothing"); err != nil || len(vs) != 0 {
		t.Errorf("Versions of an unknown dataset = %v, %v, want none", vs, err)
	}

	all, err := cat.Datasets(ctx)
	if err != nil {
		t.Fatalf("Datasets: %v", err)
	}
	var got []string
	for _, v := range all {
		got = append(got, fmt.Sprintf("%s/v%d", v.Dataset, v.Version))
	}
	if want := []string{"bookings/v1", "trips/v2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Datasets = %v, want %v", got, want)
	}

	if _, err := cat.Current(ctx, "nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Current of an unknown dataset = %v, want %v", err, store.ErrNotFound)
	}
}

// normal makes a version comparable: times in UTC, JSON compacted.
func normal(v store.Version) store.Version {
	v.CreatedAt = v.CreatedAt.UTC()
	v.Manifest = compact(v.Manifest)
	cols := make([]store.Column, len(v.Columns))
	for i, c := range v.Columns {
		c.Policy = compact(c.Policy)
		cols[i] = c
	}
	v.Columns = cols
	return v
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	out, _ := json.Marshal(v)
	return out
}

func versionNumbers(vs []store.Version) []int {
	var out []int
	for _, v := range vs {
		out = append(out, v.Version)
	}
	return out
}

func TestPublishRefusesBadNames(t *testing.T) {
	cat := openCatalog(t)
	for _, name := range []string{"", "Trips", "1trips", "trips-2026", "trips; DROP TABLE x",
		"a234567890123456789012345678901234567890123456789012345678901234"} {
		if err := cat.Publish(context.Background(), testVersion(name, 1)); err == nil {
			t.Errorf("Publish(%q) = nil, want an error", name)
		}
	}
	if all, err := cat.Datasets(context.Background()); err != nil || len(all) != 0 {
		t.Errorf("Datasets = %v, %v, want none", all, err)
	}
}

func TestPublishConcurrentlyOneWins(t *testing.T) {
	// Jobs racing to publish the same version: one wins, the others get
	// ErrConflict, whatever the order. Several rounds, as races vary.
	ctx := context.Background()
	cat := openCatalog(t)
	const rounds, jobs = 5, 8
	for r := range rounds {
		dataset := fmt.Sprintf("trips%d", r)
		errs := make([]error, jobs)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v := testVersion(dataset, 1)
				v.KeyID = fmt.Sprintf("job%d", i)
				errs[i] = cat.Publish(ctx, v)
			}()
		}
		close(start)
		wg.Wait()

		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("%s job %d: Publish = %v, want nil or %v", dataset, i, err,
					store.ErrConflict)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d jobs published version 1, want 1", dataset, won)
		}
		if vs, err := cat.Versions(ctx, dataset); err != nil || len(vs) != 1 {
			t.Errorf("%s: Versions = %v, %v, want one", dataset, versionNumbers(vs), err)
		}
	}
}
