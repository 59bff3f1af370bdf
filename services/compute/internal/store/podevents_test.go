package store_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/store"
)

// TestPodEventClaims covers the cluster_pod_events contract: a claim wins once per (cluster, event, count),
// a higher count wins again, a rolled-back claim leaves nothing, and rows go with Forget and with the cluster.
func TestPodEventClaims(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, migs(), func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s, ob := newStore(d)
		insert(t, s, cluster("id-p", "pods", "u@x.io", nil, false, epoch), domain.StatusCreating)
		longID := "uid-" + strings.Repeat("x", 240) // near the column width
		steps := []struct {
			cluster, event string
			count          int
			at             time.Time
			want           bool
		}{
			{"id-p", "uid-1", 1, epoch, true},
			{"id-p", "uid-1", 1, epoch.Add(time.Second), false},
			{"id-p", "uid-1", 0, epoch.Add(time.Second), false},
			{"id-p", "uid-1", 3, epoch.Add(2 * time.Second), true},
			{"id-p", "uid-1", 2, epoch.Add(3 * time.Second), false},
			{"id-p", "UID-1", 1, epoch, true}, // ids are case-sensitive
			{"id-other", "uid-1", 1, epoch, true},
			{"id-p", longID, 1, epoch, true},
			{"id-p", longID, 1, epoch, false},
		}
		for i, st := range steps {
			won, err := s.ClaimPodEvent(ctx, st.cluster, st.event, st.count, st.at)
			if err != nil || won != st.want {
				t.Fatalf("step %d claim %s/%s x%d = %v, %v; want %v", i, st.cluster, st.event[:min(len(st.event), 12)], st.count, won, err, st.want)
			}
		}
		rec, err := s.PublishedPodEvents(ctx, "id-p")
		if err != nil {
			t.Fatal(err)
		}
		if len(rec) != 3 || rec["uid-1"] != (domain.PublishedPodEvent{Count: 3, PublishedAt: epoch.Add(2 * time.Second)}) ||
			rec["UID-1"].Count != 1 || rec[longID].Count != 1 {
			t.Fatalf("recorded %v", rec)
		}

		// Claim and publish share the transaction: a failure after the claim rolls both back.
		boom := errors.New("boom")
		err = s.InTx(ctx, func(tx domain.Tx) error {
			if won, err := tx.ClaimPodEvent(ctx, "id-p", "uid-2", 1, epoch); err != nil || !won {
				t.Fatalf("claim in tx: %v %v", won, err)
			}
			if err := tx.Publish(ctx, domain.Event{Type: "POD_FAILED", ClusterID: "id-p", Time: epoch,
				Metadata: map[string]any{"kube_event_id": "uid-2", "count": 1}}); err != nil {
				t.Fatal(err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("tx error %v", err)
		}
		if rec, _ := s.PublishedPodEvents(ctx, "id-p"); len(rec) != 3 {
			t.Fatalf("rolled-back claim recorded: %v", rec)
		}
		if evs, _ := ob.Recent(ctx, "id-p", 10); len(evs) != 0 {
			t.Fatalf("rolled-back publish in the outbox: %v", evs)
		}
		// Committed, the metadata reaches the outbox.
		err = s.InTx(ctx, func(tx domain.Tx) error {
			if _, err := tx.ClaimPodEvent(ctx, "id-p", "uid-2", 1, epoch); err != nil {
				return err
			}
			return tx.Publish(ctx, domain.Event{Type: "POD_FAILED", ClusterID: "id-p", Time: epoch,
				Metadata: map[string]any{"kube_event_id": "uid-2", "count": 1}})
		})
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := ob.Recent(ctx, "id-p", 10)
		if len(evs) != 1 {
			t.Fatalf("outbox %v", evs)
		}
		if md, _ := evs[0].Data["metadata"].(map[string]any); md["kube_event_id"] != "uid-2" || md["count"] != float64(1) {
			t.Fatalf("metadata %v", evs[0].Data)
		}

		if err := s.ForgetPodEvents(ctx, "id-p", []string{"uid-1", "UID-1"}); err != nil {
			t.Fatal(err)
		}
		rec, _ = s.PublishedPodEvents(ctx, "id-p")
		if _, ok := rec["uid-1"]; ok || len(rec) != 2 {
			t.Fatalf("after forget %v", rec)
		}
		if won, err := s.ClaimPodEvent(ctx, "id-p", "uid-1", 1, epoch); err != nil || !won {
			t.Fatalf("claim after forget: %v %v", won, err)
		}
		if err := s.DeleteCluster(ctx, "id-p"); err != nil {
			t.Fatal(err)
		}
		if rec, _ := s.PublishedPodEvents(ctx, "id-p"); len(rec) != 0 {
			t.Fatalf("after cluster delete %v", rec)
		}
		if rec, _ := s.PublishedPodEvents(ctx, "id-other"); len(rec) != 1 {
			t.Fatalf("other cluster's rows touched: %v", rec)
		}
	})
}

// TestPodEventClaimRace has replicas claim the same events at once, each in a transaction that also
// publishes: every (event, count) is won by exactly one and published exactly once.
func TestPodEventClaimRace(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, migs(), func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		a, ob := newStore(d)
		b, _ := newStore(d)
		insert(t, a, cluster("id-r", "race", "u@x.io", nil, false, epoch), domain.StatusCreating)
		type claim struct {
			event string
			count int
		}
		var claims []claim
		for _, e := range []string{"uid-a", "uid-b", "uid-c", "uid-d"} {
			for c := 1; c <= 3; c++ {
				claims = append(claims, claim{e, c})
			}
		}
		var mu sync.Mutex
		wins := map[claim]int{}
		var wg sync.WaitGroup
		for r, s := range []*store.Store{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, c := range claims {
					err := s.InTx(ctx, func(tx domain.Tx) error {
						won, err := tx.ClaimPodEvent(ctx, "id-r", c.event, c.count, epoch)
						if err != nil || !won {
							return err
						}
						mu.Lock()
						wins[c]++
						mu.Unlock()
						return tx.Publish(ctx, domain.Event{Type: "POD_FAILED", ClusterID: "id-r", Time: epoch})
					})
					if err != nil {
						t.Errorf("replica %d claim %v: %v", r, c, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		// A lower count may be won by nobody (another replica already raised the row past it); no claim is
		// ever won twice, and the highest count is won exactly once.
		total := 0
		for c, n := range wins {
			if n > 1 {
				t.Errorf("%v won %d times", c, n)
			}
			total += n
		}
		evs, err := ob.Recent(ctx, "id-r", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != total {
			t.Fatalf("published %d events for %d wins", len(evs), total)
		}
		rec, _ := a.PublishedPodEvents(ctx, "id-r")
		for _, e := range []string{"uid-a", "uid-b", "uid-c", "uid-d"} {
			if rec[e].Count != 3 || wins[claim{e, 3}] != 1 {
				t.Errorf("%s recorded x%d, count 3 won %d times", e, rec[e].Count, wins[claim{e, 3}])
			}
		}
	})
}
