package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"haze/store"
)

const (
	keyCaller    = "haze.caller"
	keyRequestID = "haze.request_id"
)

// caller returns the authenticated key of the request.
func caller(c *gin.Context) store.APIKey {
	k, _ := c.Get(keyCaller)
	key, _ := k.(store.APIKey)
	return key
}

func requestID(c *gin.Context) string { return c.GetString(keyRequestID) }

// action names a route for the audit trail, e.g. "POST /v1/query".
func action(c *gin.Context) string { return c.Request.Method + " " + c.FullPath() }

// requestLog gives each request an id and logs one line when it ends:
// never keys, query text or values.
func (s *Server) requestLog(c *gin.Context) {
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	c.Set(keyRequestID, id)
	c.Header("X-Request-Id", id)
	start := time.Now()

	c.Next()

	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(c.Writer.Status())).Inc()
	s.metrics.latency.WithLabelValues(route).Observe(d.Seconds())
	s.log.Info("request", "request_id", id, "method", c.Request.Method, "route", route,
		"status", c.Writer.Status(), "duration_ms", float64(d.Microseconds())/1000,
		"principal", caller(c).Name)
}

// bodyLimit caps the request body; reading past it fails and the handler
// answers 413.
func (s *Server) bodyLimit(c *gin.Context) {
	if c.Request.ContentLength > s.cfg.BodyLimit {
		abort(c, http.StatusRequestEntityTooLarge, "body_too_large",
			"the request body is larger than "+strconv.FormatInt(s.cfg.BodyLimit, 10)+" bytes")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.BodyLimit)
	c.Next()
}

// authenticate resolves the bearer key: missing, unknown or revoked keys
// get 401, audited.
func (s *Server) authenticate(c *gin.Context) {
	auth := c.GetHeader("Authorization")
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || secret == "" {
		s.unauthorized(c, "no bearer key")
		return
	}
	k, err := s.cat.Authenticate(c.Request.Context(), strings.TrimSpace(secret))
	if errors.Is(err, store.ErrUnknownKey) {
		s.unauthorized(c, "unknown or revoked key")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Set(keyCaller, k)
	c.Next()
}

func (s *Server) unauthorized(c *gin.Context, why string) {
	s.auditQuiet(c, store.AuditEntry{Action: action(c), Outcome: "denied", Detail: why})
	s.metrics.refusals.WithLabelValues("unauthorized").Inc()
	c.Header("WWW-Authenticate", `Bearer realm="haze"`)
	abort(c, http.StatusUnauthorized, "unauthorized", "a valid API key is required: "+
		"send Authorization: Bearer <key>")
}

// limiter holds one token bucket per API key.
type limiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	r := rate.Limit(perSecond)
	if perSecond <= 0 {
		r = rate.Inf
	}
	return &limiter{r: r, burst: burst, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) get(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(l.r, l.burst)
		l.buckets[key] = b
	}
	return b
}

// rateLimit answers 429 with Retry-After when a key exceeds its rate.
func (s *Server) rateLimit(c *gin.Context) {
	r := s.limits.get(caller(c).ID).Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		s.metrics.refusals.WithLabelValues("rate_limited").Inc()
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		abort(c, http.StatusTooManyRequests, "rate_limited", "too many requests: slow down")
		return
	}
	c.Next()
}

// auditQuiet appends an audit entry outside any transaction, logging (not
// returning) a failure, for refusals that answer anyway.
func (s *Server) auditQuiet(c *gin.Context, e store.AuditEntry) {
	if _, err := s.cat.AppendAudit(c.Request.Context(), nil, e); err != nil {
		s.log.Error("audit append failed", "request_id", requestID(c), "action", e.Action, "err", err)
	}
}
