package domain

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
)

// RuntimeStatus is what cluster-manager reports about a cluster's release.
type RuntimeStatus struct {
	Installed    bool
	Pods         []PodState
	DashboardURL string
	JupyterURL   string
	// Events are lifecycle events about the cluster's pods, oldest first (Kubernetes driver).
	Events []PodEvent
	// Conditions are the status conditions of the cluster's custom resource (Kubernetes driver: the RayCluster's).
	Conditions []ResourceCondition
}

// StartResult is cluster-manager's answer to a start/restart.
type StartResult struct{ ClusterName, Namespace, KubeCluster string }

// Placement says where a cluster's release lives: the Kubernetes cluster (the cluster's cloud_env, sent as
// kube_cluster) and the runtime's namespace.
type Placement struct{ KubeCluster, Namespace string }

// ClusterManager is the runtime side (cluster-manager over gRPC).
type ClusterManager interface {
	Apply(ctx context.Context, clusterID, artifactName string, values []byte) error
	Start(ctx context.Context, clusterID, artifactName string, at Placement) (StartResult, error)
	Restart(ctx context.Context, clusterID, artifactName string, at Placement) (StartResult, error)
	Stop(ctx context.Context, clusterID string, at Placement) error
	Status(ctx context.Context, clusterID string, at Placement) (RuntimeStatus, error)
}

// PackageManager installs a cluster request's packages (compute-aux libraries).
type PackageManager interface {
	// CheckPackages validates packages and that the clone source (when not empty) exists, writing nothing.
	CheckPackages(ctx context.Context, packages []any, cloneFrom string) error
	InstallPackages(ctx context.Context, clusterID string, packages []any) ([]any, error)
	ClonePackages(ctx context.Context, fromClusterID, toClusterID string) ([]any, error)
	DeleteCluster(ctx context.Context, clusterID string) error
}

// Options configure the Service.
type Options struct {
	PublicURL  string        // base of public dashboard URLs, e.g. http://localhost:8080
	Owner      string        // lease owner name of this replica
	PollLease  time.Duration // how long a picked cluster is not re-picked (default 10s)
	PollBatch  int           // clusters per poll pass (default 10)
	ProbeLimit time.Duration // timeout per activity probe pass (default 10s)
	RPCTimeout time.Duration // timeout of one cluster's poll (default 30s)
	Env        string        // deployment environment written to values documents (default "darwin-local")
	Metrics    *Metrics      // optional
}

// Service holds the compute use cases.
type Service struct {
	store    Store
	cm       ClusterManager
	runtimes RuntimeResolver
	configs  ConfigGetter
	probe    ActivityProbe
	hook     StartHook
	packages PackageManager
	clk      clock.Clock
	log      *slog.Logger
	opt      Options
}

// NewService wires the use cases. hook may be nil.
func NewService(store Store, cm ClusterManager, runtimes RuntimeResolver, configs ConfigGetter, probe ActivityProbe,
	hook StartHook, clk clock.Clock, log *slog.Logger, opt Options) *Service {
	if opt.PublicURL == "" {
		opt.PublicURL = "http://localhost:8080"
	}
	opt.PublicURL = strings.TrimRight(opt.PublicURL, "/")
	if opt.PollLease <= 0 {
		opt.PollLease = 10 * time.Second
	}
	if opt.PollBatch <= 0 {
		opt.PollBatch = 10
	}
	if opt.ProbeLimit <= 0 {
		opt.ProbeLimit = 10 * time.Second
	}
	if opt.RPCTimeout <= 0 {
		opt.RPCTimeout = 30 * time.Second
	}
	if opt.Owner == "" {
		opt.Owner = "compute-" + randomID(8)
	}
	return &Service{store: store, cm: cm, runtimes: runtimes, configs: configs, probe: probe, hook: hook, clk: clk, log: log, opt: opt}
}

// SetPackages sets the package manager used by create (packages, packages_clone_from) and delete.
func (s *Service) SetPackages(p PackageManager) { s.packages = p }

// SetStartHook sets the hook told about starts and stops (compute-aux libraries).
func (s *Service) SetStartHook(h StartHook) { s.hook = h }

