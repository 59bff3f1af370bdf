package node

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/proc"
)

// Ray job statuses.
const (
	JobPending   = "PENDING"
	JobRunning   = "RUNNING"
	JobSucceeded = "SUCCEEDED"
	JobFailed    = "FAILED"
	JobStopped   = "STOPPED"
)

const (
	maxSubmitBody = 1 << 20
	maxLogBytes   = 8 << 20
	maxJobsKept   = 1000
)

// SubmitRequest is the body of POST /api/jobs/ (Ray's JobSubmitRequest).
type SubmitRequest struct {
	Entrypoint          string             `json:"entrypoint"`
	SubmissionID        string             `json:"submission_id,omitempty"`
	JobID               string             `json:"job_id,omitempty"` // deprecated alias of submission_id
	RuntimeEnv          map[string]any     `json:"runtime_env,omitempty"`
	Metadata            map[string]string  `json:"metadata,omitempty"`
	EntrypointNumCPUs   *float64           `json:"entrypoint_num_cpus,omitempty"`
	EntrypointNumGPUs   *float64           `json:"entrypoint_num_gpus,omitempty"`
	EntrypointMemory    *float64           `json:"entrypoint_memory,omitempty"`
	EntrypointResources map[string]float64 `json:"entrypoint_resources,omitempty"`

	envVars    map[string]string
	workingDir string
}

var submissionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// DecodeSubmit reads and validates a job submission. baseDir resolves a
// relative working_dir. Errors are apierr InvalidArgument naming the field.
func DecodeSubmit(r io.Reader, baseDir string) (SubmitRequest, error) {
	var req SubmitRequest
	data, err := io.ReadAll(io.LimitReader(r, maxSubmitBody+1))
	if err != nil {
		return req, apierr.Wrap(apierr.InvalidArgument, err, "read request body")
	}
	if len(data) > maxSubmitBody {
		return req, apierr.New(apierr.InvalidArgument, "request body exceeds %d bytes", maxSubmitBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return req, apierr.InvalidField("entrypoint", "request body is empty; entrypoint is required")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return req, apierr.New(apierr.InvalidArgument, "request body must be a JSON object")
	}
	for name, raw := range fields {
		var target any
		switch name {
		case "entrypoint":
			target = &req.Entrypoint
		case "submission_id":
			target = &req.SubmissionID
		case "job_id":
			target = &req.JobID
		case "runtime_env":
			target = &req.RuntimeEnv
		case "metadata":
			target = &req.Metadata
		case "entrypoint_num_cpus":
			target = &req.EntrypointNumCPUs
		case "entrypoint_num_gpus":
			target = &req.EntrypointNumGPUs
		case "entrypoint_memory":
			target = &req.EntrypointMemory
		case "entrypoint_resources":
			target = &req.EntrypointResources
		default:
			continue // tolerated (newer clients send more)
		}
		if err := json.Unmarshal(raw, target); err != nil {
			return req, apierr.InvalidField(name, "%s has the wrong type", name)
		}
	}
	if strings.TrimSpace(req.Entrypoint) == "" {
		return req, apierr.InvalidField("entrypoint", "entrypoint is required")
	}
	if strings.ContainsRune(req.Entrypoint, 0) {
		return req, apierr.InvalidField("entrypoint", "entrypoint contains a NUL byte")
	}
	if req.SubmissionID == "" {
		req.SubmissionID = req.JobID
	}
	if req.SubmissionID != "" && !submissionIDPattern.MatchString(req.SubmissionID) {
		return req, apierr.InvalidField("submission_id", "submission_id must be 1-128 letters, digits, '_', '-' or '.'")
	}
	for name, v := range map[string]*float64{"entrypoint_num_cpus": req.EntrypointNumCPUs, "entrypoint_num_gpus": req.EntrypointNumGPUs, "entrypoint_memory": req.EntrypointMemory} {
		if v != nil && (*v < 0 || math.IsNaN(*v)) {
			return req, apierr.InvalidField(name, "%s must not be negative", name)
		}
	}
	for k, v := range req.EntrypointResources {
		if v < 0 {
			return req, apierr.InvalidField("entrypoint_resources", "entrypoint_resources[%q] must not be negative", k)
		}
	}
	if rawEnv, ok := fields["runtime_env"]; ok && !bytes.Equal(bytes.TrimSpace(rawEnv), []byte("null")) {
		var env struct {
			EnvVars    map[string]json.RawMessage `json:"env_vars"`
			WorkingDir *json.RawMessage           `json:"working_dir"`
		}
		if err := json.Unmarshal(rawEnv, &env); err != nil {
			return req, apierr.InvalidField("runtime_env", "runtime_env must be an object")
		}
		req.envVars = map[string]string{}
		for k, raw := range env.EnvVars {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return req, apierr.InvalidField("runtime_env.env_vars", "runtime_env.env_vars[%q] must be a string", k)
			}
			if !envKeyPattern.MatchString(k) || strings.ContainsRune(v, 0) {
				return req, apierr.InvalidField("runtime_env.env_vars", "runtime_env.env_vars has an invalid entry %q", k)
			}
			req.envVars[k] = v
		}
		if env.WorkingDir != nil {
			var wd string
			if err := json.Unmarshal(*env.WorkingDir, &wd); err != nil {
				return req, apierr.InvalidField("runtime_env.working_dir", "runtime_env.working_dir must be a string")
			}
			if wd != "" {
				resolved, err := resolveWorkingDir(wd, baseDir)
				if err != nil {
					return req, err
				}
				req.workingDir = resolved
			}
		}
	}
	return req, nil
}

var envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func resolveWorkingDir(wd, baseDir string) (string, error) {
	if strings.Contains(wd, "://") {
		return "", apierr.InvalidField("runtime_env.working_dir", "runtime_env.working_dir %q: only local directories are supported", wd)
	}
	if strings.ContainsRune(wd, 0) {
		return "", apierr.InvalidField("runtime_env.working_dir", "runtime_env.working_dir contains a NUL byte")
	}
	if !filepath.IsAbs(wd) {
		wd = filepath.Join(baseDir, wd)
	}
	fi, err := os.Stat(wd)
	if err != nil || !fi.IsDir() {
		return "", apierr.InvalidField("runtime_env.working_dir", "runtime_env.working_dir %q is not an existing directory", wd)
	}
	return filepath.Clean(wd), nil
}

// JobDetails is Ray's JobDetails JSON.
type JobDetails struct {
	Type                string             `json:"type"`
	JobID               string             `json:"job_id"`
	SubmissionID        string             `json:"submission_id"`
	DriverInfo          any                `json:"driver_info"`
	Status              string             `json:"status"`
	Entrypoint          string             `json:"entrypoint"`
	Message             string             `json:"message"`
	ErrorType           *string            `json:"error_type"`
	StartTime           int64              `json:"start_time"`
	EndTime             *int64             `json:"end_time"`
	Metadata            map[string]string  `json:"metadata"`
	RuntimeEnv          map[string]any     `json:"runtime_env"`
	DriverAgentHTTPAddr *string            `json:"driver_agent_http_address"`
	DriverNodeID        string             `json:"driver_node_id"`
	DriverExitCode      *int               `json:"driver_exit_code"`
	EntrypointNumCPUs   *float64           `json:"entrypoint_num_cpus,omitempty"`
	EntrypointNumGPUs   *float64           `json:"entrypoint_num_gpus,omitempty"`
	EntrypointMemory    *float64           `json:"entrypoint_memory,omitempty"`
	EntrypointResources map[string]float64 `json:"entrypoint_resources,omitempty"`
}

func (d JobDetails) terminal() bool {
	switch d.Status {
	case JobSucceeded, JobFailed, JobStopped:
		return true
	}
	return false
}

