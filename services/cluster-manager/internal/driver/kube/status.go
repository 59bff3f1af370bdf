package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	helmdriver "helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	k8serrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// KubeRay names and labels.
const (
	LabelRayCluster = "rayCluster"
	LabelNodeType   = "ray.io/node-type"
	LabelGroup      = "ray.io/group"
	ContainerHead   = "ray-head"
	ContainerWorker = "ray-worker"
	DashboardPort   = 8265
	JupyterPort     = 8888
)

// RayClusterGVR is the KubeRay custom resource.
var RayClusterGVR = schema.GroupVersionResource{Group: "ray.io", Version: "v1", Resource: "rayclusters"}

// ResourceName is the RayCluster (and rayCluster label value) of a cluster.
func ResourceName(cluster string) string { return cluster + "-kuberay" }

// HeadServiceName is the chart's head Service.
func HeadServiceName(cluster string) string { return ResourceName(cluster) + "-head" }

func podSelector(cluster string) string { return LabelRayCluster + "=" + ResourceName(cluster) }

// Status reports the release, the cluster's pods, the RayCluster's
// conditions, the head's internal URLs and the pod lifecycle events.
func (d *Driver) Status(ctx context.Context, cluster string) (driver.Status, error) {
	st := driver.Status{Cluster: cluster}
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return st, err
	}
	p := d.place(ctx, cluster)
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return st, err
	}
	cfg, err := d.helm(t, p.Namespace)
	if err != nil {
		return st, classify(t.name, "init helm", err)
	}
	rel, err := cfg.Releases.Last(cluster)
	switch {
	case errors.Is(err, helmdriver.ErrReleaseNotFound):
		rel = nil
	case err != nil:
		return st, classify(t.name, "read release", err)
	}
	if rel != nil {
		switch rel.Info.Status {
		case release.StatusDeployed, release.StatusPendingInstall, release.StatusPendingUpgrade:
			st.Installed = true
		}
		st.Artifact, _ = rel.Config[artifactKey].(string)
	}

	rc, err := t.dyn.Resource(RayClusterGVR).Namespace(p.Namespace).Get(ctx, ResourceName(cluster), metav1.GetOptions{})
	switch {
	case k8serrors.IsNotFound(err) || (err != nil && isNoMatch(err)):
		if st.Installed && rel.Info.Status == release.StatusDeployed {
			// The release is there but its RayCluster was deleted
			// behind Helm's back: the cluster is not installed.
			st.Installed = false
			st.Conditions = append(st.Conditions, driver.Condition{Type: "RayClusterMissing", Status: "True",
				Reason: "NotFound", Message: fmt.Sprintf("RayCluster %s not found", ResourceName(cluster))})
		}
	case err != nil:
		return st, classify(t.name, "read RayCluster", err)
	default:
		st.Conditions = append(st.Conditions, rayClusterConditions(rc)...)
	}

	pods, err := t.kube.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: podSelector(cluster)})
	if err != nil {
		return st, classify(t.name, "list pods", err)
	}
	failure := failureCondition(st.Conditions)
	for i := range pods.Items {
		pod := podStatus(&pods.Items[i])
		if pod.Status == driver.PodPending && pod.Message == "" {
			pod.Message = failure
		}
		st.Pods = append(st.Pods, pod)
	}
	sort.Slice(st.Pods, func(i, j int) bool {
		if (st.Pods[i].NodeType == driver.NodeHead) != (st.Pods[j].NodeType == driver.NodeHead) {
			return st.Pods[i].NodeType == driver.NodeHead
		}
		return st.Pods[i].Name < st.Pods[j].Name
	})

	events, err := t.kube.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.kind", "Pod").String(),
	})
	if err != nil {
		return st, classify(t.name, "list events", err)
	}
	st.Events = PodEvents(cluster, pods.Items, events.Items)

	if st.Installed {
		svc, err := t.kube.CoreV1().Services(p.Namespace).Get(ctx, HeadServiceName(cluster), metav1.GetOptions{})
		if err == nil {
			st.DashboardURL = headURL(svc.Name, svc.Namespace)
			st.JupyterURL = fmt.Sprintf("http://%s.%s.svc:%d/%s/%s-jupyter", svc.Name, svc.Namespace, JupyterPort, cloudEnv(rel.Config), cluster)
		} else if !k8serrors.IsNotFound(err) {
			return st, classify(t.name, "read head service", err)
		}
	}
	return st, nil
}

