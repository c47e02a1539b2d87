package server

import (
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"haze/anonymize"
	"haze/pipeline"
	"haze/store"
)

// contactsSpec publishes the template export with its emails encrypted.
const contactsSpec = `
name: contacts
source: {path: SOURCE, format: csv}
privacy_unit: passenger_id
key: crm-test
output: {dataset: contacts}
consent: {column: marketing_consent, equals: true}
columns:
  passenger_id: {action: pseudonymize}
  email:        {action: encrypt}
  destination:  {action: keep, type: string}
`

// consentingEmail returns the email of the first consenting row of the
// export: one the contacts dataset holds.
func consentingEmail(t *testing.T, export string) string {
	t.Helper()
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("reading %s: %v", export, err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, r := range rows[1:] {
		if r[col["marketing_consent"]] == "true" && r[col["email"]] != "" {
			return r[col["email"]]
		}
	}
	t.Fatal("no consenting row with an email")
	return ""
}

func TestReidentifyOverHTTP(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, func(s *Server) {
		s.cfg.Keyring = filepath.Join(filepath.Dir(s.cat.Dir()), "keys", "keyring.json")
	})
	export := filepath.Join(e.dir, "exports", "crm.csv")
	spec, err := pipeline.Parse([]byte(strings.ReplaceAll(contactsSpec, "SOURCE", export)))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := anonymize.LoadKeyring(filepath.Join(e.dir, "keys", "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Run(e.ctx, spec, e.cat, pipeline.Options{Keyring: ring,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	email := consentingEmail(t, export)
	key, _ := ring.Key(testKeyName)
	enc, err := anonymize.NewEncrypter(key)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := enc.Token(email)
	other, _ := enc.Token("nobody@example.invalid")
	altered := []byte(token)
	if mid := len(altered) / 2; altered[mid] == 'A' {
		altered[mid] = 'B'
	} else {
		altered[mid] = 'A'
	}
	admin := e.keys[store.RoleAdmin]
	ask := func(key string, body map[string]any) (*http.Response, []byte) {
		return e.do(request{method: "POST", path: "/v1/reidentify", key: key, body: body})
	}
	body := func(change func(map[string]any)) map[string]any {
		b := map[string]any{"dataset": "contacts", "column": "email", "token": token,
			"reason": "ticket 4711: passenger asked for a copy of the data"}
		if change != nil {
			change(b)
		}
		return b
	}

	resp, raw := ask(admin, body(nil))
	var got struct{ Dataset, Column, Value string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &got) != nil || got.Value != email ||
		got.Column != "email" {
		t.Fatalf("reidentify: %d %s; want 200 with the email", resp.StatusCode, raw)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}

	refusals := []struct {
		name   string
		key    string
		body   map[string]any
		status int
		code   string
	}{
		{"analyst", e.keys[store.RoleAnalyst], body(nil), http.StatusForbidden, "forbidden"},
		{"no reason", admin, body(func(b map[string]any) { b["reason"] = " " }),
			http.StatusBadRequest, "reason_required"},
		{"pseudonym column", admin, body(func(b map[string]any) { b["column"] = "passenger_id" }),
			http.StatusBadRequest, "not_reversible"},
		{"altered token", admin, body(func(b map[string]any) { b["token"] = string(altered) }),
			http.StatusBadRequest, "bad_token"},
		{"token not in the dataset", admin, body(func(b map[string]any) { b["token"] = other }),
			http.StatusNotFound, "token_not_found"},
		{"unknown dataset", admin, body(func(b map[string]any) { b["dataset"] = "nope" }),
			http.StatusNotFound, "not_found"},
		{"unknown version", admin, body(func(b map[string]any) { b["version"] = 9 }),
			http.StatusNotFound, "not_found"},
		{"no token", admin, body(func(b map[string]any) { delete(b, "token") }),
			http.StatusBadRequest, "bad_request"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, raw := ask(tt.key, tt.body)
			var eb errorBody
			if resp.StatusCode != tt.status || json.Unmarshal(raw, &eb) != nil ||
				eb.Error.Code != tt.code {
				t.Fatalf("%d %s; want %d %s", resp.StatusCode, raw, tt.status, tt.code)
			}
			if strings.Contains(string(raw), email) || strings.Contains(string(raw), "enc1.") {
				t.Errorf("error response %s holds the value or a token", raw)
			}
		})
	}

	// A keyring without the dataset's key (another one put in its place,
	// read at the next request) is the server's problem, not the caller's.
	foreign := filepath.Join(t.TempDir(), "k.json")
	if _, err := anonymize.InitKeyring(foreign, []string{testKeyName}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(foreign)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "keys", "keyring.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, raw = ask(admin, body(nil))
	var eb errorBody
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(raw, &eb) != nil ||
		eb.Error.Code != "key_unavailable" {
		t.Errorf("with a foreign keyring: %d %s; want 503 key_unavailable", resp.StatusCode, raw)
	}

	// The audit holds the allowed attempt and the six refused ones that
	// got past the request's own checks (the analyst's 403 is audited as
	// such), with the reason, never the value or a token; the log neither.
	entries, err := e.cat.Audit(e.ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, en := range entries {
		if en.Action != pipeline.ActionReidentify {
			continue
		}
		outcomes[en.Outcome]++
		if en.Principal != e.names[store.RoleAdmin] || en.Role != store.RoleAdmin ||
			!strings.Contains(en.Detail, "ticket 4711") {
			t.Errorf("audit entry %+v: want the admin and the reason", en)
		}
		if strings.Contains(en.Detail, email) || strings.Contains(en.Detail, "enc1.") {
			t.Errorf("audit entry holds the value or a token: %s", en.Detail)
		}
	}
	if outcomes[store.OutcomeAllowed] != 1 || outcomes[store.OutcomeRefused] != 6 {
		t.Errorf("reidentify audit outcomes %v, want 1 allowed and 6 refused", outcomes)
	}
	if l := logs.String(); strings.Contains(l, email) || strings.Contains(l, "enc1.") {
		t.Errorf("the server log holds the value or a token")
	}
}
