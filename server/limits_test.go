package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"haze/store"
)

// paddedQuery returns a valid query body of exactly n bytes.
func paddedQuery(n int) string {
	body := `{"sql": "` + countByCabin + `", "epsilon": 0.1, ` +
		`"public_groups": {"cabin": ["business", "economy", "first", "premium_economy"]}}`
	return strings.Repeat(" ", n-len(body)) + body
}

// TestBodyLimit checks that bodies over Config.BodyLimit are refused with
// 413, whether or not the client announced their length.
func TestBodyLimit(t *testing.T) {
	const limit = 1024
	e := newEnv(t, Config{BodyLimit: limit})
	analyst, admin := e.keys[store.RoleAnalyst], e.keys[store.RoleAdmin]
	bigKey := `{"name": "x", "role": "analyst", "pad": "` + strings.Repeat("a", 2*limit) + `"}`

	tests := []struct {
		name   string
		path   string
		key    string
		body   any
		status int
		code   string
	}{
		{"at the limit", "/v1/query", analyst, paddedQuery(limit), http.StatusOK, ""},
		{"over, no key", "/v1/query", "", paddedQuery(limit + 1), http.StatusRequestEntityTooLarge,
			"body_too_large"},
		{"over", "/v1/query", analyst, paddedQuery(2 * limit), http.StatusRequestEntityTooLarge,
			"body_too_large"},
		{"over, chunked", "/v1/query", analyst, io.MultiReader(strings.NewReader(paddedQuery(2 * limit))),
			http.StatusRequestEntityTooLarge, "body_too_large"},
		{"over, chunked, keys", "/v1/keys", admin, io.MultiReader(strings.NewReader(bigKey)),
			http.StatusRequestEntityTooLarge, "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(request{method: "POST", path: tt.path, key: tt.key, body: tt.body})
			if tt.code == "" {
				if resp.StatusCode != tt.status {
					t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, tt.status, body)
				}
				return
			}
			wantError(t, resp, body, tt.status, tt.code)
		})
	}
}

// TestRateLimit checks that a key past its burst gets 429 with
// Retry-After, and that other keys are not slowed by it.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, Config{RatePerSecond: 1, Burst: 2})
	analyst, engineer := e.keys[store.RoleAnalyst], e.keys[store.RoleEngineer]

	tests := []struct {
		name   string
		method string
		path   string
		key    string
		status int
	}{
		{"first", "GET", "/v1/budget", analyst, http.StatusOK},
		{"second", "GET", "/v1/budget", analyst, http.StatusOK},
		{"third", "GET", "/v1/budget", analyst, http.StatusTooManyRequests},
		{"third, another route", "POST", "/v1/query", analyst, http.StatusTooManyRequests},
		{"another key", "GET", "/v1/datasets", engineer, http.StatusOK},
		{"another key again", "GET", "/v1/datasets", engineer, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.method == "POST" {
				body = cabinQuery(countByCabin, 0.1)
			}
			resp, data := e.do(request{method: tt.method, path: tt.path, key: tt.key, body: body})
			if tt.status != http.StatusTooManyRequests {
				if resp.StatusCode != tt.status {
					t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, tt.status, data)
				}
				return
			}
			wantError(t, resp, data, tt.status, "rate_limited")
			after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || after < 1 {
				t.Errorf("Retry-After: got %q, want a whole number of seconds >= 1",
					resp.Header.Get("Retry-After"))
			}
		})
	}
}