func isNoMatch(err error) bool {
	return strings.Contains(err.Error(), "the server could not find the requested resource")
}

// cloudEnv mirrors the chart's ray-cluster.cloudEnv helper.
func cloudEnv(vals map[string]any) string {
	for _, k := range []string{"cloud_env", "kube_cluster_key"} {
		if s, _ := vals[k].(string); s != "" {
			return s
		}
	}
	return "kind-0"
}

func rayClusterConditions(rc *unstructured.Unstructured) []driver.Condition {
	var out []driver.Condition
	conds, _, _ := unstructured.NestedSlice(rc.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, driver.Condition{Type: str("type"), Status: str("status"), Reason: str("reason"), Message: str("message")})
	}
	if state, _, _ := unstructured.NestedString(rc.Object, "status", "state"); state != "" {
		out = append(out, driver.Condition{Type: "State", Status: state})
	}
	return out
}

// failureCondition is the message of a true ReplicaFailure-like condition
// (KubeRay: RayClusterReplicaFailure), shown on pending pods.
func failureCondition(conds []driver.Condition) string {
	for _, c := range conds {
		if c.Status == "True" && strings.Contains(c.Type, "ReplicaFailure") {
			return strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return ""
}

// podStatus maps a pod the KubeRay way: Running only when the pod runs and
// all its containers are ready; Failed for failed or evicted pods; Pending
// otherwise, with the reason in the message.
func podStatus(p *corev1.Pod) driver.Pod {
	out := driver.Pod{Name: p.Name, NodeType: p.Labels[LabelNodeType], Group: p.Labels[LabelGroup]}
	if out.NodeType == "" {
		switch {
		case strings.Contains(p.Name, "-head"):
			out.NodeType = driver.NodeHead
		case strings.Contains(p.Name, "-worker"):
			out.NodeType = driver.NodeWorker
		}
	}
	switch {
	case p.DeletionTimestamp != nil:
		out.Status, out.Message = driver.PodPending, "terminating"
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
		out.Status = driver.PodFailed
		out.Message = strings.TrimSpace(strings.TrimSpace(p.Status.Reason+": "+p.Status.Message) + " " + terminated(p))
		out.Message = strings.Trim(out.Message, ": ")
		if out.Message == "" {
			out.Message = "pod " + strings.ToLower(string(p.Status.Phase))
		}
	case p.Status.Phase == corev1.PodRunning && allReady(p):
		out.Status = driver.PodRunning
	default:
		out.Status = driver.PodPending
		out.Message = pendingReason(p)
	}
	return out
}

func allReady(p *corev1.Pod) bool {
	if len(p.Status.ContainerStatuses) < len(p.Spec.Containers) || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if !c.Ready {
			return false
		}
	}
	return true
}

func terminated(p *corev1.Pod) string {
	var parts []string
	for _, c := range p.Status.ContainerStatuses {
		if t := c.State.Terminated; t != nil {
			parts = append(parts, fmt.Sprintf("%s: %s (exit code %d)", c.Name, t.Reason, t.ExitCode))
		}
	}
	return strings.Join(parts, "; ")
}

func pendingReason(p *corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			return strings.TrimSpace(fmt.Sprintf("%s: %s %s", c.Name, w.Reason, w.Message))
		}
		if t := c.LastTerminationState.Terminated; t != nil && !c.Ready && t.Reason != "" {
			return fmt.Sprintf("%s: last exit %s (exit code %d)", c.Name, t.Reason, t.ExitCode)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status == corev1.ConditionFalse && c.Message != "" {
			return strings.TrimSpace(fmt.Sprintf("%s: %s", c.Reason, c.Message))
		}
	}
	if p.Status.Phase == corev1.PodRunning {
		return "containers not ready"
	}
	if p.Spec.NodeName == "" {
		return "waiting to be scheduled"
	}
	return string(p.Status.Phase)
}

