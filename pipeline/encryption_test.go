package pipeline_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
	"haze/queries"
	"haze/store"
)

// encryptedRows is enough rows for a token column of one file's row group to
// pass 1 MiB, the size at which a Parquet writer starts a second page.
const encryptedRows = 150_000

// readAll reads every column of every row of dataset version v with its
// data key and returns the row count.
func readAll(t *testing.T, f *fixture, v store.Version, ring *anonymize.Keyring) (int64, error) {
	t.Helper()
	dk, err := pipeline.VersionKey(ring, v)
	if err != nil {
		return 0, err
	}
	files, _ := filepath.Glob(filepath.Join(f.cat.Dir(), v.Path, "data", "*.parquet"))
	db := f.db()
	src, forget, err := dk.Scan(context.Background(), func(ctx context.Context, q string) error {
		_, err := db.ExecContext(ctx, q)
		return err
	}, files)
	if err != nil {
		return 0, err
	}
	defer forget()
	var n int64
	err = db.QueryRow("SELECT count(*) FROM (SELECT DISTINCT * FROM " + src + ")").Scan(&n)
	return n, pipeline.DecryptError(err)
}

func TestCopiedDataDirWithoutKeyringGivesNothing(t *testing.T) {
	f := newFixture(t)
	path := f.gen(encryptedRows, synth.CSV, false)
	m := f.mustRun(f.spec(testSpec, synth.CSV))
	if m.Encryption != store.EncryptionPME || m.MasterKeyID == "" {
		t.Fatalf("manifest encryption = %q under %q, want %q", m.Encryption, m.MasterKeyID,
			store.EncryptionPME)
	}
	v, err := f.cat.Current(context.Background(), "bookings")
	if err != nil {
		t.Fatal(err)
	}

	// With the keyring, every column of every row reads back (several
	// pages' worth of tokens per row group).
	if n, err := readAll(t, f, v, f.ring); err != nil || n == 0 {
		t.Fatalf("reading with the keyring: %d rows, %v", n, err)
	}

	// A copy of the folder, without the keyring.
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copyDir, os.DirFS(f.dataDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.VersionKey(nil, v); err == nil ||
		!strings.Contains(err.Error(), "a keyring is needed") {
		t.Errorf("VersionKey without a keyring = %v, want a refusal naming the keyring", err)
	}
	stranger, err := anonymize.InitKeyring(filepath.Join(t.TempDir(), "k.json"),
		[]string{"crm-test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.VersionKey(stranger, v); !errors.Is(err, anonymize.ErrUnknownKey) {
		t.Errorf("VersionKey with another keyring = %v, want ErrUnknownKey", err)
	}
	db := f.db()
	copied, _ := filepath.Glob(filepath.Join(copyDir, v.Path, "*", "*.parquet"))
	if len(copied) == 0 {
		t.Fatal("the copy holds no Parquet file")
	}
	for _, file := range copied {
		var n int64
		err := db.QueryRow("SELECT count(*) FROM read_parquet(?)", file).Scan(&n)
		if err == nil || !strings.Contains(err.Error(), "encrypted") {
			t.Errorf("reading %s without its key: %d rows, %v; want a refusal", file, n, err)
		}
	}

	// No identifier, clear or pseudonymised, in any byte of the copy.
	key, _ := f.ring.Key("crm-test")
	p := anonymize.NewPseudonymizer(key)
	recs := readCSV(t, path)
	var needles []string
	for _, col := range []string{"passenger_id", "email", "phone", "passport_number",
		"ff_number", "last_name", "card_number"} {
		i := colIndex(t, recs[0], col)
		for _, r := range recs[1:200] {
			if len(r[i]) >= 6 {
				needles = append(needles, r[i])
			}
			if col == "passenger_id" || col == "email" {
				needles = append(needles, p.Token(r[i]), p.Token(strings.ToLower(r[i])))
			}
		}
	}
	files := 0
	err = filepath.WalkDir(copyDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range needles {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds the identifier-like string %q", path, s)
				return nil
			}
		}
		return nil
	})
	if err != nil || files < 4 {
		t.Fatalf("walked %d files: %v", files, err)
	}
}

