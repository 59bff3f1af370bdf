package node

import (
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
)

type workerInfo struct {
	hb       Heartbeat
	lastSeen time.Time
}

type headState struct {
	n            *Node
	mu           sync.Mutex
	workers      map[string]*workerInfo
	started      time.Time
	lastActivity time.Time
}

func newHeadState(n *Node) *headState {
	now := n.clk.Now()
	return &headState{n: n, workers: map[string]*workerInfo{}, started: now, lastActivity: now}
}

func (h *headState) routes(r chi.Router) {
	r.Post("/internal/heartbeat", h.heartbeat)
	r.Group(func(r chi.Router) {
		r.Use(h.requireReady)
		r.Get("/", h.dashboard)
		r.Get("/api/version", h.version)
		r.Get("/nodes", h.nodes)
		for _, p := range []string{"/api/jobs", "/api/jobs/"} {
			r.Post(p, h.submitJob)
			r.Get(p, h.listJobs)
		}
		r.Get("/api/jobs/{id}", h.getJob)
		r.Get("/api/jobs/{id}/logs", h.jobLogs)
		r.Post("/api/jobs/{id}/stop", h.stopJob)
		r.Delete("/api/jobs/{id}", h.deleteJob)
		r.Get("/jupyter", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", "jupyter/")
			w.WriteHeader(http.StatusFound)
		})
		r.Get("/jupyter/", h.jupyterLab)
		r.Get("/jupyter/lab", h.jupyterLab)
		r.Get("/jupyter/lab/*", h.jupyterLab)
		r.Get("/jupyter/api/status", h.jupyterStatus)
		r.Get("/jupyter/api/kernels", h.jupyterEmptyList)
		r.Get("/jupyter/api/terminals", h.jupyterEmptyList)
	})
}

func (h *headState) requireReady(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.n.life.isReady() {
			writeErr(w, apierr.New(apierr.Unavailable, "head node is starting: init commands are still running"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *headState) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb Heartbeat
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&hb); err != nil || hb.PodName == "" {
		writeErr(w, apierr.InvalidField("pod_name", "heartbeat must be a JSON object with pod_name"))
		return
	}
	h.mu.Lock()
	h.workers[hb.PodName] = &workerInfo{hb: hb, lastSeen: h.n.clk.Now()}
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (h *headState) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"version": "4", "ray_version": RayVersion, "ray_commit": "darwin-local", "session_name": "session_" + h.n.spec.ClusterID,
	})
}

// NodeSummary is one entry of GET /nodes?view=summary (loosely Ray's shape).
type NodeSummary struct {
	Hostname          string        `json:"hostname"`
	IP                string        `json:"ip"`
	Now               float64       `json:"now"`
	BootTime          float64       `json:"bootTime"`
	CPUs              []int         `json:"cpus"`
	Mem               []int64       `json:"mem"`
	Raylet            RayletSummary `json:"raylet"`
	PodName           string        `json:"podName"`
	Group             string        `json:"group,omitempty"`
	LastHeartbeatTime int64         `json:"lastHeartbeatTime"`
	ExecAddress       string        `json:"execAddress,omitempty"`
}

// RayletSummary is the raylet part of a node summary.
type RayletSummary struct {
	NodeID             string             `json:"nodeId"`
	NodeName           string             `json:"nodeName"`
	State              string             `json:"state"` // ALIVE | PENDING | DEAD
	IsHeadNode         bool               `json:"isHeadNode"`
	NodeManagerAddress string             `json:"nodeManagerAddress"`
	Pid                int                `json:"pid"`
	ResourcesTotal     map[string]float64 `json:"resourcesTotal"`
}

// NodesResponse is the body of GET /nodes?view=summary.
type NodesResponse struct {
	Result bool   `json:"result"`
	Msg    string `json:"msg"`
	Data   struct {
		Summary []NodeSummary `json:"summary"`
	} `json:"data"`
}

