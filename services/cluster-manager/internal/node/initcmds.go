package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/proc"
)

// Init command statuses (as the original start script reports them).
const (
	InitPending = "PENDING"
	InitStarted = "STARTED"
	InitSuccess = "SUCCESS"
	InitFailed  = "FAILED"
)

// InitCommandStatus is the outcome of one init script line.
type InitCommandStatus struct {
	Index    int    `json:"index"`
	Command  string `json:"command"`
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Message  string `json:"message,omitempty"`
}

// NodeStatus is the JSON of GET /internal/status on every node.
type NodeStatus struct {
	PodName   string              `json:"pod_name"`
	NodeType  string              `json:"node_type"`
	Group     string              `json:"group,omitempty"`
	Pid       int                 `json:"pid"`
	Ready     bool                `json:"ready"`
	Message   string              `json:"message,omitempty"`
	StartedAt int64               `json:"started_at"`
	Init      []InitCommandStatus `json:"init"`
	// Workers: when the head last accepted a heartbeat (ms epoch, 0 = never).
	LastHeartbeatOK int64 `json:"last_heartbeat_ok,omitempty"`
}

// lifecycle tracks init progress and readiness of a node.
type lifecycle struct {
	mu     sync.Mutex
	status NodeStatus
	ready  chan struct{}
}

func newLifecycle(spec Spec, pid int, now time.Time) *lifecycle {
	st := NodeStatus{PodName: spec.PodName, NodeType: spec.NodeType, Group: spec.Group, Pid: pid, StartedAt: now.UnixMilli()}
	for i, c := range spec.InitCommands {
		st.Init = append(st.Init, InitCommandStatus{Index: i, Command: c, Status: InitPending})
	}
	if len(st.Init) > 0 {
		st.Message = "running init commands"
	}
	return &lifecycle{status: st, ready: make(chan struct{})}
}

func (l *lifecycle) snapshot() NodeStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	st.Init = append([]InitCommandStatus(nil), l.status.Init...)
	return st
}

func (l *lifecycle) isReady() bool {
	select {
	case <-l.ready:
		return true
	default:
		return false
	}
}

func (l *lifecycle) setInit(i int, status string, code int, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status.Init[i].Status, l.status.Init[i].ExitCode, l.status.Init[i].Message = status, code, msg
}

func (l *lifecycle) markReady() {
	l.mu.Lock()
	defer l.mu.Unlock()
	failed := 0
	msg := ""
	for _, c := range l.status.Init {
		if c.Status == InitFailed {
			failed++
			if msg == "" {
				msg = fmt.Sprintf("init command %d failed (exit code %d): %s", c.Index+1, c.ExitCode, c.Command)
			}
		}
	}
	if failed > 1 {
		msg += fmt.Sprintf(" (and %d more)", failed-1)
	}
	l.status.Message = msg
	l.status.Ready = true
	close(l.ready)
}

func (l *lifecycle) setHeartbeatOK(ms int64) {
	l.mu.Lock()
	l.status.LastHeartbeatOK = ms
	l.mu.Unlock()
}

// runInit runs the init commands one by one, logging their output to log.
// A failing command is recorded and does not stop the node.
func runInit(ctx context.Context, l *lifecycle, cmds []string, dir string, env []string, log io.Writer, logger *slog.Logger, clk clock.Clock, grace time.Duration) {
	for i, c := range cmds {
		if ctx.Err() != nil {
			return
		}
		l.setInit(i, InitStarted, 0, "")
		_, _ = fmt.Fprintf(log, "=== init command %d: %s\n", i+1, c)
		cmd := shellCommand(c, dir, env)
		cmd.Stdout, cmd.Stderr = log, log
		start := clk.Now()
		if err := cmd.Start(); err != nil {
			l.setInit(i, InitFailed, -1, fmt.Sprintf("start: %v", err))
			logger.Warn("init command failed", "index", i+1, "err", err)
			continue
		}
		var waitErr error
		exited := make(chan struct{})
		go func() { waitErr = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-ctx.Done():
			terminateGroup(cmd.Process.Pid, exited, grace)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		code, why := proc.ExitCode(waitErr)
		if waitErr != nil {
			l.setInit(i, InitFailed, code, why)
			_, _ = fmt.Fprintf(log, "=== init command %d FAILED (exit code %d) after %s\n", i+1, code, clk.Now().Sub(start).Round(time.Millisecond))
			logger.Warn("init command failed", "index", i+1, "exit_code", code)
			continue
		}
		l.setInit(i, InitSuccess, 0, "")
		_, _ = fmt.Fprintf(log, "=== init command %d SUCCESS after %s\n", i+1, clk.Now().Sub(start).Round(time.Millisecond))
	}
	if ctx.Err() == nil {
		l.markReady()
	}
}
