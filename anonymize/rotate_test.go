package anonymize_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"haze/anonymize"
)

func TestRotateAddsPrimaryKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := anonymize.InitKeyring(path, []string{"crm", "loyalty"}); err != nil {
		t.Fatal(err)
	}
	before := loadRing(t, path)
	oldCRM, _ := before.Key("crm")
	oldLoyalty, _ := before.Key("loyalty")

	added, err := anonymize.Rotate(path, anonymize.PurposeToken, "crm")
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	after := loadRing(t, path)
	primary, _ := after.Key("crm")
	if primary.ID() != added.ID() || primary.ID() == oldCRM.ID() {
		t.Errorf("primary crm key after rotation = %s, want the new %s (old %s)", primary,
			added, oldCRM)
	}
	if k, err := after.KeyByID(oldCRM.ID()); err != nil || k.ID() != oldCRM.ID() {
		t.Errorf("KeyByID(old) = %v, %v; want the old key kept", k, err)
	}
	if k, _ := after.Key("loyalty"); k.ID() != oldLoyalty.ID() {
		t.Errorf("loyalty key = %s after rotating crm, want it unchanged %s", k, oldLoyalty)
	}
	if got := after.Names(); len(got) != 2 {
		t.Errorf("Names() = %v, want each name once", got)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode after rotation = %v (%v), want 0600", info.Mode().Perm(), err)
	}

	if _, err := anonymize.Rotate(path, anonymize.PurposeToken, "partners"); !errors.Is(err,
		anonymize.ErrUnknownKey) {
		t.Errorf("Rotate(unknown name) error = %v, want ErrUnknownKey", err)
	}
}

func TestRotateMasterAndRetire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := anonymize.InitKeyring(path, []string{"crm"}); err != nil {
		t.Fatal(err)
	}
	old, err := loadRing(t, path).Master()
	if err != nil {
		t.Fatalf("Master of a fresh keyring: %v", err)
	}
	dataKey, _ := anonymize.NewDataKey()
	wrapped, err := anonymize.WrapDataKey(old, dataKey, "bookings/1")
	if err != nil {
		t.Fatal(err)
	}

	added, err := anonymize.Rotate(path, anonymize.PurposeMaster, anonymize.MasterName)
	if err != nil {
		t.Fatalf("Rotate master: %v", err)
	}
	ring := loadRing(t, path)
	if m, _ := ring.Master(); m.ID() != added.ID() {
		t.Errorf("Master() = %s, want the new %s", m, added)
	}
	if err := anonymize.Retire(path, added.ID()); err == nil ||
		!strings.Contains(err.Error(), "primary") {
		t.Errorf("Retire(primary) error = %v, want a refusal naming the primary key", err)
	}

	// Rewrap under the new master, then retire the old one.
	oldKey, _ := ring.KeyByID(old.ID())
	plain, err := anonymize.UnwrapDataKey(oldKey, wrapped, "bookings/1")
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := anonymize.WrapDataKey(added, plain, "bookings/1")
	if err != nil {
		t.Fatal(err)
	}
	if err := anonymize.Retire(path, old.ID()); err != nil {
		t.Fatalf("Retire(old master): %v", err)
	}
	ring = loadRing(t, path)
	if _, err := ring.KeyByID(old.ID()); !errors.Is(err, anonymize.ErrUnknownKey) {
		t.Errorf("KeyByID(retired) error = %v, want ErrUnknownKey", err)
	}
	m, _ := ring.Master()
	got, err := anonymize.UnwrapDataKey(m, rewrapped, "bookings/1")
	if err != nil || !bytes.Equal(got, dataKey) {
		t.Errorf("unwrap after retiring the old master = %v; want the data key back", err)
	}
}

func TestRotateConcurrentKeepsEveryKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := anonymize.InitKeyring(path, []string{"crm"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := anonymize.Rotate(path, anonymize.PurposeToken, "crm"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(loadRing(t, path).Keys()); n != 1+8+1 {
		t.Errorf("keyring holds %d keys after 8 concurrent rotations, want 10", n)
	}
}

func TestWrapDataKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := anonymize.InitKeyring(path, []string{"crm"}); err != nil {
		t.Fatal(err)
	}
	ring := loadRing(t, path)
	master, _ := ring.Master()
	other, _ := anonymize.Rotate(path, anonymize.PurposeMaster, anonymize.MasterName)
	token, _ := ring.Key("crm")
	dataKey, _ := anonymize.NewDataKey()
	wrapped, err := anonymize.WrapDataKey(master, dataKey, "bookings/3")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, dataKey) {
		t.Fatal("wrapped key holds the data key in clear")
	}
	again, _ := anonymize.WrapDataKey(master, dataKey, "bookings/3")
	if bytes.Equal(again, wrapped) {
		t.Error("two wraps of one key are equal, want fresh nonces")
	}

	tests := []struct {
		name    string
		master  anonymize.Key
		wrapped []byte
		label   string
		ok      bool
	}{
		{"same master and label", master, wrapped, "bookings/3", true},
		{"other version's label", master, wrapped, "bookings/4", false},
		{"other master", other, wrapped, "bookings/3", false},
		{"flipped bit", master, flip(wrapped, len(wrapped)-1), "bookings/3", false},
		{"truncated", master, wrapped[:10], "bookings/3", false},
		{"empty", master, nil, "bookings/3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := anonymize.UnwrapDataKey(tt.master, tt.wrapped, tt.label)
			if tt.ok {
				if err != nil || !bytes.Equal(got, dataKey) {
					t.Errorf("Unwrap = %v, want the data key", err)
				}
				return
			}
			if !errors.Is(err, anonymize.ErrUnwrap) || got != nil {
				t.Errorf("Unwrap = %x, %v; want nil and ErrUnwrap", got, err)
			}
		})
	}
	if _, err := anonymize.WrapDataKey(token, dataKey, "x"); err == nil {
		t.Error("WrapDataKey under a token key succeeded, want a refusal")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func loadRing(t *testing.T, path string) *anonymize.Keyring {
	t.Helper()
	r, err := anonymize.LoadKeyring(path)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	return r
}
