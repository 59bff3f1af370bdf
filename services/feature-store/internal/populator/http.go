package populator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/offline"
)

// MaxRequestBytes bounds a POST /populator/run body.
const MaxRequestBytes = 64 << 10

// ErrRunNotFound answers GET /populator/run for an unknown run id (HTTP 404).
var ErrRunNotFound = domain.Code{Name: "POPULATOR-RUN-NOT-FOUND-EXCEPTION", Message: "populator run not found", Status: http.StatusNotFound}

// maxFinished is how many finished runs the Runner keeps in memory (older ones are answered from Checkpoints).
const maxFinished = 256

// Status is the answer of GET /populator/run.
type Status struct {
	RunID               string  `json:"runId"`
	Status              string  `json:"status"`
	FeatureGroupName    string  `json:"featureGroupName"`
	FeatureGroupVersion string  `json:"featureGroupVersion"`
	Mode                string  `json:"mode"`
	RowsDone            int64   `json:"rowsDone"`
	RowsTotal           int64   `json:"rowsTotal"`
	FailedRows          int64   `json:"failedRows"`
	RowsPerSecond       float64 `json:"rowsPerSecond"`
	File                string  `json:"file"`
	RowGroup            int     `json:"rowGroup"`
	Error               string  `json:"error"`
}

// Runner runs jobs in the background, one goroutine per run, and serves the populator's HTTP routes.
type Runner struct {
	p      *Populator
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	live   map[string]*Status // running (and recently finished) runs of this process
}

// NewRunner returns a Runner over p. Close stops its runs.
func NewRunner(p *Populator) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{p: p, ctx: ctx, cancel: cancel, live: map[string]*Status{}}
}

// Close cancels the running jobs (they stay resumable) and waits for them to stop.
func (r *Runner) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

// Start validates job synchronously (bad jobs, unknown feature groups and unreadable sources are errors) and runs
// it in the background. A run id that is already running in this process is an ErrPopulatorRequest error.
func (r *Runner) Start(ctx context.Context, job Job) (Status, error) {
	if err := job.Validate(); err != nil {
		return Status{}, err
	}
	r.mu.Lock()
	if s, ok := r.live[job.RunID]; ok && s.Status == StatusRunning {
		r.mu.Unlock()
		return Status{}, domain.E(ErrPopulatorRequest, "run %q is already running", job.RunID)
	}
	if len(r.live) > maxFinished {
		for id, s := range r.live {
			if s.Status != StatusRunning {
				delete(r.live, id)
			}
		}
	}
	st := &Status{RunID: job.RunID, Status: StatusRunning, FeatureGroupName: job.FeatureGroupName, Mode: job.Mode}
	r.live[job.RunID] = st // reserve the id while preparing
	r.mu.Unlock()
	rs, files, schema, err := r.p.prepare(ctx, &job)
	if err != nil {
		r.mu.Lock()
		delete(r.live, job.RunID)
		r.mu.Unlock()
		return Status{}, err
	}
	r.mu.Lock()
	st.FeatureGroupVersion = schema.Version
	st.RowsDone, st.RowsTotal, st.FailedRows = rs.RowsDone, rs.RowsTotal, rs.FailedRows
	out := *st
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		final, err := r.p.execute(r.ctx, job, rs, files, schema, func(pr Progress) {
			r.mu.Lock()
			st.RowsDone, st.RowsTotal, st.FailedRows, st.RowsPerSecond = pr.RowsDone, pr.RowsTotal, pr.FailedRows, pr.RowsPerSecond
			st.File, st.RowGroup = pr.File, pr.RowGroup
			r.mu.Unlock()
		})
		r.mu.Lock()
		st.Status, st.Error = final.Status, final.Error
		if err != nil && st.Status != StatusFailed {
			st.Status, st.Error = StatusFailed, err.Error()
		}
		st.RowsDone, st.RowsTotal, st.FailedRows = final.RowsDone, final.RowsTotal, final.FailedRows
		r.mu.Unlock()
	}()
	return out, nil
}

