package store_test

import (
	"fmt"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
	"github.com/darwinml/darwin/services/mlflow/migrations"
)

// BenchmarkSearchRuns measures a 100-run page of runs/search (with each run's data) over 2,000 runs × 10
// metrics/params on SQLite. A smoke figure only; the 30,000-run benchmark is separate work.
func BenchmarkSearchRuns(b *testing.B) {
	d := dbtest.Open(b, db.SQLite)
	if err := db.Migrate(b.Context(), d, migrations.Component, migrations.FS); err != nil {
		b.Fatal(err)
	}
	s, _ := newStore(d)
	ctx := b.Context()
	exp, err := s.CreateExperiment(ctx, "bench", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		r, err := s.CreateRun(ctx, store.CreateRunInput{ExperimentID: exp, StartTime: int64(i)})
		if err != nil {
			b.Fatal(err)
		}
		var ms []domain.Metric
		var ps []domain.Param
		for k := range 10 {
			ms = append(ms, domain.Metric{Key: fmt.Sprintf("m%d", k), Value: float64(i), Timestamp: 1})
			ps = append(ps, domain.Param{Key: fmt.Sprintf("p%d", k), Value: "v"})
		}
		if err := s.LogBatch(ctx, r.Info.RunID, ms, ps, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		runs, _, err := s.SearchRuns(ctx, []string{exp}, domain.ViewActiveOnly, 100, (i%10)*100)
		if err != nil || len(runs) != 100 {
			b.Fatal(err, len(runs))
		}
	}
}