func resources(cpu float64, mem int64) map[string]float64 {
	r := map[string]float64{}
	if cpu > 0 {
		r["CPU"] = cpu
	}
	if mem > 0 {
		r["memory"] = float64(mem)
	}
	return r
}

func (h *headState) summary() []NodeSummary {
	now := h.n.clk.Now()
	total, avail := memInfo()
	mem := []int64{total, avail, 0, total - avail}
	if total > 0 {
		mem[2] = (total - avail) * 100 / total
	}
	ncpu := numCPU()
	st := h.n.life.snapshot()
	out := []NodeSummary{{
		Hostname: h.n.spec.PodName, IP: "127.0.0.1", Now: float64(now.UnixMilli()) / 1000, BootTime: float64(st.StartedAt) / 1000,
		CPUs: []int{ncpu, ncpu}, Mem: mem, PodName: h.n.spec.PodName, LastHeartbeatTime: now.UnixMilli(),
		Raylet: RayletSummary{NodeID: h.n.spec.PodName, NodeName: h.n.spec.PodName, State: "ALIVE", IsHeadNode: true,
			NodeManagerAddress: "127.0.0.1", Pid: st.Pid, ResourcesTotal: resources(h.n.spec.CPU, h.n.spec.Memory)},
	}}
	h.mu.Lock()
	names := make([]string, 0, len(h.workers))
	for name := range h.workers {
		names = append(names, name)
	}
	sort.Strings(names)
	timeout := h.n.spec.nodeTimeout()
	for _, name := range names {
		wi := h.workers[name]
		state := "ALIVE"
		switch {
		case now.Sub(wi.lastSeen) > timeout:
			state = "DEAD"
		case !wi.hb.Ready:
			state = "PENDING"
		}
		out = append(out, NodeSummary{
			Hostname: name, IP: "127.0.0.1", Now: float64(now.UnixMilli()) / 1000, BootTime: float64(wi.hb.StartedAt) / 1000,
			CPUs: []int{ncpu, ncpu}, Mem: mem, PodName: name, Group: wi.hb.Group, LastHeartbeatTime: wi.lastSeen.UnixMilli(),
			ExecAddress: wi.hb.ExecAddress,
			Raylet: RayletSummary{NodeID: name, NodeName: name, State: state, NodeManagerAddress: "127.0.0.1", Pid: wi.hb.Pid,
				ResourcesTotal: resources(wi.hb.CPU, wi.hb.Memory)},
		})
	}
	h.mu.Unlock()
	return out
}

func (h *headState) nodes(w http.ResponseWriter, _ *http.Request) {
	var resp NodesResponse
	resp.Result, resp.Msg = true, "Node summary fetched."
	resp.Data.Summary = h.summary()
	writeJSON(w, http.StatusOK, resp)
}

func (h *headState) submitJob(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeSubmit(r.Body, h.n.spec.StateDir)
	if err != nil {
		writeErr(w, err)
		return
	}
	d, err := h.n.jobs.Submit(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"job_id": d.JobID, "submission_id": d.SubmissionID})
}

func (h *headState) listJobs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.n.jobs.List())
}

