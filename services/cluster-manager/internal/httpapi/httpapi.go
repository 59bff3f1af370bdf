package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// DefaultExecuteTimeout bounds a synchronous POST /execute.
const DefaultExecuteTimeout = 10 * time.Minute

// API is the DCM REST surface.
type API struct {
	drv            driver.Driver
	logger         *slog.Logger
	clk            clock.Clock
	executeTimeout time.Duration
	pollInterval   time.Duration
}

// New returns the API over drv.
func New(drv driver.Driver, logger *slog.Logger, clk clock.Clock) *API {
	return &API{drv: drv, logger: logger, clk: clk, executeTimeout: DefaultExecuteTimeout, pollInterval: 200 * time.Millisecond}
}

// ClusterArtifactResponse answers POST|PUT compute/v2/cluster.
type ClusterArtifactResponse struct {
	ClusterName         string
	ClusterHelmArtifact string
	ArtifactS3Url       string
}

// ClusterStartResponse answers start and restart.
type ClusterStartResponse struct {
	ClusterName string
	Namespace   string
	KubeCluster string
}

// Resource is one pod in a status answer.
type Resource struct {
	Name    string
	Type    string
	Status  string
	Message string
}

// ClusterStatusResponse answers compute/v2/cluster/status.
type ClusterStatusResponse struct {
	ClusterName string
	Resources   []Resource
}

// ClusterRelease is one entry of GET compute/v2/cluster.
type ClusterRelease struct {
	Name   string
	Status string
}

// Register mounts the routes (without the /cluster-manager prefix).
func (a *API) Register(r chi.Router) {
	health := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS", "message": "OK"})
	}
	r.Get("/healthcheck", health)
	r.Get("/health", health)
	r.Post("/compute/v2/cluster", a.upsertCluster)
	r.Put("/compute/v2/cluster", a.upsertCluster)
	r.Get("/compute/v2/cluster", a.listClusters)
	r.Put("/compute/v2/cluster/start", a.startCluster)
	r.Put("/compute/v2/cluster/stop", a.stopCluster)
	r.Put("/compute/v2/cluster/restart", a.restartCluster)
	r.Put("/compute/v2/cluster/status", a.clusterStatus)
	r.Post("/execute", a.execute)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, a.logger, err)
}

func (a *API) upsertCluster(w http.ResponseWriter, r *http.Request) {
	up, err := DecodeClusterUpload(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	url, err := a.drv.Apply(r.Context(), up.ClusterName, up.ArtifactName, up.Values)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ClusterArtifactResponse{ClusterName: up.ClusterName, ClusterHelmArtifact: up.ArtifactName, ArtifactS3Url: url})
}

func (a *API) startCluster(w http.ResponseWriter, r *http.Request) {
	vals, _, err := readForm(w, r, "cluster_name", "artifact_name")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.drv.Start(placed(r, vals), vals["cluster_name"], vals["artifact_name"]); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ClusterStartResponse{ClusterName: vals["cluster_name"], Namespace: vals["namespace"], KubeCluster: vals["kube_cluster"]})
}

func (a *API) restartCluster(w http.ResponseWriter, r *http.Request) {
	vals, _, err := readForm(w, r, "cluster_name", "artifact_name")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.drv.Restart(placed(r, vals), vals["cluster_name"], vals["artifact_name"]); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, ClusterStartResponse{ClusterName: vals["cluster_name"], Namespace: vals["namespace"], KubeCluster: vals["kube_cluster"]})
}

func (a *API) stopCluster(w http.ResponseWriter, r *http.Request) {
	vals, _, err := readForm(w, r, "cluster_name")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.drv.Stop(placed(r, vals), vals["cluster_name"]); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, "clusterv2 Stopped")
}

func (a *API) clusterStatus(w http.ResponseWriter, r *http.Request) {
	vals, _, err := readForm(w, r, "cluster_name")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.drv.Status(placed(r, vals), vals["cluster_name"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	resp := ClusterStatusResponse{ClusterName: vals["cluster_name"], Resources: []Resource{}}
	for _, p := range st.Pods {
		resp.Resources = append(resp.Resources, Resource{Name: p.Name, Type: "pod", Status: p.Status, Message: p.Message})
	}
	writeJSON(w, http.StatusAccepted, resp)
}

func (a *API) listClusters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rels, err := a.drv.List(driver.WithPlacement(r.Context(), driver.Placement{KubeCluster: q.Get("kube_cluster"), Namespace: q.Get("namespace")}))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []ClusterRelease{}
	for _, rel := range rels {
		out = append(out, ClusterRelease{Name: rel.Name, Status: rel.Status})
	}
	writeJSON(w, http.StatusAccepted, out)
}

// execute runs the command in the selected pods and waits for it, like the
// original's synchronous pod exec.
func (a *API) execute(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeExecute(r.Body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := driver.WithPlacement(r.Context(), driver.Placement{KubeCluster: req.KubeCluster, Namespace: req.KubeNamespace})
	execID := fmt.Sprintf("execute-%d", a.clk.Now().UnixNano())
	if _, err := a.drv.Exec(ctx, driver.ExecRequest{
		Cluster: req.Cluster, Target: req.Target, Command: req.Shell, ExecutionID: execID, Timeout: a.executeTimeout,
	}); err != nil {
		a.fail(w, r, err)
		return
	}
	deadline := a.clk.After(a.executeTimeout + 5*time.Second)
	tick := a.clk.NewTicker(a.pollInterval)
	defer tick.Stop()
	for {
		pods, err := a.drv.ExecStatus(ctx, req.Cluster, execID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		running := false
		var failed []string
		for _, p := range pods {
			switch p.Status {
			case driver.ExecRunning:
				running = true
			case driver.ExecFailed:
				cause := fmt.Sprintf("%s: exit code %d", p.Pod, p.ExitCode)
				if last := strings.TrimSpace(lastLine(p.Output + "\n" + p.Message)); last != "" {
					cause += ": " + last
				}
				failed = append(failed, cause)
			}
		}
		if !running {
			if len(failed) > 0 {
				writeStatusError(w, http.StatusUnprocessableEntity, "Command failed in "+fmt.Sprint(len(failed))+" pod(s)", failed...)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS", "message": "Command executed successfully"})
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			a.fail(w, r, apierr.New(apierr.Unavailable, "command did not finish within %s", a.executeTimeout))
			return
		case <-tick.C():
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// placed carries the form's kube_cluster/namespace to the driver.
func placed(r *http.Request, vals map[string]string) context.Context {
	return driver.WithPlacement(r.Context(), driver.Placement{KubeCluster: vals["kube_cluster"], Namespace: vals["namespace"]})
}
