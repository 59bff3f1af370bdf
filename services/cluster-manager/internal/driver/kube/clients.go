package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"

	k8serrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/darwinml/darwin/pkg/apierr"
)

// InCluster is the kube_cluster name reported for the in-cluster config.
const InCluster = "in-cluster"

// target is one Kubernetes cluster with its clients.
type target struct {
	name   string
	rest   *rest.Config
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	disc   discovery.CachedDiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// targets resolves kube_cluster names to clients, caching them.
type targets struct {
	kubeconfigs map[string]string
	def         string
	inCluster   func() (*rest.Config, error)

	mu    sync.Mutex
	cache map[string]*target
}

// resolveName applies the defaults: the configured default, the only
// configured cluster, or in-cluster when no kubeconfig is configured.
func (ts *targets) resolveName(name string) string {
	if name != "" {
		return name
	}
	if ts.def != "" {
		return ts.def
	}
	if len(ts.kubeconfigs) == 1 {
		for n := range ts.kubeconfigs {
			return n
		}
	}
	return InCluster
}

func (ts *targets) get(name string) (*target, error) {
	name = ts.resolveName(name)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.cache[name]; ok {
		return t, nil
	}
	cfg, err := ts.restConfig(name)
	if err != nil {
		return nil, err
	}
	t, err := newTarget(name, cfg)
	if err != nil {
		return nil, apierr.Wrap(apierr.FailedPrecondition, err, "kube_cluster %q: cannot build a client from its kubeconfig", name)
	}
	ts.cache[name] = t
	return t, nil
}

func (ts *targets) restConfig(name string) (*rest.Config, error) {
	path, ok := ts.kubeconfigs[name]
	switch {
	case ok:
		if _, err := os.Stat(path); err != nil {
			return nil, apierr.Wrap(apierr.FailedPrecondition, err, "kube_cluster %q: kubeconfig %s is not readable", name, path)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, apierr.Wrap(apierr.FailedPrecondition, err, "kube_cluster %q: kubeconfig %s is not valid: %s", name, path, firstLine(err))
		}
		return cfg, nil
	case len(ts.kubeconfigs) == 0 || name == InCluster:
		// No kubeconfig configured: we are expected to run inside the
		// cluster, whatever name compute uses for it.
		cfg, err := ts.inCluster()
		if err != nil {
			return nil, apierr.Wrap(apierr.FailedPrecondition, err,
				"kube_cluster %q: no kubeconfig is configured and the in-cluster config is unavailable (%s)", name, firstLine(err))
		}
		return cfg, nil
	}
	return nil, apierr.New(apierr.FailedPrecondition, "kube_cluster %q is not configured (known: %s)", name, strings.Join(sortedKeys(ts.kubeconfigs), ", "))
}

func newTarget(name string, cfg *rest.Config) (*target, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(disc)
	return &target{
		name: name, rest: cfg, kube: kc, dyn: dc, disc: cached,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached),
	}, nil
}

// getter is the genericclioptions.RESTClientGetter Helm needs, bound to one
// namespace (Helm takes un-namespaced objects' namespace from it).
type getter struct {
	t  *target
	ns string
}

func (g getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.t.rest), nil }

func (g getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.t.disc, nil
}

func (g getter) ToRESTMapper() (meta.RESTMapper, error) { return g.t.mapper, nil }

func (g getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return nsConfig(g) }

// nsConfig is a clientcmd.ClientConfig answering with the target's REST
// config and the bound namespace.
type nsConfig getter

func (c nsConfig) RawConfig() (clientcmdapi.Config, error) { return clientcmdapi.Config{}, nil }

func (c nsConfig) ClientConfig() (*rest.Config, error) { return rest.CopyConfig(c.t.rest), nil }

func (c nsConfig) Namespace() (string, bool, error) { return c.ns, true, nil }

func (c nsConfig) ConfigAccess() clientcmd.ConfigAccess {
	return clientcmd.NewDefaultClientConfigLoadingRules()
}

// classify turns an error talking to a Kubernetes cluster into an apierr
// naming the kube_cluster. Errors that are already *apierr.Error pass.
func classify(kubeCluster, doing string, err error) error {
	if err == nil {
		return nil
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return err
	}
	switch {
	case isUnreachable(err):
		return apierr.Wrap(apierr.Unavailable, err, "kube_cluster %q is unreachable (%s): %s", kubeCluster, doing, firstLine(err))
	case k8serrors.IsUnauthorized(err) || strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") ||
		strings.Contains(err.Error(), "Unauthorized"):
		return apierr.Wrap(apierr.FailedPrecondition, err, "kube_cluster %q rejected our credentials (%s): %s", kubeCluster, doing, firstLine(err))
	case k8serrors.IsForbidden(err) || strings.Contains(err.Error(), "forbidden") || strings.Contains(err.Error(), "exceeded quota"):
		return apierr.Wrap(apierr.FailedPrecondition, err, "kube_cluster %q refused the cluster's resources (%s): %s", kubeCluster, doing, firstLine(err))
	case strings.Contains(err.Error(), "cannot be imported into the current release") || k8serrors.IsAlreadyExists(err):
		return apierr.Wrap(apierr.FailedPrecondition, err, "kube_cluster %q already has resources of this cluster not managed by its release (%s): %s",
			kubeCluster, doing, firstLine(err))
	case meta.IsNoMatchError(err) || strings.Contains(err.Error(), `no matches for kind "RayCluster"`):
		return apierr.Wrap(apierr.FailedPrecondition, err,
			"kube_cluster %q has no RayCluster resource (ray.io/v1); install the KubeRay operator (%s)", kubeCluster, doing)
	case isValuesError(err):
		return &apierr.Error{Kind: apierr.InvalidArgument, Field: "values", Message: "values: " + valuesMessage(err), Cause: err}
	}
	return apierr.Wrap(apierr.Internal, err, "%s on kube_cluster %q", doing, kubeCluster)
}

func isValuesError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "values don't meet the specifications") || strings.Contains(s, "execution error at (")
}

// isUnreachable reports network-level failures (worth a retry).
func isUnreachable(err error) bool {
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &oe), errors.As(err, &ue), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.DeadlineExceeded):
		return true
	case k8serrors.IsServerTimeout(err), k8serrors.IsTimeout(err), k8serrors.IsServiceUnavailable(err), k8serrors.IsTooManyRequests(err):
		return true
	}
	s := err.Error()
	for _, m := range []string{"connection refused", "no such host", "i/o timeout", "connection reset", "EOF", "TLS handshake timeout", "dial tcp"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

func firstLine(err error) string {
	s := err.Error()
	// Helm aggregates errors as "N errors occurred:\n\t* a\n\t* b"; the
	// last item is the one that says what went wrong.
	if i := strings.LastIndex(s, "\n\t* "); i >= 0 {
		s = s[i+4:]
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// valuesMessage keeps the part of a Helm render/schema error a caller can act on.
func valuesMessage(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.Index(s, "values don't meet"); i >= 0 {
		s = s[i:]
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
