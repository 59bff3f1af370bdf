package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/node"
)

// Exec starts the command in every live target pod through the pod's own
// /internal/exec endpoint, so it runs in that process's environment and
// working dir.
func (d *Driver) Exec(ctx context.Context, req driver.ExecRequest) ([]string, error) {
	c, err := d.known(req.Cluster)
	if err != nil {
		return nil, err
	}
	target, err := driver.NormalizeTarget(req.Target)
	if err != nil {
		return nil, err
	}
	if req.Command == "" {
		return nil, apierr.InvalidField("command", "command is required")
	}
	if req.Timeout < 0 {
		return nil, apierr.InvalidField("timeout_seconds", "timeout_seconds must not be negative")
	}
	if req.ExecutionID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		req.ExecutionID = "exec-" + hex.EncodeToString(b)
	} else if err := driver.ValidateExecutionID("execution_id", req.ExecutionID); err != nil {
		return nil, err
	}
	st := d.snapshot(c)
	if st == nil {
		return nil, apierr.New(apierr.FailedPrecondition, "cluster %s is not running", req.Cluster)
	}
	var targets []PodState
	for _, p := range st.Pods {
		if target == driver.TargetCluster || target == p.NodeType {
			if d.alive(c, c.id, p.Pid) {
				targets = append(targets, p)
			}
		}
	}
	if len(targets) == 0 {
		return nil, apierr.New(apierr.FailedPrecondition, "no running %s pod in cluster %s", target, req.Cluster)
	}
	body, _ := json.Marshal(node.ExecRequest{ExecutionID: req.ExecutionID, Command: req.Command, TimeoutSeconds: int(req.Timeout.Seconds())})
	started := make([]bool, len(targets))
	var wg sync.WaitGroup
	for i, p := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.postExec(ctx, p, body); err != nil {
				d.logger.Warn("exec not started on pod", "cluster_id", c.id, "pod", p.Name, "err", err)
				return
			}
			started[i] = true
		}()
	}
	wg.Wait()
	var names []string
	for i, p := range targets {
		if started[i] {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return nil, apierr.New(apierr.Unavailable, "no pod of cluster %s accepted the command", req.Cluster)
	}
	c.mu.Lock()
	if c.state != nil {
		c.state.Execs = append(c.state.Execs, ExecRecord{ID: req.ExecutionID, Pods: names})
		if over := len(c.state.Execs) - maxExecsKept; over > 0 {
			c.state.Execs = append([]ExecRecord(nil), c.state.Execs[over:]...)
		}
	}
	c.mu.Unlock()
	if err := d.saveState(c); err != nil {
		return nil, err
	}
	return names, nil
}

func (d *Driver) postExec(ctx context.Context, p PodState, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, podURL(p)+"/internal/exec", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("pod answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// ExecStatus aggregates an execution's status over the pods it was
// started on. A pod that died meanwhile reports failed.
func (d *Driver) ExecStatus(ctx context.Context, cluster, executionID string) ([]driver.PodExec, error) {
	c, err := d.known(cluster)
	if err != nil {
		return nil, err
	}
	if err := driver.ValidateExecutionID("execution_id", executionID); err != nil {
		return nil, err
	}
	st := d.snapshot(c)
	if st == nil {
		return nil, apierr.New(apierr.NotFound, "execution %s not found: cluster %s is not running", executionID, cluster)
	}
	var podNames []string
	seen := map[string]bool{}
	for _, rec := range st.Execs {
		if rec.ID != executionID {
			continue
		}
		for _, n := range rec.Pods {
			if !seen[n] {
				seen[n] = true
				podNames = append(podNames, n)
			}
		}
	}
	if len(podNames) == 0 {
		return nil, apierr.New(apierr.NotFound, "execution %s not found in cluster %s", executionID, cluster)
	}
	byName := map[string]PodState{}
	for _, p := range st.Pods {
		byName[p.Name] = p
	}
	out := make([]driver.PodExec, len(podNames))
	var wg sync.WaitGroup
	for i, name := range podNames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = d.podExec(ctx, c, byName[name], name, executionID)
		}()
	}
	wg.Wait()
	return out, nil
}

func (d *Driver) podExec(ctx context.Context, c *clusterRT, p PodState, name, id string) driver.PodExec {
	pe := driver.PodExec{Pod: name, Status: driver.ExecFailed, ExitCode: -1}
	if p.Pid == 0 || !d.alive(c, c.id, p.Pid) {
		pe.Message = "pod is not running"
		return pe
	}
	var st node.ExecStatus
	code, err := d.getJSON(ctx, podURL(p)+"/internal/exec/"+id, &st)
	switch {
	case err != nil:
		pe.Status, pe.ExitCode, pe.Message = driver.ExecRunning, 0, "pod is not answering"
	case code == http.StatusNotFound:
		pe.Status, pe.ExitCode, pe.Message = driver.ExecRunning, 0, "not started yet"
	case code != http.StatusOK:
		pe.Status, pe.ExitCode, pe.Message = driver.ExecRunning, 0, fmt.Sprintf("pod answered %d", code)
	default:
		pe.Status, pe.ExitCode, pe.Output, pe.Message = st.Status, st.ExitCode, st.Output, st.Message
	}
	return pe
}
