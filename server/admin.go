package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"haze/dp"
	"haze/store"
)

// datasetView is what callers see of a dataset: its shape and rules,
// never its exact row count.
type datasetView struct {
	Name        string           `json:"name"`
	Version     int              `json:"version"`
	PublishedAt time.Time        `json:"published_at"`
	PrivacyUnit string           `json:"privacy_unit"`
	KeyID       string           `json:"key_id"`
	Columns     []store.Column   `json:"columns"`
	DP          store.DPDefaults `json:"dp"`
}

func viewOf(v store.Version) datasetView {
	return datasetView{Name: v.Dataset, Version: v.Version, PublishedAt: v.CreatedAt,
		PrivacyUnit: v.PrivacyUnit, KeyID: v.KeyID, Columns: v.Columns, DP: v.DP}
}

func (s *Server) datasets(c *gin.Context) {
	vs, err := s.cat.Datasets(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]datasetView, 0, len(vs))
	for _, v := range vs {
		out = append(out, viewOf(v))
	}
	c.JSON(http.StatusOK, gin.H{"datasets": out})
}

func (s *Server) dataset(c *gin.Context) {
	v, err := s.cat.Current(c.Request.Context(), c.Param("name"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOf(v))
}

// budgetView is one grant as its holder sees it.
type budgetView struct {
	Dataset   string       `json:"dataset"`
	Granted   store.Amount `json:"granted"`
	Spent     store.Amount `json:"spent"`
	Remaining store.Amount `json:"remaining"`
}

func (s *Server) budget(c *gin.Context) {
	grants, err := s.cat.Grants(c.Request.Context(), caller(c).Name, "")
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]budgetView, 0, len(grants))
	for _, g := range grants {
		out = append(out, budgetView{Dataset: g.Dataset, Granted: g.Granted, Spent: g.Spent,
			Remaining: store.Amount{Epsilon: math.Max(0, g.Granted.Epsilon-g.Spent.Epsilon),
				Delta: math.Max(0, g.Granted.Delta-g.Spent.Delta)}})
	}
	c.JSON(http.StatusOK, gin.H{"principal": caller(c).Name, "budgets": out})
}

func (s *Server) listKeys(c *gin.Context) {
	keys, err := s.cat.Keys(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"keys": keys})
}

func (s *Server) createKey(c *gin.Context) {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := store.ValidateKeyName(req.Name); err != nil {
		s.fail(c, badRequest("name must start with a lower-case letter and hold only a-z, 0-9, "+
			"'_', '.' or '-' (at most 64)"))
		return
	}
	if err := store.ValidateRole(req.Role); err != nil {
		s.fail(c, badRequest("role must be one of analyst, engineer, partner, admin"))
		return
	}
	ctx := c.Request.Context()
	secret, k, err := s.cat.CreateKey(ctx, req.Name, req.Role)
	if err != nil {
		s.fail(c, err)
		return
	}
	// A key nobody can find in the audit trail must not stay valid.
	admin := caller(c)
	if _, err := s.cat.AppendAudit(ctx, nil, store.AuditEntry{Principal: admin.Name,
		Role: admin.Role, Action: "keys.create", Outcome: store.OutcomeAllowed,
		Detail: "key " + k.ID + " role " + k.Role + " for " + k.Name}); err != nil {
		if _, rerr := s.cat.RevokeKey(context.WithoutCancel(ctx), k.ID); rerr != nil {
			s.log.Error("revoking unaudited key", "key_id", k.ID, "err", rerr)
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"key": secret, "id": k.ID, "name": k.Name, "role": k.Role,
		"note": "the key is shown once; store it now"})
}

