package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"haze/anonymize"
	"haze/pipeline"
)

// reidentifyRequest is the body of POST /v1/reidentify.
type reidentifyRequest struct {
	Dataset string `json:"dataset"`
	Version int    `json:"version"` // 0: the current version
	Column  string `json:"column"`
	Token   string `json:"token"`
	Reason  string `json:"reason"`
}

// reidentify returns the value behind an encrypt token, as `haze
// reidentify` does: with a reason, for admins only, decrypted with the
// server's keyring, and audited (who, why, where; never the value or the
// token) before the value leaves.
func (s *Server) reidentify(c *gin.Context) {
	var req reidentifyRequest
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Keyring == "" {
		s.fail(c, badRequest("this server holds no keyring: start it with --keyring to re-identify"))
		return
	}
	// Read at each request, so a rotated keyring needs no restart.
	ring, err := anonymize.LoadKeyring(s.cfg.Keyring)
	if err != nil {
		s.fail(c, err)
		return
	}
	who := caller(c)
	value, err := pipeline.Reidentify(c.Request.Context(), s.cat, ring, pipeline.ReidentifyRequest{
		Dataset: req.Dataset, Version: req.Version, Column: req.Column, Token: req.Token,
		Reason: req.Reason, Principal: who.Name, Role: who.Role})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"dataset": req.Dataset, "column": req.Column, "value": value})
}
