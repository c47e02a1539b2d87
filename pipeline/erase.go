package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
	"haze/internal/duckstream"
	"haze/store"
)

// Erased says what an erasure did to one dataset.
type Erased struct {
	Dataset string `json:"dataset"`
	// Version is the version published without the subjects, 0 when the
	// current version held none of them.
	Version int `json:"version"`
	// Rows is the number of rows removed from the current version.
	Rows int64 `json:"rows"`
	// Purged lists the older versions that held the subjects: their data
	// keys were shredded and their files deleted.
	Purged []int `json:"purged_versions"`
	// Tokens are the subjects' tokens under the dataset's key.
	Tokens []string `json:"tokens"`
}

// EraseSubjects removes every row of the subjects with the clear ids from
// the datasets of cat (or only from dataset, when not empty), GDPR Art.
// 17: the current version is republished without them, atomically, as a
// new version under a fresh data key, and the older versions that hold
// them are crypto-shredded (their data keys destroyed, so no copy of their
// files can be read any more) and their files deleted. It is idempotent: a
// second call finds nothing to remove and finishes what a killed call
// left. The next pipeline run must take the same ids as its erasure list
// so they do not come back.
func EraseSubjects(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring, ids []string,
	dataset string) ([]Erased, error) {
	current, err := cat.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	var out []Erased
	for _, v := range current {
		if dataset != "" && v.Dataset != dataset {
			continue
		}
		e, err := eraseFrom(ctx, cat, ring, v, ids)
		if err != nil {
			return out, fmt.Errorf("dataset %s: %w", v.Dataset, err)
		}
		out = append(out, e)
	}
	if dataset != "" && len(out) == 0 {
		return nil, fmt.Errorf("dataset %q: %w", dataset, store.ErrNotFound)
	}
	return out, nil
}

func eraseFrom(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring, v store.Version,
	ids []string) (Erased, error) {
	e := Erased{Dataset: v.Dataset}
	for _, id := range ids {
		tok, err := subjectToken(ring, v, id)
		if err != nil {
			return e, err
		}
		e.Tokens = append(e.Tokens, tok)
	}
	lock, err := lockDataset(DatasetDir(cat.Dir(), v.Dataset))
	if err != nil {
		return e, err
	}
	defer lock.unlock()

	db, err := sql.Open("duckdb", "")
	if err != nil {
		return e, err
	}
	defer db.Close()
	in := tokenList(e.Tokens)
	// count reads a version's rows of the subjects; a shredded version
	// holds no one any more.
	count := func(v store.Version) (int64, []string, error) {
		files, _ := filepath.Glob(filepath.Join(cat.Dir(), v.Path, "data", "*.parquet"))
		if len(files) == 0 || v.DataKey.Shredded() {
			return 0, nil, nil
		}
		dk, err := VersionKey(ring, v)
		if err != nil {
			return 0, nil, err
		}
		src, forget, err := dk.Scan(ctx, sqlExec(db), files)
		if err != nil {
			return 0, nil, err
		}
		defer forget()
		var n int64
		err = db.QueryRowContext(ctx, "SELECT count(*) FROM "+src+" WHERE "+
			quoteIdent(v.PrivacyUnit)+" IN "+in).Scan(&n)
		if err != nil {
			return 0, nil, fmt.Errorf("counting rows: %w", readError(err))
		}
		return n, files, nil
	}

	// Republish the current version without the subjects.
	n, files, err := count(v)
	if err != nil {
		return e, err
	}
	if n > 0 {
		next, err := republish(ctx, cat, ring, v, files, in)
		if err != nil {
			return e, err
		}
		e.Version, e.Rows = next, n
	}

	// Shred, then delete, every older version that holds them.
	versions, err := cat.Versions(ctx, v.Dataset)
	if err != nil {
		return e, err
	}
	for _, old := range versions {
		if old.Version == v.Version && e.Version == 0 || old.Version > v.Version {
			continue
		}
		n, _, err := count(old)
		if err != nil {
			return e, err
		}
		if n == 0 && old.Version != v.Version {
			continue
		}
		if err := cat.ShredDataKey(ctx, old.Dataset, old.Version, time.Now()); err != nil {
			return e, err
		}
		for _, sub := range []string{"data", "quarantine"} {
			if err := os.RemoveAll(filepath.Join(cat.Dir(), old.Path, sub)); err != nil {
				return e, fmt.Errorf("deleting superseded files: %w", err)
			}
		}
		e.Purged = append(e.Purged, old.Version)
	}
	return e, nil
}

