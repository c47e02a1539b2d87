package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
	"haze/internal/duckstream"
	"haze/store"
)

// AssessRisk measures re-identification risk on the quasi-identifiers of
// spec over Parquet files, encrypted under dk, whose privacy unit column
// is unit. db is any DuckDB database; nothing is written.
func AssessRisk(ctx context.Context, db *sql.DB, dk DataKey, files []string, unit string,
	spec anonymize.RiskSpec) (anonymize.RiskReport, error) {
	r := anonymize.RiskReport{QuasiIdentifiers: spec.QuasiIdentifiers, K: spec.K,
		Sensitive: spec.Sensitive}
	if err := spec.Validate(); err != nil {
		return r, err
	}
	r.K = spec.K
	scan, forget, err := dk.Scan(ctx, sqlExec(db), files)
	if err != nil {
		return r, err
	}
	defer forget()
	cols, err := columnsOf(ctx, db, scan)
	if err != nil {
		return r, err
	}
	needed := []string{unit}
	for _, c := range append(slices.Clone(spec.QuasiIdentifiers), unit, spec.Sensitive) {
		if c != "" && !slices.Contains(cols, c) {
			return r, fmt.Errorf("risk: the dataset has no column %q (it has %s)", c,
				strings.Join(cols, ", "))
		}
		if c != "" && !slices.Contains(needed, c) {
			needed = append(needed, c)
		}
	}

	// The files are read (and decrypted) once, into a temporary table of
	// the columns the report needs, which the queries below scan.
	conn, err := db.Conn(ctx)
	if err != nil {
		return r, err
	}
	defer conn.Close()
	src := "haze_risk_" + newRunID()[16:]
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE "+src+" AS SELECT "+
		quotedList(needed)+" FROM "+scan); err != nil {
		return r, fmt.Errorf("risk: %w", readError(err))
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+src)

	qi := quotedList(spec.QuasiIdentifiers)
	k := strconv.FormatInt(spec.K, 10)
	diversity, minDiversity := "", "0"
	if spec.Sensitive != "" {
		diversity = ", count(DISTINCT " + quoteIdent(spec.Sensitive) + ") AS l"
		minDiversity = "coalesce(min(l), 0)"
	}
	q := `WITH c AS (SELECT count(*) AS n, count(DISTINCT ` + quoteIdent(unit) + `) AS people` +
		diversity + ` FROM ` + src + ` GROUP BY ` + qi + `)
		SELECT count(*), coalesce(min(people), 0), count(*) FILTER (WHERE people = 1),
		count(*) FILTER (WHERE people < ` + k + `),
		coalesce(sum(n) FILTER (WHERE people < ` + k + `), 0), coalesce(sum(n), 0), ` +
		minDiversity + ` FROM c`
	if err := conn.QueryRowContext(ctx, q).Scan(&r.Classes, &r.SmallestClass, &r.Unique,
		&r.ClassesBelowK, &r.RowsBelowK, &r.Rows, &r.MinDiversity); err != nil {
		return r, fmt.Errorf("risk: %w", readError(err))
	}

	key := classKey(spec.QuasiIdentifiers)
	q = `SELECT count(DISTINCT ` + quoteIdent(unit) + `), (SELECT count(DISTINCT ` +
		quoteIdent(unit) + `) FROM ` + src + `) FROM ` + src + ` WHERE ` + key + ` IN (` +
		smallClasses(src, unit, key, k) + `)`
	if err := conn.QueryRowContext(ctx, q).Scan(&r.PeopleBelowK, &r.People); err != nil {
		return r, fmt.Errorf("risk: %w", readError(err))
	}
	return r, nil
}

// classKey is an expression naming a row's equivalence class: the JSON of
// its quasi-identifiers as text, never NULL, so that NULLs form a class of
// their own as they do in GROUP BY.
func classKey(qis []string) string {
	parts := make([]string, len(qis))
	for i, q := range qis {
		parts[i] = "CAST(" + quoteIdent(q) + " AS VARCHAR)"
	}
	return "CAST(to_json(list_value(" + strings.Join(parts, ", ") + ")) AS VARCHAR)"
}

// smallClasses selects the keys of classes with fewer than k people.
func smallClasses(src, unit, key, k string) string {
	return `SELECT ` + key + ` AS class FROM ` + src + ` GROUP BY class HAVING count(DISTINCT ` +
		quoteIdent(unit) + `) < ` + k
}

