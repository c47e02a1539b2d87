package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"haze/store"
)

func TestPublishRefusesEncryptedWithoutKey(t *testing.T) {
	cat := openCatalog(t)
	tests := []struct {
		name string
		edit func(*store.Version)
		want string
	}{
		{"no wrapped key", func(v *store.Version) { v.DataKey.Wrapped = nil }, "wrapped data key"},
		{"no master id", func(v *store.Version) { v.DataKey.MasterKeyID = "" }, "wrapped data key"},
		{"no encryption named", func(v *store.Version) { v.Encryption = "" }, "unknown encryption"},
		{"unknown encryption", func(v *store.Version) { v.Encryption = "rot13" }, "unknown encryption"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVersion("trips", 1)
			tt.edit(&v)
			err := cat.Publish(context.Background(), v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Publish = %v, want an error containing %q", err, tt.want)
			}
			if _, err := cat.Current(context.Background(), "trips"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Current after a refused publish = %v, want ErrNotFound", err)
			}
		})
	}

	plain := testVersion("trips", 1)
	plain.Encryption, plain.DataKey = store.EncryptionNone, store.DataKey{}
	if err := cat.Publish(context.Background(), plain); err != nil {
		t.Fatalf("Publish(plain) = %v", err)
	}
	got, err := cat.Current(context.Background(), "trips")
	if err != nil || got.Encryption != store.EncryptionNone || got.DataKey.Wrapped != nil {
		t.Errorf("plain version read back as %q with key %v (%v)", got.Encryption, got.DataKey, err)
	}
}

func TestRewrapShredAndKeyInUse(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	for v := 1; v <= 3; v++ {
		if err := cat.Publish(ctx, testVersion("trips", v)); err != nil {
			t.Fatal(err)
		}
	}
	shredAt := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if err := cat.ShredDataKey(ctx, "trips", 1, shredAt); err != nil {
		t.Fatalf("ShredDataKey: %v", err)
	}
	// Shredding twice changes nothing.
	if err := cat.ShredDataKey(ctx, "trips", 1, shredAt.Add(time.Hour)); err != nil {
		t.Fatalf("ShredDataKey again: %v", err)
	}

	var seen []int
	n, err := cat.RewrapDataKeys(ctx, func(v store.Version) (store.DataKey, error) {
		seen = append(seen, v.Version)
		return store.DataKey{MasterKeyID: "master:new", Wrapped: append([]byte("re-"),
			v.DataKey.Wrapped...)}, nil
	})
	if err != nil || n != 2 {
		t.Fatalf("RewrapDataKeys = %d, %v; want the 2 keys not shredded", n, err)
	}
	versions, err := cat.Versions(ctx, "trips")
	if err != nil {
		t.Fatal(err)
	}
	v1 := versions[0]
	if !v1.DataKey.Shredded() || v1.DataKey.Wrapped != nil || !v1.DataKey.ShreddedAt.Equal(shredAt) {
		t.Errorf("v1 key = %+v, want shredded at %v with nothing left", v1.DataKey, shredAt)
	}
	for _, v := range versions[1:] {
		want := []byte("re-wrapped-trips-" + string(rune('0'+v.Version)))
		if v.DataKey.MasterKeyID != "master:new" || !bytes.Equal(v.DataKey.Wrapped, want) ||
			v.DataKey.Shredded() {
			t.Errorf("v%d key = %+v, want rewrapped under master:new", v.Version, v.DataKey)
		}
	}

	// A failing rewrap leaves every key as it was.
	_, err = cat.RewrapDataKeys(ctx, func(v store.Version) (store.DataKey, error) {
		if v.Version == 3 {
			return store.DataKey{}, errors.New("no such master")
		}
		return store.DataKey{MasterKeyID: "master:other", Wrapped: []byte("x")}, nil
	})
	if err == nil {
		t.Fatal("RewrapDataKeys with a failing step = nil error")
	}
	after, _ := cat.Versions(ctx, "trips")
	if after[1].DataKey.MasterKeyID != "master:new" {
		t.Errorf("v2 master after a failed rewrap = %q, want master:new kept",
			after[1].DataKey.MasterKeyID)
	}

	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"master:new", true}, {"master:0a0b0c0d0e0f", false}, {"k2", true}, {"k1", true},
		{"nobody", false},
	} {
		got, err := cat.KeyInUse(ctx, tt.id)
		if err != nil || got != tt.want {
			t.Errorf("KeyInUse(%q) = %v, %v; want %v", tt.id, got, err, tt.want)
		}
	}
}
