package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
	"haze/store"
)

// encryptSpec publishes reversible tokens; DATASET is replaced.
const encryptSpec = `
name: enc-job
source: {path: exports/crm.FORMAT}
privacy_unit: passenger_id
keyring: keys/keyring.json
key: crm-test
output: {dataset: DATASET}
max_rejected_share: 0.05
columns:
  passenger_id: {action: encrypt}
  email:        {action: encrypt, normalize: lower, as: email_enc}
  card_number:  {action: mask, keep_first: 0, keep_last: 4}
  destination:  {action: keep, type: string}
  fare_amount:  {action: keep, type: decimal, bounds: [0, 10000]}
`

func (f *fixture) encryptJob(dataset string) *pipeline.Spec {
	f.t.Helper()
	return f.spec(strings.ReplaceAll(encryptSpec, "DATASET", dataset), synth.CSV)
}

// exportValues returns the distinct non-empty values of an export column.
func exportValues(t *testing.T, path, column string) []string {
	t.Helper()
	recs := readCSV(t, path)
	i := colIndex(t, recs[0], column)
	seen := map[string]bool{}
	var out []string
	for _, r := range recs[1:] {
		if len(r) > i && strings.TrimSpace(r[i]) != "" && !seen[r[i]] {
			seen[r[i]] = true
			out = append(out, strings.TrimSpace(r[i]))
		}
	}
	return out
}

func TestEncryptRunLeavesNoClearValue(t *testing.T) {
	f := newFixture(t)
	path := f.gen(2000, synth.CSV, false)
	m := f.mustRun(f.encryptJob("trips"))
	if m.Rows.Published == 0 {
		t.Fatal("nothing published")
	}

	// Not one identifier or e-mail address of the export appears in the
	// bytes of any file of the data dir, catalog included.
	ids, emails := exportValues(t, path, "passenger_id"), exportValues(t, path, "email")
	var needles [][]byte
	for _, s := range append(ids, emails...) {
		needles = append(needles, []byte(s), []byte(strings.ToLower(s)))
	}
	files := 0
	err := filepath.Walk(f.dataDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("%s holds the clear value %q", p, n)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("walked %d files, want the catalog, data and manifest at least", files)
	}

	// The columns hold tokens that decrypt to the export's values.
	key, _ := f.ring.Key("crm-test")
	enc, err := anonymize.NewEncrypter(key)
	if err != nil {
		t.Fatal(err)
	}
	db := f.db()
	if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("trips", 1))+
		" WHERE passenger_id NOT LIKE 'enc1.%' OR email_enc NOT LIKE 'enc1.%'"); n != 0 {
		t.Errorf("%d rows hold something other than encrypt tokens", n)
	}
	want, _ := enc.Token(ids[0])
	if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("trips", 1))+
		" WHERE passenger_id = ?", want); n == 0 {
		t.Errorf("no row holds the token of the export's first passenger")
	}
	v, err := f.cat.Current(context.Background(), "trips")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Columns {
		if c.Name == "email_enc" && c.Action != anonymize.ActionEncrypt {
			t.Errorf("catalog action of email_enc = %q, want encrypt", c.Action)
		}
	}
}