func (s *Server) revokeKey(c *gin.Context) {
	n, err := s.cat.RevokeKey(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.adminAudit(c, "keys.revoke", "", "revoked "+c.Param("id"))
	c.JSON(http.StatusOK, gin.H{"revoked": n})
}

// amountRequest sets a grant or cap.
type amountRequest struct {
	Name    string  `json:"name"`
	Dataset string  `json:"dataset"`
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

func (r amountRequest) validate() error {
	if err := (dp.Budget{Epsilon: r.Epsilon, Delta: r.Delta}).Validate(); err != nil {
		return badRequest(err.Error())
	}
	if r.Dataset == "" {
		return badRequest("dataset is required")
	}
	return nil
}

func (s *Server) setGrant(c *gin.Context) {
	var req amountRequest
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := req.validate(); err != nil {
		s.fail(c, err)
		return
	}
	if req.Name == "" {
		s.fail(c, badRequest("name is required"))
		return
	}
	ctx := c.Request.Context()
	if _, err := s.cat.Current(ctx, req.Dataset); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.cat.SetGrant(ctx, req.Name, req.Dataset, store.Amount{Epsilon: req.Epsilon,
		Delta: req.Delta}); errors.Is(err, store.ErrBelowSpent) {
		s.fail(c, badRequest("the grant cannot go below what was already spent"))
		return
	} else if err != nil {
		s.fail(c, err)
		return
	}
	s.adminAudit(c, "grants.set", req.Dataset, "grant for "+req.Name+" ε="+
		strconv.FormatFloat(req.Epsilon, 'g', -1, 64)+" δ="+strconv.FormatFloat(req.Delta, 'g', -1, 64))
	c.JSON(http.StatusOK, gin.H{"name": req.Name, "dataset": req.Dataset,
		"granted": store.Amount{Epsilon: req.Epsilon, Delta: req.Delta}})
}

func (s *Server) setCap(c *gin.Context) {
	var req amountRequest
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if err := req.validate(); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if _, err := s.cat.Current(ctx, req.Dataset); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.cat.SetCap(ctx, req.Dataset, store.Amount{Epsilon: req.Epsilon, Delta: req.Delta}); err != nil {
		s.fail(c, err)
		return
	}
	s.adminAudit(c, "caps.set", req.Dataset, "cap ε="+strconv.FormatFloat(req.Epsilon, 'g', -1, 64)+
		" δ="+strconv.FormatFloat(req.Delta, 'g', -1, 64))
	c.JSON(http.StatusOK, gin.H{"dataset": req.Dataset,
		"cap": store.Amount{Epsilon: req.Epsilon, Delta: req.Delta}})
}

func (s *Server) listGrants(c *gin.Context) {
	grants, err := s.cat.Grants(c.Request.Context(), c.Query("name"), c.Query("dataset"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"grants": grants})
}

func (s *Server) listCaps(c *gin.Context) {
	caps, err := s.cat.Caps(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"caps": caps})
}

func (s *Server) audit(c *gin.Context) {
	after, err1 := strconv.ParseInt(c.DefaultQuery("after", "0"), 10, 64)
	limit, err2 := strconv.Atoi(c.DefaultQuery("limit", "100"))
	if err1 != nil || err2 != nil || after < 0 || limit < 1 || limit > 1000 {
		s.fail(c, badRequest("after must be >= 0 and limit 1 to 1000"))
		return
	}
	entries, err := s.cat.Audit(c.Request.Context(), after, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"entries": entries})
}

func (s *Server) verifyAudit(c *gin.Context) {
	ctx := c.Request.Context()
	problem, err := s.cat.VerifyAudit(ctx, c.Query("head"))
	if err != nil {
		s.fail(c, err)
		return
	}
	seq, head, err := s.cat.AuditHead(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	if problem != nil {
		c.JSON(http.StatusOK, gin.H{"intact": false, "problem": problem, "entries": seq})
		return
	}
	c.JSON(http.StatusOK, gin.H{"intact": true, "entries": seq, "head": head})
}

// adminAudit records an admin's act; a failure to record it is logged.
func (s *Server) adminAudit(c *gin.Context, act, dataset, detail string) {
	k := caller(c)
	s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: act,
		Dataset: dataset, Outcome: "allowed", Detail: detail})
}
