package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
	"haze/internal/duckstream"
	"haze/store"
)

// versionRewrite says how rewriteVersion makes the next version of a
// dataset from its current one. The zero value copies every row.
type versionRewrite struct {
	// job names the rewrite in the new version's manifest. Required.
	job string
	// dataWhere and quarantineWhere are SQL conditions on the rows of the
	// data and quarantine files that are kept; "" keeps them all.
	dataWhere, quarantineWhere string
	// mapData and mapQuarantine, when set, turn each batch read into the
	// batch written, of the same schema; the caller releases both.
	mapData, mapQuarantine func(arrow.RecordBatch) (arrow.RecordBatch, error)
	// key, when set, is the key the new version records; by default the
	// version keeps the key of the one it is made from.
	key *anonymize.Key
	// hook is passed to publish; nil in production.
	hook func(stage string)
}

// rewriteVersion writes the next version of v's dataset from v's files,
// batch by batch (memory stays bounded), as rw says, and publishes it
// atomically as a run does: readers see v until the catalog commits, and
// a crash leaves a folder that the next publish removes. Call it with the
// dataset's lock held. The new version is encrypted under a fresh data
// key unless v was plain. It returns the version published.
func rewriteVersion(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring,
	v store.Version, rw versionRewrite) (store.Version, error) {
	next, err := cat.NextVersion(ctx, v.Dataset)
	if err != nil {
		return store.Version{}, err
	}
	keys := rewriteKeys{}
	if keys.from, err = VersionKey(ring, v); err != nil {
		return store.Version{}, err
	}
	if v.Encryption != store.EncryptionNone {
		if keys.to, keys.wrapped, err = newDataKey(ring, v.Dataset, next); err != nil {
			return store.Version{}, err
		}
	}
	dir := DatasetDir(cat.Dir(), v.Dataset)
	if err := cleanLeftovers(dir, next); err != nil {
		return store.Version{}, err
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
		return store.Version{}, err
	}
	defer db.Close()

	// Token columns are written as runs write them (see newParquetSink).
	var plain []string
	for _, c := range v.Columns {
		if anonymize.Tokenizing(c.Action) {
			plain = append(plain, c.Name)
		}
	}
	files := dataFiles(cat, v)
	if len(files) == 0 {
		return store.Version{}, fmt.Errorf("version %d has no data files", v.Version)
	}
	data, err := rewriteFiles(ctx, db, keys, files, rw.dataWhere, rw.mapData, tmp,
		"data/part-00000.parquet", plain)
	if err != nil {
		return store.Version{}, err
	}

	nv := v
	if rw.key != nil {
		nv.KeyName, nv.KeyID = rw.key.Name(), rw.key.ID()
	}
	m := &Manifest{Job: rw.job, RunID: newRunID(), Status: StatusPublished, Dataset: v.Dataset,
		Version: next, StartedAt: time.Now().UTC(), KeyName: nv.KeyName, KeyID: nv.KeyID,
		Encryption: v.Encryption, MasterKeyID: keys.wrapped.MasterKeyID,
		PolicyHash: v.PolicyHash, Columns: v.Columns, Files: []FileInfo{data}}
	quar, _ := filepath.Glob(filepath.Join(cat.Dir(), v.Path, "quarantine", "*.parquet"))
	if len(quar) > 0 {
		q, err := rewriteFiles(ctx, db, keys, quar, rw.quarantineWhere, rw.mapQuarantine, tmp,
			"quarantine/part-00000.parquet", nil)
		if err != nil {
			return store.Version{}, err
		}
		m.Quarantine = []FileInfo{q}
	}
	m.Rows.Published = data.Rows
	m.FinishedAt = time.Now().UTC()
	if err := writeManifest(tmp, m); err != nil {
		return store.Version{}, err
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return store.Version{}, fmt.Errorf("encoding manifest: %w", err)
	}

	nv.Version, nv.CreatedAt, nv.Path = next, m.FinishedAt, VersionDir(v.Dataset, next)
	nv.Rows, nv.Manifest, nv.DataKey = data.Rows, manifest, keys.wrapped
	if err := publish(ctx, cat, tmp, nv, rw.hook); err != nil {
		return store.Version{}, err
	}
	published = true
	return nv, nil
}

// rewriteKeys are the data keys of a rewrite: the old version's files are
// read with from, the new version's written with to, which the catalog
// keeps as wrapped.
type rewriteKeys struct {
	from, to DataKey
	wrapped  store.DataKey
}

// rewriteFiles copies the rows of files that satisfy where ("" for all)
// into one new Parquet file name in dir, through mapBatch when it is set.
func rewriteFiles(ctx context.Context, db *duckstream.DB, keys rewriteKeys, files []string,
	where string, mapBatch func(arrow.RecordBatch) (arrow.RecordBatch, error), dir, name string,
	plain []string) (FileInfo, error) {
	src, forget, err := keys.from.Scan(ctx, db.Exec, files)
	if err != nil {
		return FileInfo{}, err
	}
	defer forget()
	r, err := readVersionFiles(ctx, db, src, where)
	if err != nil {
		return FileInfo{}, err
	}
	defer r.Release()
	sink, err := newParquetSink(dir, name, r.Schema(), plain, keys.to, memory.DefaultAllocator)
	if err != nil {
		return FileInfo{}, err
	}
	write := func(rec arrow.RecordBatch) error {
		if mapBatch == nil {
			return sink.write(rec)
		}
		out, err := mapBatch(rec)
		if err != nil {
			return err
		}
		defer out.Release()
		return sink.write(out)
	}
	for r.Next() {
		if err := write(r.RecordBatch()); err != nil {
			sink.abort()
			return FileInfo{}, err
		}
	}
	if err := r.Err(); err != nil {
		sink.abort()
		return FileInfo{}, fmt.Errorf("rewriting: %w", readError(err))
	}
	return sink.close()
}

// readVersionFiles streams the rows of src, SQL reading a version's
// Parquet files (see DataKey.Scan), that satisfy where ("" for all). The
// caller releases the reader.
func readVersionFiles(ctx context.Context, db *duckstream.DB, src string,
	where string) (array.RecordReader, error) {
	q := "SELECT * FROM " + src
	if where != "" {
		q += " WHERE " + where
	}
	r, err := db.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("rewriting: %w", readError(err))
	}
	return r, nil
}
