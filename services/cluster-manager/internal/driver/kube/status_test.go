package kube

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

func TestPodStatus(t *testing.T) {
	t.Parallel()
	base := func(phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "id-kuberay-worker-wg1-x", Labels: map[string]string{LabelNodeType: "worker", LabelGroup: "wg1"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: ContainerWorker}}},
			Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
		}
	}
	now := metav1.Now()
	cases := []struct {
		name string
		pod  *corev1.Pod
		want driver.Pod
	}{
		{"running and ready", base(corev1.PodRunning, corev1.ContainerStatus{Name: ContainerWorker, Ready: true}),
			driver.Pod{Status: driver.PodRunning}},
		{"running not ready", base(corev1.PodRunning, corev1.ContainerStatus{Name: ContainerWorker}),
			driver.Pod{Status: driver.PodPending, Message: "containers not ready"}},
		{"running without container statuses", base(corev1.PodRunning), driver.Pod{Status: driver.PodPending, Message: "containers not ready"}},
		{"crash loop", base(corev1.PodRunning, corev1.ContainerStatus{Name: ContainerWorker,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s"}}}),
			driver.Pod{Status: driver.PodPending, Message: "ray-worker: CrashLoopBackOff back-off 10s"}},
		{"unschedulable", func() *corev1.Pod {
			p := base(corev1.PodPending)
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}
			return p
		}(), driver.Pod{Status: driver.PodPending, Message: "Unschedulable: 0/3 nodes are available"}},
		{"not scheduled yet", base(corev1.PodPending), driver.Pod{Status: driver.PodPending, Message: "waiting to be scheduled"}},
		{"evicted", func() *corev1.Pod {
			p := base(corev1.PodFailed)
			p.Status.Reason, p.Status.Message = "Evicted", "The node was low on resource: memory."
			return p
		}(), driver.Pod{Status: driver.PodFailed, Message: "Evicted: The node was low on resource: memory."}},
		{"oom killed", base(corev1.PodFailed, corev1.ContainerStatus{Name: ContainerWorker,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}),
			driver.Pod{Status: driver.PodFailed, Message: "ray-worker: OOMKilled (exit code 137)"}},
		{"terminating", func() *corev1.Pod {
			p := base(corev1.PodRunning, corev1.ContainerStatus{Name: ContainerWorker, Ready: true})
			p.DeletionTimestamp = &now
			return p
		}(), driver.Pod{Status: driver.PodPending, Message: "terminating"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := podStatus(tc.pod)
			tc.want.Name, tc.want.NodeType, tc.want.Group = "id-kuberay-worker-wg1-x", "worker", "wg1"
			if got != tc.want {
				t.Errorf("podStatus = %+v, want %+v", got, tc.want)
			}
		})
	}
	// Without KubeRay's label the node type comes from the name.
	p := base(corev1.PodRunning)
	p.Name, p.Labels = "id-kuberay-head-x", nil
	if got := podStatus(p); got.NodeType != driver.NodeHead {
		t.Errorf("node type from name = %q", got.NodeType)
	}
}

func TestPodEvents(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(uid, pod, reason string, at time.Time) corev1.Event {
		return corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{UID: typesUID(uid)},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod},
			Reason:         reason, Message: reason + " happened", LastTimestamp: metav1.NewTime(at), Count: 2,
		}
	}
	pods := []corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "renamed-pod", UID: "p1", CreationTimestamp: metav1.NewTime(t0)},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerHead, RestartCount: 1,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(t0.Add(5 * time.Second))}}}}},
	}}
	events := []corev1.Event{
		ev("e1", "id-kuberay-head-a", "FailedScheduling", t0.Add(3*time.Second)),
		ev("e2", "id-kuberay-worker-w-b", "Evicted", t0.Add(2*time.Second)),
		ev("e3", "id-kuberay-worker-w-b", "BackOff", t0.Add(4*time.Second)),
		ev("e4", "renamed-pod", "Started", t0.Add(1*time.Second)),
		ev("e5", "id-kuberay-head-a", "Pulled", t0),              // not a lifecycle event
		ev("e6", "other-kuberay-head-a", "FailedScheduling", t0), // another cluster
		ev("e7", "id-kuberay-head-a", "OOMKilling", t0.Add(6*time.Second)),
		ev("e1", "id-kuberay-head-a", "FailedScheduling", t0.Add(3*time.Second)), // duplicate
	}
	got := PodEvents("id", pods, events)
	var types []string
	for _, e := range got {
		types = append(types, e.Pod+" "+e.Type+" "+e.Reason)
	}
	want := []string{
		"renamed-pod POD_STARTED Started",
		"id-kuberay-worker-w-b POD_EVICTED Evicted",
		"id-kuberay-head-a POD_FAILED_SCHEDULING FailedScheduling",
		"id-kuberay-worker-w-b POD_FAILED BackOff",
		"renamed-pod POD_FAILED OOMKilled",
		"id-kuberay-head-a POD_FAILED OOMKilling",
	}
	if !slices.Equal(types, want) {
		t.Errorf("events =\n%q\nwant\n%q", types, want)
	}
	if got[0].Count != 2 || !got[0].Time.Equal(t0.Add(time.Second)) || got[0].Message != "Started happened" {
		t.Errorf("first event = %+v", got[0])
	}
}

// Events written through events.k8s.io (the scheduler) carry their repeats in the series.
func TestPodEventsSeries(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{UID: typesUID("s1")},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "id-kuberay-head-a"},
		Reason:         "FailedScheduling", EventTime: metav1.NewMicroTime(t0),
		Series: &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(t0.Add(time.Minute))},
	}
	got := PodEvents("id", nil, []corev1.Event{e})
	if len(got) != 1 || got[0].Count != 7 || !got[0].Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("series event = %+v, want count 7 at the last observation", got)
	}
}

func TestRayClusterConditions(t *testing.T) {
	t.Parallel()
	rc := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
		"state": "ready",
		"conditions": []any{
			map[string]any{"type": "HeadPodReady", "status": "True", "reason": "HeadPodRunningAndReady"},
			map[string]any{"type": "RayClusterReplicaFailure", "status": "True", "reason": "FailedCreateWorkerPod", "message": "quota exceeded"},
		},
	}}}
	conds := rayClusterConditions(rc)
	if len(conds) != 3 || conds[2] != (driver.Condition{Type: "State", Status: "ready"}) {
		t.Errorf("conditions = %+v", conds)
	}
	if got := failureCondition(conds); got != "FailedCreateWorkerPod: quota exceeded" {
		t.Errorf("failureCondition = %q", got)
	}
}

func typesUID(s string) types.UID { return types.UID(s) }
