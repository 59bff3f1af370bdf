package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/store"
	"github.com/darwinml/darwin/services/compute/migrations"
)

var epoch = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func migs() []dbtest.Migration {
	return []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}, {Component: "bus", FS: bus.Migrations}}
}

func TestMigrationTreesMatch(t *testing.T) {
	t.Parallel()
	if err := db.CheckMigrationTrees(migrations.FS); err != nil {
		t.Fatal(err)
	}
}

func newStore(d *db.DB) (*store.Store, *bus.Outbox) {
	ob := bus.NewOutbox(d, "compute", clock.NewFake(epoch), log.Discard())
	return store.New(d, ob), ob
}

func cluster(id, name, user string, tags []string, job bool, created time.Time) domain.Cluster {
	return domain.Cluster{ID: id, Name: name, User: user, Tags: tags, Runtime: "0.0", CloudEnv: "kind-0", IsJobCluster: job,
		CreatedOn: created, ArtifactVersion: 1, InactiveTime: 30, Labels: map[string]string{"a": "b"},
		HeadNode:     domain.HeadNode{Cores: 4, Memory: 8, NodeCapacityType: "ondemand"},
		WorkerGroups: []domain.WorkerGroup{{Cores: 2, Memory: 4, MinPods: 1, MaxPods: 2, NodeCapacityType: "ondemand"}}}
}

