// Package kube is the Kubernetes driver of cluster-manager: each cluster is
// a Helm release named after the cluster id, installed in-process with the
// Helm SDK from the embedded ray-cluster chart (a KubeRay RayCluster
// <id>-kuberay with its head Service and Ingress) and the stored values
// document. Status reads the pods labelled rayCluster=<id>-kuberay, the
// RayCluster's conditions and the Kubernetes Events about the pods; Exec runs
// commands through the pods' exec subresource.
//
// The KubeRay operator must run in the target cluster: the driver installs
// the RayCluster; the operator creates the pods.
package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	helmdriver "helm.sh/helm/v3/pkg/storage/driver"
	k8serrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/charts"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// Defaults.
const (
	DefaultNamespace    = driver.DefaultKubeNamespace
	DefaultHelmTimeout  = driver.DefaultHelmTimeout
	DefaultRetryBackoff = time.Second
	// Attempts of an install/upgrade/uninstall on transient errors.
	attempts = 3
	// artifactKey is the values key recording which artifact a release runs.
	artifactKey = "darwin_artifact"
	maxHistory  = 5
)

// Config of the Kubernetes driver.
type Config struct {
	// Kubeconfigs maps kube_cluster names to kubeconfig files. Empty: the
	// in-cluster config is used for every kube_cluster.
	Kubeconfigs map[string]string
	// DefaultKubeCluster is used when a request names none (empty: the only
	// configured one, else in-cluster).
	DefaultKubeCluster string
	// Namespace is used when a request names none (default "ray").
	Namespace string
	// HelmTimeout bounds each Helm install/upgrade/uninstall.
	HelmTimeout time.Duration
	// RetryBackoff is the first pause between attempts (doubles).
	RetryBackoff time.Duration
	// InClusterConfig loads the in-cluster config (default rest.InClusterConfig).
	InClusterConfig func() (*rest.Config, error)
}

// Factory returns the constructor clustermanager.Deps.KubernetesDriver expects, for the given settings
// (the cluster-manager binary's kubeconfigs, default_kube_cluster, namespace and helm_timeout).
func Factory(kubeconfigs map[string]string, defaultKubeCluster, namespace string, helmTimeout time.Duration) func(artifact.Store, *slog.Logger, clock.Clock) (driver.Driver, error) {
	return func(store artifact.Store, logger *slog.Logger, clk clock.Clock) (driver.Driver, error) {
		return New(Config{Kubeconfigs: kubeconfigs, DefaultKubeCluster: defaultKubeCluster, Namespace: namespace,
			HelmTimeout: helmTimeout}, store, nil, logger, clk)
	}
}

