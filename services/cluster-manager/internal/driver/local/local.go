// Package local is the local process driver: each cluster runs as one head
// and N worker OS processes (`<node_command> head|worker ...`) in one
// process group, with its state kept in a JSON file so a restarted
// cluster-manager re-attaches to running clusters.
package local

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/fsutil"
	"github.com/darwinml/darwin/services/cluster-manager/internal/node"
	"github.com/darwinml/darwin/services/cluster-manager/internal/proc"
)

const (
	envClusterID = "DARWIN_CLUSTER_ID"
	stateFile    = "state.json"
	clusterFile  = "cluster.json"
	maxExecsKept = 200
)

// Config of the local driver.
type Config struct {
	DataDir           string
	NodeCommand       []string // e.g. [/path/to/cluster-manager, node]
	HeartbeatInterval time.Duration
	NodeTimeout       time.Duration
	StopGrace         time.Duration
	MaxConcurrentJobs int
}

// Driver is the local process driver.
type Driver struct {
	cfg       Config
	logger    *slog.Logger
	clk       clock.Clock
	artifacts artifact.Store
	client    *http.Client

	mu       sync.Mutex
	clusters map[string]*clusterRT
}

// State is the persisted runtime state of an installed cluster.
type State struct {
	Cluster   string       `json:"cluster"`
	Artifact  string       `json:"artifact"`
	StartedAt time.Time    `json:"started_at"`
	Pgid      int          `json:"pgid"`
	HeadPort  int          `json:"head_port"`
	Pods      []PodState   `json:"pods"`
	Execs     []ExecRecord `json:"execs,omitempty"`
}

// PodState is one node process.
type PodState struct {
	Name     string `json:"name"`
	NodeType string `json:"node_type"`
	Group    string `json:"group,omitempty"`
	Pid      int    `json:"pid"`
	Port     int    `json:"port"`
	Dir      string `json:"dir"`
	Log      string `json:"log"`
}

// ExecRecord remembers which pods an execution was started on.
type ExecRecord struct {
	ID   string   `json:"id"`
	Pods []string `json:"pods"`
}

type clusterMeta struct {
	Cluster      string    `json:"cluster"`
	LastArtifact string    `json:"last_artifact"`
	AppliedAt    time.Time `json:"applied_at"`
}

type exitInfo struct {
	done    chan struct{}
	code    int
	message string
}

type clusterRT struct {
	id   string
	opMu sync.Mutex // serializes Start/Stop/Restart

	mu    sync.Mutex
	state *State
	exits map[int]*exitInfo // children started by this driver instance
}

// New returns a local driver storing artifacts in artifacts and state under
// cfg.DataDir/clusters.
func New(cfg Config, artifacts artifact.Store, logger *slog.Logger, clk clock.Clock) (*Driver, error) {
	if len(cfg.NodeCommand) == 0 || cfg.NodeCommand[0] == "" {
		return nil, errors.New("local driver: node command is required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("local driver: data dir is required")
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data dir: %w", err)
	}
	cfg.DataDir = abs
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = node.DefaultStopGrace
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "clusters"), 0o755); err != nil {
		return nil, fmt.Errorf("create clusters dir: %w", err)
	}
	return &Driver{
		cfg: cfg, logger: logger, clk: clk, artifacts: artifacts,
		client:   &http.Client{Timeout: 3 * time.Second},
		clusters: map[string]*clusterRT{},
	}, nil
}

func (d *Driver) clusterDir(id string) string { return filepath.Join(d.cfg.DataDir, "clusters", id) }

// rt returns the runtime record of a cluster. Without create it returns nil
// for a cluster that was never applied or installed.
func (d *Driver) rt(id string, create bool) *clusterRT {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clusters[id]; ok {
		return c
	}
	if !create {
		_, errMeta := os.Stat(filepath.Join(d.clusterDir(id), clusterFile))
		_, errState := os.Stat(filepath.Join(d.clusterDir(id), stateFile))
		if errMeta != nil && errState != nil {
			return nil
		}
	}
	c := &clusterRT{id: id, exits: map[int]*exitInfo{}}
	d.clusters[id] = c
	return c
}

