package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"haze/store"
)

// ErrBusy is returned when another job is publishing the same dataset.
var ErrBusy = errors.New("another job is publishing this dataset")

// DatasetDir returns the folder of a dataset's versions in dataDir.
func DatasetDir(dataDir, dataset string) string {
	return filepath.Join(dataDir, "datasets", dataset)
}

// VersionDir returns the folder name of a version, relative to the data dir.
func VersionDir(dataset string, version int) string {
	return filepath.Join("datasets", dataset, "v"+strconv.Itoa(version))
}

// datasetLock is an exclusive lock on a dataset's folder, held while a
// job works on it. The operating system releases it if the process dies.
type datasetLock struct{ f *os.File }

func lockDataset(dir string) (*datasetLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating dataset folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking dataset: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, ErrBusy
	}
	return &datasetLock{f: f}, nil
}

func (l *datasetLock) unlock() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// cleanLeftovers removes what killed runs left behind: temporary folders,
// and version folders the catalog never recorded. Call with the lock held.
func cleanLeftovers(dir string, next int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading dataset folder: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		stale := strings.HasPrefix(name, ".tmp-")
		if v, err := strconv.Atoi(strings.TrimPrefix(name, "v")); err == nil &&
			strings.HasPrefix(name, "v") && v >= next {
			stale = true
		}
		if !stale {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("removing leftover %s: %w", name, err)
		}
	}
	return nil
}

// syncDir flushes a folder's entries to disk, so a rename in it survives a
// crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// publish moves the finished temporary folder to its version folder and
// records the version in the catalog. Until the catalog commits, readers
// see the previous version; a crash before then leaves a folder that the
// next run removes.
func publish(ctx context.Context, cat *store.Catalog, tmp string, v store.Version,
	hook func(string)) error {
	if hook == nil {
		hook = func(string) {}
	}
	final := filepath.Join(cat.Dir(), v.Path)
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("syncing output: %w", err)
	}
	hook("before-rename")
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("moving output into place: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("syncing dataset folder: %w", err)
	}
	hook("before-commit")
	if err := cat.Publish(ctx, v); err != nil {
		os.RemoveAll(final)
		return err
	}
	return nil
}