// auditSince returns the audit entries after seq.
func auditSince(t *testing.T, cat *store.Catalog, seq int64) []store.AuditEntry {
	t.Helper()
	entries, err := cat.Audit(context.Background(), seq, 0)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestReidentify(t *testing.T) {
	f := newFixture(t)
	path := f.gen(1500, synth.CSV, false)
	f.mustRun(f.encryptJob("trips"))
	f.mustRun(f.spec(testSpec, synth.CSV)) // bookings: pseudonymized
	ctx := context.Background()

	who := exportValues(t, path, "passenger_id")[0]
	key, _ := f.ring.Key("crm-test")
	enc, _ := anonymize.NewEncrypter(key)
	token, _ := enc.Token(who)
	ask := pipeline.ReidentifyRequest{Dataset: "trips", Column: "passenger_id", Token: token,
		Reason: "fraud case 2026-117", Principal: "maya"}
	head, _, _ := f.cat.AuditHead(ctx)

	got, err := pipeline.Reidentify(ctx, f.cat, f.ring, ask)
	if err != nil {
		t.Fatalf("Reidentify: %v", err)
	}
	if got != who {
		t.Errorf("Reidentify = %q, want %q", got, who)
	}

	other, err := anonymize.InitKeyring(filepath.Join(t.TempDir(), "k.json"), []string{"crm-test"})
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name    string
		change  func(*pipeline.ReidentifyRequest)
		ring    *anonymize.Keyring
		want    error
		message string
		audited bool
	}{
		{"missing reason", func(r *pipeline.ReidentifyRequest) { r.Reason = "  " }, f.ring,
			pipeline.ErrReasonRequired, "reason", false},
		{"kept column", func(r *pipeline.ReidentifyRequest) { r.Column = "destination" }, f.ring,
			pipeline.ErrNotReversible, "column destination has action keep", true},
		{"pseudonymized column", func(r *pipeline.ReidentifyRequest) {
			r.Dataset = "bookings"
			r.Token = anonymize.NewPseudonymizer(key).Token(who)
		}, f.ring, pipeline.ErrNotReversible, "column passenger_id has action pseudonymize", true},
		{"wrong keyring", nil, other, anonymize.ErrUnknownKey, "does not hold the key", true},
		{"altered token", func(r *pipeline.ReidentifyRequest) { r.Token = alter(token) },
			f.ring, anonymize.ErrBadToken, "", true},
		{"token of another dataset's value", func(r *pipeline.ReidentifyRequest) {
			r.Token, _ = enc.Token("someone-not-in-the-export")
		}, f.ring, pipeline.ErrTokenNotFound, "", true},
		{"unknown version", func(r *pipeline.ReidentifyRequest) { r.Version = 9 }, f.ring,
			store.ErrNotFound, "", true},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			req := ask
			if tt.change != nil {
				tt.change(&req)
			}
			before, _, _ := f.cat.AuditHead(ctx)
			got, err := pipeline.Reidentify(ctx, f.cat, tt.ring, req)
			if got != "" || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Reidentify = %q, %v; want a refusal wrapping %v saying %q", got, err,
					tt.want, tt.message)
			}
			entries := auditSince(t, f.cat, before)
			if !tt.audited {
				if len(entries) != 0 {
					t.Errorf("%d audit entries, want none for an invalid request", len(entries))
				}
				return
			}
			if len(entries) != 1 || entries[0].Outcome != store.OutcomeRefused ||
				entries[0].Action != pipeline.ActionReidentify {
				t.Fatalf("audit = %+v, want one refused reidentify entry", entries)
			}
		})
	}

	// The audit says who, why, where; never the value or the token.
	entries := auditSince(t, f.cat, head)
	if len(entries) == 0 {
		t.Fatal("no audit entries")
	}
	e := entries[0]
	if e.Action != "reidentify" || e.Principal != "maya" || e.Role != store.RoleAdmin ||
		e.Dataset != "trips" || e.Outcome != store.OutcomeAllowed {
		t.Errorf("audit entry = %+v, want maya's allowed reidentify on trips", e)
	}
	for _, part := range []string{"fraud case 2026-117", "column passenger_id", "version 1",
		"token sha256:"} {
		if !strings.Contains(e.Detail, part) {
			t.Errorf("audit detail %q lacks %q", e.Detail, part)
		}
	}
	for _, e := range entries {
		all := strings.Join([]string{e.Principal, e.Action, e.Dataset, e.Query, e.Detail}, "|")
		body := strings.TrimPrefix(token, anonymize.EncryptPrefix)
		if strings.Contains(all, who) || strings.Contains(all, body[:16]) {
			t.Errorf("audit entry %d holds the value or the token: %q", e.Seq, all)
		}
	}
}

