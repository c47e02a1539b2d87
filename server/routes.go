package server

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"haze/store"
)

// route is one API route and who may call it. Public routes need no key.
type route struct {
	method, path string
	roles        []string // nil: public
	summary      string
	handler      gin.HandlerFunc
}

var (
	analysts  = []string{store.RoleAnalyst}
	readers   = []string{store.RoleAnalyst, store.RoleEngineer, store.RoleAdmin}
	engineers = []string{store.RoleEngineer}
	admins    = []string{store.RoleAdmin}

	partners       = []string{store.RolePartner}
	partnersAdmins = []string{store.RolePartner, store.RoleAdmin}
	resultReaders  = []string{store.RolePartner, store.RoleAdmin, store.RoleAnalyst}
)

// table lists every route; the router, the role checks and the OpenAPI
// document are all built from it.
func (s *Server) table() []route {
	return []route{
		{"GET", "/healthz", nil, "Liveness: the process answers", s.healthz},
		{"GET", "/readyz", nil, "Readiness: the catalog answers", s.readyz},
		{"GET", "/metrics", nil, "Prometheus metrics", s.metricsHandler()},
		{"GET", "/openapi.json", nil, "This API's OpenAPI 3 document", s.openAPI},

		{"POST", "/v1/query", analysts, "Answer a SQL query with differential privacy", s.query},
		{"GET", "/v1/datasets", readers, "List datasets (schema, policies, bounds)", s.datasets},
		{"GET", "/v1/datasets/:name", readers, "Describe one dataset", s.dataset},
		{"GET", "/v1/budget", analysts, "Your privacy budget per dataset", s.budget},

		{"POST", "/v1/jobs", engineers, "Run a pipeline job spec over an export in the imports folder", s.createJob},
		{"GET", "/v1/jobs/:id", engineers, "A job's status, progress and manifest", s.getJob},

		{"POST", "/v1/partners", admins, "Register a federated partner's public keys", s.addPartner},
		{"GET", "/v1/partners", partnersAdmins, "List registered partners", s.listPartners},
		{"POST", "/v1/rounds", admins, "Open a federated round over registered partners", s.createRound},
		{"GET", "/v1/rounds/:id", partnersAdmins, "A round's description and status", s.getRound},
		{"POST", "/v1/rounds/:id/submissions", partners, "Submit a partner's masked, signed vector", s.submit},
		{"GET", "/v1/rounds/:id/result", resultReaders, "A released round's noisy totals", s.roundResult},

		{"GET", "/v1/keys", admins, "List API keys", s.listKeys},
		{"POST", "/v1/keys", admins, "Create an API key (shown once)", s.createKey},
		{"DELETE", "/v1/keys/:id", admins, "Revoke an API key", s.revokeKey},
		{"GET", "/v1/grants", admins, "List budget grants with spending", s.listGrants},
		{"POST", "/v1/grants", admins, "Set a principal's budget on a dataset", s.setGrant},
		{"GET", "/v1/caps", admins, "List dataset caps with spending", s.listCaps},
		{"POST", "/v1/caps", admins, "Set a dataset's budget over all principals", s.setCap},
		{"GET", "/v1/audit", admins, "Read the audit trail", s.audit},
		{"GET", "/v1/audit/verify", admins, "Verify the audit hash chain", s.verifyAudit},
		{"POST", "/v1/reidentify", admins, "The value behind an encrypt token, with a reason, audited", s.reidentify},
	}
}

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.Use(gin.CustomRecovery(func(c *gin.Context, _ any) {
		s.log.Error("panic in handler", "route", c.FullPath(), "request_id", requestID(c))
		abort(c, http.StatusInternalServerError, codeInternal, "internal error")
	}))
	r.Use(s.requestLog, s.bodyLimit)
	r.NoRoute(func(c *gin.Context) { abort(c, http.StatusNotFound, "not_found", "no such route") })
	r.HandleMethodNotAllowed = true
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
	})

	for _, rt := range s.table() {
		handlers := []gin.HandlerFunc{}
		if rt.roles != nil {
			handlers = append(handlers, s.authenticate, s.authorize(rt.roles), s.rateLimit)
		}
		if rt.roles != nil && rt.method == http.MethodGet {
			handlers = append(handlers, s.auditRead)
		}
		handlers = append(handlers, rt.handler)
		r.Handle(rt.method, rt.path, handlers...)
	}
	return r
}

// authorize refuses callers whose role may not call the route: 403,
// audited.
func (s *Server) authorize(roles []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		k := caller(c)
		if slices.Contains(roles, k.Role) {
			c.Next()
			return
		}
		s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: action(c),
			Outcome: "denied", Detail: "role may not call this route"})
		s.metrics.refusals.WithLabelValues("forbidden").Inc()
		abort(c, http.StatusForbidden, "forbidden", "your role may not call this route")
	}
}

// auditRead records an authenticated read once it has been answered;
// routes that change things audit themselves.
func (s *Server) auditRead(c *gin.Context) {
	c.Next()
	k := caller(c)
	outcome := "allowed"
	if c.Writer.Status() >= 400 {
		outcome = "error"
	}
	s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: action(c),
		Dataset: c.Param("name"), Outcome: outcome})
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (s *Server) readyz(c *gin.Context) {
	if err := s.cat.DB().PingContext(c.Request.Context()); err != nil {
		s.log.Error("catalog not ready", "err", err)
		abort(c, http.StatusServiceUnavailable, "not_ready", "the catalog is not available")
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
