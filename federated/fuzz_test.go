package federated

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzSubmit feeds the coordinator submissions decoded from arbitrary
// JSON, as a server would receive them: it must refuse each with one of
// its sentinel errors, never panic, and never accept a forgery.
func FuzzSubmit(f *testing.F) {
	ids := identities(f, 3)
	r := newRound(ids, "r1", fareStatistic(1))
	exact := make([]int64, r.Cells())
	contr := make([]bool, r.Cells())
	valid, err := Prepare(ids[0], r, exact, contr, WithoutNoise())
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := json.Marshal(valid)
	f.Add(seed)
	f.Add([]byte(`{"round_id":"r1","partner":"p1","values":[1,2],"signature":"AAAA"}`))
	f.Add([]byte(`{"round_id":"r1","round_hash":"` + r.Hash() + `","partner":"p2"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var s Submission
		if json.Unmarshal(data, &s) != nil {
			return
		}
		c := NewCoordinator(NewMemoryStore(), newClock().Now)
		if err := c.Open(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		err := c.Submit(context.Background(), s)
		if err == nil {
			// Only the valid submission itself, re-encoded, can pass.
			if s.Partner != valid.Partner || s.Verify(r) != nil {
				t.Fatalf("accepted a submission that does not verify: %+v", s)
			}
			return
		}
		for _, want := range []error{ErrUnknownRound, ErrUnknownPartner, ErrWrongHash,
			ErrMalformed, ErrBadSignature} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("got %v, want a sentinel error", err)
	})
}

// FuzzParseIdentity checks that identity files are parsed without panics
// and that anything accepted has matching keys.
func FuzzParseIdentity(f *testing.F) {
	id, err := NewIdentity("af")
	if err != nil {
		f.Fatal(err)
	}
	path := f.TempDir() + "/id.json"
	if err := id.Save(path); err != nil {
		f.Fatal(err)
	}
	loaded, err := LoadIdentity(path)
	if err != nil {
		f.Fatal(err)
	}
	data, _ := json.Marshal(identityFile{Version: 1, Name: "af", SignSeed: loaded.sign.Seed(),
		DHKey: loaded.dh.Bytes(), SignPub: id.Public().SignKey, DHPub: id.Public().DHKey})
	f.Add(data)
	f.Add([]byte(`{"version":1,"name":"af","sign_seed":"AAAA"}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseIdentity(data)
		if err != nil {
			if !errors.Is(err, ErrBadIdentity) {
				t.Fatalf("got %v, want %v", err, ErrBadIdentity)
			}
			return
		}
		if got.Public().Name == "" || len(got.Public().SignKey) != 32 {
			t.Fatalf("accepted an identity without keys: %v", got)
		}
	})
}
