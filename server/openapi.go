package server

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
)

var pathParam = regexp.MustCompile(`:([a-z_]+)`)

// openAPIPath turns a gin path (/v1/jobs/:id) into an OpenAPI one
// (/v1/jobs/{id}).
func openAPIPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

// document builds the OpenAPI 3 description from the route table, so it
// cannot drift from the routes actually registered.
func (s *Server) document() map[string]any {
	paths := map[string]map[string]any{}
	for _, rt := range s.table() {
		op := map[string]any{
			"summary": rt.summary,
			"responses": map[string]any{
				"200":     map[string]any{"description": "success"},
				"default": map[string]any{"$ref": "#/components/responses/Error"},
			},
		}
		if rt.roles != nil {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
			op["x-roles"] = rt.roles
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
				"schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if schema, ok := requestSchemas[rt.method+" "+rt.path]; ok {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": map[string]any{
					"$ref": "#/components/schemas/" + schema}}}}
		}
		p := openAPIPath(rt.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "haze API", "version": "1",
			"description": "Privacy-preserving analytics: DP SQL over pseudonymised datasets."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"responses": map[string]any{"Error": map[string]any{
				"description": "an error with a stable code",
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
					"type": "object", "properties": map[string]any{"error": map[string]any{
						"type": "object", "properties": map[string]any{
							"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"},
						}}}}}}}},
			"schemas": map[string]any{"QueryRequest": map[string]any{
				"type": "object", "required": []string{"sql", "epsilon"},
				"properties": map[string]any{
					"sql":                         map[string]any{"type": "string"},
					"epsilon":                     map[string]any{"type": "number"},
					"delta":                       map[string]any{"type": "number"},
					"mechanism":                   map[string]any{"type": "string", "enum": []string{"laplace", "gaussian"}},
					"max_groups_contributed":      map[string]any{"type": "integer"},
					"max_contributions_per_group": map[string]any{"type": "integer"},
					"bounds":                      map[string]any{"type": "object"},
					"public_groups":               map[string]any{"type": "object"},
				}},
				"ReidentifyRequest": map[string]any{
					"type": "object", "required": []string{"dataset", "column", "token", "reason"},
					"properties": map[string]any{
						"dataset": map[string]any{"type": "string"},
						"version": map[string]any{"type": "integer", "description": "0: the current version"},
						"column":  map[string]any{"type": "string"},
						"token":   map[string]any{"type": "string"},
						"reason":  map[string]any{"type": "string", "description": "why the value is needed, for the audit trail"},
					}},
			},
		},
	}
}

// requestSchemas names the body schema of the routes that take one.
var requestSchemas = map[string]string{
	"POST /v1/query":      "QueryRequest",
	"POST /v1/reidentify": "ReidentifyRequest",
}

func (s *Server) openAPI(c *gin.Context) { c.JSON(http.StatusOK, s.document()) }