func (h *headState) getJob(w http.ResponseWriter, r *http.Request) {
	d, err := h.n.jobs.Get(chi.URLParam(r, "id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *headState) jobLogs(w http.ResponseWriter, r *http.Request) {
	logs, err := h.n.jobs.Logs(chi.URLParam(r, "id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"logs": logs})
}

func (h *headState) stopJob(w http.ResponseWriter, r *http.Request) {
	stopped, err := h.n.jobs.Stop(chi.URLParam(r, "id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"stopped": stopped})
}

func (h *headState) deleteJob(w http.ResponseWriter, r *http.Request) {
	deleted, err := h.n.jobs.Delete(chi.URLParam(r, "id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": deleted})
}

// JupyterStatus is the body of /jupyter/api/status (Jupyter Server's shape).
type JupyterStatus struct {
	Started      string `json:"started"`
	LastActivity string `json:"last_activity"`
	Kernels      int    `json:"kernels"`
	Connections  int    `json:"connections"`
}

const jupyterTime = "2006-01-02T15:04:05.000000Z"

func (h *headState) jupyterStatus(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	st := JupyterStatus{Started: h.started.UTC().Format(jupyterTime), LastActivity: h.lastActivity.UTC().Format(jupyterTime)}
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (h *headState) jupyterEmptyList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []any{})
}

func (h *headState) jupyterLab(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	h.lastActivity = h.n.clk.Now()
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = jupyterPage.Execute(w, map[string]string{"Cluster": h.n.spec.ClusterID, "Dir": h.n.spec.StateDir})
}

func (h *headState) dashboard(w http.ResponseWriter, _ *http.Request) {
	data := map[string]any{
		"Cluster": h.n.spec.ClusterID, "Name": h.n.spec.ClusterName, "Nodes": h.summary(), "Jobs": h.n.jobs.List(),
		"Init": h.n.life.snapshot().Init, "RayVersion": RayVersion,
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = dashboardPage.Execute(w, data)
}

func numCPU() int {
	n := 0
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range splitLines(string(data)) {
			if len(line) >= 9 && line[:9] == "processor" {
				n++
			}
		}
	}
	if n == 0 {
		n = 1
	}
	return n
}

var dashboardPage = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"ms": func(v int64) string { return time.UnixMilli(v).UTC().Format(time.RFC3339) },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Ray dashboard — {{.Cluster}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>
</head><body>
<h1>Cluster {{.Cluster}}{{if .Name}} ({{.Name}}){{end}}</h1>
<p>Ray {{.RayVersion}} (local process cluster) · <a href="api/jobs/">jobs API</a> · <a href="nodes?view=summary">nodes API</a></p>
<h2>Nodes</h2>
<table><tr><th>Pod</th><th>Role</th><th>Group</th><th>State</th><th>PID</th><th>Last heartbeat</th></tr>
{{range .Nodes}}<tr><td>{{.PodName}}</td><td>{{if .Raylet.IsHeadNode}}head{{else}}worker{{end}}</td><td>{{.Group}}</td><td>{{.Raylet.State}}</td><td>{{.Raylet.Pid}}</td><td>{{ms .LastHeartbeatTime}}</td></tr>
{{end}}</table>
{{if .Init}}<h2>Init commands</h2>
<table><tr><th>#</th><th>Command</th><th>Status</th><th>Exit code</th></tr>
{{range .Init}}<tr><td>{{.Index}}</td><td><code>{{.Command}}</code></td><td>{{.Status}}</td><td>{{.ExitCode}}</td></tr>
{{end}}</table>{{end}}
<h2>Jobs</h2>
<table><tr><th>Submission</th><th>Status</th><th>Entrypoint</th><th>Started</th><th>Logs</th></tr>
{{range .Jobs}}<tr><td>{{.SubmissionID}}</td><td>{{.Status}}</td><td><code>{{.Entrypoint}}</code></td><td>{{ms .StartTime}}</td><td><a href="api/jobs/{{.SubmissionID}}/logs">logs</a></td></tr>
{{else}}<tr><td colspan="5">no jobs</td></tr>
{{end}}</table>
</body></html>
`))

var jupyterPage = template.Must(template.New("jupyter").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>JupyterLab — {{.Cluster}}</title></head>
<body><h1>JupyterLab (local placeholder)</h1>
<p>Cluster <code>{{.Cluster}}</code> runs as local processes; notebooks are not served here.
Working directory: <code>{{.Dir}}</code>.</p>
<p>Activity API: <a href="api/status">api/status</a>, <a href="api/kernels">api/kernels</a>, <a href="api/terminals">api/terminals</a>.</p>
</body></html>
`))
