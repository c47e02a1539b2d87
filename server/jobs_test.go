package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"haze/store"
)

// jobsEnv is a server with an imports folder holding crm.csv and a
// symbolic link to an export outside it, and the keyring of the template.
func jobsEnv(t *testing.T) (*env, string) {
	t.Helper()
	root := t.TempDir()
	imports := filepath.Join(root, "imports")
	if err := os.MkdirAll(imports, 0o700); err != nil {
		t.Fatal(err)
	}
	export, err := os.ReadFile(filepath.Join(templateDir, "exports", "crm.csv"))
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(root, "outside.csv")
	for _, path := range []string{filepath.Join(imports, "crm.csv"), outside} {
		if err := os.WriteFile(path, export, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(imports, "link.csv")); err != nil {
		t.Fatal(err)
	}
	ring := filepath.Join(root, "keyring.json")
	data, err := os.ReadFile(filepath.Join(templateDir, "keys", "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ring, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return newEnv(t, Config{Imports: imports, Keyring: ring}), imports
}

// TestJobsConfinement checks that job specs may read only from the imports
// folder and may not name a keyring.
func TestJobsConfinement(t *testing.T) {
	e, imports := jobsEnv(t)
	engineer := e.keys[store.RoleEngineer]

	tests := []struct {
		name string
		spec string
		code string
	}{
		{"climbs out", specText("../outside.csv", "imported"), "bad_request"},
		{"climbs out and back", specText("../imports/../outside.csv", "imported"), "bad_request"},
		{"absolute inside", specText(filepath.Join(imports, "crm.csv"), "imported"), "bad_request"},
		{"absolute outside", specText(filepath.Join(filepath.Dir(imports), "outside.csv"), "imported"),
			"bad_request"},
		{"symbolic link out", specText("link.csv", "imported"), "bad_request"},
		{"missing", specText("nothing.csv", "imported"), "bad_request"},
		{"erasure list outside", specText("crm.csv", "imported") +
			"erasure: {path: ../outside.csv, column: passenger_id}\n", "bad_request"},
		{"own keyring", specText("crm.csv", "imported") + "keyring: /tmp/keyring.json\n", "bad_job"},
		{"not a spec", "name: [", "bad_job"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(request{method: "POST", path: "/v1/jobs", key: engineer, body: tt.spec})
			b := wantError(t, resp, body, http.StatusBadRequest, tt.code)
			if strings.Contains(b.Error.Message, e.dir) || strings.Contains(b.Error.Message, imports) {
				t.Errorf("message %q names a folder of the server", b.Error.Message)
			}
		})
	}

	// None of them published anything.
	if _, err := e.cat.Current(e.ctx, "imported"); err == nil {
		t.Errorf("dataset imported: published by a refused job")
	}
}

// TestJobsRun runs a valid job over the API to its end and finds its
// dataset in the listing, without its exact row count.
func TestJobsRun(t *testing.T) {
	e, _ := jobsEnv(t)
	engineer := e.keys[store.RoleEngineer]

	resp, body := e.do(request{method: "POST", path: "/v1/jobs", key: engineer,
		body: specText("crm.csv", "imported")})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/jobs: got %d, want 202 (body %s)", resp.StatusCode, body)
	}
	var started struct{ ID, Status string }
	if err := json.Unmarshal(body, &started); err != nil || started.ID == "" {
		t.Fatalf("POST /v1/jobs: body %s (%v), want an id", body, err)
	}

	// The job runs in the background: poll its status.
	var job struct {
		Status   string `json:"status"`
		Error    string `json:"error"`
		RowsRead int64  `json:"rows_read"`
		Manifest *struct {
			Version int `json:"version"`
			Input   struct {
				Path string `json:"path"`
			} `json:"input"`
			Rows struct {
				Read      int64 `json:"read"`
				Published int64 `json:"published"`
			} `json:"rows"`
		} `json:"manifest"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for job.Status = "running"; job.Status == "running"; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("job %s still running after 2 minutes", started.ID)
		}
		resp, body := e.do(request{method: "GET", path: "/v1/jobs/" + started.ID, key: engineer})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/jobs/%s: got %d, want 200 (body %s)", started.ID, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &job); err != nil {
			t.Fatalf("decoding job: %v", err)
		}
	}
	if job.Status != "published" || job.Manifest == nil {
		t.Fatalf("job: got status %q error %q, want published with a manifest", job.Status, job.Error)
	}
	if got := job.Manifest.Input.Path; got != "crm.csv" {
		t.Errorf("manifest input path: got %q, want the base name crm.csv", got)
	}
	if job.Manifest.Version != 1 || job.Manifest.Rows.Read != testRows ||
		job.RowsRead != testRows || job.Manifest.Rows.Published <= 0 {
		t.Errorf("job: got version %d, rows read %d (%d), published %d; want 1, %d, >0",
			job.Manifest.Version, job.Manifest.Rows.Read, job.RowsRead,
			job.Manifest.Rows.Published, testRows)
	}

	// The dataset is listed, without a row count.
	resp, body = e.do(request{method: "GET", path: "/v1/datasets", key: engineer})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/datasets: got %d (body %s)", resp.StatusCode, body)
	}
	var list struct {
		Datasets []map[string]any `json:"datasets"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("decoding datasets: %v", err)
	}
	var names []string
	for _, d := range list.Datasets {
		names = append(names, d["name"].(string))
	}
	if strings.Join(names, ",") != "bookings,imported" {
		t.Errorf("datasets: got %v, want [bookings imported]", names)
	}
	var generic any
	json.Unmarshal(body, &generic)
	for _, leak := range countsIn(generic, "") {
		if leak.value == float64(job.Manifest.Rows.Published) || strings.Contains(leak.key, "row") {
			t.Errorf("datasets: %s = %v looks like a row count", leak.key, leak.value)
		}
	}

	// Its creation is audited.
	entries := e.auditSince(0)
	found := false
	for _, en := range entries {
		if en.Action == "jobs.create" && en.Outcome == store.OutcomeAllowed && en.Dataset == "imported" &&
			en.Principal == e.names[store.RoleEngineer] {
			found = true
		}
	}
	if !found {
		t.Errorf("audit: no allowed jobs.create entry for imported in %+v", entries)
	}

	// Another server over the same catalog, which did not run the job (a
	// replica), reports it from the catalog.
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Logger: slog.New(slog.DiscardHandler), RatePerSecond: 10_000,
		Burst: 10_000}, e.cat, e.srv.engine)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = other
	e.serve()
	resp, body = e.do(request{method: "GET", path: "/v1/jobs/" + started.ID, key: engineer})
	var again struct {
		Status   string `json:"status"`
		RowsRead int64  `json:"rows_read"`
		Manifest *struct {
			Version int `json:"version"`
		} `json:"manifest"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &again) != nil ||
		again.Status != "published" || again.RowsRead != testRows || again.Manifest == nil ||
		again.Manifest.Version != 1 {
		t.Errorf("GET /v1/jobs/%s on another server: %d %s; want the published job",
			started.ID, resp.StatusCode, body)
	}
	resp, _ = e.do(request{method: "GET", path: "/v1/jobs/job_0000000000000000", key: engineer})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an unknown job: %d, want 404", resp.StatusCode)
	}
}

// TestJobLostWhenItsServerStops reads jobs another replica ran from the
// catalog: one whose record is fresh is running, one whose record went
// unsaved for longer than its heartbeat allows is reported lost.
func TestJobLostWhenItsServerStops(t *testing.T) {
	e := newEnv(t, Config{})
	engineer := e.keys[store.RoleEngineer]
	now := time.Now()
	for _, tt := range []struct {
		id      string
		savedAt time.Time
		status  string
	}{
		{"job_00000000000000a1", now, "running"},
		{"job_00000000000000a2", now.Add(-jobLostAfter / 2), "running"},
		{"job_00000000000000a3", now.Add(-jobLostAfter - time.Second), "lost"},
	} {
		rec, _ := json.Marshal(jobView{ID: tt.id, Principal: "ops", Dataset: "bookings",
			Status: "running", RowsRead: 42, StartedAt: now.Add(-time.Hour)})
		if err := e.cat.PutJob(t.Context(), tt.id, rec, tt.savedAt); err != nil {
			t.Fatal(err)
		}
		resp, body := e.do(request{method: "GET", path: "/v1/jobs/" + tt.id, key: engineer})
		var got jobView
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
			t.Fatalf("GET /v1/jobs/%s: %d %s", tt.id, resp.StatusCode, body)
		}
		if got.Status != tt.status || got.RowsRead != 42 {
			t.Errorf("job saved %v ago: status %q, rows %d; want %q, 42", now.Sub(tt.savedAt),
				got.Status, got.RowsRead, tt.status)
		}
		if lost := tt.status == "lost"; lost != strings.Contains(got.Error, "stopped reporting") {
			t.Errorf("job saved %v ago: error %q", now.Sub(tt.savedAt), got.Error)
		}
	}
}

// number is a number found in a JSON document, with its key path.
type number struct {
	key   string
	value float64
}

// countsIn returns every number of a decoded JSON document.
func countsIn(v any, path string) []number {
	var out []number
	switch x := v.(type) {
	case map[string]any:
		for k, v := range x {
			out = append(out, countsIn(v, path+"."+k)...)
		}
	case []any:
		for _, v := range x {
			out = append(out, countsIn(v, path+"[]")...)
		}
	case float64:
		out = append(out, number{path, x})
	}
	return out
}
