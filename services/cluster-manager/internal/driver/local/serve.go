package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/fsutil"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// Environment markers of serve replicas (used to recognise them after a restart).
const (
	envResourceID = "DARWIN_RESOURCE_INSTANCE_ID"
	envPodName    = "DARWIN_POD_NAME"
)

// Replica sets of a resource instance.
const (
	setActive = "active" // serving (routed)
	setNext   = "next"   // started by an upgrade, not yet ready
	setFailed = "failed" // a failed upgrade's replicas (stopped), reported as Failed pods until the next start
	setFetch  = "fetch"  // placeholders (no process) while the model is fetched into the cache, reported as Pending
)

// ServeConfig configures resource instances (darwin-fastapi-serve) on the local driver.
type ServeConfig struct {
	// DataDir holds resources/<id>/state.json and the replicas' logs.
	DataDir string
	// RuntimeCommand starts the model runtime; "--host 127.0.0.1 --port P" is appended.
	RuntimeCommand []string
	// StopGrace is the time between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// ReadyTimeout bounds how long an upgrade waits for its new replicas to answer /ready.
	ReadyTimeout time.Duration
	// ProbeInterval is how often replicas' /ready is polled for routing.
	ProbeInterval time.Duration
	// DrainTimeout bounds how long replaced replicas may finish in-flight requests before they are stopped.
	DrainTimeout time.Duration
	// FetchTimeout bounds one model download into the model cache (default 30 minutes).
	FetchTimeout time.Duration
}

// ReplicaState is one runtime process of a resource instance.
type ReplicaState struct {
	Name     string `json:"name"`
	Set      string `json:"set"`
	Artifact string `json:"artifact"`
	Pid      int    `json:"pid"`
	Port     int    `json:"port"`
	Dir      string `json:"dir"`
	Log      string `json:"log"`
	// Message explains a replica of the failed set.
	Message string `json:"message,omitempty"`
}

// ServeState is the persisted state of an installed resource instance. Spec.Env holds
// MODEL_LOCAL_PATH=<model cache dir> when the model was fetched into the cache.
type ServeState struct {
	ResourceID string             `json:"resource_id"`
	Artifact   string             `json:"artifact"`
	ValuesHash string             `json:"values_hash"`
	Spec       resource.ServeSpec `json:"spec"`
	Routes     []string           `json:"routes"`
	StartedAt  time.Time          `json:"started_at"`
	Replicas   []ReplicaState     `json:"replicas"`
	// Next is the upgrade in progress: its artifact, values hash and spec.
	Next *ServeRollout `json:"next,omitempty"`
}

// ServeRollout is an upgrade waiting for its replicas.
type ServeRollout struct {
	Artifact   string             `json:"artifact"`
	ValuesHash string             `json:"values_hash"`
	Spec       resource.ServeSpec `json:"spec"`
	Routes     []string           `json:"routes"`
}

type replicaRT struct {
	done     chan struct{} // nil for adopted processes
	exitMsg  string
	ready    atomic.Bool
	failed   atomic.Bool // the model failed to load
	message  atomic.Value
	inflight atomic.Int64
}

type serveRT struct {
	id   string
	opMu sync.Mutex

	mu       sync.Mutex
	state    *ServeState
	rts      map[string]*replicaRT // by replica name
	rollout  context.CancelFunc
	rolloutN int
	rr       atomic.Uint64
}

// Serves runs resource instances as model-runtime processes on this machine.
type Serves struct {
	cfg    ServeConfig
	logger *slog.Logger
	clk    clock.Clock
	client *http.Client

	mu  sync.Mutex
	res map[string]*serveRT

	cache modelCache

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ resource.Runner = (*Serves)(nil)

// NewServes returns the runner and starts its readiness prober; Recover re-attaches to instances of a
// previous run.
func NewServes(cfg ServeConfig, logger *slog.Logger, clk clock.Clock) (*Serves, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("local serves: data dir is required")
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data dir: %w", err)
	}
	cfg.DataDir = abs
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 5 * time.Second
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Minute
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = 500 * time.Millisecond
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Minute
	}
	if clk == nil {
		clk = clock.Real()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "resources"), 0o755); err != nil {
		return nil, fmt.Errorf("create resources dir: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Serves{cfg: cfg, logger: logger, clk: clk, client: &http.Client{Timeout: 2 * time.Second},
		res: map[string]*serveRT{}, ctx: ctx, cancel: cancel}
	s.wg.Add(1)
	go s.probeLoop()
	return s, nil
}

