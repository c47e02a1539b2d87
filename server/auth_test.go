package server

import (
	"crypto/rand"
	"encoding/base64"
	"haze/federated"
	"net/http"
	"slices"
	"strings"
	"testing"

	"haze/store"
)

// routeCall is how a test calls a route with a key of the right role, and
// the status that call answers.
type routeCall struct {
	path string // the route's path with its parameters filled in
	body any
	want int
}

// routeCalls gives a valid call for every route of the table, keyed by
// "METHOD path" as the table writes it.
func (e *env) routeCalls() map[string]routeCall {
	return map[string]routeCall{
		"GET /healthz":      {"/healthz", nil, http.StatusOK},
		"GET /readyz":       {"/readyz", nil, http.StatusOK},
		"GET /metrics":      {"/metrics", nil, http.StatusOK},
		"GET /openapi.json": {"/openapi.json", nil, http.StatusOK},

		"POST /v1/query":         {"/v1/query", cabinQuery(countByCabin, 0.1), http.StatusOK},
		"GET /v1/datasets":       {"/v1/datasets", nil, http.StatusOK},
		"GET /v1/datasets/:name": {"/v1/datasets/" + testDataset, nil, http.StatusOK},
		"GET /v1/budget":         {"/v1/budget", nil, http.StatusOK},

		// This server has no imports folder: it refuses every job.
		"POST /v1/jobs":    {"/v1/jobs", "name: x", http.StatusBadRequest},
		"GET /v1/jobs/:id": {"/v1/jobs/job_0123456789abcdef", nil, http.StatusNotFound},

		"GET /v1/keys": {"/v1/keys", nil, http.StatusOK},
		"POST /v1/keys": {"/v1/keys", map[string]string{"name": "fresh", "role": "analyst"},
			http.StatusCreated},
		"DELETE /v1/keys/:id": {"/v1/keys/" + e.spareID, nil, http.StatusOK},
		"GET /v1/grants":      {"/v1/grants", nil, http.StatusOK},
		"POST /v1/grants": {"/v1/grants", map[string]any{"name": "someone", "dataset": testDataset,
			"epsilon": 1}, http.StatusOK},
		"GET /v1/caps": {"/v1/caps", nil, http.StatusOK},
		"POST /v1/caps": {"/v1/caps", map[string]any{"dataset": testDataset, "epsilon": 100},
			http.StatusOK},
		"POST /v1/partners":         {"/v1/partners", newPartnerRecord(), http.StatusCreated},
		"GET /v1/partners":          {"/v1/partners", nil, http.StatusOK},
		"POST /v1/rounds":           {"/v1/rounds", map[string]any{"id": "r-1", "partners": []string{"nobody"}}, http.StatusBadRequest},
		"GET /v1/rounds/:id":        {"/v1/rounds/r-404", nil, http.StatusNotFound},
		"GET /v1/rounds/:id/result": {"/v1/rounds/r-404/result", nil, http.StatusNotFound},
		"POST /v1/rounds/:id/submissions": {"/v1/rounds/r-404/submissions",
			map[string]any{"round_id": "r-404", "partner": "par"}, http.StatusNotFound},

		"GET /v1/audit":        {"/v1/audit", nil, http.StatusOK},
		"GET /v1/audit/verify": {"/v1/audit/verify", nil, http.StatusOK},
		// This server has no keyring: it re-identifies nothing.
		"POST /v1/reidentify": {"/v1/reidentify", map[string]any{"dataset": testDataset,
			"column": "email", "token": "enc1.AAAA", "reason": "test"}, http.StatusBadRequest},
	}
}

// unknownKey returns a well-formed key that the catalog does not hold.
func unknownKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "hz_" + base64.RawURLEncoding.EncodeToString(b)
}

// refusal is a caller a protected route must refuse.
type refusal struct {
	name   string
	header map[string]string
	key    string
	status int
	code   string
	role   string // the role the audit entry names
}

