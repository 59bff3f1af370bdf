package domain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Pod lifecycle event types cluster-manager reports (spec §1.6 names).
const (
	EventPodFailedScheduling = "POD_FAILED_SCHEDULING"
	EventPodEvicted          = "POD_EVICTED"
	EventPodFailed           = "POD_FAILED"
	EventPodStarted          = "POD_STARTED"
)

const (
	// MaxPodEventsPerPoll bounds the pod events one poll of one cluster publishes; the rest wait for the next pass.
	MaxPodEventsPerPoll = 50
	// PodEventRetention is how long a published pod event is remembered once cluster-manager no longer reports
	// it (Kubernetes keeps Events for an hour by default; evictions and OOM kills are reported while the pod exists).
	PodEventRetention = 24 * time.Hour
	// maxPodEventKeyLen is the width of cluster_pod_events.event_id.
	maxPodEventKeyLen = 255
)

// PodEvent is something that happened to one pod of a cluster, as cluster-manager reports it.
type PodEvent struct {
	// Type is the lifecycle event name (EventPod*).
	Type string
	Pod  string
	// Reason is the Kubernetes reason (FailedScheduling, Evicted, BackOff, OOMKilled, ...).
	Reason  string
	Message string
	// Time of the last occurrence (zero when unknown); Count how often it happened.
	Time  time.Time
	Count int
	// ID identifies the event (the Kubernetes Event's UID); with Count it identifies one publication.
	ID string
}

// ResourceCondition is one status condition of a cluster's custom resource.
type ResourceCondition struct {
	Type, Status, Reason, Message string
}

// key is what the event is de-duplicated by: its id, or (without one) pod, reason and time; ids too long for
// the table are hashed.
func (e PodEvent) key() string {
	k := e.ID
	if k == "" {
		k = fmt.Sprintf("%s/%s/%s/%d", e.Pod, e.Type, e.Reason, e.Time.UnixMilli())
	}
	if len(k) > maxPodEventKeyLen {
		sum := sha256.Sum256([]byte(k))
		k = "sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

func (e PodEvent) count() int { return max(e.Count, 1) }

// lifecycleEvent is the outbox event of a pod event: message "<pod>: <reason>: <message>" and metadata
// {pod, reason, count, kube_event_id}.
func (e PodEvent) lifecycleEvent(c *Cluster, st StatusRow, now time.Time) Event {
	msg := e.Pod + ": " + e.Reason
	if e.Message != "" {
		msg += ": " + e.Message
	}
	at := e.Time
	if at.IsZero() {
		at = now
	}
	return Event{Type: e.Type, ClusterID: c.ID, ClusterName: c.Name, RunID: st.ActiveRunID, ArtifactName: st.ArtifactID,
		Message: msg, Time: at,
		Metadata: map[string]any{"pod": e.Pod, "reason": e.Reason, "count": e.count(), "kube_event_id": e.ID}}
}

// NewPodEvents returns the events not yet published with their current count, oldest first, at most limit.
// Events reported twice under one key count once, with the higher count.
func NewPodEvents(events []PodEvent, published map[string]PublishedPodEvent, limit int) []PodEvent {
	idx := map[string]int{}
	var uniq []PodEvent
	for _, e := range events {
		k := e.key()
		if i, ok := idx[k]; ok {
			if e.count() > uniq[i].count() {
				uniq[i] = e
			}
			continue
		}
		idx[k] = len(uniq)
		uniq = append(uniq, e)
	}
	var out []PodEvent
	for _, e := range uniq {
		if len(out) >= limit {
			break
		}
		if p, ok := published[e.key()]; ok && p.Count >= e.count() {
			continue
		}
		out = append(out, e)
	}
	return out
}

// publishPodEvents publishes the cluster's new pod events as lifecycle events. Each is claimed in
// cluster_pod_events and published in the same transaction, so every (event id, count) is published once
// across poll passes, restarts and replicas. Recorded events no longer reported are forgotten after
// PodEventRetention.
func (s *Service) publishPodEvents(ctx context.Context, c *Cluster, st StatusRow, events []PodEvent, now time.Time) error {
	if len(events) == 0 {
		return nil
	}
	published, err := s.store.PublishedPodEvents(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("read published pod events: %w", err)
	}
	for _, e := range NewPodEvents(events, published, MaxPodEventsPerPoll) {
		err := s.store.InTx(ctx, func(tx Tx) error {
			won, err := tx.ClaimPodEvent(ctx, c.ID, e.key(), e.count(), now)
			if err != nil || !won {
				return err // !won: another replica published it
			}
			return tx.Publish(ctx, e.lifecycleEvent(c, st, now))
		})
		if err != nil {
			return fmt.Errorf("publish pod event %s of %s: %w", e.key(), e.Pod, err)
		}
	}

	reported := map[string]bool{}
	for _, e := range events {
		reported[e.key()] = true
	}
	var stale []string
	for k, p := range published {
		if !reported[k] && now.Sub(p.PublishedAt) > PodEventRetention {
			stale = append(stale, k)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	slices.Sort(stale)
	if len(stale) > MaxPodEventsPerPoll {
		stale = stale[:MaxPodEventsPerPoll]
	}
	if err := s.store.ForgetPodEvents(ctx, c.ID, stale); err != nil {
		return fmt.Errorf("forget pod events: %w", err)
	}
	return nil
}
