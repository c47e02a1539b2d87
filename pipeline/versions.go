package pipeline

import (
	"context"
	"errors"
	"time"

	"haze/anonymize"
	"haze/store"
)

// States of a dataset version's files, as VersionStates reports them.
const (
	StateReadable = "readable"      // files present, data key opens
	StatePlain    = "plain"         // files present, unencrypted
	StateShredded = "shredded"      // data key destroyed: no copy can be read
	StateDeleted  = "files deleted" // key kept but the files are gone
	StateNoKey    = "master missing"
)

// VersionState describes one version for operators: whether its files
// exist and can still be read.
type VersionState struct {
	Version     int       `json:"version"`
	Current     bool      `json:"current"`
	CreatedAt   time.Time `json:"created_at"`
	Rows        int64     `json:"rows"`
	Encryption  string    `json:"encryption"`
	MasterKeyID string    `json:"master_key_id,omitempty"`
	ShreddedAt  time.Time `json:"shredded_at,omitzero"`
	State       string    `json:"state"`
}

// VersionStates lists every version of dataset, oldest first, with its
// state. ring may be nil: encrypted versions then show whether their key
// is still held, without opening it.
func VersionStates(ctx context.Context, cat *store.Catalog, ring *anonymize.Keyring,
	dataset string) ([]VersionState, error) {
	current, err := cat.Current(ctx, dataset)
	if err != nil {
		return nil, err
	}
	versions, err := cat.Versions(ctx, dataset)
	if err != nil {
		return nil, err
	}
	out := make([]VersionState, len(versions))
	for i, v := range versions {
		s := VersionState{Version: v.Version, Current: v.Version == current.Version,
			CreatedAt: v.CreatedAt, Rows: v.Rows, Encryption: v.Encryption,
			MasterKeyID: v.DataKey.MasterKeyID, ShreddedAt: v.DataKey.ShreddedAt}
		files := dataFiles(cat, v)
		_, keyErr := VersionKey(ring, v)
		switch {
		case v.DataKey.Shredded():
			s.State = StateShredded
		case len(files) == 0:
			s.State = StateDeleted
		case v.Encryption == store.EncryptionNone:
			s.State = StatePlain
		case ring != nil && errors.Is(keyErr, anonymize.ErrUnknownKey):
			s.State = StateNoKey
		case ring != nil && keyErr != nil:
			s.State = "unreadable: " + keyErr.Error()
		default:
			s.State = StateReadable
		}
		out[i] = s
	}
	return out, nil
}
