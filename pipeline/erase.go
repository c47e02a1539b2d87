package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"haze/anonymize"
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
	return eraseSubjects(ctx, cat, ring, ids, dataset, nil)
}

// eraseSubjects is EraseSubjects with a hook that tests use to stop it at
// named points: those of publish, and "before-purge" once the new version
// is published and before older files are deleted.
func eraseSubjects(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring, ids []string,
	dataset string, hook func(string)) ([]Erased, error) {
	current, err := cat.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	var out []Erased
	for _, v := range current {
		if dataset != "" && v.Dataset != dataset {
			continue
		}
		e, err := eraseFrom(ctx, cat, ring, v, ids, hook)
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
	ids []string, hook func(string)) (Erased, error) {
	if hook == nil {
		hook = func(string) {}
	}
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
	count := func(v store.Version) (int64, error) {
		files := subjectFiles(cat, v)
		if files == nil {
			return 0, nil
		}
		return countVersionRows(ctx, db, ring, v, files, quoteIdent(v.PrivacyUnit)+" IN "+in)
	}

	// Republish the current version without the subjects.
	n, err := count(v)
	if err != nil {
		return e, err
	}
	if n > 0 {
		nv, err := rewriteVersion(ctx, cat, ring, v, versionRewrite{job: "erasure",
			dataWhere:       quoteIdent(v.PrivacyUnit) + " NOT IN " + in,
			quarantineWhere: "unit_token IS NULL OR unit_token NOT IN " + in,
			hook:            hook})
		if err != nil {
			return e, err
		}
		e.Version, e.Rows = nv.Version, n
	}
	hook("before-purge")

	// Shred, then delete, every older version that holds them.
	versions, err := cat.Versions(ctx, v.Dataset)
	if err != nil {
		return e, err
	}
	for _, old := range versions {
		if old.Version == v.Version && e.Version == 0 || old.Version > v.Version {
			continue
		}
		n, err := count(old)
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
