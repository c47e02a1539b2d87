package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

// haze runs one haze command in process, in dir, and returns its output.
func haze(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	t.Chdir(dir)
	root := rootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustHaze(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := haze(t, dir, args...)
	if err != nil {
		t.Fatalf("haze %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestEncryptionCommands drives encryption at rest from the command line:
// a job writes an encrypted version, the master key is rotated and the
// old one retired, and the dataset stays readable and queryable.
func TestEncryptionCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HAZE_KEYRING", "")
	t.Setenv("CI", "1")
	spec, err := os.ReadFile(filepath.Join("..", "..", "examples", "bookings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	job := regexp.MustCompile(`(?m)^erasure:.*\n`).ReplaceAll(spec, nil)
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), job, 0o600); err != nil {
		t.Fatal(err)
	}
	mustHaze(t, dir, "gen", "--rows", "3000", "--out", "exports/crm.csv")
	mustHaze(t, dir, "keyring", "init", "--out", "keys/keyring.json", "--key", "crm-2026")
	ring := "--keyring=keys/keyring.json"
	mustHaze(t, dir, "pipeline", "run", "--job", "job.yaml", "--data-dir", "data")

	masterOf := func() string {
		t.Helper()
		out := mustHaze(t, dir, "dataset", "versions", "--data-dir", "data", "--dataset",
			"bookings", ring)
		m := regexp.MustCompile(`(?m)^1\s+yes\s.*parquet-aes-gcm\s+(master:[0-9a-f]{12})\s+readable$`).
			FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("dataset versions:\n%s\nwant version 1, current, encrypted and readable", out)
		}
		return m[1]
	}
	old := masterOf()
	if out := mustHaze(t, dir, "keyring", "list", ring); !strings.Contains(out, old) ||
		strings.Contains(out, "secret") {
		t.Errorf("keyring list:\n%s\nwant the master %s and no secrets", out, old)
	}

	// The master in use cannot be retired; after a rotation it can.
	if out, err := haze(t, dir, "keyring", "retire", ring, "--data-dir", "data", "--id", old); err == nil {
		t.Errorf("retiring the master in use succeeded:\n%s", out)
	}
	if out := mustHaze(t, dir, "keyring", "rotate", "--master", ring, "--data-dir", "data"); !strings.Contains(out, "rewrapped 1 data keys") {
		t.Errorf("keyring rotate --master: %s", out)
	}
	mustHaze(t, dir, "keyring", "retire", ring, "--data-dir", "data", "--id", old)
	if now := masterOf(); now == old {
		t.Errorf("the version is still wrapped under the retired master %s", old)
	}

	// A query reads the rewrapped version.
	mustHaze(t, dir, "budget", "grant", "--data-dir", "data", "--name", "maya", "--dataset",
		"bookings", "--epsilon", "1", "--delta", "1e-5")
	out := mustHaze(t, dir, "query", "--data-dir", "data", ring, "--as", "maya", "--epsilon",
		"0.5", "SELECT cabin, COUNT(*) AS n FROM bookings GROUP BY cabin")
	if !strings.Contains(out, "economy") {
		t.Errorf("query output:\n%s\nwant the cabins", out)
	}
	if out, err := haze(t, dir, "query", "--data-dir", "data", "--as", "maya", "--epsilon",
		"0.5", "SELECT COUNT(*) FROM bookings"); err == nil ||
		!strings.Contains(err.Error(), "keyring is needed") {
		t.Errorf("query without a keyring: %v\n%s; want a refusal naming the keyring", err, out)
	}
}

// TestReversibleTokenCommands drives encrypt tokens from the command line:
// reidentify needs a reason and is audited without the value, and rekey
// after a rotation publishes a version the old token no longer names.
func TestReversibleTokenCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HAZE_KEYRING", "")
	t.Setenv("CI", "1")
	export := "passenger_id,email,cabin\nP1,ana@example.com,economy\nP2,bo@example.com,business\n"
	job := `name: enc
source: {path: crm.csv}
privacy_unit: passenger_id
keyring: keys/keyring.json
key: crm
output: {dataset: trips}
columns:
  passenger_id: {action: encrypt}
  email:        {action: encrypt, normalize: lower}
  cabin:        {action: keep, type: string}
`
	for name, text := range map[string]string{"crm.csv": export, "job.yaml": job} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustHaze(t, dir, "keyring", "init", "--out", "keys/keyring.json", "--key", "crm")
	ring := "--keyring=keys/keyring.json"
	mustHaze(t, dir, "pipeline", "run", "--job", "job.yaml", "--data-dir", "data")

	// The token of ana's email, as the current version holds it.
	db := datasetReader(t, filepath.Join(dir, "data"), filepath.Join(dir, "keys", "keyring.json"))
	token := db("SELECT email FROM %s WHERE cabin = 'economy'")

	args := []string{"reidentify", "--data-dir", "data", ring, "--dataset", "trips",
		"--column", "email", "--token", token, "--as", "dpo"}
	if out, err := haze(t, dir, args...); err == nil {
		t.Errorf("reidentify without --reason succeeded:\n%s", out)
	}
	if out := mustHaze(t, dir, append(args, "--reason", "ticket 42")...); strings.TrimSpace(out) !=
		"ana@example.com" {
		t.Errorf("reidentify = %q, want the email", out)
	}
	audit := mustHaze(t, dir, "audit", "list", "--data-dir", "data")
	if !regexp.MustCompile(`dpo\s+admin\s+reidentify\s+trips`).MatchString(audit) ||
		strings.Contains(audit, "ana@example.com") || strings.Contains(audit, token) {
		t.Errorf("audit list:\n%s\nwant dpo's reidentify, neither the value nor the token", audit)
	}

	// Rotate and rekey: a new version, whose tokens the old one is not.
	mustHaze(t, dir, "keyring", "rotate", ring, "--name", "crm")
	mustHaze(t, dir, "dataset", "rekey", "--data-dir", "data", ring, "--dataset", "trips")
	if again := db("SELECT email FROM %s WHERE cabin = 'economy'"); again == token || again == "" {
		t.Errorf("token after rekey = %q, want a new one", again)
	}
	if out, err := haze(t, dir, append(args, "--reason", "ticket 43")...); err == nil {
		t.Errorf("the old token still reidentifies on the rekeyed version:\n%s", out)
	}
}

// datasetReader returns a function that runs a query over the current
// version of trips (its %s) with the version's data key, returning the
// first column of the first row. The catalog is open only during a call.
func datasetReader(t *testing.T, dataDir, ringPath string) func(q string) string {
	return func(q string) string {
		t.Helper()
		ctx := context.Background()
		ring, err := anonymize.LoadKeyring(ringPath)
		if err != nil {
			t.Fatal(err)
		}
		cat, err := store.Open(ctx, dataDir)
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		v, err := cat.Current(ctx, "trips")
		if err != nil {
			t.Fatal(err)
		}
		dk, err := pipeline.VersionKey(ring, v)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(dataDir, v.Path, "data", "*.parquet"))
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		src, _, err := dk.Scan(ctx, func(ctx context.Context, q string) error {
			_, err := db.ExecContext(ctx, q)
			return err
		}, files)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		if err := db.QueryRow(fmt.Sprintf(q, src)).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
}