func (s *Serves) dir(id string) string { return filepath.Join(s.cfg.DataDir, "resources", id) }

func (s *Serves) rt(id string) *serveRT {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.res[id]
	if !ok {
		r = &serveRT{id: id, rts: map[string]*replicaRT{}}
		s.res[id] = r
	}
	return r
}

func (s *Serves) lookup(id string) *serveRT {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res[id]
}

// Recover re-attaches to the instances recorded on disk: live replicas are adopted, dead ones are started
// again, an interrupted upgrade is abandoned (its replicas stopped).
func (s *Serves) Recover(_ context.Context) error {
	entries, err := os.ReadDir(filepath.Join(s.cfg.DataDir, "resources"))
	if err != nil {
		return fmt.Errorf("list resources: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || resource.ValidateResourceID("resource_id", e.Name()) != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.dir(e.Name()), stateFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read state of resource %s: %w", e.Name(), err)
		}
		var st ServeState
		if err := json.Unmarshal(data, &st); err != nil || st.ResourceID != e.Name() {
			s.logger.Warn("ignoring unreadable resource state", "resource_id", e.Name(), "err", err)
			continue
		}
		r := s.rt(st.ResourceID)
		r.opMu.Lock()
		s.recoverOne(r, &st)
		r.opMu.Unlock()
	}
	return nil
}

func (s *Serves) recoverOne(r *serveRT, st *ServeState) {
	var keep []ReplicaState
	alive, restarted := 0, 0
	for _, p := range st.Replicas {
		live := isServeReplica(p.Pid, r.id, p.Name)
		switch {
		case p.Set == setActive && live:
			keep = append(keep, p)
			r.mu.Lock()
			r.rts[p.Name] = &replicaRT{}
			r.mu.Unlock()
			alive++
		case live:
			terminate(p.Pid, s.cfg.StopGrace, func() bool { return isServeReplica(p.Pid, r.id, p.Name) })
		}
	}
	st.Next = nil
	st.Replicas = keep
	need := max(st.Spec.Replicas-alive, 0)
	if need > 0 {
		// Replacements need the model: reuse (or fill again) the cache entry.
		spec, err := s.prepareModel(r.id, s.baseSpec(st.Spec))
		if err != nil {
			st.Replicas = append(st.Replicas, placeholderReplicas(r.id, st.Artifact, need, setFailed, err.Error())...)
			need = 0
		} else {
			st.Spec = spec
		}
	}
	r.mu.Lock()
	r.state = st
	r.mu.Unlock()
	for range need {
		p, err := s.spawn(r, st.Spec, st.Artifact, setActive)
		if err != nil {
			s.logger.Error("restart replica", "resource_id", r.id, "err", err)
			break
		}
		r.mu.Lock()
		r.state.Replicas = append(r.state.Replicas, p)
		r.mu.Unlock()
		restarted++
	}
	_ = s.save(r)
	s.logger.Info("re-attached to resource instance", "resource_id", r.id, "alive", alive, "restarted", restarted)
}