const idAlphabet = "23456789abcdefghijkmnopqrstuvwxyz"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

// NewClusterID returns "id-" + 16 characters.
func NewClusterID() string { return "id-" + randomID(16) }

// NewRunID returns "run_id-" + 16 characters.
func NewRunID() string { return "run_id-" + randomID(16) }

// cloudEnvFromTags returns the cloud env a tag selects, if any.
func cloudEnvFromTags(tags []string) string {
	for _, t := range tags {
		switch t {
		case "gcp", "eks-0", "eks-1", "eks-2":
			return t
		}
	}
	return ""
}

func (s *Service) cloudEnv(ctx context.Context, c *Cluster) (string, error) {
	if e := cloudEnvFromTags(c.Tags); e != "" {
		return e, nil
	}
	key := "cloud_env"
	if c.IsJobCluster {
		key = "cloud_env_job"
	}
	if s.configs != nil {
		v, err := s.configs.Get(ctx, key)
		switch {
		case err == nil && v != "":
			return v, nil
		case err != nil && apierr.KindOf(err) != apierr.NotFound:
			return "", fmt.Errorf("read cluster config %s: %w", key, err)
		}
	}
	return "kind-0", nil
}

func (s *Service) resolveRuntime(ctx context.Context, runtime string) (string, string, error) {
	image, ns, err := s.runtimes.Resolve(ctx, runtime)
	if err != nil {
		if apierr.KindOf(err) == apierr.NotFound {
			return "", "", apierr.InvalidField("runtime", "runtime %q is not registered", runtime)
		}
		return "", "", fmt.Errorf("resolve runtime %q: %w", runtime, err)
	}
	return image, ns, nil
}

func (s *Service) applyArtifact(ctx context.Context, c *Cluster) error {
	image, ns, err := s.resolveRuntime(ctx, c.Runtime)
	if err != nil {
		return err
	}
	doc, err := BuildValues(c, image, ns, s.valuesEnv())
	if err != nil {
		return err
	}
	values, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode values: %w", err)
	}
	if err := s.cm.Apply(ctx, c.ID, c.ArtifactName(), values); err != nil {
		return cmError("apply cluster artifact", err)
	}
	return nil
}

func cmError(what string, err error) error {
	var ae *apierr.Error
	if errors.As(err, &ae) && ae.Kind != apierr.Internal {
		return err
	}
	return apierr.Wrap(apierr.Unavailable, err, "cluster manager: %s failed", what)
}

func (s *Service) valuesEnv() ValuesEnv { return ValuesEnv{Env: s.opt.Env, PublicURL: s.opt.PublicURL} }

// placement is where a cluster's release lives: its cloud_env (computed again for definitions stored without one)
// and its runtime's namespace ("ray" when the runtime is gone).
func (s *Service) placement(ctx context.Context, c *Cluster) Placement {
	p := Placement{KubeCluster: c.CloudEnv, Namespace: "ray"}
	if _, ns, err := s.runtimes.Resolve(ctx, c.Runtime); err == nil && ns != "" {
		p.Namespace = ns
	}
	if p.KubeCluster == "" {
		env, err := s.cloudEnv(ctx, c)
		if err != nil {
			s.log.Warn("read cloud env", "cluster_id", c.ID, "err", err)
			env = "kind-0"
		}
		p.KubeCluster = env
	}
	return p
}

// CreateResult is the outcome of Create.
type CreateResult struct {
	Cluster  Cluster
	Packages []any
}