// Driver implements driver.Driver on Kubernetes.
type Driver struct {
	cfg       Config
	artifacts artifact.Store
	logger    *slog.Logger
	clk       clock.Clock
	exec      Executor
	targets   *targets

	mu         sync.Mutex
	locks      map[string]*sync.Mutex
	placements map[string]driver.Placement
	execs      map[string]*clusterExecs

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ driver.Driver = (*Driver)(nil)

// New returns a driver. exec runs commands in pods (nil: the pods exec
// subresource through SPDY/WebSocket, see NewRemoteExecutor).
func New(cfg Config, store artifact.Store, exec Executor, logger *slog.Logger, clk clock.Clock) (*Driver, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.HelmTimeout <= 0 {
		cfg.HelmTimeout = DefaultHelmTimeout
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.InClusterConfig == nil {
		cfg.InClusterConfig = rest.InClusterConfig
	}
	if cfg.DefaultKubeCluster != "" && len(cfg.Kubeconfigs) > 0 {
		if _, ok := cfg.Kubeconfigs[cfg.DefaultKubeCluster]; !ok {
			return nil, fmt.Errorf("default_kube_cluster %q is not a key of kubeconfigs", cfg.DefaultKubeCluster)
		}
	}
	if exec == nil {
		exec = NewRemoteExecutor()
	}
	if clk == nil {
		clk = clock.Real()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Driver{
		cfg: cfg, artifacts: store, logger: logger, clk: clk, exec: exec,
		targets: &targets{kubeconfigs: cfg.Kubeconfigs, def: cfg.DefaultKubeCluster, inCluster: cfg.InClusterConfig,
			cache: map[string]*target{}},
		locks: map[string]*sync.Mutex{}, placements: map[string]driver.Placement{}, execs: map[string]*clusterExecs{},
		ctx: ctx, cancel: cancel,
	}, nil
}

// Close stops running executions and waits for them.
func (d *Driver) Close() error {
	d.cancel()
	d.wg.Wait()
	return nil
}

func (d *Driver) lock(cluster string) func() {
	d.mu.Lock()
	l, ok := d.locks[cluster]
	if !ok {
		l = &sync.Mutex{}
		d.locks[cluster] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// place resolves where cluster runs: the request's placement, else where it
// was last started, else the defaults.
func (d *Driver) place(ctx context.Context, cluster string) driver.Placement {
	p := driver.PlacementFrom(ctx)
	d.mu.Lock()
	last := d.placements[cluster]
	d.mu.Unlock()
	if p.KubeCluster == "" {
		p.KubeCluster = last.KubeCluster
	}
	if p.Namespace == "" {
		p.Namespace = last.Namespace
	}
	p.KubeCluster = d.targets.resolveName(p.KubeCluster)
	if p.Namespace == "" {
		p.Namespace = d.cfg.Namespace
	}
	return p
}

func (d *Driver) remember(cluster string, p driver.Placement) {
	d.mu.Lock()
	d.placements[cluster] = p
	d.mu.Unlock()
}

// latestPointer names the object recording a cluster's last applied
// artifact; '_' cannot occur in artifact names, so it never collides.
func latestPointer(cluster string) string { return cluster + "._latest" }

// Apply validates the values document by rendering the ray-cluster chart
// with it and stores it.
func (d *Driver) Apply(ctx context.Context, cluster, artifactName string, values []byte) (string, error) {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return "", err
	}
	if err := driver.ValidateName("artifact_name", artifactName); err != nil {
		return "", err
	}
	vals, err := decodeValues(values)
	if err != nil {
		return "", err
	}
	if _, err := charts.Render(charts.RayCluster, cluster, d.cfg.Namespace, vals); err != nil {
		var ve *charts.ValuesError
		if errors.As(err, &ve) {
			return "", &apierr.Error{Kind: apierr.InvalidArgument, Field: "values", Message: "values: " + valuesMessage(err), Cause: err}
		}
		return "", apierr.Wrap(apierr.Internal, err, "render chart for %s", cluster)
	}
	url, err := d.artifacts.Put(ctx, artifactName, values)
	if err != nil {
		return "", err
	}
	if _, err := d.artifacts.Put(ctx, latestPointer(cluster), []byte(artifactName)); err != nil {
		return "", err
	}
	return url, nil
}

func decodeValues(data []byte) (map[string]any, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, apierr.InvalidField("values", "values document must be a JSON object")
	}
	var vals map[string]any
	if err := json.Unmarshal(trimmed, &vals); err != nil {
		return nil, apierr.InvalidField("values", "values document is not valid JSON: %s", firstLine(err))
	}
	return vals, nil
}

func (d *Driver) loadValues(ctx context.Context, cluster, artifactName string) (string, map[string]any, error) {
	if artifactName == "" {
		ptr, err := d.artifacts.Get(ctx, latestPointer(cluster))
		if apierr.KindOf(err) == apierr.NotFound {
			return "", nil, apierr.New(apierr.NotFound, "cluster %q has no applied artifact", cluster)
		}
		if err != nil {
			return "", nil, err
		}
		artifactName = string(ptr)
	} else if err := driver.ValidateName("artifact_name", artifactName); err != nil {
		return "", nil, err
	}
	data, err := d.artifacts.Get(ctx, artifactName)
	if err != nil {
		return "", nil, err
	}
	vals, err := decodeValues(data)
	if err != nil {
		return "", nil, err
	}
	vals[artifactKey] = artifactName
	return artifactName, vals, nil
}

// helm returns an action configuration for namespace ns of target t.
func (d *Driver) helm(t *target, ns string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	logf := func(format string, v ...any) {
		d.logger.Debug("helm", "kube_cluster", t.name, "namespace", ns, "msg", fmt.Sprintf(format, v...))
	}
	if err := cfg.Init(getter{t: t, ns: ns}, ns, "secret", logf); err != nil {
		return nil, fmt.Errorf("init helm: %w", err)
	}
	return cfg, nil
}

// retry runs f up to `attempts` times while it fails with Unavailable.
func (d *Driver) retry(ctx context.Context, what string, f func() error) error {
	backoff := d.cfg.RetryBackoff
	var err error
	for i := 0; i < attempts; i++ {
		if err = f(); err == nil || apierr.KindOf(err) != apierr.Unavailable {
			return err
		}
		if i == attempts-1 {
			break
		}
		d.logger.WarnContext(ctx, "transient kubernetes error, retrying", "op", what, "attempt", i+1, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-d.clk.After(backoff):
		}
		backoff *= 2
	}
	return err
}

// Start installs or upgrades the release from artifact (empty: the last
// applied one). Install and upgrade are atomic: a failure rolls back, so
// nothing is left half-installed.
func (d *Driver) Start(ctx context.Context, cluster, artifactName string) error {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return err
	}
	defer d.lock(cluster)()
	artifactName, vals, err := d.loadValues(ctx, cluster, artifactName)
	if err != nil {
		return err
	}
	p := d.place(ctx, cluster)
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return err
	}
	err = d.retry(ctx, "start", func() error { return d.installOrUpgrade(ctx, t, p.Namespace, cluster, vals) })
	if err != nil {
		return err
	}
	d.remember(cluster, driver.Placement{KubeCluster: t.name, Namespace: p.Namespace})
	d.logger.InfoContext(ctx, "cluster release installed", "cluster_id", cluster, "artifact", artifactName,
		"kube_cluster", t.name, "namespace", p.Namespace)
	return nil
}

func (d *Driver) installOrUpgrade(ctx context.Context, t *target, ns, cluster string, vals map[string]any) error {
	cfg, err := d.helm(t, ns)
	if err != nil {
		return classify(t.name, "init helm", err)
	}
	chrt, err := charts.Load(charts.RayCluster)
	if err != nil {
		return apierr.Wrap(apierr.Internal, err, "load chart")
	}
	last, err := cfg.Releases.Last(cluster)
	switch {
	case errors.Is(err, helmdriver.ErrReleaseNotFound):
		last = nil
	case err != nil:
		return classify(t.name, "read release", err)
	}
	if last != nil && last.Info.Status != release.StatusDeployed {
		// A failed or interrupted release cannot be upgraded reliably:
		// remove it and install afresh.
		d.logger.WarnContext(ctx, "replacing release in bad state", "cluster_id", cluster, "status", last.Info.Status)
		if err := d.uninstall(t, cfg, cluster); err != nil {
			return err
		}
		last = nil
	}
	if last == nil {
		in := action.NewInstall(cfg)
		in.ReleaseName = cluster
		in.Namespace = ns
		in.CreateNamespace = true
		in.Atomic = true
		in.Wait = true
		in.Timeout = d.cfg.HelmTimeout
		in.Labels = map[string]string{"darwin.io/component": "ray-cluster"}
		_, err = in.RunWithContext(ctx, chrt, vals)
		return classify(t.name, "helm install", err)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = ns
	up.Atomic = true
	up.Wait = true
	up.Timeout = d.cfg.HelmTimeout
	up.MaxHistory = maxHistory
	up.Labels = map[string]string{"darwin.io/component": "ray-cluster"}
	_, err = up.RunWithContext(ctx, cluster, chrt, vals)
	return classify(t.name, "helm upgrade", err)
}

func (d *Driver) uninstall(t *target, cfg *action.Configuration, cluster string) error {
	un := action.NewUninstall(cfg)
	un.IgnoreNotFound = true
	un.Timeout = d.cfg.HelmTimeout
	un.DeletionPropagation = "background"
	_, err := un.Run(cluster)
	if errors.Is(err, helmdriver.ErrReleaseNotFound) {
		return nil
	}
	return classify(t.name, "helm uninstall", err)
}

// Stop uninstalls the release (a missing release is fine) and deletes any
// pod still labelled with the cluster, so nothing of it keeps running even
// when the operator is gone.
func (d *Driver) Stop(ctx context.Context, cluster string) error {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return err
	}
	defer d.lock(cluster)()
	return d.stop(ctx, cluster)
}

func (d *Driver) stop(ctx context.Context, cluster string) error {
	p := d.place(ctx, cluster)
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return err
	}
	return d.retry(ctx, "stop", func() error {
		cfg, err := d.helm(t, p.Namespace)
		if err != nil {
			return classify(t.name, "init helm", err)
		}
		if err := d.uninstall(t, cfg, cluster); err != nil {
			return err
		}
		err = t.kube.CoreV1().Pods(p.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: podSelector(cluster)})
		if err != nil && !k8serrors.IsNotFound(err) {
			return classify(t.name, "delete pods", err)
		}
		return nil
	})
}

