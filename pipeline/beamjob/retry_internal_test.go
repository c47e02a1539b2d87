package beamjob

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

// TestShardRetryRewritesItsFiles runs the same shard twice, as a runner
// retrying it would, and checks that the second attempt replaces the
// first's files instead of failing or adding rows.
func TestShardRetryRewritesItsFiles(t *testing.T) {
	dir := t.TempDir()
	ring, err := anonymize.InitKeyring(filepath.Join(dir, "keyring.json"), []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ring.Key("k")
	if err != nil {
		t.Fatal(err)
	}
	export := "id,city\nP1,Paris\nP2,Oslo\nP3\nP4,Rome\n"
	if err := os.WriteFile(filepath.Join(dir, "export.csv"), []byte(export), 0o600); err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(specPath, []byte(`name: retry
source: {path: export.csv}
privacy_unit: id
keyring: keyring.json
key: k
output: {dataset: people}
columns:
  id:   {action: pseudonymize}
  city: {action: keep, type: string}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := pipeline.Load(specPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	shards, dialect, err := pipeline.Split(ctx, pipeline.FormatCSV, spec.SourcePath(), 1<<20, 1)
	if err != nil || len(shards) != 1 {
		t.Fatalf("Split = %v shards, %v; want one", len(shards), err)
	}

	runDir := filepath.Join(dir, "run")
	fn := &processShardFn{SpecPath: specPath, StartedUnixNano: time.Now().UnixNano(),
		Dialect: dialect, RunDir: runDir, PolicyHash: spec.PolicyHash(), KeyID: key.ID(),
		MemoryLimit: "64MB", Sealed: pipeline.SealedKey{Encryption: store.EncryptionNone}}
	if err := fn.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	var accounts []shardAccount
	for attempt := 0; attempt < 2; attempt++ {
		if _, err := fn.ProcessElement(ctx, shards[0]); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		res, err := collect(runDir, 1)
		if err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, shardAccount{Data: res.Files[0], Published: res.Published,
			ReaderRejects: res.ReaderRejects})
	}
	a, b := accounts[0], accounts[1]
	if a.Published != 3 || a.ReaderRejects != 1 {
		t.Errorf("first attempt published %d and rejected %d, want 3 and 1", a.Published,
			a.ReaderRejects)
	}
	if b.Published != a.Published || b.Data.Rows != a.Data.Rows || b.Data.SHA256 != a.Data.SHA256 {
		t.Errorf("second attempt %+v differs from the first %+v", b, a)
	}
	files, _ := filepath.Glob(filepath.Join(runDir, "data", "*.parquet"))
	if len(files) != 1 {
		t.Errorf("data files after a retry: %v, want one", files)
	}

	// A worker with another spec refuses to work.
	other := *fn
	other.PolicyHash = "0000"
	if err := other.Setup(ctx); err == nil {
		t.Error("Setup with another policy hash succeeded")
	}
}
