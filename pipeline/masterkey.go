package pipeline

import (
	"context"
	"fmt"

	"haze/anonymize"
	"haze/store"
)

// RotateMaster adds a new master key to the keyring file at ringPath and
// rewraps every data key of cat under it, in one catalog transaction. No
// data file is rewritten. It returns the new master and how many data keys
// moved. When the rewrap fails the keys stay under their old masters, all
// of which are still in the keyring.
func RotateMaster(ctx context.Context, cat *store.Catalog, ringPath string) (anonymize.Key, int,
	error) {
	master, err := anonymize.Rotate(ringPath, anonymize.PurposeMaster, anonymize.MasterName)
	if err != nil {
		return anonymize.Key{}, 0, err
	}
	ring, err := anonymize.LoadKeyring(ringPath)
	if err != nil {
		return master, 0, err
	}
	n, err := cat.RewrapDataKeys(ctx, func(v store.Version) (store.DataKey, error) {
		return Rewrap(ring, master, v)
	})
	if err != nil {
		return master, 0, fmt.Errorf("rewrapping data keys under %s: %w", master.ID(), err)
	}
	return master, n, nil
}

// RetireKey removes the key with the given ID from the keyring file at
// ringPath once no version in cat needs it: neither written with it nor
// holding a data key it wraps. A keyring shared by several data dirs must
// be checked against each.
func RetireKey(ctx context.Context, cat *store.Catalog, ringPath, id string) error {
	used, err := cat.KeyInUse(ctx, id)
	if err != nil {
		return err
	}
	if used {
		return fmt.Errorf("key %s is still used by dataset versions in %s: rotate (and for a "+
			"master, rewrap) first", id, cat.Dir())
	}
	return anonymize.Retire(ringPath, id)
}