// Restart is Stop followed by Start.
func (d *Driver) Restart(ctx context.Context, cluster, artifactName string) error {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return err
	}
	unlock := d.lock(cluster)
	err := d.stop(ctx, cluster)
	unlock()
	if err != nil {
		return err
	}
	return d.Start(ctx, cluster, artifactName)
}

// List reports the ray-cluster releases in the namespace of the request
// (default namespace), each with the state of its head pod.
func (d *Driver) List(ctx context.Context) ([]driver.Release, error) {
	p := driver.PlacementFrom(ctx)
	kc := d.targets.resolveName(p.KubeCluster)
	ns := p.Namespace
	if ns == "" {
		ns = d.cfg.Namespace
	}
	t, err := d.targets.get(kc)
	if err != nil {
		return nil, err
	}
	cfg, err := d.helm(t, ns)
	if err != nil {
		return nil, classify(t.name, "init helm", err)
	}
	l := action.NewList(cfg)
	l.StateMask = action.ListDeployed | action.ListFailed | action.ListPendingInstall | action.ListPendingUpgrade
	rels, err := l.Run()
	if err != nil {
		return nil, classify(t.name, "helm list", err)
	}
	var out []driver.Release
	for _, r := range rels {
		if r.Chart == nil || r.Chart.Metadata == nil || r.Chart.Metadata.Name != charts.RayCluster {
			continue
		}
		status := driver.PodFailed
		if r.Info.Status != release.StatusDeployed {
			status = driver.PodPending
		} else if pods, err := d.pods(ctx, t, ns, r.Name); err == nil {
			for _, pod := range pods {
				if pod.NodeType == driver.NodeHead {
					status = pod.Status
				}
			}
		}
		art, _ := r.Config[artifactKey].(string)
		out = append(out, driver.Release{Name: r.Name, Status: status, Artifact: art})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HeadURL is the head's dashboard base URL inside the cluster network (the
// dashboard proxy calls it per request, so it reads only the release and the
// head Service).
func (d *Driver) HeadURL(ctx context.Context, cluster string) (string, error) {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return "", err
	}
	p := d.place(ctx, cluster)
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return "", err
	}
	cfg, err := d.helm(t, p.Namespace)
	if err != nil {
		return "", classify(t.name, "init helm", err)
	}
	rel, err := cfg.Releases.Last(cluster)
	if errors.Is(err, helmdriver.ErrReleaseNotFound) || (err == nil && rel.Info.Status != release.StatusDeployed) {
		return "", apierr.New(apierr.FailedPrecondition, "cluster %q is not running", cluster)
	}
	if err != nil {
		return "", classify(t.name, "read release", err)
	}
	svc, err := t.kube.CoreV1().Services(p.Namespace).Get(ctx, HeadServiceName(cluster), metav1.GetOptions{})
	if k8serrors.IsNotFound(err) {
		return "", apierr.New(apierr.FailedPrecondition, "cluster %q has no head service", cluster)
	}
	if err != nil {
		return "", classify(t.name, "read head service", err)
	}
	return headURL(svc.Name, svc.Namespace), nil
}

func headURL(svc, ns string) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", svc, ns, DashboardPort)
}