// Close stops the prober and waits for upgrades in progress; replicas keep running.
func (s *Serves) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func valuesHash(doc resource.Doc) string {
	data, _ := json.Marshal(doc.Values)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// routesOf is the instance's proxy routes: its id, plus the first segment of ingress.path when it differs.
func routesOf(id string, values map[string]any) []string {
	routes := []string{id}
	if ing, ok := values["ingress"].(map[string]any); ok {
		if p, ok := ing["path"].(string); ok {
			seg := strings.Trim(p, "/")
			if seg != "" && seg != id && !strings.Contains(seg, "/") {
				routes = append(routes, seg)
			}
		}
	}
	return routes
}

// StartResource installs the instance, or upgrades it: new replicas start next to the serving ones, and
// only when all of them answer /ready do they take the traffic and the old ones drain and stop. Starting
// an instance with the same artifact and values whose replicas all live does nothing.
func (s *Serves) StartResource(_ context.Context, id string, doc resource.Doc) error {
	if err := resource.ValidateResourceID("resource_id", id); err != nil {
		return err
	}
	if len(s.cfg.RuntimeCommand) == 0 || s.cfg.RuntimeCommand[0] == "" {
		return apierr.New(apierr.FailedPrecondition, "no model runtime is configured: set cluster_manager.serve_runtime_command")
	}
	if err := s.checkRoutes(id, routesOf(id, doc.Values)); err != nil {
		return err
	}
	spec := resource.ServeSpecOf(id, doc.Values)
	hash := valuesHash(doc)
	r := s.rt(id)
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	st := r.state
	r.mu.Unlock()
	liveActive := 0
	if st != nil {
		for _, p := range st.Replicas {
			if p.Set == setActive && s.alive(r, p) {
				liveActive++
			}
		}
	}
	if st == nil || liveActive == 0 {
		// Fresh install (or nothing left to keep serving): replace whatever is recorded.
		if st != nil {
			s.stopLocked(r)
		}
		st = &ServeState{ResourceID: id, Artifact: doc.ArtifactID, ValuesHash: hash, Spec: spec,
			Routes: routesOf(id, doc.Values), StartedAt: s.clk.Now().UTC()}
		if s.needsFetch(spec) {
			st.Replicas = placeholderReplicas(id, doc.ArtifactID, spec.Replicas, setFetch, "fetching the model into the cache")
			r.mu.Lock()
			r.state = st
			r.mu.Unlock()
			_ = s.save(r)
		}
		prepared, err := s.prepareModel(id, spec)
		if err != nil {
			// Nothing starts; the pods are listed as Failed with the fetch's message.
			r.mu.Lock()
			st.Replicas = placeholderReplicas(id, doc.ArtifactID, spec.Replicas, setFailed, err.Error())
			r.state = st
			r.mu.Unlock()
			return s.save(r)
		}
		spec = prepared
		r.mu.Lock()
		st.Replicas, st.Spec = nil, spec
		r.state = st
		r.mu.Unlock()
		for range spec.Replicas {
			p, err := s.spawn(r, spec, doc.ArtifactID, setActive)
			if err != nil {
				s.stopLocked(r)
				return apierr.Wrap(apierr.Internal, err, "start replica of %s", id)
			}
			r.mu.Lock()
			st.Replicas = append(st.Replicas, p)
			r.mu.Unlock()
		}
		if err := s.save(r); err != nil {
			return err
		}
		s.logger.Info("resource instance started", "resource_id", id, "artifact", doc.ArtifactID, "replicas", spec.Replicas)
		return nil
	}
	if st.Next == nil && st.ValuesHash == hash && st.Artifact == doc.ArtifactID && liveActive == len(activeOf(st)) && liveActive == spec.Replicas {
		return nil
	}
	// Upgrade: abandon an upgrade in progress, forget a failed one, start the new replicas.
	s.abandonRollout(r)
	if s.needsFetch(spec) {
		r.mu.Lock()
		r.state.Replicas = append(r.state.Replicas, placeholderReplicas(id, doc.ArtifactID, spec.Replicas, setFetch, "upgrade: fetching the model into the cache")...)
		r.mu.Unlock()
	}
	prepared, err := s.prepareModel(id, spec)
	r.mu.Lock()
	r.state.Replicas = slices.DeleteFunc(r.state.Replicas, func(p ReplicaState) bool { return p.Set == setFetch })
	r.mu.Unlock()
	if err != nil {
		// The serving replicas stay; the upgrade's pods are listed as Failed with the fetch's message.
		r.mu.Lock()
		r.state.Replicas = append(r.state.Replicas, placeholderReplicas(id, doc.ArtifactID, spec.Replicas, setFailed, "upgrade failed: "+err.Error())...)
		r.mu.Unlock()
		s.logger.Warn("resource instance upgrade failed; previous replicas keep serving", "resource_id", id, "reason", err.Error())
		return s.save(r)
	}
	spec = prepared
	next := &ServeRollout{Artifact: doc.ArtifactID, ValuesHash: hash, Spec: spec, Routes: routesOf(id, doc.Values)}
	r.mu.Lock()
	r.state.Next = next
	r.mu.Unlock()
	var started []ReplicaState
	for range spec.Replicas {
		p, err := s.spawn(r, spec, doc.ArtifactID, setNext)
		if err != nil {
			for _, q := range started {
				s.terminateReplica(r, q)
			}
			r.mu.Lock()
			r.state.Next = nil
			r.mu.Unlock()
			_ = s.save(r)
			return apierr.Wrap(apierr.Internal, err, "start replica of %s", id)
		}
		started = append(started, p)
		r.mu.Lock()
		r.state.Replicas = append(r.state.Replicas, p)
		r.mu.Unlock()
	}
	if err := s.save(r); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	r.mu.Lock()
	r.rollout = cancel
	r.rolloutN++
	n := r.rolloutN
	r.mu.Unlock()
	s.wg.Add(1)
	go s.runRollout(ctx, r, n)
	s.logger.Info("resource instance upgrade started", "resource_id", id, "artifact", doc.ArtifactID, "replicas", spec.Replicas)
	return nil
}

// checkRoutes refuses a route another instance already serves.
func (s *Serves) checkRoutes(id string, routes []string) error {
	s.mu.Lock()
	others := make([]*serveRT, 0, len(s.res))
	for oid, r := range s.res {
		if oid != id {
			others = append(others, r)
		}
	}
	s.mu.Unlock()
	for _, r := range others {
		r.mu.Lock()
		st := r.state
		var taken []string
		if st != nil {
			taken = append(taken, st.Routes...)
			if st.Next != nil {
				taken = append(taken, st.Next.Routes...)
			}
		}
		r.mu.Unlock()
		for _, t := range taken {
			for _, want := range routes {
				if t == want {
					return apierr.New(apierr.AlreadyExists, "path /%s/ is already served by resource instance %s", want, r.id)
				}
			}
		}
	}
	return nil
}

func activeOf(st *ServeState) []ReplicaState {
	var out []ReplicaState
	for _, p := range st.Replicas {
		if p.Set == setActive {
			out = append(out, p)
		}
	}
	return out
}

// abandonRollout stops an upgrade in progress and forgets failed replicas (caller holds opMu).
func (s *Serves) abandonRollout(r *serveRT) {
	r.mu.Lock()
	cancel := r.rollout
	r.rollout = nil
	r.rolloutN++
	var drop []ReplicaState
	var keep []ReplicaState
	for _, p := range r.state.Replicas {
		if p.Set == setNext || p.Set == setFailed {
			drop = append(drop, p)
		} else {
			keep = append(keep, p)
		}
	}
	r.state.Replicas = keep
	r.state.Next = nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	for _, p := range drop {
		s.terminateReplica(r, p)
	}
}

// runRollout waits for the next replicas, then switches traffic to them and stops the old ones; on a failure
// (a replica exits, the model fails to load, ReadyTimeout passes) the new replicas are stopped and recorded
// as Failed, and the old ones keep serving.
func (s *Serves) runRollout(ctx context.Context, r *serveRT, n int) {
	defer s.wg.Done()
	deadline := s.clk.Now().Add(s.cfg.ReadyTimeout)
	for {
		if !sleepCtx(ctx, s.cfg.ProbeInterval/2) {
			return
		}
		r.mu.Lock()
		if r.rolloutN != n || r.state == nil {
			r.mu.Unlock()
			return
		}
		var next []ReplicaState
		for _, p := range r.state.Replicas {
			if p.Set == setNext {
				next = append(next, p)
			}
		}
		r.mu.Unlock()
		ready, failure := 0, ""
		for _, p := range next {
			s.probe(ctx, r, p)
			rt := r.get(p.Name)
			switch {
			case !s.alive(r, p):
				failure = fmt.Sprintf("replica %s exited before it was ready: %s", p.Name, s.exitMessage(r, p))
			case rt != nil && rt.failed.Load():
				failure = fmt.Sprintf("replica %s: %s", p.Name, rt.msg())
			case rt != nil && rt.ready.Load():
				ready++
			}
		}
		if failure == "" && s.clk.Now().After(deadline) {
			failure = fmt.Sprintf("new replicas were not ready within %s", s.cfg.ReadyTimeout)
		}
		if failure != "" {
			s.failRollout(r, n, failure)
			return
		}
		if ready == len(next) {
			s.promote(ctx, r, n)
			return
		}
	}
}

func (s *Serves) failRollout(r *serveRT, n int, why string) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	if r.rolloutN != n || r.state == nil {
		r.mu.Unlock()
		return
	}
	var stop []ReplicaState
	for i, p := range r.state.Replicas {
		if p.Set == setNext {
			r.state.Replicas[i].Set, r.state.Replicas[i].Message = setFailed, "upgrade failed: "+why
			stop = append(stop, r.state.Replicas[i])
		}
	}
	r.state.Next = nil
	r.rollout = nil
	r.mu.Unlock()
	for _, p := range stop {
		s.terminateReplica(r, p)
	}
	_ = s.save(r)
	s.logger.Warn("resource instance upgrade failed; previous replicas keep serving", "resource_id", r.id, "reason", why)
}