func (d *Driver) known(id string) (*clusterRT, error) {
	if err := driver.ValidateName("cluster_name", id); err != nil {
		return nil, err
	}
	c := d.rt(id, false)
	if c == nil {
		return nil, apierr.New(apierr.NotFound, "cluster %s not found", id)
	}
	return c, nil
}

// Recover loads the state of installed clusters from disk and re-attaches
// to their processes. A pod counts as ours only when its pid is alive and
// its command line carries the cluster id.
func (d *Driver) Recover(_ context.Context) error {
	entries, err := os.ReadDir(filepath.Join(d.cfg.DataDir, "clusters"))
	if err != nil {
		return fmt.Errorf("list clusters: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(d.clusterDir(e.Name()), stateFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read state of %s: %w", e.Name(), err)
		}
		var st State
		if err := json.Unmarshal(data, &st); err != nil {
			d.logger.Warn("ignoring unreadable cluster state", "cluster_id", e.Name(), "err", err)
			continue
		}
		c := d.rt(e.Name(), true)
		c.mu.Lock()
		c.state = &st
		c.mu.Unlock()
		alive := 0
		for _, p := range st.Pods {
			if isClusterNode(p.Pid, st.Cluster) {
				alive++
			}
		}
		d.logger.Info("re-attached to cluster", "cluster_id", st.Cluster, "pods", len(st.Pods), "alive", alive)
	}
	return nil
}

// Apply validates and stores a values document.
func (d *Driver) Apply(ctx context.Context, cluster, artifactName string, values []byte) (string, error) {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return "", err
	}
	if err := driver.ValidateName("artifact_name", artifactName); err != nil {
		return "", err
	}
	if _, err := driver.ParseValues(values); err != nil {
		return "", err
	}
	url, err := d.artifacts.Put(ctx, artifactName, values)
	if err != nil {
		return "", err
	}
	meta := clusterMeta{Cluster: cluster, LastArtifact: artifactName, AppliedAt: d.clk.Now().UTC()}
	if err := fsutil.WriteJSONAtomic(filepath.Join(d.clusterDir(cluster), clusterFile), meta); err != nil {
		return "", apierr.Wrap(apierr.Internal, err, "record artifact of cluster %s", cluster)
	}
	d.rt(cluster, true)
	return url, nil
}

func (d *Driver) lastArtifact(cluster string) string {
	data, err := os.ReadFile(filepath.Join(d.clusterDir(cluster), clusterFile))
	if err != nil {
		return ""
	}
	var m clusterMeta
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	return m.LastArtifact
}

// Start installs the cluster from artifact. Starting an installed cluster
// with the same artifact whose pods all run is a no-op; otherwise the old
// processes are replaced (like a Helm upgrade rolling the pods).
func (d *Driver) Start(ctx context.Context, cluster, artifactName string) error {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return err
	}
	if artifactName == "" {
		artifactName = d.lastArtifact(cluster)
		if artifactName == "" {
			return apierr.InvalidField("artifact_name", "artifact_name is required: no artifact was applied for cluster %s", cluster)
		}
	} else if err := driver.ValidateName("artifact_name", artifactName); err != nil {
		return err
	}
	values, err := d.artifacts.Get(ctx, artifactName)
	if err != nil {
		return err
	}
	spec, err := driver.ParseValues(values)
	if err != nil {
		return err
	}
	c := d.rt(cluster, true)
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st != nil {
		if st.Artifact == artifactName && d.allAlive(c, st) {
			return nil
		}
		if err := d.stopLocked(ctx, c); err != nil {
			return err
		}
	}
	return d.startLocked(c, artifactName, spec)
}

func (d *Driver) allAlive(c *clusterRT, st *State) bool {
	for _, p := range st.Pods {
		if !d.alive(c, st.Cluster, p.Pid) {
			return false
		}
	}
	return true
}

// alive reports whether pid (a pod of cluster) still runs.
func (d *Driver) alive(c *clusterRT, cluster string, pid int) bool {
	c.mu.Lock()
	ex, ours := c.exits[pid]
	c.mu.Unlock()
	if ours {
		select {
		case <-ex.done:
			return false
		default:
			return true
		}
	}
	return isClusterNode(pid, cluster)
}

func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// freePorts reserves n distinct loopback ports.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

type podPlan struct {
	pod  PodState
	spec node.Spec
	env  []driver.EnvVar
}