// TestRouteAccess calls every route of the table without a key, with bad
// keys, with each role that may not call it and with each role that may,
// and checks that every 401 and 403 is audited as denied.
func TestRouteAccess(t *testing.T) {
	e := newEnv(t, Config{})
	calls := e.routeCalls()
	table := e.srv.table()
	if got, want := len(calls), len(table); got != want {
		t.Errorf("test calls: got %d, want one per route (%d)", got, want)
	}

	for _, rt := range table {
		name := rt.method + " " + rt.path
		call, ok := calls[name]
		if !ok {
			t.Errorf("no test call for %s: add one to routeCalls", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			if rt.roles == nil {
				resp, body := e.do(request{method: rt.method, path: call.path})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("public route without a key: got %d, want 200 (body %s)",
						resp.StatusCode, body)
				}
				return
			}

			// Refused callers: 401 or 403, each audited once as denied.
			refusals := []refusal{
				{name: "no key", status: http.StatusUnauthorized, code: "unauthorized"},
				{name: "basic auth", header: map[string]string{"Authorization": "Basic YTpi"},
					status: http.StatusUnauthorized, code: "unauthorized"},
				{name: "empty bearer", header: map[string]string{"Authorization": "Bearer "},
					status: http.StatusUnauthorized, code: "unauthorized"},
				{name: "malformed key", key: "not-a-key", status: http.StatusUnauthorized,
					code: "unauthorized"},
				{name: "unknown key", key: unknownKey(), status: http.StatusUnauthorized,
					code: "unauthorized"},
				{name: "revoked key", key: e.revoked, status: http.StatusUnauthorized,
					code: "unauthorized"},
			}
			for _, role := range store.Roles {
				if !slices.Contains(rt.roles, role) {
					refusals = append(refusals, refusal{name: "role " + role, key: e.keys[role],
						status: http.StatusForbidden, code: "forbidden", role: role})
				}
			}
			for _, r := range refusals {
				t.Run(r.name, func(t *testing.T) {
					before := e.auditHead()
					resp, body := e.do(request{method: rt.method, path: call.path, key: r.key,
						header: r.header, body: call.body})
					wantError(t, resp, body, r.status, r.code)
					if r.status == http.StatusUnauthorized &&
						!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge",
							resp.Header.Get("WWW-Authenticate"))
					}

					entries := e.auditSince(before)
					if len(entries) != 1 {
						t.Fatalf("audit entries: got %d (%+v), want 1", len(entries), entries)
					}
					got := entries[0]
					if got.Outcome != store.OutcomeDenied || got.Action != name || got.Role != r.role {
						t.Errorf("audit entry: got outcome %q action %q role %q, "+
							"want denied, %q, %q", got.Outcome, got.Action, got.Role, name, r.role)
					}
					if strings.Contains(got.Detail, r.key) && r.key != "" {
						t.Errorf("audit detail %q holds the key", got.Detail)
					}
				})
			}

			// Every role that may call the route gets its answer.
			for _, role := range rt.roles {
				t.Run("role "+role, func(t *testing.T) {
					resp, body := e.do(request{method: rt.method, path: call.path,
						key: e.keys[role], body: call.body})
					if resp.StatusCode != call.want {
						t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, call.want, body)
					}
				})
			}
		})
	}
}

// TestUnknownRoutes checks the answers for paths and methods the table
// does not have.
func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t, Config{})
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"no such path", "GET", "/v1/nothing", http.StatusNotFound, "not_found"},
		{"no such method", "PUT", "/v1/query", http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(request{method: tt.method, path: tt.path, key: e.keys["admin"]})
			wantError(t, resp, body, tt.status, tt.code)
		})
	}
}

// newPartnerRecord is the public record of a fresh partner identity.
func newPartnerRecord() federated.Partner {
	id, err := federated.NewIdentity("partner-" + unknownKey()[3:9])
	if err != nil {
		panic(err)
	}
	return id.Public()
}
