package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"haze/anonymize"
	"haze/federated"
	"haze/pipeline"
	"haze/pipeline/synth"
	"haze/queries"
	"haze/store"
)

// partnerSide is one alliance partner: its own data dir, engine, identity
// and API key at the coordinator.
type partnerSide struct {
	name  string
	id    *federated.Identity
	key   string
	cat   *store.Catalog
	eng   *queries.Engine
	exact []int64
	contr []bool
}

// newPartner publishes a dataset of the partner's own synthetic export.
func newPartner(t *testing.T, e *env, name string, seed uint64) *partnerSide {
	t.Helper()
	dir := t.TempDir()
	ring, err := anonymize.InitKeyring(filepath.Join(dir, "keys", "keyring.json"), []string{testKeyName})
	if err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(dir, "exports", "crm.csv")
	if err := os.MkdirAll(filepath.Dir(export), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteFile(e.ctx, export, synth.Options{Rows: 1500, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	spec, err := pipeline.Parse([]byte(specText(export, testDataset)))
	if err != nil {
		t.Fatal(err)
	}
	p := &partnerSide{name: name}
	if p.cat, err = store.Open(e.ctx, filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cat.Close() })
	if _, err := pipeline.Run(e.ctx, spec, p.cat, pipeline.Options{Keyring: ring,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if p.eng, err = queries.NewEngine(p.cat, queries.Config{Keyring: ring}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.eng.Close() })
	if p.id, err = federated.NewIdentity(name); err != nil {
		t.Fatal(err)
	}
	p.key = e.createKey(name, store.RolePartner)

	resp, body := e.do(request{method: "POST", path: "/v1/partners", key: e.keys[store.RoleAdmin],
		body: p.id.Public()})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registering %s: got %d %s, want 201", name, resp.StatusCode, body)
	}
	return p
}

// prepare computes the partner's vector for the round the coordinator
// describes and returns its submission, without noise so the test can
// compare sums exactly.
func (p *partnerSide) prepare(t *testing.T, e *env, roundID string) federated.Submission {
	t.Helper()
	resp, body := e.do(request{method: "GET", path: "/v1/rounds/" + roundID, key: p.key})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reading round: got %d %s", resp.StatusCode, body)
	}
	var rec federated.Record
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Hash != rec.Round.Hash() {
		t.Fatalf("round hash %s does not match its description", rec.Hash)
	}
	var err error
	p.exact, p.contr, err = federated.LocalAggregate(e.ctx, p.eng, p.cat, rec.Round)
	if err != nil {
		t.Fatalf("local aggregate of %s: %v", p.name, err)
	}
	sub, err := federated.Prepare(p.id, rec.Round, p.exact, p.contr, federated.WithoutNoise())
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func (p *partnerSide) submit(e *env, sub federated.Submission) (*http.Response, []byte) {
	return e.do(request{method: "POST", path: "/v1/rounds/" + sub.RoundID + "/submissions",
		key: p.key, body: sub})
}

func TestFederatedRoundOverHTTP(t *testing.T) {
	e := newEnv(t, Config{})
	var parts []*partnerSide
	for i := range 5 {
		parts = append(parts, newPartner(t, e, fmt.Sprintf("airline-%d", i), uint64(40+i)))
	}

	// The admin opens a round over the five.
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	st := federated.Statistic{Dataset: testDataset, Scale: 2,
		Aggregates: []federated.Aggregate{{Kind: federated.KindCount},
			{Kind: federated.KindSum, Column: "fare_amount", Lo: 0, Hi: 10000},
			{Kind: federated.KindPeople}},
		Groups:               []federated.GroupKeys{{Column: "cabin", Keys: cabins}},
		MaxGroupsContributed: 2, MaxContributionsPerGroup: 2}
	resp, body := e.do(request{method: "POST", path: "/v1/rounds", key: e.keys[store.RoleAdmin],
		body: roundRequest{ID: "r-2026-11", Period: "2026-11", Partners: names, MinPartners: 3,
			Epsilon: 1, Delta: 1e-6, Statistic: st, Deadline: time.Now().Add(time.Hour)}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("opening round: got %d %s, want 201", resp.StatusCode, body)
	}

	subs := make([]federated.Submission, len(parts))
	for i, p := range parts {
		subs[i] = p.prepare(t, e, "r-2026-11")
	}

	// Two submit; the result is not ready; refusals on the way.
	for _, i := range []int{0, 1} {
		if resp, body := parts[i].submit(e, subs[i]); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submission %d: got %d %s, want 202", i, resp.StatusCode, body)
		}
	}
	resp, _ = e.do(request{method: "GET", path: "/v1/rounds/r-2026-11/result", key: parts[0].key})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("result before all submitted: got %d, want 409", resp.StatusCode)
	}
	forged := subs[2]
	forged.Values = append([]uint64(nil), forged.Values...)
	forged.Values[0]++
	refusals := []struct {
		name   string
		by     *partnerSide
		sub    federated.Submission
		status int
		code   string
	}{
		{"replay", parts[0], subs[0], http.StatusConflict, "duplicate_submission"},
		{"forged", parts[2], forged, http.StatusBadRequest, "bad_signature"},
		{"for another partner", parts[3], subs[2], http.StatusForbidden, "forbidden"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			resp, body := r.by.submit(e, r.sub)
			if resp.StatusCode != r.status || errorCode(body) != r.code {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, r.status, r.code)
			}
		})
	}
	for i := 2; i < len(parts); i++ {
		if resp, body := parts[i].submit(e, subs[i]); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submission %d: got %d %s, want 202", i, resp.StatusCode, body)
		}
	}

	// With noise off, the released totals are the sums of the partners'
	// own aggregates, cell by cell.
	resp, body = e.do(request{method: "GET", path: "/v1/rounds/r-2026-11/result",
		key: e.keys[store.RoleAnalyst]})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("result: got %d %s", resp.StatusCode, body)
	}
	var res federated.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Transcript) != 0 {
		t.Errorf("an analyst got the transcript of %d submissions", len(res.Transcript))
	}
	for i, c := range res.Cells {
		var want float64
		contributors := 0
		for _, p := range parts {
			unit := 1.0
			if c.Aggregate == 1 {
				unit = 0.01
			}
			want += float64(p.exact[i]) * unit
			if p.contr[i] {
				contributors++
			}
		}
		if math.Abs(c.Value-want) > 1e-6 || c.Contributors != contributors || c.Suppressed {
			t.Errorf("cell %v/%d: got %v from %d partners (suppressed %v), want %v from %d",
				c.Keys, c.Aggregate, c.Value, c.Contributors, c.Suppressed, want, contributors)
		}
	}

	// What the coordinator keeps never shows a partner's own vector.
	resp, body = e.do(request{method: "GET", path: "/v1/rounds/r-2026-11/result", key: parts[0].key})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("result for a partner: got %d", resp.StatusCode)
	}
	res = federated.Result{}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Transcript) != len(parts) {
		t.Fatalf("transcript holds %d submissions, want %d", len(res.Transcript), len(parts))
	}
	for _, sub := range res.Transcript {
		for _, p := range parts {
			if p.name != sub.Partner {
				continue
			}
			for i, v := range sub.Values {
				if v == uint64(p.exact[i]) {
					t.Errorf("%s's stored value in cell %d equals its exact value", p.name, i)
				}
			}
		}
	}
}

// errorCode returns the code of an error response body, or "".
func errorCode(body []byte) string {
	var b errorBody
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	return b.Error.Code
}
