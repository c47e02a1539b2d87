package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
	"haze/store"
)

func TestRunPublishesDataset(t *testing.T) {
	f := newFixture(t)
	path := f.gen(5000, synth.CSV, false)
	m := f.mustRun(f.spec(testSpec, synth.CSV))

	// Every row is accounted for, and the consent rule is the only filter.
	recs := readCSV(t, path)
	consent := colIndex(t, recs[0], "marketing_consent")
	var consented int64
	for _, r := range recs[1:] {
		if r[consent] == "true" {
			consented++
		}
	}
	r := m.Rows
	if r.Read != 5000 || r.Published != consented || r.FilteredByConsent != 5000-consented {
		t.Errorf("rows = %+v, want read 5000, published %d", r, consented)
	}
	if sum := r.Published + r.Rejected + r.Quarantined + r.FilteredByConsent + r.Erased; sum != r.Read {
		t.Errorf("counts add to %d, want %d", sum, r.Read)
	}
	if m.Status != pipeline.StatusPublished || m.Version != 1 || len(m.Input.SHA256) != 64 {
		t.Errorf("manifest status %q version %d hash %q", m.Status, m.Version, m.Input.SHA256)
	}

	// The catalog and the files agree with the manifest.
	v, err := f.cat.Current(context.Background(), "bookings")
	if err != nil {
		t.Fatal(err)
	}
	if v.Rows != consented || v.PrivacyUnit != "passenger_id" || v.KeyID != m.KeyID ||
		!strings.HasPrefix(v.KeyID, "crm-test:") {
		t.Errorf("catalog version = %+v", v)
	}
	db := f.db()
	if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("bookings", 1))+""); n != consented {
		t.Errorf("parquet rows = %d, want %d", n, consented)
	}
	var names []string
	for _, c := range v.Columns {
		names = append(names, c.Name)
	}
	want := []string{"passenger_id", "email", "birth_year", "postcode", "card_number",
		"booking_date", "flight_date", "consent_week", "destination", "cabin", "home_airport",
		"fare_amount", "ancillary_amount"}
	if !slices.Equal(names, want) {
		t.Errorf("columns = %v, want %v", names, want)
	}
	if c := v.Columns[len(v.Columns)-2]; c.Type != "DECIMAL(18,2)" || !slices.Equal(c.Bounds, []float64{0, 10000}) {
		t.Errorf("fare_amount column = %+v", c)
	}
	if _, err := os.Stat(filepath.Join(f.dataDir, v.Path, "manifest.json")); err != nil {
		t.Errorf("manifest file: %v", err)
	}
}

func TestUnnamedColumnsAreDropped(t *testing.T) {
	f := newFixture(t)
	path := f.gen(500, synth.CSV, false)

	// Next month's export grows a column the job does not know.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, path)
	var b strings.Builder
	for i, r := range recs {
		extra := "secret-note-" + fmt.Sprint(i)
		if i == 0 {
			extra = "loyalty_notes"
		}
		b.WriteString(csvLine(append(r, extra)))
	}
	_ = data
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	m := f.mustRun(f.spec(testSpec, synth.CSV))
	dropped := map[string]string{}
	for _, d := range m.DroppedColumns {
		dropped[d.Name] = d.Reason
	}
	for name, reason := range map[string]string{
		"loyalty_notes": "not named in the job", "phone": "not named in the job",
		"passport_number": "not named in the job", "first_name": "action drop",
	} {
		if dropped[name] != reason {
			t.Errorf("dropped[%s] = %q, want %q", name, dropped[name], reason)
		}
	}
	db := f.db()
	if n := queryInt(t, db, `SELECT count(*) FROM (DESCRIBE SELECT * FROM `+f.scan(db, f.versionGlob("bookings", 1))+`)
		WHERE column_name IN ('loyalty_notes', 'phone', 'first_name')`); n != 0 {
		t.Errorf("%d dropped columns in the output", n)
	}
}