func (s *Serves) promote(ctx context.Context, r *serveRT, n int) {
	r.opMu.Lock()
	r.mu.Lock()
	if r.rolloutN != n || r.state == nil || r.state.Next == nil {
		r.mu.Unlock()
		r.opMu.Unlock()
		return
	}
	var old []ReplicaState
	kept := r.state.Replicas[:0]
	for _, p := range r.state.Replicas {
		switch p.Set {
		case setNext:
			p.Set = setActive
			kept = append(kept, p)
		case setActive:
			old = append(old, p)
		case setFailed:
		default:
			kept = append(kept, p)
		}
	}
	r.state.Replicas = kept
	nx := r.state.Next
	r.state.Artifact, r.state.ValuesHash, r.state.Spec, r.state.Routes, r.state.Next = nx.Artifact, nx.ValuesHash, nx.Spec, nx.Routes, nil
	r.rollout = nil
	r.mu.Unlock()
	_ = s.save(r)
	r.opMu.Unlock()
	s.logger.Info("resource instance upgraded", "resource_id", r.id, "artifact", nx.Artifact)
	// The old replicas are out of the routing table: let in-flight requests finish, then stop them.
	deadline := s.clk.Now().Add(s.cfg.DrainTimeout)
	for _, p := range old {
		if rt := r.get(p.Name); rt != nil {
			for rt.inflight.Load() > 0 && s.clk.Now().Before(deadline) {
				if !sleepCtx(ctx, 20*time.Millisecond) {
					break
				}
			}
		}
		s.terminateReplica(r, p)
	}
}