// Create stores a new cluster, applies its artifact and starts it when asked.
func (s *Service) Create(ctx context.Context, req ClusterRequest) (CreateResult, error) {
	c := req.Cluster
	c.ID = NewClusterID()
	c.CreatedOn = s.clk.Now().UTC()
	c.ArtifactVersion = 1
	env, err := s.cloudEnv(ctx, &c)
	if err != nil {
		return CreateResult{}, err
	}
	c.CloudEnv = env
	taken, err := s.store.NameTaken(ctx, c.Name, "")
	if err != nil {
		return CreateResult{}, fmt.Errorf("check cluster name: %w", err)
	}
	if taken {
		// The original silently renames duplicates; the final name is returned to the caller.
		c.Name = c.Name + "_" + c.ID
	}
	// Reject bad packages before anything is applied, stored or published.
	if s.packages != nil {
		cloneFrom := ""
		if c.PackagesCloneFrom != nil {
			cloneFrom = *c.PackagesCloneFrom
		}
		if err := s.packages.CheckPackages(ctx, c.Packages, cloneFrom); err != nil {
			if apierr.KindOf(err) == apierr.NotFound {
				return CreateResult{}, apierr.InvalidField("packages_clone_from", "packages_clone_from: cluster %s not found", cloneFrom)
			}
			return CreateResult{}, err
		}
	}
	if err := s.applyArtifact(ctx, &c); err != nil {
		return CreateResult{}, err
	}
	now := s.clk.Now()
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.Publish(ctx, Event{Type: "CLUSTER_CREATION_REQUEST_RECEIVED", ClusterID: c.ID, ClusterName: c.Name, Time: now}); err != nil {
			return err
		}
		if err := tx.InsertCluster(ctx, c); err != nil {
			return err
		}
		if err := tx.InsertStatus(ctx, StatusRow{ClusterID: c.ID, ArtifactID: c.ArtifactName(), Status: StatusInactive,
			ClusterName: c.Name, LastUpdatedAt: now, LastUsedAt: now}); err != nil {
			return err
		}
		if err := tx.AddAction(ctx, Action{ClusterID: c.ID, Action: ActionCreated, Message: "by " + c.User, ArtifactID: c.ArtifactName(), UpdatedAt: now}); err != nil {
			return err
		}
		return tx.Publish(ctx, Event{Type: "CLUSTER_CREATED", ClusterID: c.ID, ClusterName: c.Name, ArtifactName: c.ArtifactName(), Time: now})
	})
	if err != nil {
		return CreateResult{}, fmt.Errorf("store cluster: %w", err)
	}
	res := CreateResult{Cluster: c, Packages: []any{}}
	if err := s.addPackages(ctx, &c, &res); err != nil {
		// Nothing half-written: a package error removes the cluster just stored.
		if derr := s.store.DeleteCluster(ctx, c.ID); derr != nil {
			s.log.Warn("remove cluster after package error", "cluster_id", c.ID, "err", derr)
		}
		return CreateResult{}, err
	}
	if c.StartCluster {
		if _, err := s.Start(ctx, c.ID, c.User); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (s *Service) addPackages(ctx context.Context, c *Cluster, res *CreateResult) error {
	if s.packages == nil {
		res.Packages = append(res.Packages, c.Packages...)
		return nil
	}
	if c.PackagesCloneFrom != nil && *c.PackagesCloneFrom != "" {
		libs, err := s.packages.ClonePackages(ctx, *c.PackagesCloneFrom, c.ID)
		if err != nil {
			if apierr.KindOf(err) == apierr.NotFound {
				return apierr.InvalidField("packages_clone_from", "packages_clone_from: cluster %s not found", *c.PackagesCloneFrom)
			}
			return err
		}
		res.Packages = append(res.Packages, libs...)
	}
	if len(c.Packages) > 0 {
		libs, err := s.packages.InstallPackages(ctx, c.ID, c.Packages)
		if err != nil {
			return err
		}
		res.Packages = append(res.Packages, libs...)
	}
	return nil
}

// Get returns a cluster with its status.
func (s *Service) Get(ctx context.Context, id string) (ClusterWithStatus, error) {
	c, err := s.store.GetCluster(ctx, id)
	if err != nil {
		return ClusterWithStatus{}, err
	}
	st, err := s.store.GetStatus(ctx, id)
	if err != nil {
		return ClusterWithStatus{}, err
	}
	return ClusterWithStatus{Cluster: c, Status: st}, nil
}

// Metadata returns the cluster_status row.
func (s *Service) Metadata(ctx context.Context, id string) (StatusRow, error) {
	return s.store.GetStatus(ctx, id)
}

// Dashboards returns the public (or internal) dashboard URLs.
func (s *Service) Dashboards(ctx context.Context, id string, internal bool) (map[string]string, error) {
	c, err := s.store.GetCluster(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.DashboardURLs(ctx, &c, internal), nil
}

// DashboardURLs builds the dashboard links of a cluster (spec §1.2).
func (s *Service) DashboardURLs(ctx context.Context, c *Cluster, internal bool) map[string]string {
	base := s.opt.PublicURL + "/" + c.CloudEnv + "/" + c.ID
	out := map[string]string{
		"jupyter_lab_url":                    base + "-jupyter",
		"ray_dashboard_url":                  base + "-dashboard/",
		"spark_ui_url":                       base + "-sparkui/",
		"grafana_dashboard_url":              base + "-metrics/",
		"code_server_url":                    base + "-vscode/",
		"resource_utilization_dashboard_url": base + "-metrics/",
	}
	if internal {
		if rs, err := s.cm.Status(ctx, c.ID, s.placement(ctx, c)); err == nil {
			if rs.JupyterURL != "" {
				out["jupyter_lab_url"] = rs.JupyterURL
			}
			if rs.DashboardURL != "" {
				out["ray_dashboard_url"] = rs.DashboardURL
			}
		}
	}
	return out
}

// Pods lists the cluster's pods from cluster-manager.
func (s *Service) Pods(ctx context.Context, id string) ([]PodState, error) {
	c, err := s.store.GetCluster(ctx, id)
	if err != nil {
		return nil, err
	}
	rs, err := s.cm.Status(ctx, id, s.placement(ctx, &c))
	if err != nil {
		return nil, cmError("get cluster status", err)
	}
	return rs.Pods, nil
}

// Resources returns used cores and memory of an active cluster; ok is false when it is not active.
func (s *Service) Resources(ctx context.Context, id string) (cores, memory float64, ok bool, err error) {
	cs, err := s.Get(ctx, id)
	if err != nil {
		return 0, 0, false, err
	}
	if UIStatus(cs.Status.Status) != UIActive {
		return 0, 0, false, nil
	}
	rs, err := s.cm.Status(ctx, id, s.placement(ctx, &cs.Cluster))
	if err != nil {
		return 0, 0, false, cmError("get cluster status", err)
	}
	heads, workers := CountRunning(rs.Pods)
	cores = float64(heads) * cs.Cluster.HeadNode.Cores
	memory = float64(heads) * cs.Cluster.HeadNode.Memory
	if len(cs.Cluster.WorkerGroups) > 0 {
		cores += float64(workers) * cs.Cluster.WorkerGroups[0].Cores
		memory += float64(workers) * cs.Cluster.WorkerGroups[0].Memory
	}
	return cores, memory, true, nil
}

// Start starts an inactive cluster: status creating with a new run id. Starting a running cluster is a no-op.
func (s *Service) Start(ctx context.Context, id, user string) (StartResult, error) {
	cs, err := s.Get(ctx, id)
	if err != nil {
		return StartResult{}, err
	}
	if cs.Status.Status != StatusInactive {
		at := s.placement(ctx, &cs.Cluster)
		return StartResult{ClusterName: id, Namespace: at.Namespace, KubeCluster: at.KubeCluster}, nil
	}
	return s.launch(ctx, cs, user, false)
}

// Restart stops and starts a cluster with a new run id.
func (s *Service) Restart(ctx context.Context, id, user string) (StartResult, error) {
	cs, err := s.Get(ctx, id)
	if err != nil {
		return StartResult{}, err
	}
	return s.launch(ctx, cs, user, true)
}

func (s *Service) launch(ctx context.Context, cs ClusterWithStatus, user string, restart bool) (StartResult, error) {
	c := cs.Cluster
	at := s.placement(ctx, &c)
	reqEvent, failEvent, action := "CLUSTER_START_REQUEST_RECEIVED", "CLUSTER_START_FAILED", ActionStarted
	if restart {
		reqEvent, failEvent, action = "CLUSTER_RESTART_REQUEST_RECEIVED", "CLUSTER_RESTART_FAILED", ActionRestarting
	}
	var res StartResult
	var err error
	if restart {
		res, err = s.cm.Restart(ctx, c.ID, c.ArtifactName(), at)
	} else {
		res, err = s.cm.Start(ctx, c.ID, c.ArtifactName(), at)
	}
	now := s.clk.Now()
	if err != nil {
		if perr := s.store.Publish(ctx, Event{Type: failEvent, ClusterID: c.ID, ClusterName: c.Name, Message: err.Error(), Time: now}); perr != nil {
			s.log.Warn("publish event", "cluster_id", c.ID, "err", perr)
		}
		return StartResult{}, cmError("start cluster", err)
	}
	runID := NewRunID()
	err = s.store.InTx(ctx, func(tx Tx) error {
		st, err := tx.GetStatus(ctx, c.ID)
		if err != nil {
			return err
		}
		st.Status, st.ActiveRunID, st.ActivePods = StatusCreating, runID, 0
		st.ArtifactID = c.ArtifactName()
		st.LastUpdatedAt, st.LastUsedAt, st.LastPickedAt = now, now, time.Time{}
		if err := tx.UpdateStatus(ctx, st); err != nil {
			return err
		}
		if err := tx.AddAction(ctx, Action{ClusterID: c.ID, RunID: runID, Action: action, Message: "by " + user, ArtifactID: c.ArtifactName(), UpdatedAt: now}); err != nil {
			return err
		}
		return tx.Publish(ctx, Event{Type: reqEvent, ClusterID: c.ID, ClusterName: c.Name, RunID: runID, ArtifactName: c.ArtifactName(), Message: "by " + user, Time: now})
	})
	if err != nil {
		return StartResult{}, fmt.Errorf("record cluster start: %w", err)
	}
	if s.hook != nil {
		if err := s.hook.OnClusterStart(ctx, c.ID); err != nil {
			s.log.Warn("cluster start hook", "cluster_id", c.ID, "err", err)
		}
	}
	if res.Namespace == "" {
		res.Namespace = at.Namespace
	}
	if res.KubeCluster == "" {
		res.KubeCluster = at.KubeCluster
	}
	if res.ClusterName == "" {
		res.ClusterName = c.ID
	}
	return res, nil
}

// Stop stops a cluster. Extra events (AUTO_TERMINATED, CLUSTER_TIMEOUT) are published with CLUSTER_STOPPED.
func (s *Service) Stop(ctx context.Context, id, user string, extraEvents ...string) error {
	cs, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	c := cs.Cluster
	if err := s.cm.Stop(ctx, c.ID, s.placement(ctx, &c)); err != nil {
		now := s.clk.Now()
		if perr := s.store.Publish(ctx, Event{Type: "CLUSTER_STOP_FAILED", ClusterID: c.ID, ClusterName: c.Name, Message: err.Error(), Time: now}); perr != nil {
			s.log.Warn("publish event", "cluster_id", c.ID, "err", perr)
		}
		return cmError("stop cluster", err)
	}
	if cs.Status.Status == StatusInactive {
		return nil // already stopped: the release is gone (made sure above), nothing to record
	}
	now := s.clk.Now()
	err = s.store.InTx(ctx, func(tx Tx) error {
		st, err := tx.GetStatus(ctx, c.ID)
		if err != nil {
			return err
		}
		runID := st.ActiveRunID
		st.Status, st.ActivePods, st.LastUpdatedAt = StatusInactive, 0, now
		if err := tx.UpdateStatus(ctx, st); err != nil {
			return err
		}
		if err := tx.AddAction(ctx, Action{ClusterID: c.ID, RunID: runID, Action: ActionStopped, Message: "by " + user, ArtifactID: st.ArtifactID, UpdatedAt: now}); err != nil {
			return err
		}
		for _, t := range append(slices.Clone(extraEvents), "CLUSTER_STOP_REQUEST_RECEIVED", "CLUSTER_STOPPED") {
			if err := tx.Publish(ctx, Event{Type: t, ClusterID: c.ID, ClusterName: c.Name, RunID: runID, ArtifactName: st.ArtifactID, Message: "by " + user, Time: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record cluster stop: %w", err)
	}
	s.opt.Metrics.stop(extraEvents)
	if s.hook != nil {
		if err := s.hook.OnClusterStop(ctx, c.ID); err != nil {
			s.log.Warn("cluster stop hook", "cluster_id", c.ID, "err", err)
		}
	}
	return nil
}

// Delete removes an inactive cluster (and its libraries).
func (s *Service) Delete(ctx context.Context, id string) error {
	now := s.clk.Now()
	err := s.store.InTx(ctx, func(tx Tx) error {
		c, err := tx.GetCluster(ctx, id)
		if err != nil {
			return err
		}
		st, err := tx.GetStatus(ctx, id)
		if err != nil {
			return err
		}
		if st.Status != StatusInactive {
			return apierr.New(apierr.FailedPrecondition, "Cluster is not in stop state")
		}
		if err := tx.Publish(ctx, Event{Type: "CLUSTER_DELETION_REQUEST_RECEIVED", ClusterID: id, ClusterName: c.Name, Time: now}); err != nil {
			return err
		}
		if err := tx.DeleteCluster(ctx, id); err != nil {
			return err
		}
		return tx.Publish(ctx, Event{Type: "CLUSTER_DELETED", ClusterID: id, ClusterName: c.Name, Time: now})
	})
	if err != nil {
		return err
	}
	if s.packages != nil {
		if err := s.packages.DeleteCluster(ctx, id); err != nil {
			s.log.Warn("delete cluster libraries", "cluster_id", id, "err", err)
		}
	}
	return nil
}

// UpdateResult is the outcome of Update.
type UpdateResult struct {
	Cluster   Cluster
	Changed   bool
	Restarted bool
}

// Update replaces a cluster's definition (PUT /cluster/{id}): no change → start; runtime/advance_config/head/
// worker shape change → update + restart; other changes → update + start.
func (s *Service) Update(ctx context.Context, id string, req ClusterRequest, user string) (UpdateResult, error) {
	cs, err := s.Get(ctx, id)
	if err != nil {
		return UpdateResult{}, err
	}
	old := cs.Cluster
	n := req.Cluster
	n.ID, n.CreatedOn, n.CloudEnv, n.ArtifactVersion, n.RemoteCommands = old.ID, old.CreatedOn, old.CloudEnv, old.ArtifactVersion, old.RemoteCommands
	if e := cloudEnvFromTags(n.Tags); e != "" {
		n.CloudEnv = e
	}
	if n.Name != old.Name {
		taken, err := s.store.NameTaken(ctx, n.Name, id)
		if err != nil {
			return UpdateResult{}, fmt.Errorf("check cluster name: %w", err)
		}
		if taken {
			n.Name = n.Name + "_" + id
		}
	}
	changed, restart := UpdatePlan(old, n)
	if !changed {
		_, err := s.Start(ctx, id, user)
		return UpdateResult{Cluster: old}, err
	}
	n.ArtifactVersion = old.ArtifactVersion + 1
	if err := s.applyArtifact(ctx, &n); err != nil {
		return UpdateResult{}, err
	}
	if n.CloudEnv != old.CloudEnv && cs.Status.Status != StatusInactive {
		// The release moves to another Kubernetes cluster: remove it where it runs now (the stored definition still
		// names the old one); it is started on the new one below.
		if err := s.Stop(ctx, id, user); err != nil {
			return UpdateResult{}, err
		}
		cs.Status.Status = StatusInactive
	}
	now := s.clk.Now()
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.Publish(ctx, Event{Type: "CLUSTER_UPDATION_REQUEST_RECEIVED", ClusterID: id, ClusterName: n.Name, Time: now}); err != nil {
			return err
		}
		if err := tx.UpdateCluster(ctx, n); err != nil {
			return err
		}
		st, err := tx.GetStatus(ctx, id)
		if err != nil {
			return err
		}
		st.ArtifactID, st.ClusterName = n.ArtifactName(), n.Name
		if err := tx.UpdateStatus(ctx, st); err != nil {
			return err
		}
		if err := tx.AddAction(ctx, Action{ClusterID: id, RunID: st.ActiveRunID, Action: ActionUpdating, Message: "by " + user, ArtifactID: n.ArtifactName(), UpdatedAt: now}); err != nil {
			return err
		}
		return tx.Publish(ctx, Event{Type: "CLUSTER_UPDATED", ClusterID: id, ClusterName: n.Name, ArtifactName: n.ArtifactName(), Time: now})
	})
	if err != nil {
		return UpdateResult{}, fmt.Errorf("store cluster update: %w", err)
	}
	res := UpdateResult{Cluster: n, Changed: true}
	switch {
	case restart && cs.Status.Status != StatusInactive:
		res.Restarted = true
		_, err = s.Restart(ctx, id, user)
	case cs.Status.Status != StatusInactive:
		// A change that needs no restart (e.g. min/max pods) reaches a running cluster in place: the original's
		// DCM start is a Helm install-or-upgrade of the new artifact, keeping the run.
		if _, uerr := s.cm.Start(ctx, id, n.ArtifactName(), s.placement(ctx, &n)); uerr != nil {
			err = cmError("upgrade cluster", uerr)
		}
	default:
		_, err = s.Start(ctx, id, user)
	}
	return res, err
}

// mutate loads a definition, lets fn change it and stores it (name, user, tags updates).
func (s *Service) mutate(ctx context.Context, id string, fn func(tx Tx, c *Cluster) error) (Cluster, error) {
	var out Cluster
	err := s.store.InTx(ctx, func(tx Tx) error {
		c, err := tx.GetCluster(ctx, id)
		if err != nil {
			return err
		}
		if err := fn(tx, &c); err != nil {
			return err
		}
		if err := tx.UpdateCluster(ctx, c); err != nil {
			return err
		}
		st, err := tx.GetStatus(ctx, id)
		if err != nil {
			return err
		}
		if st.ClusterName != c.Name {
			st.ClusterName = c.Name
			if err := tx.UpdateStatus(ctx, st); err != nil {
				return err
			}
		}
		out = c
		return nil
	})
	return out, err
}

// Rename changes a cluster's name; a name held by another cluster is rejected.
func (s *Service) Rename(ctx context.Context, id, name string) (Cluster, error) {
	if name == "" || len(name) > MaxClusterNameLen || !labelRe.MatchString(name) {
		return Cluster{}, apierr.InvalidField("cluster_name", "cluster_name must be 1-%d characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit", MaxClusterNameLen)
	}
	return s.mutate(ctx, id, func(tx Tx, c *Cluster) error {
		taken, err := tx.NameTaken(ctx, name, id)
		if err != nil {
			return err
		}
		if taken {
			return apierr.New(apierr.AlreadyExists, "Cluster with same name already exist")
		}
		c.Name = name
		return nil
	})
}

// ChangeUser changes the owner of a cluster.
func (s *Service) ChangeUser(ctx context.Context, id, user string) (Cluster, error) {
	if !strings.Contains(user, "@") || !userRe.MatchString(user) {
		return Cluster{}, apierr.InvalidField("cluster_user", "Invalid username entered")
	}
	return s.mutate(ctx, id, func(_ Tx, c *Cluster) error { c.User = user; return nil })
}

// SetTags replaces a cluster's tags.
func (s *Service) SetTags(ctx context.Context, id string, tags []string) (Cluster, error) {
	for i, t := range tags {
		if strings.TrimSpace(t) == "" || len(t) > 100 {
			return Cluster{}, apierr.InvalidField(fmt.Sprintf("tags[%d]", i), "tags[%d] must be a non-empty string of at most 100 characters", i)
		}
	}
	return s.mutate(ctx, id, func(_ Tx, c *Cluster) error { c.Tags = tags; return nil })
}

// InitScriptStatus records an init script progress report.
func (s *Service) InitScriptStatus(ctx context.Context, clusterID, status, message, uid string) error {
	switch status {
	case "STARTED", "FAILED", "SUCCESS":
	default:
		return apierr.InvalidField("status", "status must be STARTED, FAILED or SUCCESS")
	}
	now := s.clk.Now()
	return s.store.InTx(ctx, func(tx Tx) error {
		c, err := tx.GetCluster(ctx, clusterID)
		if err != nil {
			return err
		}
		st, err := tx.GetStatus(ctx, clusterID)
		if err != nil {
			return err
		}
		msg := message + "##" + c.AdvanceConfig.LogPath + uid + ".log"
		if err := tx.AddAction(ctx, Action{ClusterID: clusterID, RunID: st.ActiveRunID, Action: ActionInitScript, Message: msg, ArtifactID: st.ArtifactID, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.Publish(ctx, Event{Type: "INIT_SCRIPT_EXECUTION_" + status, ClusterID: clusterID, ClusterName: c.Name, RunID: st.ActiveRunID, Message: message, Time: now})
	})
}

// Search lists clusters.
func (s *Service) Search(ctx context.Context, q SearchQuery) ([]ClusterWithStatus, int, error) {
	return s.store.Search(ctx, q)
}

// Store exposes the store for read-only endpoints (actions, visits, filters).
func (s *Service) Store() Store { return s.store }

// Clock returns the service clock.
func (s *Service) Clock() clock.Clock { return s.clk }

// ClusterInfo implements ClusterLookup for compute-aux.
func (s *Service) ClusterInfo(ctx context.Context, clusterID string) (ClusterInfo, error) {
	cs, err := s.Get(ctx, clusterID)
	if err != nil {
		return ClusterInfo{}, err
	}
	c := cs.Cluster
	info := ClusterInfo{ClusterID: c.ID, Name: c.Name, UIStatus: UIStatus(cs.Status.Status), InternalStatus: cs.Status.Status,
		RunID: cs.Status.ActiveRunID, ArtifactName: cs.Status.ArtifactID}
	at := s.placement(ctx, &c)
	info.KubeCluster, info.Namespace = at.KubeCluster, at.Namespace
	image, ns, err := s.resolveRuntime(ctx, c.Runtime)
	if err == nil {
		if doc, err := BuildValues(&c, image, ns, s.valuesEnv()); err == nil {
			info.Values = doc
		}
	}
	return info, nil
}

// ForceUpdate regenerates the cluster's artifact from the stored definition (PUT /cluster/force/{id}).
func (s *Service) ForceUpdate(ctx context.Context, clusterID string) (string, error) {
	c, err := s.store.GetCluster(ctx, clusterID)
	if err != nil {
		return "", err
	}
	var head, worker []RemoteCommand
	if c.RemoteCommands != nil {
		head, worker = c.RemoteCommands.Head, c.RemoteCommands.Worker
	}
	return s.AddRemoteCommands(ctx, clusterID, head, worker)
}

// InactiveJobClusters lists job clusters not used for the given number of days.
func (s *Service) InactiveJobClusters(ctx context.Context, days, offset, limit int) ([]string, error) {
	yes := true
	list, _, err := s.store.Search(ctx, SearchQuery{IsJobCluster: &yes, Statuses: []string{StatusInactive}, SortBy: "last_used_on", Limit: 1000})
	if err != nil {
		return nil, err
	}
	cutoff := s.clk.Now().Add(-time.Duration(days) * 24 * time.Hour)
	ids := []string{}
	for _, cs := range list {
		if cs.Status.LastUsedAt.Before(cutoff) {
			ids = append(ids, cs.Cluster.ID)
		}
	}
	if offset >= len(ids) {
		return []string{}, nil
	}
	ids = ids[offset:]
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// AddRemoteCommands implements ArtifactUpdater: it bumps the artifact version and re-applies the values with
// remoteCommand.commands set to the given commands.
func (s *Service) AddRemoteCommands(ctx context.Context, clusterID string, head, worker []RemoteCommand) (string, error) {
	c, err := s.store.GetCluster(ctx, clusterID)
	if err != nil {
		return "", err
	}
	c.RemoteCommands = &RemoteCommandSet{Head: head, Worker: worker}
	c.ArtifactVersion++
	if err := s.applyArtifact(ctx, &c); err != nil {
		return "", err
	}
	now := s.clk.Now()
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.UpdateCluster(ctx, c); err != nil {
			return err
		}
		st, err := tx.GetStatus(ctx, clusterID)
		if err != nil {
			return err
		}
		st.ArtifactID = c.ArtifactName()
		if err := tx.UpdateStatus(ctx, st); err != nil {
			return err
		}
		return tx.Publish(ctx, Event{Type: "CLUSTER_UPDATED", ClusterID: c.ID, ClusterName: c.Name, ArtifactName: c.ArtifactName(), Message: "remote commands", Time: now})
	})
	if err != nil {
		return "", fmt.Errorf("store remote commands: %w", err)
	}
	return c.ArtifactName(), nil
}
