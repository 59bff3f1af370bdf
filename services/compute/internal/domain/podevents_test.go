package domain_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/migrations"
)

// podEvents returns the published pod lifecycle events of a cluster, oldest first.
func (h *harness) podEvents(t *testing.T, id string) []bus.Event {
	t.Helper()
	evs, err := h.ob.Recent(t.Context(), id, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []bus.Event
	for _, e := range slices.Backward(evs) {
		if strings.HasPrefix(e.Type, "POD_") {
			out = append(out, e)
		}
	}
	return out
}

// summary is "<type> <kube_event_id> x<count>" of a published pod event.
func summary(e bus.Event) string {
	md, _ := e.Data["metadata"].(map[string]any)
	return fmt.Sprintf("%s %v x%v", e.Type, md["kube_event_id"], md["count"])
}

func summaries(evs []bus.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, summary(e))
	}
	return out
}

// TestPodEventsPublishedOnce: each Kubernetes pod event (id, count) becomes one lifecycle event, across poll
// passes and across replicas sharing the database; a grown count is published again.
func TestPodEventsPublishedOnce(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}, {Component: "bus", FS: bus.Migrations}},
		func(t *testing.T, d *db.DB) {
			h := newHarness(t, d)
			ctx := t.Context()
			res, err := h.svc.Create(ctx, quickstart(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			id, name := res.Cluster.ID, res.Cluster.Name
			head := id + "-kuberay-head-abcde"
			sched := domain.PodEvent{Type: domain.EventPodFailedScheduling, Pod: head, Reason: "FailedScheduling",
				Message: "0/3 nodes are available: 3 Insufficient cpu.", Time: epoch.Add(time.Second), Count: 1, ID: "uid-sched"}
			evicted := domain.PodEvent{Type: domain.EventPodEvicted, Pod: head, Reason: "Evicted",
				Message: "The node was low on resource: memory.", Time: epoch.Add(2 * time.Second), Count: 1, ID: "uid-pod/evicted"}
			h.cm.SetPodEvents(id, sched, evicted)

			h.poll(t, 11*time.Second)
			got := h.podEvents(t, id)
			if want := []string{"POD_FAILED_SCHEDULING uid-sched x1", "POD_EVICTED uid-pod/evicted x1"}; !slices.Equal(summaries(got), want) {
				t.Fatalf("first poll published %v, want %v", summaries(got), want)
			}
			first := got[0]
			if first.Data["cluster_id"] != id || first.Data["cluster_name"] != name ||
				first.Data["message"] != head+": FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu." ||
				!first.Time.Equal(sched.Time) {
				t.Errorf("published event %+v", first)
			}
			if md, _ := first.Data["metadata"].(map[string]any); md["pod"] != head || md["reason"] != "FailedScheduling" {
				t.Errorf("metadata %v", first.Data["metadata"])
			}
			if ce := bus.ToChronos(first); ce.EventType != "POD_FAILED_SCHEDULING" || ce.ClusterID != id || ce.Metadata["kube_event_id"] != "uid-sched" {
				t.Errorf("chronos shape %+v", ce)
			}

			// Same events, same counts: nothing new, however often it is polled.
			for range 3 {
				h.poll(t, 11*time.Second)
			}
			if n := len(h.podEvents(t, id)); n != 2 {
				t.Fatalf("re-polls published again: %v", summaries(h.podEvents(t, id)))
			}

			// The scheduling failure repeats: Kubernetes raises the count of the same Event.
			sched.Count, sched.Time = 4, epoch.Add(time.Minute)
			h.cm.SetPodEvents(id, sched, evicted)
			h.poll(t, 11*time.Second)
			h.poll(t, 11*time.Second)
			want := []string{"POD_FAILED_SCHEDULING uid-sched x1", "POD_EVICTED uid-pod/evicted x1", "POD_FAILED_SCHEDULING uid-sched x4"}
			if got := summaries(h.podEvents(t, id)); !slices.Equal(got, want) {
				t.Fatalf("after count grew: %v, want %v", got, want)
			}

			// A second replica (or this one restarted) sees the same events: nothing is published again.
			// (newHarness: another Service, store, outbox and cluster-manager fake over the same database.)
			h2 := newHarness(t, d)
			svc2, cm2 := h2.svc, h2.cm
			cm2.SetPodEvents(id, sched, evicted)
			if err := svc2.PollCluster(ctx, id); err != nil {
				t.Fatal(err)
			}
			if got := summaries(h.podEvents(t, id)); !slices.Equal(got, want) {
				t.Fatalf("second replica republished: %v", got)
			}

			// Both replicas poll the same new event at the same time: it is published once.
			oom := domain.PodEvent{Type: domain.EventPodFailed, Pod: id + "-kuberay-worker-worker-xyz", Reason: "OOMKilled",
				Message: "container ray-worker was killed for using too much memory (exit code 137)", Time: epoch.Add(2 * time.Minute),
				Count: 1, ID: "uid-w/ray-worker/oom/0"}
			h.cm.SetPodEvents(id, sched, evicted, oom)
			cm2.SetPodEvents(id, sched, evicted, oom)
			var wg sync.WaitGroup
			for _, svc := range []*domain.Service{h.svc, svc2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := svc.PollCluster(ctx, id); err != nil {
						t.Errorf("concurrent poll: %v", err)
					}
				}()
			}
			wg.Wait()
			want = append(want, "POD_FAILED uid-w/ray-worker/oom/0 x1")
			if got := summaries(h.podEvents(t, id)); !slices.Equal(got, want) {
				t.Fatalf("concurrent replicas: %v, want %v", got, want)
			}
		})
}

