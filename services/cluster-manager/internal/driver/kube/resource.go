package kube

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	helmdriver "helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/charts"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// LabelResourceInstance labels every object (and pod) of a resource instance with its id.
const LabelResourceInstance = "darwin.dream11.com/resource-instance-id"

var _ resource.Runner = (*Driver)(nil)

// resourceKey keeps resource instances' locks and placements apart from clusters' ('/' cannot occur in either id).
func resourceKey(id string) string { return "resource/" + id }

// ResourceSelector selects the pods of resource instance id.
func ResourceSelector(id string) string { return LabelResourceInstance + "=" + id }

// StartResource installs the chart of doc as release id, or upgrades the installed release with doc's values.
// It does not wait for the pods (the original answered 202 Accepted): Status reports them.
func (d *Driver) StartResource(ctx context.Context, id string, doc resource.Doc) error {
	if err := resource.ValidateResourceID("resource_id", id); err != nil {
		return err
	}
	if doc.DarwinResource != charts.FastAPIServe {
		return apierr.InvalidField("darwin_resource", "darwin_resource %q is not supported", doc.DarwinResource)
	}
	key := resourceKey(id)
	defer d.lock(key)()
	p := d.place(ctx, key)
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return err
	}
	vals := resource.DeepMerge(doc.Values, map[string]any{artifactKey: doc.ArtifactID})
	err = d.retry(ctx, "start resource", func() error {
		cfg, err := d.helm(t, p.Namespace)
		if err != nil {
			return classify(t.name, "init helm", err)
		}
		chrt, err := charts.Load(doc.DarwinResource)
		if err != nil {
			return apierr.Wrap(apierr.Internal, err, "load chart")
		}
		last, err := cfg.Releases.Last(id)
		switch {
		case errors.Is(err, helmdriver.ErrReleaseNotFound):
			last = nil
		case err != nil:
			return classify(t.name, "read release", err)
		}
		if last != nil && (last.Chart == nil || last.Chart.Metadata == nil || last.Chart.Metadata.Name != doc.DarwinResource) {
			return apierr.New(apierr.AlreadyExists, "release %s exists and is not a %s", id, doc.DarwinResource)
		}
		if last != nil && last.Info.Status != release.StatusDeployed {
			d.logger.WarnContext(ctx, "replacing resource release in bad state", "resource_id", id, "status", last.Info.Status)
			if err := d.uninstall(t, cfg, id); err != nil {
				return err
			}
			last = nil
		}
		labels := map[string]string{"darwin.io/component": doc.DarwinResource}
		if last == nil {
			in := action.NewInstall(cfg)
			in.ReleaseName, in.Namespace, in.CreateNamespace = id, p.Namespace, true
			in.Timeout, in.Labels = d.cfg.HelmTimeout, labels
			_, err = in.RunWithContext(ctx, chrt, vals)
			return classify(t.name, "helm install", err)
		}
		up := action.NewUpgrade(cfg)
		up.Namespace, up.Timeout, up.MaxHistory, up.Labels = p.Namespace, d.cfg.HelmTimeout, maxHistory, labels
		_, err = up.RunWithContext(ctx, id, chrt, vals)
		return classify(t.name, "helm upgrade", err)
	})
	if err != nil {
		return err
	}
	d.remember(key, p)
	d.logger.InfoContext(ctx, "resource release installed", "resource_id", id, "artifact", doc.ArtifactID,
		"kube_cluster", t.name, "namespace", p.Namespace)
	return nil
}

// StopResource uninstalls release id; a release that does not exist is NotFound.
func (d *Driver) StopResource(ctx context.Context, id string) error {
	if err := resource.ValidateResourceID("resource_id", id); err != nil {
		return err
	}
	key := resourceKey(id)
	defer d.lock(key)()
	p := d.place(ctx, key)
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return err
	}
	return d.retry(ctx, "stop resource", func() error {
		cfg, err := d.helm(t, p.Namespace)
		if err != nil {
			return classify(t.name, "init helm", err)
		}
		if _, err := cfg.Releases.Last(id); errors.Is(err, helmdriver.ErrReleaseNotFound) {
			return apierr.New(apierr.NotFound, "resource instance %s not found in namespace %s", id, p.Namespace)
		} else if err != nil {
			return classify(t.name, "read release", err)
		}
		return d.uninstall(t, cfg, id)
	})
}

// ResourceStatus lists the pods labelled darwin.dream11.com/resource-instance-id=<id> (Running only when all
// containers are ready). Installed says whether the release is deployed; URL is the Service's
// cluster-internal address.
func (d *Driver) ResourceStatus(ctx context.Context, id string) (resource.Status, error) {
	if err := resource.ValidateResourceID("resource_id", id); err != nil {
		return resource.Status{}, err
	}
	p := d.place(ctx, resourceKey(id))
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return resource.Status{}, err
	}
	out := resource.Status{ResourceID: id, Pods: []resource.Pod{}}
	cfg, err := d.helm(t, p.Namespace)
	if err != nil {
		return out, classify(t.name, "init helm", err)
	}
	rel, err := cfg.Releases.Last(id)
	switch {
	case errors.Is(err, helmdriver.ErrReleaseNotFound):
	case err != nil:
		return out, classify(t.name, "read release", err)
	default:
		out.Installed = rel.Info.Status == release.StatusDeployed
		out.ArtifactID, _ = rel.Config[artifactKey].(string)
		if out.Installed {
			port := 80
			if svc, ok := rel.Config["service"].(map[string]any); ok {
				if n, ok := svc["port"].(float64); ok && n > 0 {
					port = int(n)
				}
			}
			out.URL = fmt.Sprintf("http://%s.%s.svc:%d", id, p.Namespace, port)
		}
	}
	list, err := t.kube.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: ResourceSelector(id)})
	if err != nil {
		return out, classify(t.name, "list pods", err)
	}
	for i := range list.Items {
		ps := podStatus(&list.Items[i])
		out.Pods = append(out.Pods, resource.Pod{Name: ps.Name, Status: ps.Status, Message: ps.Message})
	}
	return out, nil
}