func TestDataKeyNeverStoredOrShown(t *testing.T) {
	f := newFixture(t)
	f.gen(2000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	v, _ := f.cat.Current(context.Background(), "bookings")
	dk, err := pipeline.VersionKey(f.ring, v)
	if err != nil {
		t.Fatal(err)
	}
	secret := dataKeyBytes(t, dk)

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("read", "key", dk)
	shown := fmt.Sprintf("%v %+v %#v %s %x", dk, dk, dk, dk, dk) + logged.String()
	for _, form := range []string{string(secret), base64.StdEncoding.EncodeToString(secret),
		fmt.Sprintf("%x", secret)} {
		if strings.Contains(shown, form) {
			t.Errorf("the data key shows in %q", shown)
		}
	}
	if !strings.Contains(shown, "redacted") {
		t.Errorf("a data key prints as %q, want it redacted", shown)
	}

	// A query over the version puts its answer in the ledger and an entry
	// in the audit trail, both in the catalog file checked below; the
	// answer as it leaves holds no key either.
	ctx := context.Background()
	eng, err := queries.NewEngine(f.cat, queries.Config{Keyring: f.ring})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := f.cat.SetGrant(ctx, "ana", "bookings", store.Amount{Epsilon: 1, Delta: 1e-5}); err != nil {
		t.Fatal(err)
	}
	a, err := eng.Query(ctx, queries.Request{Principal: "ana",
		SQL: "SELECT cabin, COUNT(*) FROM bookings GROUP BY cabin", Options: queries.Options{Epsilon: 0.5},
		Audit: func(tx *sql.Tx, a *queries.Answer) error {
			answer, _ := json.Marshal(a)
			_, err := f.cat.AppendAudit(ctx, tx, store.AuditEntry{Principal: "ana",
				Role: store.RoleAnalyst, Action: "query", Dataset: a.Dataset, Query: a.Query,
				Outcome: store.OutcomeAllowed, Detail: string(answer)})
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := json.Marshal(a)
	if bytes.Contains(answer, secret) || strings.Contains(string(answer),
		base64.StdEncoding.EncodeToString(secret)) || strings.Contains(string(answer),
		fmt.Sprintf("%x", secret)) {
		t.Error("the answer holds the data key")
	}
	if entries, err := f.cat.Audit(ctx, 0, 10); err != nil || len(entries) == 0 {
		t.Fatalf("audit after the query: %d entries, %v", len(entries), err)
	}

	// The catalog file holds the key only wrapped.
	if err := f.cat.Close(); err != nil {
		t.Fatal(err)
	}
	catalog, err := os.ReadFile(filepath.Join(f.dataDir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(catalog, secret) ||
		bytes.Contains(catalog, []byte(base64.StdEncoding.EncodeToString(secret))) ||
		bytes.Contains(catalog, []byte(fmt.Sprintf("%x", secret))) {
		t.Error("the catalog holds the data key in clear")
	}
	if !bytes.Contains(catalog, v.DataKey.Wrapped) {
		t.Error("the catalog does not hold the wrapped key either: the check above proves nothing")
	}
}

// dataKeyBytes digs the secret out of a DataKey through the one place it
// leaves: the SQL DataKey.Scan hands to DuckDB.
func dataKeyBytes(t *testing.T, dk pipeline.DataKey) []byte {
	t.Helper()
	var secret []byte
	_, _, err := dk.Scan(context.Background(), func(_ context.Context, q string) error {
		if i := strings.Index(q, "', '"); i > 0 && secret == nil {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(q[i+4:], "')"))
			if err != nil {
				return err
			}
			secret = b
		}
		return nil
	}, []string{"x.parquet"})
	if err != nil || len(secret) != anonymize.DataKeySize {
		t.Fatalf("data key from Scan: %d bytes, %v", len(secret), err)
	}
	return secret
}

func TestWrongDataKeyFailsClearly(t *testing.T) {
	f := newFixture(t)
	f.gen(2000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	f.mustRun(f.spec(testSpec, synth.CSV))
	versions, _ := f.cat.Versions(context.Background(), "bookings")

	// Version 1's files swapped into version 2's folder.
	v1 := filepath.Join(f.dataDir, versions[0].Path, "data")
	v2 := filepath.Join(f.dataDir, versions[1].Path, "data")
	if err := os.RemoveAll(v2); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(v2, os.DirFS(v1)); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, f, versions[1], f.ring); !errors.Is(err, pipeline.ErrDataKey) {
		t.Errorf("reading swapped files = %v, want ErrDataKey", err)
	}
	_, err := pipeline.AssessVersion(context.Background(), f.cat, f.ring, versions[1],
		anonymize.RiskSpec{QuasiIdentifiers: []string{"home_airport"}, K: 2})
	if !errors.Is(err, pipeline.ErrDataKey) || !strings.Contains(err.Error(), "do not decrypt") {
		t.Errorf("risk over swapped files = %v, want ErrDataKey saying so", err)
	}

	eng, err := queries.NewEngine(f.cat, queries.Config{Keyring: f.ring})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := f.cat.SetGrant(context.Background(), "ana", "bookings",
		store.Amount{Epsilon: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = eng.Query(context.Background(), queries.Request{Principal: "ana",
		SQL: "SELECT COUNT(*) FROM bookings", Options: queries.Options{Epsilon: 0.1}})
	if !errors.Is(err, pipeline.ErrDataKey) {
		t.Errorf("query over swapped files = %v, want ErrDataKey", err)
	}
	if b, _ := f.cat.Balance(context.Background(), "ana", "bookings"); b.Spent.Epsilon != 0 {
		t.Errorf("a failed query spent ε=%g", b.Spent.Epsilon)
	}
}

func TestRotateMasterRewrapsWithoutRewriting(t *testing.T) {
	f := newFixture(t)
	f.gen(2000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	f.mustRun(f.spec(testSpec, synth.CSV))
	ctx := context.Background()
	oldMaster, _ := f.ring.Master()
	ringPath := filepath.Join(f.dir, "keys", "keyring.json")
	hashes := fileHashes(t, f.dataDir)

	// An engine started before the rotation.
	eng, err := queries.NewEngine(f.cat, queries.Config{Keyring: f.ring})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := f.cat.SetGrant(ctx, "ana", "bookings", store.Amount{Epsilon: 5, Delta: 1e-5}); err != nil {
		t.Fatal(err)
	}

	if err := pipeline.RetireKey(ctx, f.cat, ringPath, oldMaster.ID()); err == nil {
		t.Fatal("retiring the master in use succeeded")
	}
	master, n, err := pipeline.RotateMaster(ctx, f.cat, ringPath)
	if err != nil || n != 2 {
		t.Fatalf("RotateMaster = %d rewrapped, %v; want 2", n, err)
	}
	if err := pipeline.RetireKey(ctx, f.cat, ringPath, oldMaster.ID()); err != nil {
		t.Fatalf("retiring the old master after the rewrap: %v", err)
	}
	if err := pipeline.RetireKey(ctx, f.cat, ringPath, master.ID()); err == nil {
		t.Error("retiring the new master succeeded")
	}

	ring, err := anonymize.LoadKeyring(ringPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.KeyByID(oldMaster.ID()); err == nil {
		t.Fatal("the old master is still in the keyring")
	}
	versions, _ := f.cat.Versions(ctx, "bookings")
	for _, v := range versions {
		if v.DataKey.MasterKeyID != master.ID() {
			t.Errorf("version %d wrapped under %s, want %s", v.Version, v.DataKey.MasterKeyID,
				master.ID())
		}
		if n, err := readAll(t, f, v, ring); err != nil || n == 0 {
			t.Errorf("version %d after the rotation: %d rows, %v", v.Version, n, err)
		}
	}
	if got := fileHashes(t, f.dataDir); !equalMaps(got, hashes) {
		t.Error("the rotation rewrote data files")
	}

	// The engine loaded the old keyring; it reads the new one when needed.
	if _, err := eng.Query(ctx, queries.Request{Principal: "ana",
		SQL:     "SELECT cabin, COUNT(*) FROM bookings GROUP BY cabin",
		Options: queries.Options{Epsilon: 0.5}}); err != nil {
		t.Errorf("query after the rotation: %v", err)
	}
}

func TestShreddedVersionUnreadable(t *testing.T) {
	f := newFixture(t)
	path := f.gen(3000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	f.mustRun(f.spec(testSpec, synth.CSV))
	ctx := context.Background()

	// A backup of version 2, taken before the erasure.
	before, _ := f.cat.Versions(ctx, "bookings")
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(filepath.Join(f.dataDir, before[1].Path))); err != nil {
		t.Fatal(err)
	}

	ids := consentingPassengers(t, path, 1)
	done, err := pipeline.EraseSubjects(ctx, f.cat, f.ring, ids, "bookings")
	if err != nil || len(done) != 1 || done[0].Version != 3 {
		t.Fatalf("erasure = %+v, %v", done, err)
	}
	versions, _ := f.cat.Versions(ctx, "bookings")
	for _, v := range versions[:2] {
		if !v.DataKey.Shredded() || v.DataKey.Wrapped != nil {
			t.Errorf("version %d key = %+v, want shredded", v.Version, v.DataKey)
		}
		if _, err := pipeline.VersionKey(f.ring, v); !errors.Is(err, pipeline.ErrShredded) {
			t.Errorf("VersionKey(version %d) = %v, want ErrShredded", v.Version, err)
		}
	}
	if versions[2].DataKey.Shredded() {
		t.Error("the new version's key was shredded")
	}

	// The backup opens under no key the keyring and catalog still hold.
	files, _ := filepath.Glob(filepath.Join(backup, "data", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("empty backup")
	}
	restored := versions[2]
	restored.Path, _ = filepath.Rel(f.dataDir, backup)
	if n, err := readAll(t, f, restored, f.ring); !errors.Is(err, pipeline.ErrDataKey) {
		t.Errorf("backup read with the current version's key: %d rows, %v; want ErrDataKey", n,
			err)
	}

	states, err := pipeline.VersionStates(ctx, f.cat, f.ring, "bookings")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range states {
		got = append(got, fmt.Sprintf("%d:%s", s.Version, s.State))
	}
	if want := "1:shredded 2:shredded 3:readable"; strings.Join(got, " ") != want {
		t.Errorf("VersionStates = %s, want %s", strings.Join(got, " "), want)
	}
}

func TestPlainOutputOnlyWhenAsked(t *testing.T) {
	f := newFixture(t)
	f.gen(2000, synth.CSV, false)
	plain := strings.Replace(testSpec, "output: {dataset: bookings}",
		"output: {dataset: bookings, plain: true}", 1)
	m := f.mustRun(f.spec(plain, synth.CSV))
	if m.Encryption != store.EncryptionNone || m.MasterKeyID != "" {
		t.Errorf("manifest of a plain job: encryption %q, master %q", m.Encryption, m.MasterKeyID)
	}
	v, _ := f.cat.Current(context.Background(), "bookings")
	if v.Encryption != store.EncryptionNone || v.DataKey.Wrapped != nil {
		t.Errorf("catalog of a plain job: encryption %q, key %+v", v.Encryption, v.DataKey)
	}
	var n int64
	if err := f.db().QueryRow("SELECT count(*) FROM read_parquet(?)",
		f.versionGlob("bookings", 1)).Scan(&n); err != nil || n != m.Rows.Published {
		t.Errorf("plain files read without a key: %d rows, %v; want %d", n, err, m.Rows.Published)
	}
	manifest, err := os.ReadFile(filepath.Join(f.dataDir, v.Path, "manifest.json"))
	if err != nil || !bytes.Contains(manifest, []byte(`"encryption": "none"`)) {
		t.Errorf("manifest.json does not record plain output (%v)", err)
	}

	// Without the flag, the next version is encrypted again.
	m = f.mustRun(f.spec(testSpec, synth.CSV))
	if m.Encryption != store.EncryptionPME {
		t.Errorf("default job: encryption %q, want %q", m.Encryption, store.EncryptionPME)
	}
}

func fileHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		var b bytes.Buffer
		if _, err := io.Copy(&b, fh); err != nil {
			return err
		}
		out[path] = b.String()
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("hashing %s: %d files, %v", dir, len(out), err)
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
