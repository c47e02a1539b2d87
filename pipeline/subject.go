package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"

	"haze/anonymize"
	"haze/store"
)

// SubjectRows is how many rows of one dataset version hold a data subject.
type SubjectRows struct {
	Dataset string `json:"dataset"`
	Version int    `json:"version"`
	Current bool   `json:"current"`
	Rows    int64  `json:"rows"`
}

// FindSubject reports, for every version of every dataset, how many rows
// hold the subject with the clear identifier id (GDPR Art. 15 access). It
// computes the subject's token under each dataset's key, as that
// dataset's privacy unit policy prepared it, and counts matching rows; it
// reads no other subject's data and prints no token.
func FindSubject(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring, id string) (
	[]SubjectRows, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	current, err := cat.Datasets(ctx)
	if err != nil {
		return nil, err
	}

	var out []SubjectRows
	for _, cv := range current {
		versions, err := cat.Versions(ctx, cv.Dataset)
		if err != nil {
			return nil, err
		}
		for _, v := range versions {
			token, err := subjectToken(ring, v, id)
			if err != nil {
				return nil, fmt.Errorf("dataset %s version %d: %w", v.Dataset, v.Version, err)
			}
			files := subjectFiles(cat, v)
			if files == nil {
				continue
			}
			n, err := countVersionRows(ctx, db, ring, v, files, quoteIdent(v.PrivacyUnit)+" = ?", token)
			if err != nil {
				return nil, fmt.Errorf("dataset %s version %d: %w", v.Dataset, v.Version, err)
			}
			out = append(out, SubjectRows{Dataset: v.Dataset, Version: v.Version,
				Current: v.Version == cv.Version, Rows: n})
		}
	}
	return out, nil
}

// countVersionToken counts the rows of version v whose column holds
// token; a version whose files are gone or shredded holds no one.
func countVersionToken(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring,
	v store.Version, column, token string) (int64, error) {
	files := subjectFiles(cat, v)
	if files == nil {
		return 0, nil
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return countVersionRows(ctx, db, ring, v, files, quoteIdent(column)+" = ?", token)
}

// countVersionRows counts the rows of version v, in files, that match the SQL
// condition where with its args.
func countVersionRows(ctx context.Context, db *sql.DB, ring *anonymize.Keyring, v store.Version,
	files []string, where string, args ...any) (int64, error) {
	dk, err := VersionKey(ring, v)
	if err != nil {
		return 0, err
	}
	src, forget, err := dk.Scan(ctx, sqlExec(db), files)
	if err != nil {
		return 0, err
	}
	defer forget()
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+src+" WHERE "+where,
		args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting rows: %w", readError(err))
	}
	return n, nil
}

// dataFiles lists the data files of version v: none when they are gone.
func dataFiles(cat *store.Catalog, v store.Version) []string {
	files, _ := filepath.Glob(filepath.Join(cat.Dir(), v.Path, "data", "*.parquet"))
	return files
}

// subjectFiles lists the data files of version v that can still hold a
// subject: none when they are gone or the version's key is shredded.
func subjectFiles(cat *store.Catalog, v store.Version) []string {
	if v.DataKey.Shredded() {
		return nil
	}
	return dataFiles(cat, v)
}

// subjectToken is id's token as a version's privacy unit column holds it.
func subjectToken(ring *anonymize.Keyring, v store.Version, id string) (string, error) {
	// The key the version was written with, which need not be its name's
	// primary key any more after a rotation.
	key, err := ring.KeyByID(v.KeyID)
	if err != nil {
		return "", fmt.Errorf("the keyring does not hold the key the dataset used: %w", err)
	}
	for _, c := range v.Columns {
		if c.Name != v.PrivacyUnit {
			continue
		}
		var p anonymize.Policy
		if err := json.Unmarshal(c.Policy, &p); err != nil {
			return "", fmt.Errorf("privacy unit policy: %w", err)
		}
		t, err := p.Compile(key, v.CreatedAt)
		if err != nil {
			return "", err
		}
		tok, err := t.Value(id)
		if err != nil {
			return "", err
		}
		return tok.(string), nil
	}
	return "", fmt.Errorf("privacy unit column %s is not in the catalog", v.PrivacyUnit)
}
