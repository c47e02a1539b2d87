package server

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"haze/store"
)

// TestLogRedaction captures the operations log around queries that carry
// a string literal: it holds one line per request with its id and route,
// and never the key, the literal or the SQL.
func TestLogRedaction(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	analyst := e.keys[store.RoleAnalyst]
	const literal = "zq-log-literal"

	tests := []struct {
		name   string
		key    string
		sql    string
		status int
	}{
		{"answered", analyst, "SELECT cabin, COUNT(*) AS n FROM bookings WHERE destination <> '" +
			literal + "' GROUP BY cabin", http.StatusOK},
		{"refused", analyst, "SELECT * FROM bookings WHERE destination = '" + literal + "'",
			http.StatusBadRequest},
		{"bad key", unknownKey(), "SELECT COUNT(*) FROM bookings WHERE cabin = '" + literal + "'",
			http.StatusUnauthorized},
	}
	ids := map[string]string{} // request id to test name
	var secrets []string
	for _, tt := range tests {
		resp, body := e.do(request{method: "POST", path: "/v1/query", key: tt.key,
			body: cabinQuery(tt.sql, 0.2)})
		if resp.StatusCode != tt.status {
			t.Fatalf("%s: got %d, want %d (body %s)", tt.name, resp.StatusCode, tt.status, body)
		}
		id := resp.Header.Get("X-Request-Id")
		if id == "" {
			t.Fatalf("%s: no X-Request-Id", tt.name)
		}
		ids[id] = tt.name
		secrets = append(secrets, tt.key)
	}

	// Stopping the server waits for every handler, so every line is written.
	if err := e.stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	out := logs.String()

	t.Run("request lines", func(t *testing.T) {
		seen := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
			}
			id, _ := line["request_id"].(string)
			if line["msg"] != "request" || ids[id] == "" {
				continue
			}
			seen[id] = true
			if line["route"] != "/v1/query" || line["method"] != "POST" {
				t.Errorf("%s: got route %v method %v, want POST /v1/query", ids[id], line["route"],
					line["method"])
			}
		}
		for id, name := range ids {
			if !seen[id] {
				t.Errorf("%s: no request line with request_id %s in\n%s", name, id, out)
			}
		}
	})
	t.Run("redaction", func(t *testing.T) {
		for _, leak := range append(secrets, literal, "SELECT", "Bearer") {
			if strings.Contains(out, leak) {
				t.Errorf("the log holds %q:\n%s", leak, out)
			}
		}
	})
}
