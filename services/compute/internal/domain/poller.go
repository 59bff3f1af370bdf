package domain

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
)

// timeoutAnchors are the actions a creation timeout is measured from.
var timeoutAnchors = []string{ActionStarted, ActionRestarting, "Running", "Worker Nodes Died"}

// PollOnce runs one pass of the status poller: it leases due clusters and refreshes each.
// It returns how many clusters it handled.
func (s *Service) PollOnce(ctx context.Context) (int, error) {
	ids, err := s.store.LeaseForPoll(ctx, s.opt.Owner, s.clk.Now(), s.opt.PollLease, s.opt.PollBatch)
	if err != nil {
		return 0, fmt.Errorf("lease clusters: %w", err)
	}
	s.opt.Metrics.poll()
	for _, id := range ids {
		cctx, cancel := context.WithTimeout(ctx, s.opt.RPCTimeout)
		err := s.PollCluster(cctx, id)
		cancel()
		if err != nil {
			s.log.Warn("poll cluster", "cluster_id", id, "err", err)
		}
		if err := s.store.ReleasePoll(ctx, s.opt.Owner, id); err != nil {
			s.log.Warn("release poll lease", "cluster_id", id, "err", err)
		}
	}
	return len(ids), nil
}

// PollCluster refreshes one cluster's status, records transitions and applies the timeouts and auto-termination.
func (s *Service) PollCluster(ctx context.Context, id string) error {
	cs, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	c, st := cs.Cluster, cs.Status
	if st.Status == StatusInactive {
		return nil
	}
	now := s.clk.Now()

	// Creation timeout: not active for too long since the last start/restart/running/worker-died action.
	if UIStatus(st.Status) != UIActive {
		at, ok, err := s.store.LastActionAt(ctx, id, timeoutAnchors)
		if err != nil {
			return fmt.Errorf("read last action: %w", err)
		}
		if ok && now.Sub(at) > CreationTimeout {
			s.log.Info("cluster creation timed out", "cluster_id", id, "status", st.Status)
			return s.Stop(ctx, id, TimeoutUser, "CLUSTER_TIMEOUT")
		}
	}
	// A cluster that stayed dead is forced inactive.
	if st.Status == StatusClusterDied && now.Sub(st.LastUpdatedAt) > ClusterDiedTimeout {
		if err := s.cm.Stop(ctx, id, s.placement(ctx, &c)); err != nil {
			s.log.Warn("stop dead cluster", "cluster_id", id, "err", err)
		}
		return s.transition(ctx, &c, st, StatusInactive, 0, 0, now)
	}

	rs, err := s.cm.Status(ctx, id, s.placement(ctx, &c))
	if err != nil {
		return cmError("get cluster status", err)
	}
	// Pod events are published on their own; a failure here must not hold up the status machine.
	if err := s.publishPodEvents(ctx, &c, st, rs.Events, now); err != nil {
		s.log.Warn("publish pod events", "cluster_id", id, "err", err)
	}
	heads, workers := CountRunning(rs.Pods)
	jupyterUp := false
	if heads > 0 && rs.JupyterURL != "" {
		pctx, cancel := context.WithTimeout(ctx, s.opt.ProbeLimit)
		jupyterUp = s.probe.JupyterUp(pctx, rs.JupyterURL)
		cancel()
	}
	next := ComputeStatus(st.Status, rs.Pods, jupyterUp, c.MinWorkers())
	if err := s.transition(ctx, &c, st, next, heads+workers, RunningMemory(&c, rs.Pods), now); err != nil {
		return err
	}
	if UIStatus(next) == UIActive {
		st, err = s.store.GetStatus(ctx, id)
		if err != nil {
			return err
		}
		return s.autoTerminate(ctx, &c, st, ClusterURLs{Dashboard: rs.DashboardURL, Jupyter: rs.JupyterURL}, now)
	}
	return nil
}

// transition moves the status along the shortest path of the graph, recording each step's actions and events.
func (s *Service) transition(ctx context.Context, c *Cluster, st StatusRow, next string, pods int, memory float64, now time.Time) error {
	if next == st.Status && pods == st.ActivePods && memory == st.AvailableMemory && !inStartup(st.Status) {
		return nil
	}
	return s.store.InTx(ctx, func(tx Tx) error {
		cur, err := tx.GetStatus(ctx, c.ID)
		if err != nil {
			return err
		}
		if cur.Status != st.Status || cur.ActiveRunID != st.ActiveRunID {
			return nil // changed under us (stopped or restarted); the next poll sees the new state
		}
		path, _ := TransitionPath(cur.Status, next)
		for _, step := range path {
			for _, a := range step.Actions {
				if err := tx.AddAction(ctx, Action{ClusterID: c.ID, RunID: cur.ActiveRunID, Action: a, ArtifactID: cur.ArtifactID, UpdatedAt: now}); err != nil {
					return err
				}
			}
			for _, e := range step.Events {
				if err := tx.Publish(ctx, Event{Type: e, ClusterID: c.ID, ClusterName: c.Name, RunID: cur.ActiveRunID, ArtifactName: cur.ArtifactID, Time: now}); err != nil {
					return err
				}
			}
		}
		if next != cur.Status {
			cur.LastUpdatedAt = now
			s.opt.Metrics.transition(next)
		}
		cur.Status, cur.ActivePods, cur.AvailableMemory = next, pods, memory
		if inStartup(next) {
			cur.LastUsedAt = now
		}
		if next == StatusInactive {
			cur.ActivePods, cur.AvailableMemory = 0, 0
		}
		return tx.UpdateStatus(ctx, cur)
	})
}

func inStartup(status string) bool {
	return status == StatusCreating || status == StatusHeadNodeUp || status == StatusJupyterUp
}

// autoTerminate applies the auto-termination policies to an active cluster.
func (s *Service) autoTerminate(ctx context.Context, c *Cluster, st StatusRow, urls ClusterURLs, now time.Time) error {
	if c.InactiveTime < 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.ProbeLimit)
	active := AnyPolicyActive(pctx, s.probe, c.AutoTerminationPolicies, urls, now)
	cancel()
	if active {
		return s.store.InTx(ctx, func(tx Tx) error {
			cur, err := tx.GetStatus(ctx, c.ID)
			if err != nil {
				return err
			}
			cur.LastUsedAt = now
			return tx.UpdateStatus(ctx, cur)
		})
	}
	if IdleExpired(st.LastUsedAt, now, c.InactiveTime) {
		s.log.Info("auto-terminating idle cluster", "cluster_id", c.ID, "last_used_at", st.LastUsedAt)
		return s.Stop(ctx, c.ID, AutoTerminationUser, "AUTO_TERMINATED")
	}
	return nil
}

// Run polls every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	clock.Every(ctx, s.clk, interval, false, func(ctx context.Context) {
		if _, err := s.PollOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("status poll", "err", err)
		}
	})
}

// RunningMemory is the memory (GB) of the cluster's running pods: head memory per head, group memory per worker
// (group "worker" is the first worker group, "wg<N>" the N-th additional one).
func RunningMemory(c *Cluster, pods []PodState) float64 {
	var total float64
	for _, p := range pods {
		if p.Status != "Running" {
			continue
		}
		switch podRole(p) {
		case "head":
			total += c.HeadNode.Memory
		case "worker":
			i := 0
			if n, err := strconv.Atoi(strings.TrimPrefix(p.Group, "wg")); err == nil && strings.HasPrefix(p.Group, "wg") {
				i = n
			}
			if i >= 0 && i < len(c.WorkerGroups) {
				total += c.WorkerGroups[i].Memory
			}
		}
	}
	return total
}