func TestRekeyKeepsJoins(t *testing.T) {
	f := newFixture(t)
	path := f.gen(2000, synth.CSV, true) // dirty: quarantine rows with unit tokens
	ctx := context.Background()
	f.mustRun(f.encryptJob("trips"))
	ringPath := filepath.Join(f.dir, "keys", "keyring.json")
	oldKey, _ := f.ring.Key("crm-test")
	oldRing := f.ring

	newKey, err := anonymize.Rotate(ringPath, anonymize.PurposeToken, "crm-test")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := anonymize.LoadKeyring(ringPath)
	if err != nil {
		t.Fatal(err)
	}
	f.ring = ring

	// Rekey publishes version 2 under the new key.
	done, err := pipeline.Rekey(ctx, f.cat, ring, "trips")
	if err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	if done.Version != 2 || done.From != 1 || done.FromKey != oldKey.ID() ||
		done.ToKey != newKey.ID() || done.Rows == 0 {
		t.Fatalf("Rekey = %+v, want version 2 from 1, %s to %s", done, oldKey.ID(), newKey.ID())
	}
	v2, err := f.cat.Current(ctx, "trips")
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.KeyID != newKey.ID() || v2.KeyName != "crm-test" {
		t.Errorf("current = version %d under %s, want version 2 under %s", v2.Version, v2.KeyID,
			newKey.ID())
	}

	// A fresh run under the new primary key makes the same tokens.
	f.mustRun(f.encryptJob("fresh"))
	db := f.db()
	for _, col := range []string{"passenger_id", "email_enc"} {
		q := "SELECT count(*) FROM (SELECT " + col + " FROM " +
			f.scan(db, f.versionGlob("trips", 2)) + " EXCEPT SELECT " + col + " FROM " +
			f.scan(db, f.versionGlob("fresh", 1)) + ")"
		if n := queryInt(t, db, q); n != 0 {
			t.Errorf("%s: %d tokens of the rekeyed version are not in a fresh run", col, n)
		}
		if n := queryInt(t, db, q, f.versionGlob("fresh", 1), f.versionGlob("trips", 2)); n != 0 {
			t.Errorf("%s: %d tokens of a fresh run are not in the rekeyed version", col, n)
		}
	}
	if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("trips", 1))+
		" a JOIN "+f.scan(db, f.versionGlob("trips", 2))+" b USING (passenger_id)"); n != 0 {
		t.Errorf("%d tokens are equal under the old and new keys", n)
	}

	// Each version decrypts with its own key, through the same keyring.
	who := exportValues(t, path, "passenger_id")[0]
	for _, tt := range []struct {
		version int
		key     anonymize.Key
	}{{1, oldKey}, {2, newKey}} {
		enc, _ := anonymize.NewEncrypter(tt.key)
		token, _ := enc.Token(who)
		got, err := pipeline.Reidentify(ctx, f.cat, ring, pipeline.ReidentifyRequest{
			Dataset: "trips", Version: tt.version, Column: "passenger_id", Token: token,
			Reason: "test", Principal: "maya"})
		if err != nil || got != who {
			t.Errorf("version %d: Reidentify = %q, %v; want %q", tt.version, got, err, who)
		}
	}
	newEnc, _ := anonymize.NewEncrypter(newKey)
	token, _ := newEnc.Token(who)
	if _, err := pipeline.Reidentify(ctx, f.cat, oldRing, pipeline.ReidentifyRequest{
		Dataset: "trips", Column: "passenger_id", Token: token, Reason: "test",
		Principal: "maya"}); !errors.Is(err, anonymize.ErrUnknownKey) {
		t.Errorf("the old keyring on the new version: %v, want ErrUnknownKey", err)
	}

	// The quarantine's unit tokens moved too.
	quar := filepath.Join(f.dataDir, pipeline.VersionDir("trips", 2), "quarantine", "*.parquet")
	rows, err := db.Query("SELECT unit_token FROM " + f.scan(db, quar) +
		" WHERE unit_token IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	oldEnc, _ := anonymize.NewEncrypter(oldKey)
	n := 0
	for rows.Next() {
		var tok string
		if err := rows.Scan(&tok); err != nil {
			t.Fatal(err)
		}
		n++
		if _, err := newEnc.Decrypt(tok); err != nil {
			t.Errorf("quarantine token does not open under the new key: %v", err)
		}
		if _, err := oldEnc.Decrypt(tok); err == nil {
			t.Errorf("quarantine token still opens under the old key")
		}
	}
	if n == 0 {
		t.Error("the dirty export quarantined no row with a unit token")
	}

	// Again: already under the primary key, nothing to do.
	again, err := pipeline.Rekey(ctx, f.cat, ring, "trips")
	if err != nil || again.Version != 0 {
		t.Errorf("second Rekey = %+v, %v; want nothing done", again, err)
	}
}

func TestRekeyRefusesPseudonymizedColumns(t *testing.T) {
	f := newFixture(t)
	f.gen(500, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	ringPath := filepath.Join(f.dir, "keys", "keyring.json")
	if _, err := anonymize.Rotate(ringPath, anonymize.PurposeToken, "crm-test"); err != nil {
		t.Fatal(err)
	}
	ring, err := anonymize.LoadKeyring(ringPath)
	if err != nil {
		t.Fatal(err)
	}

	_, err = pipeline.Rekey(context.Background(), f.cat, ring, "bookings")
	const want = "column passenger_id is pseudonymized: re-run the job from the source " +
		"to move it to the new key"
	if !errors.Is(err, pipeline.ErrNeedsSource) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Rekey = %v, want %q", err, want)
	}
	versions, err := f.cat.Versions(context.Background(), "bookings")
	if err != nil || len(versions) != 1 {
		t.Errorf("versions after a refused rekey = %d, %v; want 1", len(versions), err)
	}
}

func TestEraseSubjectsFromEncryptedDataset(t *testing.T) {
	f := newFixture(t)
	path := f.gen(1500, synth.CSV, true)
	f.mustRun(f.encryptJob("trips"))
	who := exportValues(t, path, "passenger_id")[0]
	key, _ := f.ring.Key("crm-test")
	enc, _ := anonymize.NewEncrypter(key)
	token, _ := enc.Token(who)
	db := f.db()
	if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("trips", 1))+
		" WHERE passenger_id = ?", token); n == 0 {
		t.Fatal("the subject holds no rows")
	}

	done, err := pipeline.EraseSubjects(context.Background(), f.cat, f.ring, []string{who}, "trips")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || done[0].Version != 2 || done[0].Rows == 0 {
		t.Fatalf("erasure = %+v, want version 2 without the subject's rows", done)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("trips", 2))+
		" WHERE passenger_id = ?", token); n != 0 {
		t.Errorf("version 2 still holds %d rows of the subject", n)
	}
}

// alter changes one character in the middle of a token to another
// base64url character, so the ciphertext it names is different.
func alter(token string) string {
	b := []byte(token)
	mid := len(b) / 2
	if b[mid] == 'A' {
		b[mid] = 'B'
	} else {
		b[mid] = 'A'
	}
	return string(b)
}