func (d *Driver) startLocked(c *clusterRT, artifactName string, spec driver.Spec) error {
	cluster := c.id
	dir := d.clusterDir(cluster)
	podsDir := filepath.Join(dir, "pods")
	if err := os.RemoveAll(podsDir); err != nil {
		return apierr.Wrap(apierr.Internal, err, "clean pod dirs of cluster %s", cluster)
	}
	total := 1
	for _, g := range spec.WorkerGroups {
		total += g.Replicas
	}
	ports, err := freePorts(total)
	if err != nil {
		return apierr.Wrap(apierr.Unavailable, err, "reserve ports for cluster %s", cluster)
	}
	headURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	base := node.Spec{
		ClusterID: cluster, ClusterName: spec.ClusterName,
		HeartbeatIntervalMS: d.cfg.HeartbeatInterval.Milliseconds(), NodeTimeoutMS: d.cfg.NodeTimeout.Milliseconds(),
		StopGraceMS: d.cfg.StopGrace.Milliseconds(), MaxConcurrentJobs: d.cfg.MaxConcurrentJobs,
		InitCommands: spec.InitCommands,
	}
	var plans []podPlan
	headName := cluster + "-kuberay-head-" + randomSuffix()
	hs := base
	hs.PodName, hs.NodeType, hs.Port, hs.CPU, hs.Memory = headName, driver.NodeHead, ports[0], spec.Head.CPU, spec.Head.Memory
	hs.RemoteCommands = spec.RemoteCommands.Head
	plans = append(plans, podPlan{pod: PodState{Name: headName, NodeType: driver.NodeHead, Port: ports[0]}, spec: hs, env: spec.Head.Env})
	i := 1
	for _, g := range spec.WorkerGroups {
		for range g.Replicas {
			name := cluster + "-kuberay-worker-" + g.Name + "-" + randomSuffix()
			ws := base
			ws.PodName, ws.NodeType, ws.Group, ws.Port, ws.HeadURL = name, driver.NodeWorker, g.Name, ports[i], headURL
			ws.CPU, ws.Memory = g.CPU, g.Memory
			ws.RemoteCommands = spec.RemoteCommands.Worker
			plans = append(plans, podPlan{pod: PodState{Name: name, NodeType: driver.NodeWorker, Group: g.Name, Port: ports[i]}, spec: ws, env: g.Env})
			i++
		}
	}
	st := &State{Cluster: cluster, Artifact: artifactName, StartedAt: d.clk.Now().UTC(), HeadPort: ports[0]}
	for _, rc := range spec.RemoteCommands.Head {
		st.Execs = append(st.Execs, ExecRecord{ID: rc.ExecutionID, Pods: []string{headName}})
	}
	var workerNames []string
	for _, p := range plans[1:] {
		workerNames = append(workerNames, p.pod.Name)
	}
	for _, rc := range spec.RemoteCommands.Worker {
		st.Execs = append(st.Execs, ExecRecord{ID: rc.ExecutionID, Pods: workerNames})
	}
	for _, p := range plans {
		pod, err := d.spawn(c, p, headURL, st.Pgid)
		if err != nil {
			d.logger.Error("start pod", "cluster_id", cluster, "pod", p.pod.Name, "err", err)
			c.mu.Lock()
			c.state = st
			c.mu.Unlock()
			_ = d.stopLocked(context.Background(), c)
			return apierr.Wrap(apierr.Internal, err, "start pod %s of cluster %s", p.pod.Name, cluster)
		}
		if st.Pgid == 0 {
			st.Pgid = pod.Pid
		}
		st.Pods = append(st.Pods, pod)
	}
	c.mu.Lock()
	c.state = st
	c.mu.Unlock()
	if err := d.saveState(c); err != nil {
		return err
	}
	d.logger.Info("cluster started", "cluster_id", cluster, "artifact", artifactName, "pods", len(st.Pods), "head_url", headURL)
	return nil
}

