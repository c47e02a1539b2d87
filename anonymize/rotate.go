package anonymize

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Rotate adds a fresh key to the keyring file at path and returns it. For
// PurposeToken the keyring must already hold a key of that name; the new
// key becomes its primary key, so later jobs use it, while datasets keep
// the ID of the key they were written with. For PurposeMaster name must be
// MasterName; the new key becomes the master that wraps new data keys.
//
// The file is rewritten atomically (a temporary file renamed over it, mode
// 0600) under an exclusive lock, so concurrent rotations do not lose keys.
func Rotate(path, purpose, name string) (Key, error) {
	var added Key
	err := rewrite(path, func(r *Keyring) error {
		switch purpose {
		case PurposeToken:
			if _, err := r.Key(name); err != nil {
				return err
			}
		case PurposeMaster:
			if name != MasterName {
				return fmt.Errorf("master keys are named %q, not %q", MasterName, name)
			}
		default:
			return fmt.Errorf("unknown key purpose %q", purpose)
		}
		k, err := generateKey(purpose, name, time.Now().UTC().Truncate(time.Second))
		if err != nil {
			return err
		}
		r.keys = append(r.keys, k)
		added = k
		return nil
	})
	return added, err
}

// Retire removes the key with the given ID from the keyring file at path.
// A primary key cannot be retired; callers check first that nothing still
// needs the key (no dataset version uses it).
func Retire(path, id string) error {
	return rewrite(path, func(r *Keyring) error {
		k, err := r.KeyByID(id)
		if err != nil {
			return err
		}
		if p, _ := r.primary(k.purpose, k.name); p.id == id {
			return fmt.Errorf("key %s is the primary %s key of %q: rotate before retiring it",
				id, k.purpose, k.name)
		}
		for i := range r.keys {
			if r.keys[i].id == id {
				r.keys = append(r.keys[:i], r.keys[i+1:]...)
				break
			}
		}
		return nil
	})
}

// rewrite loads the keyring at path under an exclusive lock, lets change
// edit it, and replaces the file atomically.
func rewrite(path string, change func(*Keyring) error) error {
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("locking keyring: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking keyring: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	r, err := LoadKeyring(path)
	if err != nil {
		return err
	}
	if err := change(r); err != nil {
		return err
	}
	data, err := r.encode()
	if err != nil {
		return err
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("writing keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing keyring: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing keyring: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		err = errors.Join(d.Sync(), d.Close())
		if err != nil {
			return fmt.Errorf("syncing keyring folder: %w", err)
		}
	}
	return nil
}
