package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"haze/anonymize"
	"haze/pipeline"
	"haze/queries"
	"haze/store"
)

const codeInternal = "internal"

// errorBody is every error response: a stable code and a message for the
// user.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func abort(c *gin.Context, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	c.AbortWithStatusJSON(status, b)
}

// requestError is a client mistake found at the edge (bad JSON, missing
// field); its message is written for the client.
type requestError struct{ code, message string }

func (e *requestError) Error() string { return e.message }

func badRequest(message string) error { return &requestError{code: "bad_request", message: message} }

// status maps domain errors to a status, a code and a client message. It
// is the one place that does; anything unknown is a 500 whose details
// stay in the server log.
func status(err error) (int, string, string) {
	var qe *queries.Error
	var re *requestError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &qe):
		switch qe.Code {
		case queries.CodeBudgetExhausted, queries.CodeNoGrant:
			return http.StatusForbidden, qe.Code, qe.Message
		case queries.CodeUnknownDataset:
			return http.StatusNotFound, qe.Code, qe.Message
		}
		return http.StatusBadRequest, qe.Code, qe.Message
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large"
	case errors.As(err, &re):
		return http.StatusBadRequest, re.code, re.message
	case errors.Is(err, pipeline.ErrIncompleteRequest):
		return http.StatusBadRequest, "bad_request", "dataset, column and token are required"
	case errors.Is(err, pipeline.ErrReasonRequired):
		return http.StatusBadRequest, "reason_required", "say why the value is needed: reason is required"
	case errors.Is(err, pipeline.ErrNotReversible):
		return http.StatusBadRequest, "not_reversible",
			"only encrypt columns can be re-identified; pseudonyms cannot be turned back"
	case errors.Is(err, anonymize.ErrBadToken):
		return http.StatusBadRequest, "bad_token", "not a valid encrypt token for this dataset's key"
	case errors.Is(err, pipeline.ErrTokenNotFound):
		return http.StatusNotFound, "token_not_found", "the token is not in this dataset version's column"
	case errors.Is(err, anonymize.ErrUnknownKey):
		return http.StatusServiceUnavailable, "key_unavailable",
			"the server's keyring does not hold the dataset's key"
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, store.ErrConflict), errors.Is(err, pipeline.ErrBusy):
		return http.StatusConflict, "conflict", "another change to the same thing is under way"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout", "the request took longer than the server allows"
	case errors.Is(err, context.Canceled):
		return 499, "canceled", "the request was canceled"
	}
	return http.StatusInternalServerError, codeInternal, "internal error"
}

// fail answers with err's status; internal details go to the log only.
func (s *Server) fail(c *gin.Context, err error) {
	st, code, msg := status(err)
	if st >= 500 && st != http.StatusGatewayTimeout {
		s.log.Error("request failed", "request_id", requestID(c), "route", c.FullPath(), "err", err)
	}
	abort(c, st, code, msg)
}