func (d *Driver) spawn(c *clusterRT, p podPlan, headURL string, pgid int) (PodState, error) {
	pod := p.pod
	pod.Dir = filepath.Join(d.clusterDir(c.id), "pods", pod.Name)
	pod.Log = filepath.Join(pod.Dir, "node.log")
	if err := os.MkdirAll(pod.Dir, 0o755); err != nil {
		return pod, fmt.Errorf("create pod dir: %w", err)
	}
	p.spec.StateDir = pod.Dir
	specPath := filepath.Join(pod.Dir, "node-spec.json")
	if err := fsutil.WriteJSONAtomic(specPath, p.spec); err != nil {
		return pod, err
	}
	logFile, err := os.OpenFile(pod.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return pod, fmt.Errorf("open pod log: %w", err)
	}
	defer logFile.Close()
	args := append([]string{}, d.cfg.NodeCommand[1:]...)
	args = append(args, pod.NodeType, "--cluster-id", c.id, "--port", strconv.Itoa(pod.Port),
		"--state-dir", pod.Dir, "--name", pod.Name, "--spec", specPath)
	if pod.NodeType == driver.NodeWorker {
		args = append(args, "--head", headURL, "--group", pod.Group)
	}
	cmd := exec.Command(d.cfg.NodeCommand[0], args...)
	cmd.Dir = pod.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = podEnv(c.id, pod, headURL, p.env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	if err := cmd.Start(); err != nil {
		return pod, fmt.Errorf("exec node command: %w", err)
	}
	pod.Pid = cmd.Process.Pid
	ex := &exitInfo{done: make(chan struct{})}
	c.mu.Lock()
	c.exits[pod.Pid] = ex
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		code, msg := exitStatus(err)
		c.mu.Lock()
		ex.code, ex.message = code, msg
		c.mu.Unlock()
		close(ex.done)
		d.logger.Info("pod exited", "cluster_id", c.id, "pod", pod.Name, "pid", pod.Pid, "exit", msg)
	}()
	return pod, nil
}

func exitStatus(err error) (int, string) {
	code, why := proc.ExitCode(err)
	if why != "" {
		return code, "process " + why
	}
	return code, fmt.Sprintf("process exited with code %d", code)
}

// podEnv is the environment of a node process: the manager's own
// environment without other clusters' markers, the cluster marker, Ray's
// address variables and the group's containerEnv.
func podEnv(cluster string, pod PodState, headURL string, extra []driver.EnvVar) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DARWIN_CLUSTER_ID=") || strings.HasPrefix(kv, "DARWIN_POD_NAME=") ||
			strings.HasPrefix(kv, "DARWIN_NODE_TYPE=") || strings.HasPrefix(kv, "RAY_ADDRESS=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		envClusterID+"="+cluster,
		"DARWIN_POD_NAME="+pod.Name,
		"DARWIN_NODE_TYPE="+pod.NodeType,
		"RAY_ADDRESS="+headURL,
		"CLUSTER_ID="+cluster,
	)
	for _, e := range extra {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

func (d *Driver) saveState(c *clusterRT) error {
	c.mu.Lock()
	var data State
	if c.state != nil {
		data = *c.state
		data.Pods = append([]PodState(nil), c.state.Pods...)
		data.Execs = append([]ExecRecord(nil), c.state.Execs...)
	}
	installed := c.state != nil
	c.mu.Unlock()
	path := filepath.Join(d.clusterDir(c.id), stateFile)
	if !installed {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return apierr.Wrap(apierr.Internal, err, "remove state of cluster %s", c.id)
		}
		return nil
	}
	if err := fsutil.WriteJSONAtomic(path, data); err != nil {
		return apierr.Wrap(apierr.Internal, err, "save state of cluster %s", c.id)
	}
	return nil
}

// Stop removes the cluster's processes. Stopping a known cluster that is
// not installed succeeds.
func (d *Driver) Stop(ctx context.Context, cluster string) error {
	c, err := d.known(cluster)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	return d.stopLocked(ctx, c)
}

