package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"haze/federated"
	"haze/store"
)

// federatedStatus maps the protocol's refusals to statuses and codes;
// messages are the protocol's own, which name no data.
func federatedStatus(err error) (int, string, bool) {
	for _, m := range []struct {
		err    error
		status int
		code   string
	}{
		{federated.ErrUnknownRound, http.StatusNotFound, "unknown_round"},
		{federated.ErrRoundExists, http.StatusConflict, "round_exists"},
		{federated.ErrUnknownPartner, http.StatusForbidden, "unknown_partner"},
		{federated.ErrBadSignature, http.StatusBadRequest, "bad_signature"},
		{federated.ErrWrongHash, http.StatusBadRequest, "wrong_round_hash"},
		{federated.ErrMalformed, http.StatusBadRequest, "malformed_submission"},
		{federated.ErrDuplicate, http.StatusConflict, "duplicate_submission"},
		{federated.ErrLate, http.StatusConflict, "late_submission"},
		{federated.ErrClosed, http.StatusConflict, "round_closed"},
		{federated.ErrNotReady, http.StatusConflict, "round_not_ready"},
		{federated.ErrAborted, http.StatusConflict, "round_aborted"},
		{federated.ErrInvalidRound, http.StatusBadRequest, "bad_round"},
	} {
		if errors.Is(err, m.err) {
			return m.status, m.code, true
		}
	}
	return 0, "", false
}

func (s *Server) failFederated(c *gin.Context, err error) {
	if st, code, ok := federatedStatus(err); ok {
		abort(c, st, code, err.Error())
		return
	}
	s.fail(c, err)
}

// addPartner registers a partner's public keys (admin).
func (s *Server) addPartner(c *gin.Context) {
	var p federated.Partner
	if err := decodeJSON(c, &p); err != nil {
		s.fail(c, err)
		return
	}
	if err := p.Validate(); err != nil {
		s.failFederated(c, err)
		return
	}
	if err := federated.RegisterPartner(c.Request.Context(), s.cat, p); err != nil {
		s.fail(c, err)
		return
	}
	s.adminAudit(c, "partners.add", "", "partner "+p.Name)
	c.JSON(http.StatusCreated, p)
}

func (s *Server) listPartners(c *gin.Context) {
	all, err := s.cat.Partners(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]json.RawMessage, len(all))
	for i, p := range all {
		out[i] = p
	}
	c.JSON(http.StatusOK, gin.H{"partners": out})
}

// roundRequest opens a round over registered partners.
type roundRequest struct {
	ID          string              `json:"id"`
	Period      string              `json:"period"`
	Partners    []string            `json:"partners"`
	MinPartners int                 `json:"min_partners"`
	Epsilon     float64             `json:"epsilon"`
	Delta       float64             `json:"delta"`
	Statistic   federated.Statistic `json:"statistic"`
	Deadline    time.Time           `json:"deadline"`
}

func (s *Server) createRound(c *gin.Context) {
	var req roundRequest
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	r, err := federated.RoundFromRegistry(c.Request.Context(), s.cat, req.ID, req.Period, req.Partners, req.MinPartners,
		req.Epsilon, req.Delta, req.Statistic, req.Deadline)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.fail(c, badRequest("every partner of a round must be registered first"))
			return
		}
		s.failFederated(c, err)
		return
	}
	if err := s.coordinator.Open(c.Request.Context(), r); err != nil {
		s.failFederated(c, err)
		return
	}
	s.adminAudit(c, "rounds.create", r.Statistic.Dataset, "round "+r.ID+" period "+r.Period)
	c.JSON(http.StatusCreated, gin.H{"id": r.ID, "hash": r.Hash()})
}

func (s *Server) getRound(c *gin.Context) {
	rec, err := s.coordinator.Record(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.failFederated(c, err)
		return
	}
	rec.Result = nil // read it from the result route
	c.JSON(http.StatusOK, rec)
}

func (s *Server) submit(c *gin.Context) {
	var sub federated.Submission
	if err := decodeJSON(c, &sub); err != nil {
		s.fail(c, err)
		return
	}
	k := caller(c)
	// A partner's API key speaks only for that partner.
	if sub.Partner != k.Name || sub.RoundID != c.Param("id") {
		s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: "rounds.submit",
			Outcome: store.OutcomeRefused, Detail: "submission for another partner or round"})
		abort(c, http.StatusForbidden, "forbidden", "a partner key may submit only its own "+
			"partner's submission to the round in the path")
		return
	}
	if err := s.coordinator.Submit(c.Request.Context(), sub); err != nil {
		_, code, _ := federatedStatus(err)
		s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: "rounds.submit",
			Outcome: store.OutcomeRefused, Detail: "round " + sub.RoundID + ": " + code})
		s.failFederated(c, err)
		return
	}
	s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: "rounds.submit",
		Outcome: store.OutcomeAllowed, Detail: "round " + sub.RoundID})
	c.JSON(http.StatusAccepted, gin.H{"round": sub.RoundID, "partner": sub.Partner})
}

func (s *Server) roundResult(c *gin.Context) {
	res, err := s.coordinator.Result(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.failFederated(c, err)
		return
	}
	if caller(c).Role == store.RoleAnalyst {
		res.Transcript = nil // analysts read the totals, not the signed vectors
	}
	c.JSON(http.StatusOK, res)
}
