package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// ExecRequest is the body of POST /internal/exec.
type ExecRequest struct {
	ExecutionID    string `json:"execution_id"`
	Command        string `json:"command"`
	TimeoutSeconds int    `json:"timeout_seconds"`
}

// Heartbeat is the body of POST /internal/heartbeat (worker → head).
type Heartbeat struct {
	PodName     string  `json:"pod_name"`
	Group       string  `json:"group"`
	ExecAddress string  `json:"exec_address"`
	Pid         int     `json:"pid"`
	Ready       bool    `json:"ready"`
	CPU         float64 `json:"cpu"`
	Memory      int64   `json:"memory"`
	StartedAt   int64   `json:"started_at"`
}

// Node is one running head or worker.
type Node struct {
	spec   Spec
	clk    clock.Clock
	logger *slog.Logger
	log    io.Writer // node log (init command output)
	env    []string
	life   *lifecycle
	execs  *execManager
	jobs   *jobManager // head only
	head   *headState  // head only
	client *http.Client
}

// Options are the process-level dependencies of a node.
type Options struct {
	Clock  clock.Clock
	Logger *slog.Logger
	Log    io.Writer // where init command output goes (the node log)
	Env    []string  // environment for commands, jobs and execs; os.Environ() when nil
}

// New prepares a node from its spec.
func New(spec Spec, opts Options) (*Node, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	if err := os.MkdirAll(spec.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	n := &Node{
		spec: spec, clk: opts.Clock, logger: opts.Logger.With("pod", spec.PodName), log: opts.Log, env: opts.Env,
		life:   newLifecycle(spec, os.Getpid(), opts.Clock.Now()),
		client: &http.Client{Timeout: 2 * time.Second},
	}
	n.execs = newExecManager(spec.PodName, spec.StateDir, opts.Env, opts.Clock, n.logger, spec.stopGrace()/2)
	if spec.NodeType == driver.NodeHead {
		n.jobs = newJobManager(spec.PodName, spec.StateDir, opts.Env, spec.maxJobs(), opts.Clock, n.logger, spec.stopGrace()/2)
		n.head = newHeadState(n)
	}
	return n, nil
}

// Handler is the node's HTTP API.
func (n *Node) Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/internal/status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, n.life.snapshot()) })
	r.Post("/internal/exec", n.handleExec)
	r.Get("/internal/exec/{id}", n.handleExecStatus)
	if n.head != nil {
		n.head.routes(r)
	}
	return r
}

// Run serves on 127.0.0.1:port until ctx ends, then stops jobs and
// executions and returns.
func (n *Node) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.spec.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", n.spec.Port, err)
	}
	return n.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	n.logger.Info("node started", "node_type", n.spec.NodeType, "addr", ln.Addr().String())

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runInit(ctx, n.life, n.spec.InitCommands, n.spec.StateDir, n.env, n.log, n.logger, n.clk, n.spec.stopGrace()/2)
		if ctx.Err() == nil && len(n.spec.RemoteCommands) > 0 {
			n.execs.RunQueued(ctx, n.spec.RemoteCommands)
		}
	}()
	// A pod whose state dir was removed (cluster data deleted, test temp dir
	// cleaned up) has nobody left to stop it: shut down.
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.watchStateDir(ctx, cancel)
	}()
	if n.spec.NodeType == driver.NodeWorker {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.heartbeatLoop(ctx, ln.Addr().String())
		}()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	}
	n.logger.Info("node stopping")
	cancel() // stops init commands, remote commands, heartbeats and the watcher
	if n.jobs != nil {
		n.jobs.Shutdown()
	}
	n.execs.Shutdown()
	shutCtx, shutCancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer shutCancel()
	_ = srv.Shutdown(shutCtx)
	wg.Wait()
	return err
}

// StateDirCheckInterval is how often a node checks that its state dir still exists.
const StateDirCheckInterval = 2 * time.Second

func (n *Node) watchStateDir(ctx context.Context, stop context.CancelFunc) {
	t := n.clk.NewTicker(StateDirCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if _, err := os.Stat(n.spec.StateDir); errors.Is(err, fs.ErrNotExist) {
			n.logger.Warn("state dir removed; shutting down", "state_dir", n.spec.StateDir)
			stop()
			return
		}
	}
}

func (n *Node) heartbeatLoop(ctx context.Context, addr string) {
	clock.Every(ctx, n.clk, n.spec.heartbeatInterval(), true, func(ctx context.Context) { n.sendHeartbeat(ctx, addr) })
}

func (n *Node) sendHeartbeat(ctx context.Context, addr string) {
	st := n.life.snapshot()
	hb := Heartbeat{PodName: n.spec.PodName, Group: n.spec.Group, ExecAddress: addr, Pid: st.Pid, Ready: st.Ready,
		CPU: n.spec.CPU, Memory: n.spec.Memory, StartedAt: st.StartedAt}
	body, _ := json.Marshal(hb)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.spec.HeadURL+"/internal/heartbeat", bytesReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		n.life.setHeartbeatOK(n.clk.Now().UnixMilli())
	}
}

func (n *Node) handleExec(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeExec(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	st, err := n.execs.Start(req.ExecutionID, req.Command, time.Duration(req.TimeoutSeconds)*time.Second)
	if err != nil {
		writeErr(w, apierr.Wrap(apierr.Unavailable, err, "node is shutting down"))
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

// DecodeExec reads and validates an exec request body.
func DecodeExec(r io.Reader) (ExecRequest, error) {
	var req ExecRequest
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	if err := dec.Decode(&req); err != nil {
		return req, apierr.New(apierr.InvalidArgument, "request body must be a JSON object {execution_id, command, timeout_seconds}")
	}
	if err := driver.ValidateExecutionID("execution_id", req.ExecutionID); err != nil {
		return req, err
	}
	if req.Command == "" {
		return req, apierr.InvalidField("command", "command is required")
	}
	if req.TimeoutSeconds < 0 {
		return req, apierr.InvalidField("timeout_seconds", "timeout_seconds must not be negative")
	}
	return req, nil
}

func (n *Node) handleExecStatus(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	st, ok := n.execs.Get(id)
	if !ok {
		writeErr(w, apierr.New(apierr.NotFound, "execution %s not found on %s", id, n.spec.PodName))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the error JSON of node endpoints.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeErr(w http.ResponseWriter, err error) {
	e := apierr.From(err)
	name := "internal_server_error"
	switch e.Kind {
	case apierr.InvalidArgument, apierr.FailedPrecondition:
		name = "bad_request"
	case apierr.NotFound:
		name = "not_found"
	case apierr.Unavailable:
		name = "service_unavailable"
	}
	writeJSON(w, e.Kind.HTTPStatus(), ErrorBody{Error: name, Message: e.Message, Field: e.Field})
}
