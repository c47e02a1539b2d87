package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"haze/anonymize"
	"haze/store"
)

// ErrNeedsSource is returned by Rekey for a dataset with pseudonymized
// columns: an HMAC token cannot be moved to another key without the
// value it was made from, so only a new run from the export can.
var ErrNeedsSource = errors.New("pseudonymized columns need the source to move to a new key")

// Rekeyed says what Rekey did to a dataset.
type Rekeyed struct {
	Dataset string `json:"dataset"`
	// From is the version rekeyed; Version the one published, 0 when From
	// was already under the primary key and nothing was done.
	From    int `json:"from_version"`
	Version int `json:"version"`
	// FromKey and ToKey are the IDs of the old and new keys.
	FromKey string `json:"from_key"`
	ToKey   string `json:"to_key"`
	// Columns are the encrypt columns whose tokens were made anew.
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
}

// Rekey moves the current version of a dataset to the primary key of its
// key name, after a rotation: the tokens of its encrypt columns (and the
// privacy unit's tokens in its quarantine) are decrypted under the key the
// version records and encrypted under the primary key, and the result is
// published atomically as a new version that records the new key ID.
// Tokens under the new key equal those a new run under it would make, so
// joins with newer datasets keep working. Older versions are left as they
// are, readable with the old key.
//
// A dataset with a pseudonymized column gives an error wrapping
// ErrNeedsSource. A dataset already under the primary key is left alone
// (Rekeyed.Version is 0), so Rekey can be repeated. The keyring must hold
// both keys; a token that does not open gives an error wrapping
// anonymize.ErrBadToken and nothing is published.
func Rekey(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring, dataset string) (
	Rekeyed, error) {
	r := Rekeyed{Dataset: dataset}
	lock, err := lockDataset(DatasetDir(cat.Dir(), dataset))
	if err != nil {
		return r, fmt.Errorf("dataset %s: %w", dataset, err)
	}
	defer lock.unlock()
	v, err := cat.Current(ctx, dataset)
	if err != nil {
		return r, err
	}
	r.From, r.FromKey = v.Version, v.KeyID

	// Only encrypt tokens can be moved without the source.
	for _, c := range v.Columns {
		switch c.Action {
		case anonymize.ActionPseudonymize:
			return r, fmt.Errorf("column %s is pseudonymized: re-run the job from the source "+
				"to move it to the new key: %w", c.Name, ErrNeedsSource)
		case anonymize.ActionEncrypt:
			r.Columns = append(r.Columns, c.Name)
		}
	}

	oldKey, err := ring.KeyByID(v.KeyID)
	if err != nil {
		return r, fmt.Errorf("the keyring does not hold the key the dataset used: %w", err)
	}
	newKey, err := ring.Key(v.KeyName)
	if err != nil {
		return r, err
	}
	r.ToKey = newKey.ID()
	if newKey.ID() == oldKey.ID() {
		return r, nil
	}
	from, err := anonymize.NewEncrypter(oldKey)
	if err != nil {
		return r, err
	}
	to, err := anonymize.NewEncrypter(newKey)
	if err != nil {
		return r, err
	}

	rw := versionRewrite{job: "rekey", key: &newKey,
		mapData: reencryptColumns(r.Columns, from, to)}
	if v.PrivacyUnit != "" && isEncrypted(v, v.PrivacyUnit) {
		rw.mapQuarantine = reencryptColumns([]string{"unit_token"}, from, to)
	}
	nv, err := rewriteVersion(ctx, cat, ring, v, rw)
	if err != nil {
		return r, err
	}
	r.Version, r.Rows = nv.Version, nv.Rows
	return r, nil
}

func isEncrypted(v store.Version, column string) bool {
	for _, c := range v.Columns {
		if c.Name == column {
			return c.Action == anonymize.ActionEncrypt
		}
	}
	return false
}

// reencryptColumns returns a batch mapping that makes the tokens of the
// named columns anew under to; other columns are shared with the input.
func reencryptColumns(names []string, from, to *anonymize.Encrypter) func(arrow.RecordBatch) (
	arrow.RecordBatch, error) {
	return func(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		cols := make([]arrow.Array, rec.NumCols())
		defer func() {
			for _, c := range cols {
				if c != nil {
					c.Release()
				}
			}
		}()
		for i := range cols {
			name := rec.ColumnName(i)
			if !slices.Contains(names, name) {
				cols[i] = rec.Column(i)
				cols[i].Retain()
				continue
			}
			out, err := anonymize.Reencrypt(memory.DefaultAllocator, rec.Column(i), from, to)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", name, err)
			}
			cols[i] = out
		}
		return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
	}
}
