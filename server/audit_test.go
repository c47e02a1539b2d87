package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"haze/store"
)

// verifyResult is the body of GET /v1/audit/verify.
type verifyResult struct {
	Intact  bool                `json:"intact"`
	Entries int64               `json:"entries"`
	Head    string              `json:"head"`
	Problem *store.AuditProblem `json:"problem"`
}

// TestAuditVerifyTampered edits audit rows directly in the catalog and
// checks that GET /v1/audit/verify reports the chain broken at the entry.
func TestAuditVerifyTampered(t *testing.T) {
	tests := []struct {
		name   string
		update string // edits the entry with seq = ?
		kind   string
	}{
		{"detail", `UPDATE audit SET detail = 'nothing happened' WHERE seq = ?`, store.AuditEdited},
		{"epsilon", `UPDATE audit SET epsilon = 0 WHERE seq = ?`, store.AuditEdited},
		{"outcome", `UPDATE audit SET outcome = 'refused' WHERE seq = ?`, store.AuditEdited},
		{"removed", `DELETE FROM audit WHERE seq = ?`, store.AuditRemoved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			admin := e.keys[store.RoleAdmin]

			// Some history: a denied call, an answered query, an admin read.
			e.do(request{method: "GET", path: "/v1/keys"})
			e.do(request{method: "POST", path: "/v1/query", key: e.keys[store.RoleAnalyst],
				body: cabinQuery(countByCabin, 0.4)})
			resp, body := e.do(request{method: "GET", path: "/v1/audit/verify", key: admin})
			var before verifyResult
			if err := json.Unmarshal(body, &before); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("verify: got %d %s (%v)", resp.StatusCode, body, err)
			}
			if !before.Intact || before.Entries < 2 || before.Problem != nil {
				t.Fatalf("verify before tampering: got %s, want intact with entries", body)
			}

			// Tamper with the query's entry: the one that spent ε.
			var seq int64
			if err := e.cat.DB().QueryRow(`SELECT seq FROM audit WHERE action = 'query'
				AND epsilon > 0`).Scan(&seq); err != nil {
				t.Fatalf("finding the query's entry: %v", err)
			}
			if _, err := e.cat.DB().Exec(tt.update, seq); err != nil {
				t.Fatalf("tampering: %v", err)
			}

			resp, body = e.do(request{method: "GET", path: "/v1/audit/verify", key: admin})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("verify: got %d, want 200 (body %s)", resp.StatusCode, body)
			}
			var got verifyResult
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if got.Intact || got.Problem == nil || got.Problem.Seq != seq || got.Problem.Kind != tt.kind {
				t.Fatalf("verify after tampering: got %s, want intact false, %s at entry %d",
					body, tt.kind, seq)
			}
			if strings.Contains(string(body), countByCabin) {
				t.Errorf("verify answer quotes the query: %s", body)
			}
		})
	}
}