func (r *serveRT) get(name string) *replicaRT {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rts[name]
}

func (rt *replicaRT) msg() string {
	m, _ := rt.message.Load().(string)
	return m
}

// spawn starts one runtime process.
func (s *Serves) spawn(r *serveRT, spec resource.ServeSpec, artifactID, set string) (ReplicaState, error) {
	ports, err := freePorts(1)
	if err != nil {
		return ReplicaState{}, err
	}
	name := r.id + "-" + randomSuffix() + "-" + randomSuffix()
	p := ReplicaState{Name: name, Set: set, Artifact: artifactID, Port: ports[0]}
	p.Dir = filepath.Join(s.dir(r.id), "pods", name)
	p.Log = filepath.Join(p.Dir, "runtime.log")
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return p, fmt.Errorf("create replica dir: %w", err)
	}
	logFile, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return p, fmt.Errorf("open replica log: %w", err)
	}
	defer logFile.Close()
	args := append(append([]string{}, s.cfg.RuntimeCommand[1:]...), "--host", "127.0.0.1", "--port", strconv.Itoa(p.Port))
	cmd := exec.Command(s.cfg.RuntimeCommand[0], args...)
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = serveEnv(r.id, p, spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return p, fmt.Errorf("exec runtime command: %w", err)
	}
	p.Pid = cmd.Process.Pid
	rt := &replicaRT{done: make(chan struct{})}
	r.mu.Lock()
	r.rts[name] = rt
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		_, msg := exitStatus(err)
		r.mu.Lock()
		rt.exitMsg = msg
		r.mu.Unlock()
		rt.ready.Store(false)
		close(rt.done)
		s.logger.Info("serve replica exited", "resource_id", r.id, "pod", name, "pid", p.Pid, "exit", msg)
	}()
	return p, nil
}