// stopLocked: SIGTERM to the cluster's process group and every live pod,
// SIGKILL after the grace period, then a sweep for anything still carrying
// the cluster marker (jobs in their own groups, orphans).
func (d *Driver) stopLocked(ctx context.Context, c *clusterRT) error {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st == nil {
		// Nothing recorded, but never leave strays behind.
		d.sweep(c.id)
		return nil
	}
	var live []int
	for _, p := range st.Pods {
		if d.alive(c, c.id, p.Pid) {
			live = append(live, p.Pid)
		}
	}
	signalAll := func(sig syscall.Signal) {
		for _, pid := range live {
			if !d.alive(c, c.id, pid) {
				continue
			}
			if _, pg, ok := procStat(pid); ok && pg > 1 && pg != syscall.Getpgrp() {
				_ = syscall.Kill(-pg, sig)
			}
			_ = syscall.Kill(pid, sig)
		}
	}
	signalAll(syscall.SIGTERM)
	deadline := d.clk.Now().Add(d.cfg.StopGrace)
	for d.anyAlive(c, live) && d.clk.Now().Before(deadline) {
		if !sleepCtx(ctx, 50*time.Millisecond) {
			break
		}
	}
	if d.anyAlive(c, live) {
		d.logger.Warn("pods did not stop within the grace period; killing", "cluster_id", c.id)
		signalAll(syscall.SIGKILL)
	}
	d.sweep(c.id)
	for i := 0; i < 40 && d.anyAlive(c, live); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	c.mu.Lock()
	c.state = nil
	for pid, ex := range c.exits {
		select {
		case <-ex.done:
			delete(c.exits, pid)
		default:
		}
	}
	c.mu.Unlock()
	if err := d.saveState(c); err != nil {
		return err
	}
	d.logger.Info("cluster stopped", "cluster_id", c.id)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (d *Driver) anyAlive(c *clusterRT, pids []int) bool {
	for _, pid := range pids {
		if d.alive(c, c.id, pid) {
			return true
		}
	}
	return false
}

// sweep SIGKILLs every remaining process of the cluster (and its group).
func (d *Driver) sweep(cluster string) {
	for round := 0; round < 3; round++ {
		pids := clusterProcesses(cluster)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			if _, pg, ok := procStat(pid); ok && pg > 1 && pg != syscall.Getpgrp() {
				_ = syscall.Kill(-pg, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops then starts the cluster.
func (d *Driver) Restart(ctx context.Context, cluster, artifactName string) error {
	c, err := d.known(cluster)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	if err := d.stopLocked(ctx, c); err != nil {
		c.opMu.Unlock()
		return err
	}
	c.opMu.Unlock()
	return d.Start(ctx, cluster, artifactName)
}

func (d *Driver) snapshot(c *clusterRT) *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		return nil
	}
	st := *c.state
	st.Pods = append([]PodState(nil), c.state.Pods...)
	st.Execs = append([]ExecRecord(nil), c.state.Execs...)
	return &st
}

// HeadURL returns the head's base URL.
func (d *Driver) HeadURL(_ context.Context, cluster string) (string, error) {
	c, err := d.known(cluster)
	if err != nil {
		return "", err
	}
	st := d.snapshot(c)
	if st == nil {
		return "", apierr.New(apierr.FailedPrecondition, "cluster %s is not running", cluster)
	}
	return "http://127.0.0.1:" + strconv.Itoa(st.HeadPort), nil
}

// List reports installed clusters with the state of their head.
func (d *Driver) List(_ context.Context) ([]driver.Release, error) {
	entries, err := os.ReadDir(filepath.Join(d.cfg.DataDir, "clusters"))
	if err != nil {
		return nil, apierr.Wrap(apierr.Internal, err, "list clusters")
	}
	var out []driver.Release
	for _, e := range entries {
		if !e.IsDir() || driver.ValidateName("cluster_name", e.Name()) != nil {
			continue
		}
		c := d.rt(e.Name(), false)
		if c == nil {
			continue
		}
		st := d.snapshot(c)
		if st == nil {
			continue
		}
		status := driver.PodFailed
		for _, p := range st.Pods {
			if p.NodeType == driver.NodeHead && d.alive(c, c.id, p.Pid) {
				status = driver.PodRunning
			}
		}
		out = append(out, driver.Release{Name: c.id, Status: status, Artifact: st.Artifact})
	}
	return out, nil
}

// StopAll stops every installed cluster (for tests and development setups
// that do not want clusters to outlive the service).
func (d *Driver) StopAll(ctx context.Context) error {
	rels, err := d.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rels {
		if err := d.Stop(ctx, r.Name); err != nil {
			errs = append(errs, fmt.Errorf("stop cluster %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops nothing: cluster processes keep running (like pods when the
// control plane restarts) and a new driver re-attaches to them.
func (d *Driver) Close() error { return nil }
