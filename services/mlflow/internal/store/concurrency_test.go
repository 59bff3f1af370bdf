package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// TestConcurrentWriters logs to one run from several goroutines (as async client logging does) and creates
// experiments concurrently: no write may be lost or fail, and the latest metric must be the highest step.
func TestConcurrentWriters(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		s, _ := newStore(d)
		r := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{}))
		const workers, per = 6, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*per*2)
		for w := range workers {
			wg.Go(func() {
				for i := range per {
					step := int64(w*per + i)
					if err := s.LogMetric(ctx, r.Info.RunID, domain.Metric{Key: "loss", Value: float64(step), Timestamp: 1, Step: step}); err != nil {
						errs <- err
					}
					if err := s.LogParam(ctx, r.Info.RunID, domain.Param{Key: "shared", Value: "same"}); err != nil {
						errs <- err
					}
				}
				if _, err := s.CreateExperiment(ctx, fmt.Sprintf("concurrent-%d", w), "", nil); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write failed: %v", err)
		}
		hist, _, err := s.MetricHistory(ctx, r.Info.RunID, "loss", 1000, 0)
		if err != nil || len(hist) != workers*per {
			t.Fatalf("history = %d points (%v), want %d", len(hist), err, workers*per)
		}
		got := must[domain.Run](t)(s.GetRun(ctx, r.Info.RunID))
		if len(got.Metrics) != 1 || got.Metrics[0].Step != workers*per-1 {
			t.Fatalf("latest = %+v", got.Metrics)
		}
		exps, _, _ := s.SearchExperiments(ctx, domain.ViewAll, 100, 0)
		if len(exps) != workers+1 {
			t.Fatalf("experiments = %d, want %d", len(exps), workers+1)
		}
	})
}