// serveEnv: the manager's environment without other instances' markers or model settings, then the values'
// envs, then the markers.
func serveEnv(id string, p ReplicaState, spec resource.ServeSpec) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case envResourceID, envPodName, envClusterID, "MODEL_LOCAL_PATH", "MLFLOW_MODEL_URI", "MODEL_VERSION", "ROOT_PATH", "PORT", "HOST":
			continue
		}
		env = append(env, kv)
	}
	for _, e := range spec.Env {
		if e.Name == envResourceID || e.Name == envPodName {
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return append(env, "SERVE_NAME="+spec.Name, "RESOURCE_INSTANCE_ID="+id, envResourceID+"="+id, envPodName+"="+p.Name)
}

func (s *Serves) alive(r *serveRT, p ReplicaState) bool {
	rt := r.get(p.Name)
	if rt != nil && rt.done != nil {
		select {
		case <-rt.done:
			return false
		default:
			return true
		}
	}
	return isServeReplica(p.Pid, r.id, p.Name)
}

func (s *Serves) exitMessage(r *serveRT, p ReplicaState) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rt := r.rts[p.Name]; rt != nil && rt.exitMsg != "" {
		return rt.exitMsg
	}
	return fmt.Sprintf("process %d is not running", p.Pid)
}

// isServeReplica reports whether pid is alive and carries the replica's markers in its environment.
func isServeReplica(pid int, id, name string) bool {
	if !procAlive(pid) {
		return false
	}
	env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	return hasEnv(env, envResourceID+"="+id) && hasEnv(env, envPodName+"="+name)
}

func hasEnv(environ []byte, kv string) bool {
	m := []byte(kv + "\x00")
	return bytes.HasPrefix(environ, m) || bytes.Contains(environ, append([]byte{0}, m...))
}

// serveProcesses lists live processes carrying the instance's marker.
func serveProcesses(id string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !hasEnv(env, envResourceID+"="+id) {
			continue
		}
		if procAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// terminate sends SIGTERM to pid's process group and pid, then SIGKILL after grace.
func terminate(pid int, grace time.Duration, alive func() bool) {
	signal := func(sig syscall.Signal) {
		if _, pg, ok := procStat(pid); ok && pg > 1 && pg != syscall.Getpgrp() {
			_ = syscall.Kill(-pg, sig)
		}
		_ = syscall.Kill(pid, sig)
	}
	if !alive() {
		return
	}
	signal(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive() && time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
	}
	if alive() {
		signal(syscall.SIGKILL)
		for i := 0; i < 40 && alive(); i++ {
			time.Sleep(25 * time.Millisecond)
		}
	}
}

func (s *Serves) terminateReplica(r *serveRT, p ReplicaState) {
	if rt := r.get(p.Name); rt != nil {
		rt.ready.Store(false)
	}
	terminate(p.Pid, s.cfg.StopGrace, func() bool { return s.alive(r, p) })
	r.mu.Lock()
	if p.Set != setFailed {
		// Failed-upgrade replicas stay listed (with their message) until the next start or stop.
		var keep []ReplicaState
		if r.state != nil {
			for _, q := range r.state.Replicas {
				if q.Name != p.Name || q.Set == setFailed {
					keep = append(keep, q)
				}
			}
			r.state.Replicas = keep
		}
	}
	r.mu.Unlock()
}

// StopResource stops every replica (SIGTERM, SIGKILL after the grace period) and forgets the instance.
func (s *Serves) StopResource(_ context.Context, id string) error {
	if err := resource.ValidateResourceID("resource_id", id); err != nil {
		return err
	}
	r := s.lookup(id)
	if r == nil {
		if _, err := os.Stat(filepath.Join(s.dir(id), stateFile)); err != nil {
			return apierr.New(apierr.NotFound, "resource instance %s not found", id)
		}
		r = s.rt(id)
	}
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.mu.Lock()
	installed := r.state != nil
	r.mu.Unlock()
	if !installed {
		if _, err := os.Stat(filepath.Join(s.dir(id), stateFile)); err != nil {
			return apierr.New(apierr.NotFound, "resource instance %s not found", id)
		}
	}
	s.stopLocked(r)
	s.logger.Info("resource instance stopped", "resource_id", id)
	return nil
}

func (s *Serves) stopLocked(r *serveRT) {
	r.mu.Lock()
	cancel := r.rollout
	r.rollout = nil
	r.rolloutN++
	var all []ReplicaState
	if r.state != nil {
		all = append(all, r.state.Replicas...)
	}
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rt := r.get(p.Name); rt != nil {
				rt.ready.Store(false)
			}
			terminate(p.Pid, s.cfg.StopGrace, func() bool { return s.alive(r, p) })
		}()
	}
	wg.Wait()
	for round := 0; round < 3; round++ {
		pids := serveProcesses(r.id)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.mu.Lock()
	r.state = nil
	r.rts = map[string]*replicaRT{}
	r.mu.Unlock()
	_ = s.save(r)
}

