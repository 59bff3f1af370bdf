package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/node"
)

const probeTimeout = 1500 * time.Millisecond

// getJSON GETs url into v and returns the HTTP status.
func (d *Driver) getJSON(ctx context.Context, url string, v any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(body, v); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", url, err)
		}
	}
	return resp.StatusCode, nil
}

func podURL(p PodState) string { return "http://127.0.0.1:" + strconv.Itoa(p.Port) }

type probe struct {
	alive    bool
	statusOK bool
	status   node.NodeStatus
	exitMsg  string
}

// Status reports every pod of the cluster: Running when the process is
// alive, its init commands finished and (head) /api/version answers or
// (worker) the head saw a recent heartbeat; Pending while starting;
// Failed when the process is gone.
func (d *Driver) Status(ctx context.Context, cluster string) (driver.Status, error) {
	c, err := d.known(cluster)
	if err != nil {
		return driver.Status{}, err
	}
	out := driver.Status{Cluster: cluster, Pods: []driver.Pod{}}
	st := d.snapshot(c)
	if st == nil {
		return out, nil
	}
	out.Installed, out.Artifact = true, st.Artifact
	headURL := "http://127.0.0.1:" + strconv.Itoa(st.HeadPort)
	out.DashboardURL, out.JupyterURL = headURL, headURL+"/jupyter"

	probes := make([]probe, len(st.Pods))
	var wg sync.WaitGroup
	for i, p := range st.Pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probes[i] = d.probePod(ctx, c, p)
		}()
	}
	var versionCode int
	var nodes node.NodesResponse
	var nodesErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		versionCode, _ = d.getJSON(ctx, headURL+"/api/version", nil)
		var code int
		code, nodesErr = d.getJSON(ctx, headURL+"/nodes?view=summary", &nodes)
		if nodesErr == nil && code != http.StatusOK {
			nodesErr = fmt.Errorf("head answered %d", code)
		}
	}()
	wg.Wait()
	seen := map[string]string{}
	for _, n := range nodes.Data.Summary {
		seen[n.PodName] = n.Raylet.State
	}
	headUp := false
	for i, p := range st.Pods {
		if p.NodeType == driver.NodeHead && probes[i].alive && probes[i].statusOK && probes[i].status.Ready && versionCode == http.StatusOK {
			headUp = true
		}
	}
	for i, p := range st.Pods {
		pr := probes[i]
		pod := driver.Pod{Name: p.Name, NodeType: p.NodeType, Group: p.Group}
		switch {
		case !pr.alive:
			pod.Status, pod.Message = driver.PodFailed, pr.exitMsg
		case !pr.statusOK:
			pod.Status, pod.Message = driver.PodPending, "node process is not answering yet"
		case !pr.status.Ready:
			pod.Status, pod.Message = driver.PodPending, orDefault(pr.status.Message, "node is starting")
		case p.NodeType == driver.NodeHead && versionCode != http.StatusOK:
			pod.Status, pod.Message = driver.PodPending, "dashboard is not answering yet"
		case p.NodeType == driver.NodeWorker && headUp && nodesErr == nil && seen[p.Name] != "ALIVE":
			pod.Status, pod.Message = driver.PodPending, "no recent heartbeat at the head"
		default:
			pod.Status, pod.Message = driver.PodRunning, pr.status.Message
			if p.NodeType == driver.NodeWorker && !headUp {
				pod.Message = "head node is not running"
			}
		}
		out.Pods = append(out.Pods, pod)
	}
	return out, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (d *Driver) probePod(ctx context.Context, c *clusterRT, p PodState) probe {
	var pr probe
	if !d.alive(c, c.id, p.Pid) {
		pr.exitMsg = d.exitMessage(c, p.Pid)
		return pr
	}
	pr.alive = true
	code, err := d.getJSON(ctx, podURL(p)+"/internal/status", &pr.status)
	pr.statusOK = err == nil && code == http.StatusOK
	return pr
}

func (d *Driver) exitMessage(c *clusterRT, pid int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ex, ok := c.exits[pid]; ok {
		return ex.message
	}
	return fmt.Sprintf("process %d is not running", pid)
}