func insert(t *testing.T, s *store.Store, c domain.Cluster, status string) {
	t.Helper()
	err := s.InTx(t.Context(), func(tx domain.Tx) error {
		if err := tx.InsertCluster(t.Context(), c); err != nil {
			return err
		}
		return tx.InsertStatus(t.Context(), domain.StatusRow{ClusterID: c.ID, ArtifactID: c.ArtifactName(), Status: status,
			ClusterName: c.Name, LastUpdatedAt: c.CreatedOn, LastUsedAt: c.CreatedOn})
	})
	if err != nil {
		t.Fatalf("insert %s: %v", c.ID, err)
	}
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, migs(), func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s, ob := newStore(d)

		t.Run("crud", func(t *testing.T) {
			c := cluster("id-crud", "crud", "u@example.com", []string{"demo"}, false, epoch)
			insert(t, s, c, domain.StatusInactive)
			got, err := s.GetCluster(ctx, c.ID)
			if err != nil || got.Name != "crud" || got.HeadNode.Cores != 4 || !got.CreatedOn.Equal(epoch) || got.Labels["a"] != "b" {
				t.Fatalf("get: %+v %v", got, err)
			}
			if taken, _ := s.NameTaken(ctx, "crud", ""); !taken {
				t.Fatal("name not taken")
			}
			if taken, _ := s.NameTaken(ctx, "crud", c.ID); taken {
				t.Fatal("name taken by itself")
			}
			c.Name, c.ArtifactVersion = "crud2", 2
			if err := s.UpdateCluster(ctx, c); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.GetCluster(ctx, c.ID); got.Name != "crud2" || got.ArtifactName() != "id-crud-v2" {
				t.Fatalf("update: %+v", got)
			}
			if err := s.InsertCluster(ctx, c); apierr.KindOf(err) != apierr.AlreadyExists {
				t.Fatalf("duplicate insert: %v", err)
			}
			if err := s.DeleteCluster(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetCluster(ctx, c.ID); apierr.KindOf(err) != apierr.NotFound {
				t.Fatalf("after delete: %v", err)
			}
			if _, err := s.GetStatus(ctx, c.ID); apierr.KindOf(err) != apierr.NotFound {
				t.Fatalf("status after delete: %v", err)
			}
			if err := s.DeleteCluster(ctx, c.ID); apierr.KindOf(err) != apierr.NotFound {
				t.Fatalf("delete twice: %v", err)
			}
		})

		t.Run("every status is storable", func(t *testing.T) {
			c := cluster("id-statuses", "statuses", "u@example.com", nil, false, epoch)
			insert(t, s, c, domain.StatusInactive)
			for _, st := range domain.AllStatuses {
				row, err := s.GetStatus(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				row.Status, row.ActivePods, row.LastPickedAt = st, 3, epoch.Add(time.Second)
				if err := s.UpdateStatus(ctx, row); err != nil {
					t.Fatalf("status %s: %v", st, err)
				}
				got, _ := s.GetStatus(ctx, c.ID)
				if got.Status != st || got.ActivePods != 3 || !got.LastPickedAt.Equal(epoch.Add(time.Second)) {
					t.Fatalf("round trip %s: %+v", st, got)
				}
			}
			row, _ := s.GetStatus(ctx, c.ID)
			row.Status = "worker_node_died"
			if err := s.UpdateStatus(ctx, row); err == nil {
				t.Fatal("unknown status accepted")
			}
			row.ClusterID = "id-missing"
			if err := s.UpdateStatus(ctx, row); apierr.KindOf(err) != apierr.NotFound {
				t.Fatalf("update missing: %v", err)
			}
		})

		t.Run("actions", func(t *testing.T) {
			for i, a := range []string{domain.ActionStarted, "Head Node Up", "Running", domain.ActionStopped} {
				if err := s.AddAction(ctx, domain.Action{ClusterID: "id-act", RunID: "run_id-1", Action: a, UpdatedAt: epoch.Add(time.Duration(i) * time.Minute)}); err != nil {
					t.Fatal(err)
				}
			}
			all, err := s.ListActions(ctx, "id-act")
			if err != nil || len(all) != 4 || all[0].Action != domain.ActionStarted {
				t.Fatalf("list: %+v %v", all, err)
			}
			desc, _ := s.ActionsOfRun(ctx, "run_id-1", true)
			if len(desc) != 4 || desc[0].Action != domain.ActionStopped {
				t.Fatalf("desc: %+v", desc)
			}
			at, ok, err := s.LastActionAt(ctx, "id-act", []string{domain.ActionStarted, "Running"})
			if err != nil || !ok || !at.Equal(epoch.Add(2*time.Minute)) {
				t.Fatalf("last action: %v %v %v", at, ok, err)
			}
			if _, ok, _ := s.LastActionAt(ctx, "id-none", []string{"Running"}); ok {
				t.Fatal("found action of unknown cluster")
			}
		})

		t.Run("events follow the transaction", func(t *testing.T) {
			boom := errors.New("boom")
			err := s.InTx(ctx, func(tx domain.Tx) error {
				if err := tx.Publish(ctx, domain.Event{Type: "CLUSTER_CREATED", ClusterID: "id-ev", Time: epoch}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if evs, _ := ob.Recent(ctx, "id-ev", 10); len(evs) != 0 {
				t.Fatalf("rolled back event visible: %+v", evs)
			}
			err = s.InTx(ctx, func(tx domain.Tx) error {
				return tx.Publish(ctx, domain.Event{Type: "CLUSTER_CREATED", ClusterID: "id-ev", ClusterName: "n", Time: epoch})
			})
			if err != nil {
				t.Fatal(err)
			}
			evs, err := ob.Recent(ctx, "id-ev", 10)
			if err != nil || len(evs) != 1 || evs[0].Type != "CLUSTER_CREATED" || evs[0].Data["cluster_name"] != "n" {
				t.Fatalf("events: %+v %v", evs, err)
			}
		})

		t.Run("search", func(t *testing.T) {
			sd, _ := newStore(d)
			for i := range 5 {
				c := cluster(fmt.Sprintf("id-s%d", i), fmt.Sprintf("search-%d", i), []string{"a@x.io", "b@x.io"}[i%2],
					[]string{"t" + fmt.Sprint(i%2), "common"}, i == 4, epoch.Add(time.Duration(i)*time.Hour))
				insert(t, sd, c, []string{domain.StatusInactive, domain.StatusActive}[i%2])
			}
			no := false
			list, total, err := sd.Search(ctx, domain.SearchQuery{Query: "search-", IsJobCluster: &no, SortBy: "created_on", SortDesc: true, Limit: 2})
			if err != nil || total != 4 || len(list) != 2 || list[0].Cluster.ID != "id-s3" || list[1].Cluster.ID != "id-s2" {
				t.Fatalf("page 1: total %d %v", total, err)
			}
			list, _, _ = sd.Search(ctx, domain.SearchQuery{Query: "search-", IsJobCluster: &no, SortBy: "created_on", SortDesc: true, Limit: 2, Offset: 2})
			if len(list) != 2 || list[0].Cluster.ID != "id-s1" {
				t.Fatalf("page 2: %+v", list)
			}
			_, total, _ = sd.Search(ctx, domain.SearchQuery{Query: "SEARCH", Users: []string{"b@x.io"}, Statuses: []string{domain.StatusActive}})
			if total != 2 {
				t.Fatalf("user+status filter: %d", total)
			}
			_, total, _ = sd.Search(ctx, domain.SearchQuery{Tags: []string{"t0"}})
			if total != 3 {
				t.Fatalf("tag filter: %d", total)
			}
			_, total, _ = sd.Search(ctx, domain.SearchQuery{Query: "100%_"})
			if total != 0 {
				t.Fatalf("like wildcards not escaped: %d", total)
			}
			tags, _ := sd.DistinctTags(ctx)
			if !slices.Contains(tags, "common") || !slices.Contains(tags, "t1") {
				t.Fatalf("tags: %v", tags)
			}
			users, _ := sd.DistinctUsers(ctx)
			if !slices.Contains(users, "a@x.io") {
				t.Fatalf("users: %v", users)
			}
		})

		t.Run("visits", func(t *testing.T) {
			if _, err := s.RecordVisit(ctx, "u@x.io", "id-v1", epoch); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RecordVisit(ctx, "u@x.io", "id-v2", epoch.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RecordVisit(ctx, "u@x.io", "id-v1", epoch.Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
			ids, err := s.RecentVisits(ctx, "u@x.io", 10)
			if err != nil || !slices.Equal(ids, []string{"id-v1", "id-v2"}) {
				t.Fatalf("visits: %v %v", ids, err)
			}
		})
	})
}

// TestLeaseTwoReplicas has two replicas race for the same due clusters: each cluster is leased exactly once,
// and becomes leasable again only after the lease expires.
func TestLeaseTwoReplicas(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, migs(), func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		a, _ := newStore(d)
		b, _ := newStore(d)
		const n = 8
		for i := range n {
			insert(t, a, cluster(fmt.Sprintf("id-l%d", i), fmt.Sprintf("lease-%d", i), "u@x.io", nil, false, epoch), domain.StatusCreating)
		}
		insert(t, a, cluster("id-off", "off", "u@x.io", nil, false, epoch), domain.StatusInactive)
		now := epoch.Add(time.Minute)
		var mu sync.Mutex
		got := map[string]string{}
		var wg sync.WaitGroup
		for _, r := range []struct {
			name string
			s    *store.Store
		}{{"a", a}, {"b", b}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					ids, err := r.s.LeaseForPoll(ctx, r.name, now, 10*time.Second, 3)
					if err != nil {
						t.Errorf("lease %s: %v", r.name, err)
						return
					}
					mu.Lock()
					for _, id := range ids {
						if prev, dup := got[id]; dup {
							t.Errorf("%s leased by %s and %s", id, prev, r.name)
						}
						got[id] = r.name
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(got) != n {
			t.Fatalf("leased %d of %d: %v", len(got), n, got)
		}
		if _, ok := got["id-off"]; ok {
			t.Fatal("inactive cluster leased")
		}
		if ids, _ := a.LeaseForPoll(ctx, "a", now.Add(5*time.Second), 10*time.Second, 100); len(ids) != 0 {
			t.Fatalf("re-leased before expiry: %v", ids)
		}
		if ids, _ := b.LeaseForPoll(ctx, "b", now.Add(10*time.Second), 10*time.Second, 100); len(ids) != n {
			t.Fatalf("after expiry leased %d", len(ids))
		}
		// A released lease is free at once; releasing someone else's lease does nothing.
		later := now.Add(12 * time.Second)
		if err := a.ReleasePoll(ctx, "a", "id-l0"); err != nil {
			t.Fatal(err)
		}
		if ids, _ := a.LeaseForPoll(ctx, "a", later, 10*time.Second, 100); len(ids) != 0 {
			t.Fatalf("a released b's lease: leased %v", ids)
		}
		if err := b.ReleasePoll(ctx, "b", "id-l0"); err != nil {
			t.Fatal(err)
		}
		if ids, _ := a.LeaseForPoll(ctx, "a", later, 10*time.Second, 100); len(ids) != 1 || ids[0] != "id-l0" {
			t.Fatalf("after release leased %v, want [id-l0]", ids)
		}
	})
}

// TestLeaseRoundRobin: with a batch smaller than the fleet, released leases hand the next pass the clusters polled
// least recently, so every cluster is polled in turn (none starves behind stable ones).
func TestLeaseRoundRobin(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, migs(), func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s, _ := newStore(d)
		for i := range 5 {
			insert(t, s, cluster(fmt.Sprintf("id-r%d", i), fmt.Sprintf("rr-%d", i), "u@x.io", nil, false, epoch), domain.StatusActive)
		}
		seen := map[string]int{}
		now := epoch.Add(time.Minute)
		for pass := range 10 {
			ids, err := s.LeaseForPoll(ctx, "a", now.Add(time.Duration(pass)*time.Second), 10*time.Second, 2)
			if err != nil || len(ids) != 2 {
				t.Fatalf("pass %d leased %v (%v)", pass, ids, err)
			}
			for _, id := range ids {
				seen[id]++
				if err := s.ReleasePoll(ctx, "a", id); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range 5 {
			// 20 leases over 5 clusters: ties between equally old clusters go by id, so the spread is 3 to 5.
			if n := seen[fmt.Sprintf("id-r%d", i)]; n < 3 {
				t.Errorf("id-r%d polled %d times in 10 passes of 2, want at least 3: %v", i, n, seen)
			}
		}
	})
}