func csvLine(fields []string) string {
	out := make([]string, len(fields))
	for i, s := range fields {
		if strings.ContainsAny(s, ",\"\n\r") {
			s = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
		out[i] = s
	}
	return strings.Join(out, ",") + "\n"
}

func TestNoIdentifierSurvives(t *testing.T) {
	f := newFixture(t)
	path := f.gen(3000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))

	// Every value of a pseudonymised, dropped or masked column.
	recs := readCSV(t, path)
	secrets := map[string]bool{}
	for _, name := range []string{"passenger_id", "email", "first_name", "last_name",
		"card_number", "phone", "passport_number"} {
		i := colIndex(t, recs[0], name)
		for _, r := range recs[1:] {
			if v := strings.TrimSpace(r[i]); len(v) >= 6 {
				secrets[v] = true
				secrets[strings.ToLower(v)] = true
			}
		}
	}

	// No output cell equals or contains one of them.
	db := f.db()
	rows, err := db.Query(`SELECT columns(*)::VARCHAR FROM ` + f.scan(db, f.versionGlob("bookings", 1)) + ``)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	cells := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range cells {
		ptrs[i] = &cells[i]
	}
	checked := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cells {
			s, _ := c.(string)
			if s == "" {
				continue
			}
			checked++
			if secrets[s] || secrets[strings.ToLower(s)] {
				t.Fatalf("column %s holds an input identifier", cols[i])
			}
		}
	}
	if checked == 0 {
		t.Fatal("no output cell checked")
	}

	// Nor do the raw bytes of any file the run wrote.
	err = filepath.Walk(f.dataDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(p, ".duckdb") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, r := range recs[1:200] {
			for _, name := range []string{"passenger_id", "email", "passport_number", "card_number"} {
				v := r[colIndex(t, recs[0], name)]
				if len(v) >= 8 && strings.Contains(string(data), v) {
					t.Errorf("%s holds a %s of the export", p, name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTokensAreKeyedAndDeterministic(t *testing.T) {
	f := newFixture(t)
	path := f.gen(1000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	f.mustRun(f.spec(testSpec, synth.CSV)) // the same job again: version 2
	other := strings.Replace(strings.Replace(testSpec, "key: crm-test", "key: other", 1),
		"dataset: bookings", "dataset: other_key", 1)
	f.mustRun(f.spec(other, synth.CSV))

	db := f.db()
	tokens := func(glob string) []string {
		rows, err := db.Query("SELECT DISTINCT passenger_id FROM " + f.scan(db, glob) + " ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}
	v1, v2 := tokens(f.versionGlob("bookings", 1)), tokens(f.versionGlob("bookings", 2))
	if len(v1) == 0 || !slices.Equal(v1, v2) {
		t.Errorf("same key gave different tokens: %d vs %d", len(v1), len(v2))
	}
	for _, tok := range tokens(f.versionGlob("other_key", 1)) {
		if _, found := slices.BinarySearch(v1, tok); found {
			t.Fatalf("another key gave the same token %s", tok)
		}
	}

	// The token is the keyed pseudonym of the clear id.
	key, _ := f.ring.Key("crm-test")
	recs := readCSV(t, path)
	id := colIndex(t, recs[0], "passenger_id")
	consent := colIndex(t, recs[0], "marketing_consent")
	for _, r := range recs[1:] {
		if r[consent] != "true" {
			continue
		}
		tok := anonymize.NewPseudonymizer(key).Token(r[id])
		if _, found := slices.BinarySearch(v1, tok); !found {
			t.Fatalf("token of a consenting passenger missing from the output")
		}
		break
	}
}

func TestErasureRemovesEverySubjectRow(t *testing.T) {
	f := newFixture(t)
	path := f.gen(8000, synth.CSV, false)

	// The three passengers with the most bookings ask for erasure.
	recs := readCSV(t, path)
	id := colIndex(t, recs[0], "passenger_id")
	perID := map[string]int64{}
	for _, r := range recs[1:] {
		perID[r[id]]++
	}
	ids := make([]string, 0, len(perID))
	for k := range perID {
		ids = append(ids, k)
	}
	slices.SortFunc(ids, func(a, b string) int { return int(perID[b] - perID[a]) })
	erase := ids[:3]
	var wantErased int64
	for _, e := range erase {
		wantErased += perID[e]
	}
	list := "passenger_id\n" + strings.Join(erase, "\n") + "\n  " + erase[0] + "  \n"
	if err := os.MkdirAll(filepath.Join(f.dir, "requests"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "requests", "erasure.csv"), []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}

	spec := testSpec + "erasure: {path: requests/erasure.csv, column: passenger_id}\n"
	m := f.mustRun(f.spec(spec, synth.CSV))
	if m.Rows.Erased != wantErased || m.Rows.ErasureSubjects != 3 {
		t.Errorf("erased %d rows of %d subjects, want %d of 3", m.Rows.Erased,
			m.Rows.ErasureSubjects, wantErased)
	}
	key, _ := f.ring.Key("crm-test")
	p := anonymize.NewPseudonymizer(key)
	db := f.db()
	for _, e := range erase {
		if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("bookings", 1))+" WHERE passenger_id = ?", p.Token(e)); n != 0 {
			t.Errorf("%d rows of an erased subject published", n)
		}
	}
}

func TestDirtyExportLandsInQuarantine(t *testing.T) {
	f := newFixture(t)
	path := f.gen(20000, synth.CSV, true)
	spec := strings.Replace(testSpec, "consent: {column: marketing_consent, equals: true}",
		"max_rejected_share: 0.05", 1)
	m := f.mustRun(f.spec(spec, synth.CSV))

	if m.Rows.Read != 20000 {
		t.Errorf("read %d rows, want 20000", m.Rows.Read)
	}
	if m.Rows.Rejected == 0 || m.Rows.Quarantined == 0 {
		t.Fatalf("rows = %+v: want rows rejected by the reader and by policy", m.Rows)
	}
	if sum := m.Rows.Published + m.Rows.Rejected + m.Rows.Quarantined; sum != m.Rows.Read {
		t.Errorf("counts add to %d, want %d", sum, m.Rows.Read)
	}

	db := f.db()
	q := filepath.Join(f.dataDir, pipeline.VersionDir("bookings", 1), "quarantine", "*.parquet")
	if n := queryInt(t, db, `SELECT count(*) FROM `+f.scan(db, q)+``); n != m.Rows.Rejected+m.Rows.Quarantined {
		t.Errorf("quarantine holds %d rows, want %d", n, m.Rows.Rejected+m.Rows.Quarantined)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM `+f.scan(db, q)+` WHERE stage = 'read'
		AND line > 1 AND reason LIKE '%fewer fields%'`); n == 0 {
		t.Error("no short line quarantined with its line number")
	}
	for _, reason := range []string{
		"passenger_id: privacy unit is empty",
		"fare_amount: not a valid number",
		"date_of_birth: not a valid date (YYYY-MM-DD)",
	} {
		if n := queryInt(t, db, `SELECT count(*) FROM `+f.scan(db, q)+` WHERE reason = ?`, reason); n == 0 {
			t.Errorf("no row quarantined for %q", reason)
		}
	}
	if n := queryInt(t, db, `SELECT count(*) FROM `+f.scan(db, q)+` WHERE stage = 'policy'
		AND reason <> 'passenger_id: privacy unit is empty' AND length(unit_token) <> 22`); n != 0 {
		t.Errorf("%d policy rows without the unit's token", n)
	}

	// Quarantine stores no value in clear.
	files, err := filepath.Glob(q)
	if err != nil || len(files) == 0 {
		t.Fatalf("quarantine files: %v %v", files, err)
	}
	recs := readCSV(t, path)
	id := colIndex(t, recs[0], "passenger_id")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[1:] {
			if len(r) > id && len(r[id]) > 6 && strings.Contains(string(data), r[id]) {
				t.Fatal("quarantine file holds a clear passenger id")
			}
		}
	}
}

func TestTooManyRejectedPublishesNothing(t *testing.T) {
	f := newFixture(t)
	f.gen(5000, synth.CSV, false)
	f.mustRun(f.spec(testSpec, synth.CSV))
	f.gen(5000, synth.CSV, true)
	strict := strings.Replace(testSpec, "key: crm-test", "key: crm-test\nmax_rejected_share: 0.0001", 1)

	m, err := f.run(f.spec(strict, synth.CSV))
	if !errors.Is(err, pipeline.ErrTooManyRejected) {
		t.Fatalf("err = %v, want ErrTooManyRejected", err)
	}
	if m == nil || m.Status != pipeline.StatusFailed || m.Rows.RejectedShare <= 0.0001 {
		t.Fatalf("manifest = %+v", m)
	}
	v, err := f.cat.Current(context.Background(), "bookings")
	if err != nil || v.Version != 1 {
		t.Fatalf("current = %d, %v; want version 1 still", v.Version, err)
	}
	if _, err := os.Stat(filepath.Join(f.dataDir, "datasets", "bookings", "failed", m.RunID,
		"manifest.json")); err != nil {
		t.Errorf("failed run manifest: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dataDir, pipeline.VersionDir("bookings", 2))); !os.IsNotExist(err) {
		t.Errorf("version 2 folder exists: %v", err)
	}
}

func TestFormatsGiveTheSameDataset(t *testing.T) {
	f := newFixture(t)
	formats := []synth.Format{synth.CSV, synth.Parquet, synth.NDJSON}
	for _, format := range formats {
		f.gen(3000, format, false)
		spec := strings.Replace(testSpec, "dataset: bookings", "dataset: from_"+string(format), 1)
		m := f.mustRun(f.spec(spec, format))
		if m.Rows.Read != 3000 || m.Rows.Quarantined+m.Rows.Rejected != 0 {
			t.Fatalf("%s: rows = %+v", format, m.Rows)
		}
	}

	db := f.db()
	base := f.versionGlob("from_csv", 1)
	for _, format := range formats[1:] {
		other := f.versionGlob("from_"+string(format), 1)
		for _, pair := range [][2]string{{base, other}, {other, base}} {
			n := queryInt(t, db, `SELECT count(*) FROM (SELECT * FROM `+f.scan(db, pair[0])+`
				EXCEPT ALL SELECT * FROM `+f.scan(db, pair[1])+`)`)
			if n != 0 {
				t.Errorf("csv and %s datasets differ in %d rows", format, n)
			}
		}
	}
}

func TestSpecErrors(t *testing.T) {
	f := newFixture(t)
	f.gen(100, synth.CSV, false)
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown key", "key: crm-test", "key: nope", `key "nope": unknown key`},
		{"unknown action", "{action: drop}", "{action: delete}", `columns.first_name: action "delete" is not one of`},
		{"typo field", "{action: drop}", "{action: drop, lenght: 2}", "field lenght not found"},
		{"unit not pseudonymized", "passenger_id:     {action: pseudonymize}",
			"passenger_id:     {action: keep, type: string}", "privacy unit must be pseudonymized"},
		{"missing column", "first_name:", "fist_name:", "columns.fist_name: the export has no such column"},
		{"bad dataset name", "dataset: bookings", "dataset: Bookings!", "output.dataset"},
		{"missing source", "exports/crm.FORMAT", "exports/none.csv", "no such file"},
		{"consent column", "column: marketing_consent", "column: consent_flag", `no column "consent_flag"`},
		{"pci", "keep_first: 0", "keep_first: 8", "keep_first must be 0 to 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(testSpec, tt.from, tt.to, 1)
			path := filepath.Join(f.dir, "bad.yaml")
			os.WriteFile(path, []byte(strings.ReplaceAll(text, "FORMAT", "csv")), 0o600)
			spec, err := pipeline.Load(path)
			if err == nil {
				_, err = f.run(spec)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := f.cat.Current(context.Background(), "bookings"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed job published: %v", err)
	}
}
