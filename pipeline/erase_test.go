package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/synth"
)

func TestEraseSubjectsLeavesNoTrace(t *testing.T) {
	f := newFixture(t)
	path := f.gen(3000, synth.CSV, true) // dirty: quarantine rows with tokens too
	spec := strings.Replace(testSpec, "key: crm-test", "key: crm-test\nmax_rejected_share: 0.05", 1)
	f.mustRun(f.spec(spec, synth.CSV))
	f.mustRun(f.spec(spec, synth.CSV))

	// Two consenting passengers with bookings.
	recs := readCSV(t, path)
	id, consent := colIndex(t, recs[0], "passenger_id"), colIndex(t, recs[0], "marketing_consent")
	var ids []string
	for _, r := range recs[1:] {
		if len(r) > consent && r[consent] == "true" && r[id] != "" && !strings.Contains(strings.Join(ids, ","), r[id]) {
			ids = append(ids, r[id])
		}
		if len(ids) == 2 {
			break
		}
	}
	key, _ := f.ring.Key("crm-test")
	p := anonymize.NewPseudonymizer(key)
	db := f.db()
	before := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("bookings", 2)))

	done, err := pipeline.EraseSubjects(context.Background(), f.cat, f.ring, ids, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || done[0].Version != 3 || done[0].Rows == 0 {
		t.Fatalf("erasure = %+v, want version 3 without some rows", done)
	}
	if after := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("bookings", 3))); after != before-done[0].Rows {
		t.Errorf("version 3 holds %d rows, want %d", after, before-done[0].Rows)
	}

	// No file anywhere in the data dir holds their tokens.
	err = filepath.Walk(f.dataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.HasSuffix(path, ".duckdb") || strings.HasSuffix(path, ".wal") {
			return err
		}
		if !strings.HasSuffix(path, ".parquet") {
			return nil
		}
		col := "passenger_id"
		if strings.Contains(path, string(filepath.Separator)+"quarantine"+string(filepath.Separator)) {
			col = "unit_token"
		}
		for _, who := range ids {
			if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, path)+" WHERE "+col+" = ?",
				p.Token(who)); n != 0 {
				t.Errorf("%s still holds a subject's token", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := pipeline.FindSubject(context.Background(), f.cat, f.ring, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.Rows != 0 {
			t.Errorf("version %d still holds %d rows of the subject", h.Version, h.Rows)
		}
	}

	// Again: nothing to do, nothing published.
	again, err := pipeline.EraseSubjects(context.Background(), f.cat, f.ring, ids, "bookings")
	if err != nil || len(again) != 1 || again[0].Version != 0 || again[0].Rows != 0 {
		t.Errorf("second erasure = %+v, %v; want nothing done", again, err)
	}

	// The next run with the ids as its erasure list keeps them out.
	list := "passenger_id\n" + strings.Join(ids, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(f.dir, "erase.csv"), []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	f.mustRun(f.spec(spec+"erasure: {path: erase.csv}\n", synth.CSV))
	if n := queryInt(t, db, "SELECT count(*) FROM "+f.scan(db, f.versionGlob("bookings", 4))+
		" WHERE passenger_id IN (?, ?)", p.Token(ids[0]), p.Token(ids[1])); n != 0 {
		t.Errorf("the next run published %d rows of erased subjects", n)
	}
}