type job struct {
	d        JobDetails
	env      map[string]string
	dir      string
	logPath  string
	pid      int
	stopReq  chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// jobManager runs submitted jobs as process groups with bounded concurrency.
type jobManager struct {
	nodeID   string
	baseDir  string
	logDir   string
	baseEnv  []string
	clk      clock.Clock
	logger   *slog.Logger
	grace    time.Duration
	slots    chan struct{}
	mu       sync.Mutex
	jobs     map[string]*job // by submission id
	byJobID  map[string]string
	order    []string
	seq      int
	closing  bool
	wg       sync.WaitGroup
	shutdown chan struct{}
}

func newJobManager(nodeID, baseDir string, baseEnv []string, maxJobs int, clk clock.Clock, logger *slog.Logger, grace time.Duration) *jobManager {
	return &jobManager{
		nodeID: nodeID, baseDir: baseDir, logDir: filepath.Join(baseDir, "jobs"), baseEnv: baseEnv, clk: clk, logger: logger,
		grace: grace, slots: make(chan struct{}, maxJobs), jobs: map[string]*job{}, byJobID: map[string]string{},
		shutdown: make(chan struct{}),
	}
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Submit registers a job and starts it as soon as a slot is free.
func (m *jobManager) Submit(req SubmitRequest) (JobDetails, error) {
	if err := os.MkdirAll(m.logDir, 0o755); err != nil {
		return JobDetails{}, apierr.Wrap(apierr.Internal, err, "create job log dir")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		return JobDetails{}, apierr.New(apierr.Unavailable, "head node is shutting down")
	}
	id := req.SubmissionID
	if id == "" {
		id = "raysubmit_" + randomString(16, idAlphabet)
	}
	if _, ok := m.jobs[id]; ok {
		return JobDetails{}, apierr.New(apierr.InvalidArgument, "job with submission_id %s already exists; please use a different submission_id", id)
	}
	m.seq++
	jobID := fmt.Sprintf("%02x000000", m.seq%256)
	if m.seq >= 256 {
		jobID = fmt.Sprintf("%08x", m.seq)
	}
	runtimeEnv := req.RuntimeEnv
	if runtimeEnv == nil {
		runtimeEnv = map[string]any{}
	}
	metadata := req.Metadata
	if metadata == nil {
		metadata = map[string]string{}
	}
	dir := req.workingDir
	if dir == "" {
		dir = m.baseDir
	}
	j := &job{
		d: JobDetails{
			Type: "SUBMISSION", JobID: jobID, SubmissionID: id, Status: JobPending, Entrypoint: req.Entrypoint,
			Message:   "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available.",
			StartTime: m.clk.Now().UnixMilli(), Metadata: metadata, RuntimeEnv: runtimeEnv, DriverNodeID: m.nodeID,
			EntrypointNumCPUs: req.EntrypointNumCPUs, EntrypointNumGPUs: req.EntrypointNumGPUs,
			EntrypointMemory: req.EntrypointMemory, EntrypointResources: req.EntrypointResources,
		},
		env: req.envVars, dir: dir, logPath: filepath.Join(m.logDir, id+".log"),
		stopReq: make(chan struct{}), done: make(chan struct{}),
	}
	m.jobs[id] = j
	m.byJobID[jobID] = id
	m.order = append(m.order, id)
	m.pruneLocked()
	m.wg.Add(1)
	go m.run(j)
	return j.d, nil
}

// pruneLocked forgets the oldest terminal jobs beyond maxJobsKept.
func (m *jobManager) pruneLocked() {
	for len(m.order) > maxJobsKept {
		removed := false
		for i, id := range m.order {
			if j := m.jobs[id]; j != nil && j.d.terminal() {
				delete(m.jobs, id)
				delete(m.byJobID, j.d.JobID)
				m.order = append(m.order[:i], m.order[i+1:]...)
				removed = true
				break
			}
		}
		if !removed {
			return
		}
	}
}

func (m *jobManager) run(j *job) {
	defer m.wg.Done()
	defer close(j.done)
	select {
	case m.slots <- struct{}{}:
	case <-j.stopReq:
		m.finish(j, JobStopped, nil, "Job was intentionally stopped.", nil)
		return
	case <-m.shutdown:
		m.finish(j, JobStopped, nil, "Job was stopped because the head node shut down.", nil)
		return
	}
	defer func() { <-m.slots }()
	logFile, err := os.OpenFile(j.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.finish(j, JobFailed, nil, fmt.Sprintf("Job failed to open its log file: %v", err), strPtr("JOB_SUPERVISOR_ACTOR_START_FAILURE"))
		return
	}
	defer logFile.Close()
	env := append([]string(nil), m.baseEnv...)
	env = append(env, "RAY_JOB_SUBMISSION_ID="+j.d.SubmissionID, "RAY_JOB_ID="+j.d.JobID)
	keys := make([]string, 0, len(j.env))
	for k := range j.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+j.env[k])
	}
	cmd := shellCommand(j.d.Entrypoint, j.dir, env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		m.finish(j, JobFailed, nil, fmt.Sprintf("Job entrypoint command could not start: %v", err), strPtr("JOB_ENTRYPOINT_COMMAND_START_ERROR"))
		return
	}
	m.mu.Lock()
	j.pid = cmd.Process.Pid
	j.d.Status = JobRunning
	j.d.Message = "Job is currently running."
	m.mu.Unlock()
	m.logger.Info("job started", "submission_id", j.d.SubmissionID, "pid", j.pid)
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopped := false
	select {
	case <-exited:
	case <-j.stopReq:
		stopped = true
	case <-m.shutdown:
		stopped = true
	}
	if stopped {
		terminateGroup(j.pid, exited, m.grace)
		<-exited
	}
	_ = killGroup(j.pid)
	code, why := proc.ExitCode(waitErr)
	switch {
	case stopped:
		m.finish(j, JobStopped, intPtr(code), "Job was intentionally stopped.", nil)
	case waitErr == nil:
		m.finish(j, JobSucceeded, intPtr(0), "Job finished successfully.", nil)
	default:
		msg := fmt.Sprintf("Job entrypoint command failed with exit code %d, last available logs (truncated to 20,000 chars):\n%s", code, tailFile(j.logPath, 20000))
		if why != "" {
			msg = fmt.Sprintf("Job entrypoint command failed: %s", why)
		}
		m.finish(j, JobFailed, intPtr(code), msg, strPtr("JOB_ENTRYPOINT_COMMAND_ERROR"))
	}
	m.logger.Info("job finished", "submission_id", j.d.SubmissionID, "exit_code", code)
}

