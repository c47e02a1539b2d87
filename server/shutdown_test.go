package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"haze/queries"
	"haze/store"
)

// TestGracefulShutdown cancels the server's context while a DP query is in
// flight: the server stops accepting connections at once, the query still
// completes with 200, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	// A route that runs the real query handler once the test lets it.
	started, release := make(chan struct{}), make(chan struct{})
	e := newEnvWith(t, Config{}, func(s *Server) {
		hold := func(c *gin.Context) {
			close(started)
			<-release
			c.Next()
		}
		s.router.POST("/test/held-query", s.authenticate, s.authorize(analysts), hold, s.query)
	})
	// Never leave the handler held, whatever fails.
	letGo := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letGo)
	addr := strings.TrimPrefix(e.base, "http://")

	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.base+"/test/held-query",
			strings.NewReader(`{"sql": "`+countByCabin+`", "epsilon": 0.2, `+
				`"public_groups": {"cabin": ["economy", "first"]}}`))
		req.Header.Set("Authorization", "Bearer "+e.keys[store.RoleAnalyst])
		resp, err := e.client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: body, err: err}
	}()
	<-started

	// Stop the server while the query is held.
	e.cancel()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for ; ; <-tick.C {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // refused: the listener is closed
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the server still accepts connections 30 s after its context ended")
		}
	}
	select {
	case err := <-e.served:
		t.Fatalf("Serve returned %v while a request was still running", err)
	default:
	}

	// Let the query finish: it answers, then Serve returns nil.
	letGo()
	r := <-done
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("held query: got status %d, error %v, body %s; want 200", r.status, r.err, r.body)
	}
	var a queries.Answer
	if err := json.Unmarshal(r.body, &a); err != nil || len(a.Rows) != 2 || a.Spent.Epsilon != 0.2 {
		t.Errorf("held query: got %s (%v), want an answer over 2 groups charging ε=0.2", r.body, err)
	}
	select {
	case err := <-e.served:
		if err != nil {
			t.Errorf("Serve: got %v, want nil", err)
		}
		e.served <- nil // what the cleanup's stop reads
	case <-time.After(time.Minute):
		t.Fatalf("Serve did not return after the last request ended")
	}

	// New connections are refused.
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("dialing %s after Serve returned: connected, want refused", addr)
	}
}