// TestPodEventsBoundedPerPoll: a flood of events is published at most MaxPodEventsPerPoll per cluster per pass,
// oldest first, and completely over the following passes.
func TestPodEventsBoundedPerPoll(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	res, err := h.svc.Create(t.Context(), quickstart(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Cluster.ID
	var evs []domain.PodEvent
	for i := range 120 {
		evs = append(evs, domain.PodEvent{Type: domain.EventPodFailed, Pod: fmt.Sprintf("%s-kuberay-worker-%d", id, i), Reason: "BackOff",
			Message: "Back-off restarting failed container", Time: epoch.Add(time.Duration(i) * time.Second), Count: 1, ID: fmt.Sprintf("uid-%03d", i)})
	}
	h.cm.SetPodEvents(id, evs...)
	var counts []int
	for range 4 {
		h.poll(t, 11*time.Second)
		counts = append(counts, len(h.podEvents(t, id)))
	}
	if want := []int{50, 100, 120, 120}; !slices.Equal(counts, want) {
		t.Fatalf("published after each pass %v, want %v", counts, want)
	}
	got := h.podEvents(t, id)
	for i, e := range got {
		if md, _ := e.Data["metadata"].(map[string]any); md["kube_event_id"] != fmt.Sprintf("uid-%03d", i) {
			t.Fatalf("event %d is %v: not oldest first", i, md["kube_event_id"])
		}
	}
}

// TestPodEventsForgotten: recorded events cluster-manager no longer reports are forgotten after the retention,
// events still reported are kept however old.
func TestPodEventsForgotten(t *testing.T) {
	t.Parallel()
	h := sqliteHarness(t)
	id := activeCluster(t, h, func(m map[string]any) { m["inactive_time"] = -1 })
	old := domain.PodEvent{Type: domain.EventPodFailedScheduling, Pod: id + "-kuberay-head-a", Reason: "FailedScheduling", Count: 2, ID: "uid-old"}
	kept := domain.PodEvent{Type: domain.EventPodEvicted, Pod: id + "-kuberay-head-b", Reason: "Evicted", Count: 1, ID: "uid-b/evicted"}
	h.cm.SetPodEvents(id, old, kept)
	h.poll(t, 11*time.Second)
	if n := len(h.podEvents(t, id)); n != 2 {
		t.Fatalf("published %d", n)
	}
	h.cm.SetPodEvents(id, kept) // the Kubernetes Event expired
	h.poll(t, domain.PodEventRetention-time.Minute)
	rec, err := h.st.PublishedPodEvents(t.Context(), id)
	if err != nil || len(rec) != 2 {
		t.Fatalf("forgotten before the retention: %v %v", rec, err)
	}
	h.poll(t, 2*time.Minute)
	rec, err = h.st.PublishedPodEvents(t.Context(), id)
	if err != nil || len(rec) != 1 || rec["uid-b/evicted"].Count != 1 {
		t.Fatalf("after the retention recorded %v %v, want only uid-b/evicted", rec, err)
	}
	if n := len(h.podEvents(t, id)); n != 2 {
		t.Fatalf("forgetting published something: %v", summaries(h.podEvents(t, id)))
	}
}

func TestNewPodEvents(t *testing.T) {
	t.Parallel()
	ev := func(id string, count int) domain.PodEvent {
		return domain.PodEvent{Type: domain.EventPodFailed, Pod: "p", Reason: "BackOff", Count: count, ID: id}
	}
	published := map[string]domain.PublishedPodEvent{"a": {Count: 2}, "b": {Count: 1}}
	tests := []struct {
		name  string
		in    []domain.PodEvent
		limit int
		want  []string
	}{
		{"new, same count, lower count, higher count", []domain.PodEvent{ev("a", 2), ev("a", 1), ev("b", 3), ev("c", 1)}, 10, []string{"b x3", "c x1"}},
		{"duplicate ids keep the higher count", []domain.PodEvent{ev("c", 1), ev("c", 5)}, 10, []string{"c x5"}},
		{"zero count counts as one", []domain.PodEvent{ev("b", 0), ev("d", 0)}, 10, []string{"d x0"}},
		{"limit", []domain.PodEvent{ev("c", 1), ev("d", 1), ev("e", 1)}, 2, []string{"c x1", "d x1"}},
		{"no id: keyed by pod, type, reason, time", []domain.PodEvent{ev("", 1), ev("", 1)}, 10, []string{" x1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, e := range domain.NewPodEvents(tc.in, published, tc.limit) {
				got = append(got, fmt.Sprintf("%s x%d", e.ID, e.Count))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
