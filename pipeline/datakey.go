package pipeline

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/parquet"

	"haze/anonymize"
	"haze/store"
)

// Sentinel errors of reading encrypted dataset versions.
var (
	// ErrShredded is returned for a version whose data key an erasure
	// destroyed: its files cannot be read by anyone.
	ErrShredded = errors.New("the version's data key was shredded")
	// ErrDataKey is returned when a version's files do not decrypt under the
	// data key the catalog holds for it (the files were swapped or damaged).
	ErrDataKey = errors.New("the files do not decrypt under the version's data key")
)

// DataKey is the key one dataset version's files are encrypted with, in
// memory for one run or read. The zero DataKey means plain files. Its
// String, Format and LogValue methods never show the key.
type DataKey struct {
	secret []byte
}

// Plain reports whether the key stands for unencrypted files.
func (k DataKey) Plain() bool { return len(k.secret) == 0 }

// String names the key without showing it.
func (k DataKey) String() string {
	if k.Plain() {
		return "datakey(plain)"
	}
	return "datakey(redacted)"
}

// Format implements fmt.Formatter: every verb prints String.
func (k DataKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer without the key.
func (k DataKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// newDataKey draws a fresh data key for a new version and wraps it under
// the keyring's master key for the catalog.
func newDataKey(ring *anonymize.Keyring, dataset string, version int) (DataKey, store.DataKey,
	error) {
	master, err := ring.Master()
	if err != nil {
		return DataKey{}, store.DataKey{}, err
	}
	secret, err := anonymize.NewDataKey()
	if err != nil {
		return DataKey{}, store.DataKey{}, err
	}
	wrapped, err := anonymize.WrapDataKey(master, secret, wrapLabel(dataset, version))
	if err != nil {
		return DataKey{}, store.DataKey{}, err
	}
	return DataKey{secret: secret}, store.DataKey{MasterKeyID: master.ID(), Wrapped: wrapped}, nil
}

// wrapLabel binds a wrapped key to its version, so it opens for no other.
func wrapLabel(dataset string, version int) string {
	return fmt.Sprintf("haze dataset %s version %d", dataset, version)
}

// VersionKey unwraps the data key of dataset version v with the master key
// of ring that wrapped it. A plain version gives the zero DataKey. Errors
// wrap ErrShredded, anonymize.ErrUnknownKey (the keyring lacks that
// master) or anonymize.ErrUnwrap (another keyring's master of that name).
func VersionKey(ring *anonymize.Keyring, v store.Version) (DataKey, error) {
	switch {
	case v.Encryption == store.EncryptionNone:
		return DataKey{}, nil
	case v.Encryption != store.EncryptionPME:
		return DataKey{}, fmt.Errorf("dataset %s version %d: unknown encryption %q", v.Dataset,
			v.Version, v.Encryption)
	case v.DataKey.Shredded():
		return DataKey{}, fmt.Errorf("dataset %s version %d: %w", v.Dataset, v.Version,
			ErrShredded)
	case ring == nil:
		return DataKey{}, fmt.Errorf("dataset %s version %d is encrypted: a keyring is needed",
			v.Dataset, v.Version)
	}
	master, err := ring.KeyByID(v.DataKey.MasterKeyID)
	if err != nil {
		return DataKey{}, fmt.Errorf("dataset %s version %d: master %w", v.Dataset, v.Version, err)
	}
	secret, err := anonymize.UnwrapDataKey(master, v.DataKey.Wrapped,
		wrapLabel(v.Dataset, v.Version))
	if err != nil {
		return DataKey{}, fmt.Errorf("dataset %s version %d: %w", v.Dataset, v.Version, err)
	}
	return DataKey{secret: secret}, nil
}

// Rewrap returns v's data key wrapped under master instead, for
// store.Catalog.RewrapDataKeys.
func Rewrap(ring *anonymize.Keyring, master anonymize.Key, v store.Version) (store.DataKey,
	error) {
	k, err := VersionKey(ring, v)
	if err != nil {
		return store.DataKey{}, err
	}
	wrapped, err := anonymize.WrapDataKey(master, k.secret, wrapLabel(v.Dataset, v.Version))
	if err != nil {
		return store.DataKey{}, err
	}
	return store.DataKey{MasterKeyID: master.ID(), Wrapped: wrapped}, nil
}

// fileEncryption returns the Parquet encryption of one new file: footer
// and every column under the data key, AES-GCM. A plain key gives nil.
// Each file needs its own properties.
func (k DataKey) fileEncryption() *parquet.FileEncryptionProperties {
	if k.Plain() {
		return nil
	}
	return parquet.NewFileEncryptionProperties(string(k.secret), parquet.WithAlg(parquet.AesGcm))
}

// ExecFunc runs one statement on a DuckDB connection.
type ExecFunc func(ctx context.Context, query string) error

// Scan hands the key to the DuckDB database exec runs on and returns SQL
// that reads files with it, and a function that withdraws the key again
// (DuckDB cannot forget a key, so it is overwritten with random bytes).
// The key is registered under a random name, so concurrent reads of other
// versions on the same database do not meet. A plain key registers
// nothing. Reading an encrypted version turns DuckDB's filter pushdown off
// on the whole database (see the TODO). Errors never carry the key.
func (k DataKey) Scan(ctx context.Context, exec ExecFunc, files []string) (string,
	func(), error) {
	if k.Plain() {
		return "read_parquet(" + fileListSQL(files) + ")", func() {}, nil
	}
	var id [8]byte
	rand.Read(id[:])
	name := "haze_" + hex.EncodeToString(id[:])
	register := func(ctx context.Context, secret []byte) error {
		return exec(ctx, "PRAGMA add_parquet_key("+quoteString(name)+", "+
			quoteString(base64.StdEncoding.EncodeToString(secret))+")")
	}
	if err := register(ctx, k.secret); err != nil {
		return "", nil, errors.New("duckdb refused the data key")
	}
	// TODO: DuckDB 2.0 (duckdb-go v2.20000.0) fails scans of encrypted
	// Parquet when a filter is pushed into them ("Computed AES tag
	// differs"), so the optimizers that push filters into scans are off on
	// any database that reads encrypted files; drop this once a DuckDB
	// release reads such scans.
	if err := exec(ctx, "SET GLOBAL disabled_optimizers = "+
		"'filter_pushdown,join_filter_pushdown,late_materialization'"); err != nil {
		return "", nil, fmt.Errorf("setting up duckdb: %w", err)
	}
	forget := func() {
		junk := make([]byte, anonymize.DataKeySize)
		rand.Read(junk)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		register(ctx, junk)
	}
	src := "read_parquet(" + fileListSQL(files) + ", encryption_config = {footer_key: " +
		quoteString(name) + "})"
	return src, forget, nil
}

// DecryptError turns DuckDB's error for files that do not open under the
// key given into one wrapping ErrDataKey; other errors are returned as
// they are.
func DecryptError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "AES tag") || strings.Contains(msg, "is encrypted") ||
		strings.Contains(msg, "encryption") {
		return ErrDataKey
	}
	return err
}

// sqlExec adapts a database/sql DuckDB database to ExecFunc.
func sqlExec(db *sql.DB) ExecFunc {
	return func(ctx context.Context, query string) error {
		_, err := db.ExecContext(ctx, query)
		return err
	}
}

// readError shortens a DuckDB error from reading dataset files to its
// first line, keeping ErrDataKey recognisable.
func readError(err error) error {
	if errors.Is(DecryptError(err), ErrDataKey) {
		return ErrDataKey
	}
	return errors.New(firstLine(err))
}
