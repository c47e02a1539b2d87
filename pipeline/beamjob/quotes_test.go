package beamjob_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"haze/anonymize"
	"haze/pipeline"
	"haze/pipeline/beamjob"
)

// TestBeamStrayQuotes cuts a CSV full of quoting mistakes into one shard
// per record and checks that the Beam run rejects and publishes exactly
// what the local run does, reject lines included.
func TestBeamStrayQuotes(t *testing.T) {
	dir := t.TempDir()
	if _, err := anonymize.InitKeyring(filepath.Join(dir, "keyring.json"), []string{"k"}); err != nil {
		t.Fatal(err)
	}
	export := "id,name,city\n" +
		"P1,plain,Paris\n" +
		"P2,ab\"c,Oslo\n" + // a quote inside an unquoted field
		"P3,\"ok\"junk,Rome\n" + // text after a closing quote
		"P4,\"multi\nline\",Lima\n" +
		"P5,\"\"\"quoted\"\"\",Bern\n" +
		"P6,short\n" +
		"P7,too,many,fields\n" +
		"P8,\"open,Kyiv\n" + // a quote that never closes on its line
		"P9,after,Riga\n" +
		"P10,\"closes\",Baku\n" +
		"P11,last,Doha\n"
	for i := 12; i < 60; i++ {
		export += fmt.Sprintf("P%d,name%d,City%d\n", i, i, i)
	}
	export += "P60,short at the end\n"
	if err := os.WriteFile(filepath.Join(dir, "export.csv"), []byte(export), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(spec, []byte(`name: quotes
source: {path: export.csv}
privacy_unit: id
keyring: keyring.json
key: k
output: {dataset: people}
max_rejected_share: 1
columns:
  id:   {action: pseudonymize}
  name: {action: keep, type: string}
  city: {action: keep, type: string}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) }
	quiet := slog.New(slog.DiscardHandler)

	s, err := pipeline.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	localDir := filepath.Join(dir, "local")
	local, err := pipeline.Run(context.Background(), s, openCatalog(t, localDir),
		pipeline.Options{Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	beamDir := filepath.Join(dir, "beam")
	got, err := beamjob.Run(context.Background(), spec, openCatalog(t, beamDir),
		beamjob.Options{ShardBytes: 1, Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if local.Rows.Rejected == 0 {
		t.Fatalf("local rows %+v: the export must have reader rejects", local.Rows)
	}
	if got.Rows != local.Rows {
		t.Errorf("beam rows %+v, local %+v", got.Rows, local.Rows)
	}
	if len(got.Files) < 20 {
		t.Errorf("beam wrote %d data files, want one per record", len(got.Files))
	}
	db := openDB(t)
	ring := filepath.Join(dir, "keyring.json")
	for _, part := range []string{"data", "quarantine"} {
		a := scanPart(t, db, localDir, "people", part, ring)
		b := scanPart(t, db, beamDir, "people", part, ring)
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
}