func tokenList(tokens []string) string {
	q := make([]string, len(tokens))
	for i, t := range tokens {
		q[i] = quoteString(t)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// republish writes version next of v's dataset without the rows (and
// quarantine entries) of the tokens in, under a fresh data key unless v
// was plain, and publishes it atomically.
func republish(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring, v store.Version,
	files []string, in string) (int, error) {
	next, err := cat.NextVersion(ctx, v.Dataset)
	if err != nil {
		return 0, err
	}
	oldKey, err := VersionKey(ring, v)
	if err != nil {
		return 0, err
	}
	var newKey DataKey
	var wrapped store.DataKey
	if v.Encryption != store.EncryptionNone {
		if newKey, wrapped, err = newDataKey(ring, v.Dataset, next); err != nil {
			return 0, err
		}
	}
	dir := DatasetDir(cat.Dir(), v.Dataset)
	if err := cleanLeftovers(dir, next); err != nil {
		return 0, err
	}
	tmp := filepath.Join(dir, ".tmp-"+newRunID())
	published := false
	defer func() {
		if !published {
			os.RemoveAll(tmp)
		}
	}()

	db, err := duckstream.Open(map[string]string{"memory_limit": "256MB"})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	copyWithout := func(src []string, name, where string, plain []string) (FileInfo, error) {
		scan, forget, err := oldKey.Scan(ctx, db.Exec, src)
		if err != nil {
			return FileInfo{}, err
		}
		defer forget()
		r, err := db.Query(ctx, "SELECT * FROM "+scan+" WHERE "+where)
		if err != nil {
			return FileInfo{}, fmt.Errorf("rewriting: %w", readError(err))
		}
		defer r.Release()
		sink, err := newParquetSink(tmp, name, r.Schema(), plain, newKey, memory.DefaultAllocator)
		if err != nil {
			return FileInfo{}, err
		}
		for r.Next() {
			if err := sink.write(r.RecordBatch()); err != nil {
				sink.abort()
				return FileInfo{}, err
			}
		}
		if err := r.Err(); err != nil {
			sink.abort()
			return FileInfo{}, fmt.Errorf("rewriting: %s", firstLine(err))
		}
		return sink.close()
	}

	data, err := copyWithout(files, "data/part-00000.parquet",
		quoteIdent(v.PrivacyUnit)+" NOT IN "+in, []string{v.PrivacyUnit})
	if err != nil {
		return 0, err
	}
	m := &Manifest{Job: "erasure", RunID: newRunID(), Status: StatusPublished, Dataset: v.Dataset,
		Version: next, StartedAt: time.Now().UTC(), KeyName: v.KeyName, KeyID: v.KeyID,
		Encryption: v.Encryption, MasterKeyID: wrapped.MasterKeyID,
		PolicyHash: v.PolicyHash, Columns: v.Columns, Files: []FileInfo{data}}
	quar, _ := filepath.Glob(filepath.Join(cat.Dir(), v.Path, "quarantine", "*.parquet"))
	if len(quar) > 0 {
		q, err := copyWithout(quar, "quarantine/part-00000.parquet",
			"unit_token IS NULL OR unit_token NOT IN "+in, nil)
		if err != nil {
			return 0, err
		}
		m.Quarantine = []FileInfo{q}
	}
	m.Rows.Published = data.Rows
	m.FinishedAt = time.Now().UTC()
	if err := writeManifest(tmp, m); err != nil {
		return 0, err
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	nv := v
	nv.Version, nv.CreatedAt, nv.Path = next, m.FinishedAt, VersionDir(v.Dataset, next)
	nv.Rows, nv.Manifest, nv.DataKey = data.Rows, manifest, wrapped
	if err := publish(ctx, cat, tmp, nv, nil); err != nil {
		return 0, err
	}
	published = true
	return next, nil
}
