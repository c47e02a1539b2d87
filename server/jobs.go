package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"haze/pipeline"
	"haze/store"
)

// job is one pipeline run started over the API.
type job struct {
	jobView
	read atomic.Int64
}

const (
	// jobSaveEvery is how often a running job's record goes to the
	// catalog, where other replicas read its progress.
	jobSaveEvery = 2 * time.Second
	// jobLostAfter is how long a running job's record may go unsaved
	// before replicas report it lost: the process running it has stopped.
	jobLostAfter = 15 * jobSaveEvery
)

// jobView is what GET /v1/jobs/{id} shows of a job.
type jobView struct {
	ID        string             `json:"id"`
	Principal string             `json:"principal"`
	Dataset   string             `json:"dataset"`
	Status    string             `json:"status"` // running, published, failed, lost
	RowsRead  int64              `json:"rows_read"`
	StartedAt time.Time          `json:"started_at"`
	Error     string             `json:"error,omitempty"`
	Manifest  *pipeline.Manifest `json:"manifest,omitempty"`
}

// jobs keeps the jobs this process runs; their records also go to the
// catalog, so any replica can report on any job.
type jobs struct {
	mu   sync.Mutex
	byID map[string]*job
	wg   sync.WaitGroup
}

func newJobs() *jobs { return &jobs{byID: map[string]*job{}} }

// wait lets running jobs finish until ctx ends.
func (j *jobs) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { j.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (j *jobs) snapshot(id string) (jobView, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb, ok := j.byID[id]
	if !ok {
		return jobView{}, false
	}
	out := jb.jobView
	out.RowsRead = jb.read.Load()
	return out, true
}

// confine resolves a path of a job spec inside the imports folder. It
// refuses absolute paths, paths that climb out with .., and symbolic
// links that lead outside.
func confine(imports, path string) (string, error) {
	if path == "" {
		return "", badRequest("a path in the job spec is empty")
	}
	if filepath.IsAbs(path) {
		return "", badRequest("paths in a job spec must be relative to the imports folder")
	}
	joined := filepath.Join(imports, path)
	real, err := filepath.EvalSymlinks(joined)
	if err != nil {
		return "", badRequest("no such file in the imports folder: " + path)
	}
	root, err := filepath.EvalSymlinks(imports)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", badRequest("paths in a job spec must stay inside the imports folder")
	}
	return real, nil
}

func (s *Server) createJob(c *gin.Context) {
	k := caller(c)
	if s.cfg.Imports == "" || s.cfg.Keyring == "" {
		s.fail(c, badRequest("this server runs no jobs: it was started without --imports and a keyring"))
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, err)
		return
	}
	spec, err := pipeline.Parse(body)
	if err != nil {
		s.fail(c, &requestError{code: "bad_job", message: "job spec: " + err.Error()})
		return
	}
	if spec.Keyring != "" {
		s.fail(c, &requestError{code: "bad_job", message: "job spec: keyring is set by the server"})
		return
	}
	if spec.Source.Path, err = confine(s.cfg.Imports, spec.Source.Path); err != nil {
		s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: "jobs.create",
			Dataset: spec.Output.Dataset, Outcome: "refused", Detail: "source outside imports"})
		s.fail(c, err)
		return
	}
	if spec.Erasure != nil {
		if spec.Erasure.Path, err = confine(s.cfg.Imports, spec.Erasure.Path); err != nil {
			s.fail(c, err)
			return
		}
	}
	spec.Keyring = s.cfg.Keyring

	jb := &job{jobView: jobView{ID: newJobID(), Principal: k.Name, Dataset: spec.Output.Dataset,
		Status: "running", StartedAt: time.Now().UTC()}}
	if err := s.saveJob(c.Request.Context(), jb.jobView); err != nil {
		s.fail(c, err)
		return
	}
	s.jobs.mu.Lock()
	s.jobs.byID[jb.ID] = jb
	s.jobs.mu.Unlock()
	s.auditQuiet(c, store.AuditEntry{Principal: k.Name, Role: k.Role, Action: "jobs.create",
		Dataset: spec.Output.Dataset, Outcome: "allowed", Detail: "job " + jb.ID})

	// The job outlives the request: it runs on the server's context. Take
	// it now: gin reuses c for another request once this handler returns.
	ctx := context.WithoutCancel(c.Request.Context())
	s.jobs.wg.Add(1)
	go func() {
		defer s.jobs.wg.Done()
		stop := s.heartbeat(ctx, jb.ID)
		m, err := pipeline.Run(ctx, spec, s.cat,
			pipeline.Options{Logger: s.log, OnProgress: func(n int64) { jb.read.Store(n) }})
		stop()
		s.jobs.mu.Lock()
		defer func() {
			v := jb.jobView
			v.RowsRead = jb.read.Load()
			s.jobs.mu.Unlock()
			if err := s.saveJob(ctx, v); err != nil {
				s.log.Error("recording job", "job", jb.ID, "err", err)
			}
		}()
		jb.Manifest = m
		switch {
		case err == nil:
			jb.Status = "published"
		case errors.Is(err, pipeline.ErrTooManyRejected):
			jb.Status, jb.Error = "failed", m.Error
		default:
			jb.Status, jb.Error = "failed", "the job failed: "+publicJobError(err)
			s.log.Error("job failed", "job", jb.ID, "err", err)
		}
		if m != nil {
			jb.read.Store(m.Rows.Read)
		}
	}()
	c.JSON(http.StatusAccepted, gin.H{"id": jb.ID, "status": jb.Status})
}

// heartbeat saves job id's record every jobSaveEvery while it runs, so
// other replicas see its progress and that it is alive. The returned func
// stops it and returns once no save is under way, so a later save of the
// job's end is the last word.
func (s *Server) heartbeat(ctx context.Context, id string) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(jobSaveEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				if v, ok := s.jobs.snapshot(id); ok {
					if err := s.saveJob(ctx, v); err != nil {
						s.log.Warn("recording job progress", "job", id, "err", err)
					}
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// publicJobError keeps the first line of a job error without server paths.
func publicJobError(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if strings.Contains(msg, string(os.PathSeparator)) {
		return "see the server log"
	}
	return msg
}

// saveJob puts a job's record in the catalog.
func (s *Server) saveJob(ctx context.Context, v jobView) error {
	rec, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.cat.PutJob(ctx, v.ID, rec, time.Now())
}

// getJob reports a job: from this process while it runs here (the
// freshest progress), else from the catalog, whichever replica ran it.
func (s *Server) getJob(c *gin.Context) {
	jb, ok := s.jobs.snapshot(c.Param("id"))
	if !ok {
		rec, at, err := s.cat.Job(c.Request.Context(), c.Param("id"))
		if err != nil {
			s.fail(c, err)
			return
		}
		if err := json.Unmarshal(rec, &jb); err != nil {
			s.fail(c, fmt.Errorf("decoding job: %w", err))
			return
		}
		if jb.Status == "running" && time.Since(at) > jobLostAfter {
			// Its process stopped mid-run. Publishing is atomic, so the
			// dataset holds the run whole or not at all; the next run of
			// the job removes what it left.
			jb.Status = "lost"
			jb.Error = fmt.Sprintf("the server running this job stopped reporting at %s; "+
				"see the dataset's versions for whether it published", at.Format(time.RFC3339))
		}
	}
	if jb.Manifest != nil {
		// Paths on the server are not the client's business.
		m := *jb.Manifest
		m.Input.Path = filepath.Base(m.Input.Path)
		jb.Manifest = &m
	}
	c.JSON(http.StatusOK, jb)
}

func newJobID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "job_" + hex.EncodeToString(b)
}