func columnsOf(ctx context.Context, db *sql.DB, src string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT column_name FROM (DESCRIBE SELECT * FROM "+src+")")
	if err != nil {
		return nil, fmt.Errorf("risk: %w", readError(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func quotedList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quoteIdent(c)
	}
	return strings.Join(q, ", ")
}

func fileListSQL(files []string) string {
	q := make([]string, len(files))
	for i, f := range files {
		q[i] = quoteString(f)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// suppress rewrites the data files of a finished run without the rows of
// classes below k, and appends those rows to the quarantine (as their
// unit's token and a reason). It returns how many rows it moved.
func suppress(ctx context.Context, dir, unit string, spec anonymize.RiskSpec, files []FileInfo,
	dk DataKey, mem memory.Allocator) (moved int64, newFiles []FileInfo, quarantine FileInfo,
	err error) {
	db, err := duckstream.Open(map[string]string{"memory_limit": "256MB"})
	if err != nil {
		return 0, nil, FileInfo{}, err
	}
	defer db.Close()

	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f.Path)
	}
	src, forget, err := dk.Scan(ctx, db.Exec, paths)
	if err != nil {
		return 0, nil, FileInfo{}, err
	}
	defer forget()
	key := classKey(spec.QuasiIdentifiers)
	small := smallClasses(src, unit, key, strconv.FormatInt(spec.K, 10))
	if err := db.Exec(ctx, "CREATE TEMP TABLE haze_small AS "+small); err != nil {
		return 0, nil, FileInfo{}, fmt.Errorf("suppressing: %s", firstLine(err))
	}

	// Keep the rest in a new data file.
	kept, err := db.Query(ctx, "SELECT * FROM "+src+" WHERE "+key+" NOT IN (SELECT class FROM haze_small)")
	if err != nil {
		return 0, nil, FileInfo{}, fmt.Errorf("suppressing: %s", firstLine(err))
	}
	sink, err := newParquetSink(dir, "data/part-suppressed.parquet", kept.Schema(),
		[]string{unit}, dk, mem)
	if err != nil {
		kept.Release()
		return 0, nil, FileInfo{}, err
	}
	for kept.Next() {
		if err := sink.write(kept.RecordBatch()); err != nil {
			kept.Release()
			sink.abort()
			return 0, nil, FileInfo{}, err
		}
	}
	kept.Release()
	if err := kept.Err(); err != nil {
		sink.abort()
		return 0, nil, FileInfo{}, fmt.Errorf("suppressing: %s", firstLine(err))
	}
	info, err := sink.close()
	if err != nil {
		return 0, nil, FileInfo{}, err
	}

	// The suppressed rows go to quarantine as tokens and a reason.
	gone, err := db.Query(ctx, "SELECT "+quoteIdent(unit)+" FROM "+src+" WHERE "+key+
		" IN (SELECT class FROM haze_small)")
	if err != nil {
		return 0, nil, FileInfo{}, fmt.Errorf("suppressing: %s", firstLine(err))
	}
	defer gone.Release()
	quar, err := newParquetSink(dir, "quarantine/part-suppressed.parquet", quarantineSchema,
		nil, dk, mem)
	if err != nil {
		return 0, nil, FileInfo{}, err
	}
	qb := newQuarantineBuilder(mem)
	defer qb.release()
	reason := fmt.Sprintf("suppressed: equivalence class of fewer than %d people", spec.K)
	for gone.Next() {
		col := gone.RecordBatch().Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			qb.add(-1, "risk", "", reason, col.Value(i))
			moved++
		}
		if rec := qb.flush(); rec != nil {
			err := quar.write(rec)
			rec.Release()
			if err != nil {
				quar.abort()
				return 0, nil, FileInfo{}, err
			}
		}
	}
	if err := gone.Err(); err != nil {
		quar.abort()
		return 0, nil, FileInfo{}, fmt.Errorf("suppressing: %s", firstLine(err))
	}
	if quarantine, err = quar.close(); err != nil {
		return 0, nil, FileInfo{}, err
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			return 0, nil, FileInfo{}, fmt.Errorf("suppressing: %w", err)
		}
	}
	return moved, []FileInfo{info}, quarantine, nil
}

// AssessVersion measures re-identification risk on a published dataset
// version, opening its data key with ring when it is encrypted.
func AssessVersion(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring,
	v store.Version, spec anonymize.RiskSpec) (anonymize.RiskReport, error) {
	files := dataFiles(cat, v)
	if len(files) == 0 {
		return anonymize.RiskReport{}, fmt.Errorf("dataset %s version %d has no data files",
			v.Dataset, v.Version)
	}
	dk, err := VersionKey(ring, v)
	if err != nil {
		return anonymize.RiskReport{}, err
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return anonymize.RiskReport{}, err
	}
	defer db.Close()
	return AssessRisk(ctx, db, dk, files, v.PrivacyUnit, spec)
}