// Status returns a run's status: live progress for runs of this process, the stored state otherwise. An unknown
// run is an ErrPopulatorRequest error.
func (r *Runner) Status(ctx context.Context, runID string) (Status, error) {
	r.mu.Lock()
	if s, ok := r.live[runID]; ok {
		out := *s
		r.mu.Unlock()
		return out, nil
	}
	r.mu.Unlock()
	rs, found, err := r.p.cfg.Checkpoints.Load(ctx, runID)
	if err != nil {
		return Status{}, domain.Wrap(domain.ErrService, err)
	}
	if !found {
		return Status{}, domain.E(ErrRunNotFound, "run %q not found", runID)
	}
	status := rs.Status
	if status == StatusRunning {
		// Stored as running but not running here: the process that ran it stopped; it can be resumed.
		status = StatusFailed
		if rs.Error == "" {
			rs.Error = "the run was interrupted; POST it again with the same runId to resume"
		}
	}
	return Status{RunID: rs.RunID, Status: status, FeatureGroupName: rs.FeatureGroup, FeatureGroupVersion: rs.Version,
		Mode: rs.Mode, RowsDone: rs.RowsDone, RowsTotal: rs.RowsTotal, FailedRows: rs.FailedRows, File: rs.FileName,
		RowGroup: rs.RowGroup, Error: rs.Error}, nil
}

// ParseJob decodes a POST /populator/run body; every problem is an ErrPopulatorRequest error.
func ParseJob(body []byte) (Job, error) {
	var j Job
	if len(body) > MaxRequestBytes {
		return j, domain.E(ErrPopulatorRequest, "request body exceeds %d bytes", MaxRequestBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return j, domain.E(ErrPopulatorRequest, "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return j, domain.E(ErrPopulatorRequest, "invalid value for %s: expected %s", te.Field, te.Type)
		}
		return j, domain.E(ErrPopulatorRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return j, domain.E(ErrPopulatorRequest, "invalid JSON body: trailing data")
	}
	if err := j.Validate(); err != nil {
		return j, err
	}
	return j, nil
}

// ServeHTTP serves POST /populator/run (start a run; {"data":{runId, status, …}}) and GET /populator/run?runId=
// (its status). Mount it at <admin prefix>/populator/run.
func (r *Runner) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.Method {
	case http.MethodPost:
		r.handleStart(w, req)
	case http.MethodGet:
		r.handleStatus(w, req)
	default:
		w.Header().Set("Allow", "GET, POST")
		offline.WriteError(w, &domain.Error{Code: domain.Code{Name: ErrPopulatorRequest.Name, Message: "method not allowed",
			Status: http.StatusMethodNotAllowed}, Message: "method not allowed", Cause: "method " + req.Method + " not allowed"})
	}
}

func (r *Runner) handleStart(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxRequestBytes+1))
	if err != nil {
		offline.WriteError(w, domain.E(ErrPopulatorRequest, "read body: %v", err))
		return
	}
	job, err := ParseJob(body)
	if err != nil {
		offline.WriteError(w, err)
		return
	}
	st, err := r.Start(req.Context(), job)
	if err != nil {
		if e := domain.As(err); e.Code.Status >= 500 {
			r.p.log.Error("populator start failed", "runId", job.RunID, "err", err)
		}
		offline.WriteError(w, err)
		return
	}
	offline.WriteData(w, st)
}

func (r *Runner) handleStatus(w http.ResponseWriter, req *http.Request) {
	id := strings.TrimSpace(req.URL.Query().Get("runId"))
	if id == "" {
		offline.WriteError(w, domain.E(ErrPopulatorRequest, "query parameter runId is required"))
		return
	}
	st, err := r.Status(req.Context(), id)
	if err != nil {
		offline.WriteError(w, err)
		return
	}
	offline.WriteData(w, st)
}
