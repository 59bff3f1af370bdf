package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/fsutil"
	"github.com/darwinml/darwin/services/cluster-manager/internal/proc"
)

const (
	maxExecOutput    = 64 << 10
	maxExecsKept     = 256
	maxExecTimeout   = 24 * time.Hour
	defaultExecLimit = time.Hour
)

// ExecStatus is the state of one execution in this pod (the JSON of
// GET /internal/exec/{id}).
type ExecStatus struct {
	ExecutionID string `json:"execution_id"`
	PodName     string `json:"pod_name"`
	Command     string `json:"command"`
	Status      string `json:"status"` // running | success | failed
	ExitCode    int    `json:"exit_code"`
	Output      string `json:"output"`
	Message     string `json:"message,omitempty"`
	StartedAt   int64  `json:"started_at,omitempty"`  // ms epoch
	FinishedAt  int64  `json:"finished_at,omitempty"` // ms epoch
}

type execution struct {
	mu     sync.Mutex
	st     ExecStatus
	tail   fsutil.TailBuffer
	done   chan struct{}
	cancel context.CancelFunc
}

func (e *execution) snapshot() ExecStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st
	st.Output = e.tail.String()
	return st
}

type lockedWriter struct {
	e *execution
	f io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.e.mu.Lock()
	_, _ = w.e.tail.Write(p)
	w.e.mu.Unlock()
	if w.f != nil {
		_, _ = w.f.Write(p)
	}
	return len(p), nil
}

// execManager runs commands inside this pod and keeps their status.
type execManager struct {
	pod    string
	dir    string // working dir
	logDir string
	env    []string
	clk    clock.Clock
	logger *slog.Logger
	grace  time.Duration

	mu      sync.Mutex
	entries map[string]*execution
	order   []string
	closed  bool
	wg      sync.WaitGroup
}

func newExecManager(pod, dir string, env []string, clk clock.Clock, logger *slog.Logger, grace time.Duration) *execManager {
	return &execManager{
		pod: pod, dir: dir, logDir: filepath.Join(dir, "exec"), env: env, clk: clk, logger: logger, grace: grace,
		entries: map[string]*execution{},
	}
}

// register creates the execution record (status running) or returns the
// existing one for the same id. created reports whether it is new.
func (m *execManager) register(id, command string) (*execution, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, fmt.Errorf("node is shutting down")
	}
	if e, ok := m.entries[id]; ok {
		return e, false, nil
	}
	e := &execution{
		st:   ExecStatus{ExecutionID: id, PodName: m.pod, Command: command, Status: driver.ExecRunning, StartedAt: m.clk.Now().UnixMilli()},
		tail: fsutil.TailBuffer{Max: maxExecOutput},
		done: make(chan struct{}),
	}
	m.entries[id] = e
	m.order = append(m.order, id)
	for len(m.order) > maxExecsKept {
		old := m.order[0]
		if oe := m.entries[old]; oe != nil && oe.snapshot().Status == driver.ExecRunning {
			break
		}
		delete(m.entries, old)
		m.order = m.order[1:]
	}
	m.wg.Add(1)
	return e, true, nil
}

// Start runs command asynchronously under id. Starting an id that exists
// returns the existing execution (idempotent retries).
func (m *execManager) Start(id, command string, timeout time.Duration) (ExecStatus, error) {
	e, created, err := m.register(id, command)
	if err != nil {
		return ExecStatus{}, err
	}
	if created {
		go func() {
			defer m.wg.Done()
			m.run(e, command, timeout)
		}()
	}
	return e.snapshot(), nil
}

// RunQueued registers all commands first (so their status is visible as
// running) and then runs them one after another.
func (m *execManager) RunQueued(ctx context.Context, cmds []driver.RemoteCommand) {
	var queued []*execution
	for _, c := range cmds {
		e, created, err := m.register(c.ExecutionID, c.Command)
		if err != nil {
			break
		}
		if created {
			queued = append(queued, e)
		}
	}
	for i, e := range queued {
		if ctx.Err() != nil {
			for _, rest := range queued[i:] {
				m.finish(rest, driver.ExecFailed, -1, "node stopped before the command ran")
				m.wg.Done()
			}
			return
		}
		m.run(e, e.st.Command, 0)
		m.wg.Done()
	}
}

func (m *execManager) finish(e *execution, status string, code int, msg string) {
	e.mu.Lock()
	e.st.Status, e.st.ExitCode, e.st.Message = status, code, msg
	e.st.FinishedAt = m.clk.Now().UnixMilli()
	e.mu.Unlock()
	select {
	case <-e.done:
	default:
		close(e.done)
	}
}

func (m *execManager) run(e *execution, command string, timeout time.Duration) {
	if timeout <= 0 {
		timeout = defaultExecLimit
	}
	if timeout > maxExecTimeout {
		timeout = maxExecTimeout
	}
	id := e.st.ExecutionID
	var logFile *os.File
	if err := os.MkdirAll(m.logDir, 0o755); err == nil {
		logFile, _ = os.Create(filepath.Join(m.logDir, id+".log"))
	}
	if logFile != nil {
		defer logFile.Close()
	}
	var fileW io.Writer
	if logFile != nil {
		fileW = logFile
	}
	w := lockedWriter{e: e, f: fileW}
	cmd := shellCommand(command, m.dir, m.env)
	cmd.Stdout, cmd.Stderr = w, w
	m.logger.Info("exec started", "execution_id", id, "command", command)
	if err := cmd.Start(); err != nil {
		m.finish(e, driver.ExecFailed, -1, fmt.Sprintf("start command: %v", err))
		return
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopped := make(chan struct{})
	var once sync.Once
	e.mu.Lock()
	e.cancel = func() { once.Do(func() { close(stopped) }) }
	e.mu.Unlock()
	m.mu.Lock()
	if m.closed {
		e.cancel()
	}
	m.mu.Unlock()
	msg := ""
	timer := m.clk.After(timeout)
	select {
	case <-exited:
	case <-timer:
		msg = fmt.Sprintf("timed out after %s", timeout)
		terminateGroup(cmd.Process.Pid, exited, m.grace)
		<-exited
	case <-stopped:
		msg = "stopped: node shutting down"
		terminateGroup(cmd.Process.Pid, exited, m.grace)
		<-exited
	}
	code, why := proc.ExitCode(waitErr)
	if msg == "" {
		msg = why
	}
	// Kill anything the command left behind in its process group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	status := driver.ExecSuccess
	if waitErr != nil || msg != "" {
		status = driver.ExecFailed
		if code == 0 {
			code = -1
		}
	}
	m.finish(e, status, code, msg)
	m.logger.Info("exec finished", "execution_id", id, "status", status, "exit_code", code)
}

// Get returns an execution's status.
func (m *execManager) Get(id string) (ExecStatus, bool) {
	m.mu.Lock()
	e, ok := m.entries[id]
	m.mu.Unlock()
	if !ok {
		return ExecStatus{}, false
	}
	return e.snapshot(), true
}

// Shutdown stops running executions and waits for them.
func (m *execManager) Shutdown() {
	m.mu.Lock()
	m.closed = true
	var running []*execution
	for _, e := range m.entries {
		running = append(running, e)
	}
	m.mu.Unlock()
	for _, e := range running {
		e.mu.Lock()
		c := e.cancel
		e.mu.Unlock()
		if c != nil {
			c()
		}
	}
	m.wg.Wait()
}