// EventType maps a Kubernetes event reason about a pod to a lifecycle event
// type ("" = not interesting).
func EventType(reason string) string {
	switch reason {
	case "FailedScheduling":
		return driver.EventPodFailedScheduling
	case "Evicted", "Preempting", "Preempted", "TaintManagerEviction":
		return driver.EventPodEvicted
	case "OOMKilling", "OOMKilled", "BackOff", "Failed", "FailedCreatePodSandBox", "FailedMount",
		"FailedAttachVolume", "Unhealthy", "FailedPostStartHook", "FailedPreStopHook", "Killing":
		return driver.EventPodFailed
	case "Started":
		return driver.EventPodStarted
	}
	return ""
}

// PodEvents turns the Events about a cluster's pods (and what the pods' own
// status says: evictions, OOM kills) into lifecycle events, oldest first.
// Events are matched to the cluster by pod name (<id>-kuberay-...) so pods
// already gone still count.
func PodEvents(cluster string, pods []corev1.Pod, events []corev1.Event) []driver.PodEvent {
	prefix := ResourceName(cluster) + "-"
	names := map[string]bool{}
	for _, p := range pods {
		names[p.Name] = true
	}
	var out []driver.PodEvent
	for _, e := range events {
		if e.InvolvedObject.Kind != "Pod" || (!names[e.InvolvedObject.Name] && !strings.HasPrefix(e.InvolvedObject.Name, prefix)) {
			continue
		}
		typ := EventType(e.Reason)
		if typ == "" {
			continue
		}
		when := e.LastTimestamp.Time
		if when.IsZero() {
			when = e.EventTime.Time
		}
		if when.IsZero() {
			when = e.CreationTimestamp.Time
		}
		count := int(e.Count)
		if e.Series != nil {
			// events.k8s.io writers (the scheduler's FailedScheduling among them) keep the repeat count and
			// the latest time in the series, not in count/lastTimestamp.
			count = max(count, int(e.Series.Count))
			if t := e.Series.LastObservedTime.Time; t.After(when) {
				when = t
			}
		}
		if count == 0 {
			count = 1
		}
		out = append(out, driver.PodEvent{Type: typ, Pod: e.InvolvedObject.Name, Reason: e.Reason, Message: e.Message,
			Time: when.UTC(), Count: count, ID: string(e.UID)})
	}
	for _, p := range pods {
		if p.Status.Reason == "Evicted" {
			out = append(out, driver.PodEvent{Type: driver.EventPodEvicted, Pod: p.Name, Reason: "Evicted",
				Message: p.Status.Message, Time: p.CreationTimestamp.UTC(), Count: 1, ID: string(p.UID) + "/evicted"})
		}
		for _, c := range p.Status.ContainerStatuses {
			for _, t := range []*corev1.ContainerStateTerminated{c.State.Terminated, c.LastTerminationState.Terminated} {
				if t != nil && t.Reason == "OOMKilled" {
					out = append(out, driver.PodEvent{Type: driver.EventPodFailed, Pod: p.Name, Reason: "OOMKilled",
						Message: fmt.Sprintf("container %s was killed for using too much memory (exit code %d)", c.Name, t.ExitCode),
						Time:    t.FinishedAt.UTC(), Count: 1, ID: fmt.Sprintf("%s/%s/oom/%d", p.UID, c.Name, c.RestartCount)})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return dedupe(out)
}

func dedupe(evs []driver.PodEvent) []driver.PodEvent {
	seen := map[string]bool{}
	out := evs[:0]
	for _, e := range evs {
		if e.ID != "" && seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		out = append(out, e)
	}
	return out
}

// pods lists the cluster's pods mapped to driver pods.
func (d *Driver) pods(ctx context.Context, t *target, ns, cluster string) ([]driver.Pod, error) {
	list, err := t.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: podSelector(cluster)})
	if err != nil {
		return nil, classify(t.name, "list pods", err)
	}
	out := make([]driver.Pod, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, podStatus(&list.Items[i]))
	}
	return out, nil
}