// StopAll stops every instance (tests, throwaway setups).
func (s *Serves) StopAll(ctx context.Context) error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.res))
	for id, r := range s.res {
		r.mu.Lock()
		if r.state != nil {
			ids = append(ids, id)
		}
		r.mu.Unlock()
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if err := s.StopResource(ctx, id); err != nil && apierr.KindOf(err) != apierr.NotFound {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Serves) save(r *serveRT) error {
	r.mu.Lock()
	var st *ServeState
	if r.state != nil {
		cp := *r.state
		cp.Replicas = append([]ReplicaState(nil), r.state.Replicas...)
		st = &cp
	}
	r.mu.Unlock()
	path := filepath.Join(s.dir(r.id), stateFile)
	if st == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return apierr.Wrap(apierr.Internal, err, "remove state of resource %s", r.id)
		}
		return nil
	}
	if err := fsutil.WriteJSONAtomic(path, st); err != nil {
		return apierr.Wrap(apierr.Internal, err, "save state of resource %s", r.id)
	}
	return nil
}

// readyBody is the runtime's /ready answer.
type readyBody struct {
	Status      string `json:"status"`
	ModelLoaded bool   `json:"model_loaded"`
	Detail      struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Error   string `json:"error"`
	} `json:"detail"`
}

// probe asks one replica's /ready and records the answer.
func (s *Serves) probe(ctx context.Context, r *serveRT, p ReplicaState) {
	rt := r.get(p.Name)
	if rt == nil {
		return
	}
	if !s.alive(r, p) {
		rt.ready.Store(false)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, replicaURL(p)+"/ready", nil)
	if err != nil {
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		rt.ready.Store(false)
		rt.message.Store("runtime is not answering yet")
		return
	}
	defer resp.Body.Close()
	var body readyBody
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	if resp.StatusCode == http.StatusOK {
		rt.ready.Store(true)
		rt.failed.Store(false)
		rt.message.Store("")
		return
	}
	rt.ready.Store(false)
	msg := body.Detail.Message
	if msg == "" {
		msg = fmt.Sprintf("/ready answered %d", resp.StatusCode)
	}
	if body.Detail.Error != "" {
		msg += ": " + body.Detail.Error
		rt.failed.Store(true)
	}
	rt.message.Store(msg)
}

func replicaURL(p ReplicaState) string { return "http://127.0.0.1:" + strconv.Itoa(p.Port) }

// probeLoop keeps the replicas' readiness (used for routing) fresh.
func (s *Serves) probeLoop() {
	defer s.wg.Done()
	for sleepCtx(s.ctx, s.cfg.ProbeInterval) {
		s.probeAll(s.ctx)
	}
}

func (s *Serves) probeAll(ctx context.Context) {
	s.mu.Lock()
	rs := make([]*serveRT, 0, len(s.res))
	for _, r := range s.res {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		r.mu.Lock()
		var reps []ReplicaState
		if r.state != nil {
			reps = append(reps, r.state.Replicas...)
		}
		r.mu.Unlock()
		for _, p := range reps {
			if p.Set == setFailed {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.probe(ctx, r, p)
			}()
		}
	}
	wg.Wait()
}