func (m *jobManager) finish(j *job, status string, code *int, msg string, errType *string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := m.clk.Now().UnixMilli()
	j.d.Status, j.d.Message, j.d.ErrorType, j.d.EndTime, j.d.DriverExitCode = status, msg, errType, &end, code
}

func (m *jobManager) lookupLocked(id string) *job {
	if j, ok := m.jobs[id]; ok {
		return j
	}
	if sid, ok := m.byJobID[id]; ok {
		return m.jobs[sid]
	}
	return nil
}

func notFound(id string) error {
	return apierr.New(apierr.NotFound, "job %s does not exist", id)
}

// Get returns a job by submission id or job id.
func (m *jobManager) Get(id string) (JobDetails, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.lookupLocked(id)
	if j == nil {
		return JobDetails{}, notFound(id)
	}
	return j.d, nil
}

// List returns all jobs, oldest first.
func (m *jobManager) List() []JobDetails {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]JobDetails, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, m.jobs[id].d)
	}
	return out
}

// Logs returns the job's log (its last maxLogBytes).
func (m *jobManager) Logs(id string) (string, error) {
	m.mu.Lock()
	j := m.lookupLocked(id)
	m.mu.Unlock()
	if j == nil {
		return "", notFound(id)
	}
	return tailFile(j.logPath, maxLogBytes), nil
}

// Stop stops a non-terminal job; false when it already finished.
func (m *jobManager) Stop(id string) (bool, error) {
	m.mu.Lock()
	j := m.lookupLocked(id)
	var terminal bool
	if j != nil {
		terminal = j.d.terminal()
	}
	m.mu.Unlock()
	if j == nil {
		return false, notFound(id)
	}
	if terminal {
		return false, nil
	}
	j.stopOnce.Do(func() { close(j.stopReq) })
	return true, nil
}

// Delete forgets a terminal job and its log.
func (m *jobManager) Delete(id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.lookupLocked(id)
	if j == nil {
		return false, notFound(id)
	}
	if !j.d.terminal() {
		return false, apierr.New(apierr.InvalidArgument, "attempted to delete job %s in a non-terminal state %s; stop it first", id, j.d.Status)
	}
	delete(m.jobs, j.d.SubmissionID)
	delete(m.byJobID, j.d.JobID)
	for i, sid := range m.order {
		if sid == j.d.SubmissionID {
			m.order = append(m.order[:i], m.order[i+1:]...)
			break
		}
	}
	_ = os.Remove(j.logPath)
	return true, nil
}

// Shutdown stops every job and waits for them.
func (m *jobManager) Shutdown() {
	m.mu.Lock()
	if !m.closing {
		m.closing = true
		close(m.shutdown)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func tailFile(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	if fi.Size() > max {
		if _, err := f.Seek(fi.Size()-max, io.SeekStart); err != nil {
			return ""
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil && !errors.Is(err, io.EOF) {
		return string(data)
	}
	return string(data)
}

func strPtr(s string) *string { return &s }
func intPtr(i int) *int       { return &i }
