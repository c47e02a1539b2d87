package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPI checks that the document served lists exactly the routes
// registered on the router, and that protected operations, and only
// those, require a bearer key.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, Config{})
	resp, body := e.do(request{method: "GET", path: "/openapi.json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: got %d, want 200", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Summary    string           `json:"summary"`
			Security   []map[string]any `json:"security"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decoding the document: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Components.SecuritySchemes["bearer"] == nil {
		t.Errorf("document: got openapi %q and schemes %v, want 3.x with a bearer scheme",
			doc.OpenAPI, doc.Components.SecuritySchemes)
	}

	// The operations of the document against the router's routes.
	var documented, registered []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range e.srv.router.Routes() {
		registered = append(registered, r.Method+" "+openAPIPath(r.Path))
	}
	slices.Sort(documented)
	slices.Sort(registered)
	if !slices.Equal(documented, registered) {
		t.Errorf("operations:\ngot  %v\nwant %v", documented, registered)
	}

	// Security and path parameters per operation.
	public := map[string]bool{}
	for _, rt := range e.srv.table() {
		public[rt.method+" "+openAPIPath(rt.path)] = rt.roles == nil
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			name := strings.ToUpper(method) + " " + path
			t.Run(name, func(t *testing.T) {
				if op.Summary == "" {
					t.Errorf("summary: empty")
				}
				secured := len(op.Security) == 1 && op.Security[0]["bearer"] != nil
				if secured == public[name] {
					t.Errorf("security: got %v, want bearer: %v", op.Security, !public[name])
				}
				var params []string
				for _, p := range op.Parameters {
					if p.In == "path" {
						params = append(params, "{"+p.Name+"}")
					}
				}
				for _, seg := range strings.Split(path, "/") {
					if strings.HasPrefix(seg, "{") && !slices.Contains(params, seg) {
						t.Errorf("parameters: %s is not described", seg)
					}
				}
			})
		}
	}
}