// ResourceStatus reports one pod per replica: Running once /ready answers 200, Pending before, Failed when
// the process is gone or the model failed to load (with the reason and the last log lines).
func (s *Serves) ResourceStatus(ctx context.Context, id string) (resource.Status, error) {
	if err := resource.ValidateResourceID("resource_id", id); err != nil {
		return resource.Status{}, err
	}
	out := resource.Status{ResourceID: id, Pods: []resource.Pod{}}
	r := s.lookup(id)
	if r == nil {
		return out, nil
	}
	r.mu.Lock()
	var st *ServeState
	if r.state != nil {
		cp := *r.state
		cp.Replicas = append([]ReplicaState(nil), r.state.Replicas...)
		st = &cp
	}
	r.mu.Unlock()
	if st == nil {
		return out, nil
	}
	out.Installed, out.ArtifactID = true, st.Artifact
	var wg sync.WaitGroup
	for _, p := range st.Replicas {
		if p.Set != setFailed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.probe(ctx, r, p)
			}()
		}
	}
	wg.Wait()
	for _, p := range st.Replicas {
		pod := resource.Pod{Name: p.Name}
		rt := r.get(p.Name)
		switch {
		case p.Set == setFetch:
			pod.Status, pod.Message = driver.PodPending, p.Message
		case p.Set == setFailed:
			pod.Status, pod.Message = driver.PodFailed, withLogTail(p.Message, p.Log)
		case !s.alive(r, p):
			pod.Status, pod.Message = driver.PodFailed, withLogTail(s.exitMessage(r, p), p.Log)
		case rt != nil && rt.failed.Load():
			pod.Status, pod.Message = driver.PodFailed, withLogTail(rt.msg(), p.Log)
		case rt != nil && rt.ready.Load():
			pod.Status = driver.PodRunning
		default:
			msg := "waiting for /ready"
			if rt != nil && rt.msg() != "" {
				msg += ": " + rt.msg()
			}
			pod.Status, pod.Message = driver.PodPending, msg
		}
		if p.Set == setNext {
			pod.Message = strings.TrimSpace("upgrade to " + p.Artifact + "; " + pod.Message)
		}
		out.Pods = append(out.Pods, pod)
	}
	if u, done, err := s.route(r); err == nil {
		done()
		out.URL = u
	}
	return out, nil
}

// withLogTail appends the last lines of a replica's log.
func withLogTail(msg, path string) string {
	tail := logTail(path, 5, 2048)
	if tail == "" {
		return msg
	}
	return msg + "; last log lines:\n" + tail
}

func logTail(path string, lines, maxBytes int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-int64(maxBytes), 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if off > 0 && len(ls) > 1 {
		ls = ls[1:] // first line is partial
	}
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// route picks a ready active replica round-robin; done must be called when the request is finished.
func (s *Serves) route(r *serveRT) (string, func(), error) {
	r.mu.Lock()
	var cands []ReplicaState
	if r.state != nil {
		for _, p := range r.state.Replicas {
			if p.Set != setActive {
				continue
			}
			if rt := r.rts[p.Name]; rt != nil && rt.ready.Load() {
				cands = append(cands, p)
			}
		}
	}
	r.mu.Unlock()
	for range len(cands) {
		i := int(r.rr.Add(1) % uint64(len(cands)))
		p := cands[i]
		if !s.alive(r, p) {
			continue
		}
		rt := r.get(p.Name)
		if rt == nil {
			continue
		}
		rt.inflight.Add(1)
		return replicaURL(p), func() { rt.inflight.Add(-1) }, nil
	}
	return "", nil, apierr.New(apierr.Unavailable, "resource instance %s has no ready replica", r.id)
}

// Route finds the instance serving path segment seg (its id or the first segment of its ingress.path) and
// returns a ready replica's base URL. found is false when no installed instance has that route; err is
// Unavailable when it has no ready replica. done must be called when the proxied request is finished.
func (s *Serves) Route(seg string) (base string, done func(), found bool, err error) {
	s.mu.Lock()
	rs := make([]*serveRT, 0, len(s.res))
	for _, r := range s.res {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		match := false
		if r.state != nil {
			for _, rt := range r.state.Routes {
				if rt == seg {
					match = true
				}
			}
		}
		r.mu.Unlock()
		if match {
			base, done, err := s.route(r)
			return base, done, true, err
		}
	}
	return "", nil, false, nil
}

// URL returns a ready replica's base URL of instance id (NotFound when not installed, Unavailable when none
// is ready).
func (s *Serves) URL(id string) (string, error) {
	r := s.lookup(id)
	if r == nil {
		return "", apierr.New(apierr.NotFound, "resource instance %s not found", id)
	}
	r.mu.Lock()
	installed := r.state != nil
	r.mu.Unlock()
	if !installed {
		return "", apierr.New(apierr.NotFound, "resource instance %s not found", id)
	}
	u, done, err := s.route(r)
	if err != nil {
		return "", err
	}
	done()
	return u, nil
}
