package store_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
	"github.com/darwinml/darwin/services/mlflow/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

func newStore(d *db.DB) (*store.Store, *clock.Fake) {
	clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
	return store.New(d, clk, "mlflow-artifacts:"), clk
}

func wantKind(t *testing.T, err error, k apierr.Kind) {
	t.Helper()
	if !apierr.Is(err, k) {
		t.Fatalf("err = %v (kind %v), want kind %v", err, apierr.KindOf(err), k)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestContract(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		s, _ := newStore(d)
		t.Run("experiments", func(t *testing.T) { testExperiments(ctx, t, s) })
		t.Run("runs", func(t *testing.T) { testRuns(ctx, t, s) })
		t.Run("metrics", func(t *testing.T) { testMetrics(ctx, t, s) })
		t.Run("batch", func(t *testing.T) { testBatch(ctx, t, s) })
		t.Run("search", func(t *testing.T) { testSearch(ctx, t, s) })
		t.Run("search filtered", func(t *testing.T) { testSearchFiltered(ctx, t, s) })
	})
}

func testExperiments(ctx context.Context, t *testing.T, s *store.Store) {
	def := must[domain.Experiment](t)(s.GetExperiment(ctx, "0"))
	if def.Name != "Default" || def.LifecycleStage != "active" || def.ArtifactLocation != "mlflow-artifacts:/0" {
		t.Fatalf("default experiment = %+v", def)
	}
	id := must[string](t)(s.CreateExperiment(ctx, "exp-a", "", []domain.Tag{{Key: "team", Value: "ml"}}))
	if id == "0" || id == "" {
		t.Fatalf("id = %q", id)
	}
	e := must[domain.Experiment](t)(s.GetExperiment(ctx, id))
	if e.Name != "exp-a" || e.ArtifactLocation != "mlflow-artifacts:/"+id || len(e.Tags) != 1 || e.Tags[0] != (domain.Tag{Key: "team", Value: "ml"}) ||
		e.CreationTime != 1_700_000_000_000 {
		t.Fatalf("experiment = %+v", e)
	}
	_, err := s.CreateExperiment(ctx, "exp-a", "", nil)
	wantKind(t, err, apierr.AlreadyExists)
	_, err = s.CreateExperiment(ctx, "EXP-A", "s3://b/x", nil) // names are case-sensitive
	if err != nil {
		t.Fatal(err)
	}
	byName := must[domain.Experiment](t)(s.GetExperimentByName(ctx, "EXP-A"))
	if byName.ArtifactLocation != "s3://b/x" {
		t.Fatalf("custom artifact location lost: %+v", byName)
	}
	_, err = s.GetExperimentByName(ctx, "nope")
	wantKind(t, err, apierr.NotFound)
	_, err = s.GetExperiment(ctx, "999")
	wantKind(t, err, apierr.NotFound)
	_, err = s.GetExperiment(ctx, "abc")
	wantKind(t, err, apierr.NotFound)

	wantKind(t, s.RenameExperiment(ctx, id, "EXP-A"), apierr.AlreadyExists)
	if err := s.RenameExperiment(ctx, id, "exp-a2"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetExperimentTag(ctx, id, domain.Tag{Key: "team", Value: "infra"}); err != nil {
		t.Fatal(err)
	}
	e = must[domain.Experiment](t)(s.GetExperimentByName(ctx, "exp-a2"))
	if e.ID != id || e.Tags[0].Value != "infra" {
		t.Fatalf("after rename/tag: %+v", e)
	}
	wantKind(t, s.SetExperimentStage(ctx, "0", domain.StageDeleted), apierr.InvalidArgument)
	wantKind(t, s.SetExperimentStage(ctx, id, domain.StageActive), apierr.InvalidArgument) // not deleted
	if err := s.SetExperimentStage(ctx, id, domain.StageDeleted); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.RenameExperiment(ctx, id, "x"), apierr.InvalidArgument)
	wantKind(t, s.SetExperimentTag(ctx, id, domain.Tag{Key: "k", Value: "v"}), apierr.InvalidArgument)
	_, err = s.CreateRun(ctx, store.CreateRunInput{ExperimentID: id})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.CreateExperiment(ctx, "exp-a2", "", nil) // deleted names stay reserved, as in MLflow
	wantKind(t, err, apierr.AlreadyExists)

	active, _ := must2(t)(s.SearchExperiments(ctx, domain.ViewActiveOnly, 100, 0))
	deleted, _ := must2(t)(s.SearchExperiments(ctx, domain.ViewDeletedOnly, 100, 0))
	all, _ := must2(t)(s.SearchExperiments(ctx, domain.ViewAll, 100, 0))
	if len(deleted) != 1 || deleted[0].ID != id || len(active) != 2 || len(all) != 3 {
		t.Fatalf("search: active %d deleted %d all %d", len(active), len(deleted), len(all))
	}
	if err := s.SetExperimentStage(ctx, id, domain.StageActive); err != nil {
		t.Fatal(err)
	}
	page1, more := must2(t)(s.SearchExperiments(ctx, domain.ViewAll, 2, 0))
	page2, more2 := must2(t)(s.SearchExperiments(ctx, domain.ViewAll, 2, 2))
	if len(page1) != 2 || !more || len(page2) != 1 || more2 {
		t.Fatalf("paging: %d %v %d %v", len(page1), more, len(page2), more2)
	}
	wantKind(t, s.SetExperimentTag(ctx, id, domain.Tag{Key: "../x", Value: "v"}), apierr.InvalidArgument)
}

func must2(t *testing.T) func([]domain.Experiment, bool, error) ([]domain.Experiment, bool) {
	return func(e []domain.Experiment, more bool, err error) ([]domain.Experiment, bool) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e, more
	}
}

func testRuns(ctx context.Context, t *testing.T, s *store.Store) {
	exp := must[string](t)(s.CreateExperiment(ctx, "runs-exp", "", nil))
	r := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: exp, StartTime: 42,
		Tags: []domain.Tag{{Key: domain.TagUser, Value: "alice"}, {Key: domain.TagRunName, Value: "first"}}}))
	if len(r.Info.RunID) != 32 || r.Info.RunName != "first" || r.Info.UserID != "alice" || r.Info.Status != "RUNNING" ||
		r.Info.StartTime != 42 || r.Info.EndTime != nil || r.Info.LifecycleStage != "active" ||
		r.Info.ArtifactURI != "mlflow-artifacts:/"+exp+"/"+r.Info.RunID+"/artifacts" || r.Info.ExperimentID != exp {
		t.Fatalf("run = %+v", r.Info)
	}
	_, err := s.CreateRun(ctx, store.CreateRunInput{ExperimentID: exp, RunName: "a", Tags: []domain.Tag{{Key: domain.TagRunName, Value: "b"}}})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.CreateRun(ctx, store.CreateRunInput{ExperimentID: "12345"})
	wantKind(t, err, apierr.NotFound)
	gen := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{}))
	if gen.Info.ExperimentID != "0" || gen.Info.RunName == "" || gen.Info.StartTime != 1_700_000_000_000 {
		t.Fatalf("defaulted run = %+v", gen.Info)
	}
	if got := tagValue(gen.Tags, domain.TagRunName); got != gen.Info.RunName {
		t.Fatalf("mlflow.runName tag = %q, run name %q", got, gen.Info.RunName)
	}

	id := r.Info.RunID
	if err := s.LogParam(ctx, id, domain.Param{Key: "lr", Value: "0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.LogParam(ctx, id, domain.Param{Key: "lr", Value: "0.1"}); err != nil {
		t.Fatalf("re-logging the same param value: %v", err)
	}
	wantKind(t, s.LogParam(ctx, id, domain.Param{Key: "lr", Value: "0.2"}), apierr.InvalidArgument)
	if err := s.SetTag(ctx, id, domain.Tag{Key: "k", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTag(ctx, id, domain.Tag{Key: "k", Value: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTag(ctx, id, domain.Tag{Key: domain.TagRunName, Value: "renamed"}); err != nil {
		t.Fatal(err)
	}
	got := must[domain.Run](t)(s.GetRun(ctx, id))
	if tagValue(got.Tags, "k") != "2" || got.Info.RunName != "renamed" || len(got.Params) != 1 || got.Params[0].Value != "0.1" {
		t.Fatalf("run after logging = %+v", got)
	}
	if err := s.DeleteTag(ctx, id, "k"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.DeleteTag(ctx, id, "k"), apierr.NotFound)

	fin, end := "FINISHED", int64(99)
	info := must[domain.RunInfo](t)(s.UpdateRun(ctx, store.UpdateRunInput{RunID: id, Status: &fin, EndTime: &end}))
	if info.Status != "FINISHED" || info.EndTime == nil || *info.EndTime != 99 || info.RunName != "renamed" {
		t.Fatalf("updated = %+v", info)
	}
	bad := "DONE"
	_, err = s.UpdateRun(ctx, store.UpdateRunInput{RunID: id, Status: &bad})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.UpdateRun(ctx, store.UpdateRunInput{RunID: "nope", Status: &fin})
	wantKind(t, err, apierr.NotFound)
	_, err = s.GetRun(ctx, "nope")
	wantKind(t, err, apierr.NotFound)

	wantKind(t, s.SetRunStage(ctx, id, domain.StageActive), apierr.InvalidArgument)
	if err := s.SetRunStage(ctx, id, domain.StageDeleted); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.LogMetric(ctx, id, domain.Metric{Key: "m", Value: 1}), apierr.InvalidArgument)
	wantKind(t, s.LogParam(ctx, id, domain.Param{Key: "p", Value: "1"}), apierr.InvalidArgument)
	wantKind(t, s.SetTag(ctx, id, domain.Tag{Key: "t", Value: "1"}), apierr.InvalidArgument)
	wantKind(t, s.DeleteTag(ctx, id, domain.TagUser), apierr.InvalidArgument)
	if got := must[domain.Run](t)(s.GetRun(ctx, id)); got.Info.LifecycleStage != "deleted" {
		t.Fatalf("stage = %s", got.Info.LifecycleStage)
	}
	if err := s.SetRunStage(ctx, id, domain.StageActive); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTag(ctx, id, domain.Tag{Key: "t", Value: "1"}); err != nil {
		t.Fatalf("restored run must accept writes: %v", err)
	}
	wantKind(t, s.SetRunStage(ctx, "nope", domain.StageDeleted), apierr.NotFound)

	// Lengths past the columns are INVALID_PARAMETER_VALUE on every dialect, never a driver error.
	wantKind(t, s.SetTag(ctx, id, domain.Tag{Key: domain.TagRunName, Value: strings.Repeat("n", 251)}), apierr.InvalidArgument)
	_, err = s.CreateRun(ctx, store.CreateRunInput{UserID: strings.Repeat("u", 257)})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.CreateRun(ctx, store.CreateRunInput{RunName: strings.Repeat("n", 251)})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.CreateExperiment(ctx, "long-loc", strings.Repeat("l", 1001), nil)
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.CreateExperiment(ctx, strings.Repeat("e", 257), "", nil)
	wantKind(t, err, apierr.InvalidArgument)
	long := strings.Repeat("v", domain.MaxTagValueLength)
	if err := s.SetTag(ctx, id, domain.Tag{Key: "long", Value: long}); err != nil {
		t.Fatalf("8000-char tag value: %v", err)
	}
	if err := s.LogParam(ctx, id, domain.Param{Key: "long", Value: strings.Repeat("p", domain.MaxParamValueLength)}); err != nil {
		t.Fatalf("6000-char param value: %v", err)
	}
	if got := must[domain.Run](t)(s.GetRun(ctx, id)); tagValue(got.Tags, "long") != long {
		t.Fatal("long tag value not stored intact")
	}
}

func tagValue(tags []domain.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

func testMetrics(ctx context.Context, t *testing.T, s *store.Store) {
	r := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{}))
	id := r.Info.RunID
	points := []domain.Metric{
		{Key: "loss", Value: 0.9, Timestamp: 10, Step: 0},
		{Key: "loss", Value: 0.5, Timestamp: 30, Step: 2},
		{Key: "loss", Value: 0.7, Timestamp: 40, Step: 1}, // later timestamp, earlier step: not the latest
		{Key: "loss", Value: 0.5, Timestamp: 30, Step: 2}, // identical point: idempotent
		{Key: "acc", Value: math.NaN(), Timestamp: 5},
		{Key: "big", Value: math.Inf(1), Timestamp: 5},
	}
	for _, m := range points {
		if err := s.LogMetric(ctx, id, m); err != nil {
			t.Fatal(err)
		}
	}
	got := must[domain.Run](t)(s.GetRun(ctx, id))
	latest := map[string]domain.Metric{}
	for _, m := range got.Metrics {
		latest[m.Key] = m
	}
	if l := latest["loss"]; l.Value != 0.5 || l.Step != 2 || l.Timestamp != 30 {
		t.Fatalf("latest loss = %+v", l)
	}
	if !math.IsNaN(latest["acc"].Value) {
		t.Fatalf("NaN lost: %+v", latest["acc"])
	}
	if latest["big"].Value != math.MaxFloat64 {
		t.Fatalf("+Inf should be clamped to MaxFloat64, got %v", latest["big"].Value)
	}
	hist, more, err := s.MetricHistory(ctx, id, "loss", 100, 0)
	if err != nil || more {
		t.Fatal(err, more)
	}
	steps := []int64{}
	for _, m := range hist {
		steps = append(steps, m.Step)
	}
	if fmt.Sprint(steps) != "[0 1 2]" {
		t.Fatalf("history steps = %v (duplicates must collapse)", steps)
	}
	p1, more1, _ := s.MetricHistory(ctx, id, "loss", 2, 0)
	p2, more2, _ := s.MetricHistory(ctx, id, "loss", 2, 2)
	if len(p1) != 2 || !more1 || len(p2) != 1 || more2 || p2[0].Step != 2 {
		t.Fatalf("history paging: %v %v %v %v", p1, more1, p2, more2)
	}
	if h, _, err := s.MetricHistory(ctx, id, "none", 10, 0); err != nil || len(h) != 0 {
		t.Fatalf("unknown key history: %v %v", h, err)
	}
	_, _, err = s.MetricHistory(ctx, "nope", "loss", 10, 0)
	wantKind(t, err, apierr.NotFound)
	wantKind(t, s.LogMetric(ctx, id, domain.Metric{Key: "/abs", Value: 1}), apierr.InvalidArgument)
	wantKind(t, s.LogMetric(ctx, id, domain.Metric{Key: strings.Repeat("k", 251), Value: 1}), apierr.InvalidArgument)
	wantKind(t, s.LogMetric(ctx, "nope", domain.Metric{Key: "x", Value: 1}), apierr.NotFound)
}

func testBatch(ctx context.Context, t *testing.T, s *store.Store) {
	r := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{}))
	id := r.Info.RunID
	var ms []domain.Metric
	for i := range 50 {
		ms = append(ms, domain.Metric{Key: "m", Value: float64(i), Timestamp: int64(i), Step: int64(i)})
	}
	if err := s.LogBatch(ctx, id, ms, []domain.Param{{Key: "p", Value: "1"}}, []domain.Tag{{Key: "t", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	got := must[domain.Run](t)(s.GetRun(ctx, id))
	if len(got.Metrics) != 1 || got.Metrics[0].Value != 49 || len(got.Params) != 1 || tagValue(got.Tags, "t") != "x" {
		t.Fatalf("after batch: %+v", got)
	}
	// Atomicity: a conflicting param at the end of the batch leaves nothing from this batch behind.
	err := s.LogBatch(ctx, id, []domain.Metric{{Key: "m2", Value: 1, Timestamp: 1}},
		[]domain.Param{{Key: "q", Value: "1"}, {Key: "p", Value: "2"}}, []domain.Tag{{Key: "t2", Value: "y"}})
	wantKind(t, err, apierr.InvalidArgument)
	got = must[domain.Run](t)(s.GetRun(ctx, id))
	if len(got.Metrics) != 1 || len(got.Params) != 1 || tagValue(got.Tags, "t2") != "" {
		t.Fatalf("failed batch wrote data: %+v", got)
	}
	if h, _, _ := s.MetricHistory(ctx, id, "m2", 10, 0); len(h) != 0 {
		t.Fatalf("failed batch wrote history: %v", h)
	}
	// Limits.
	wantKind(t, s.LogBatch(ctx, id, make([]domain.Metric, 1001), nil, nil), apierr.InvalidArgument)
	wantKind(t, s.LogBatch(ctx, id, nil, make([]domain.Param, 101), nil), apierr.InvalidArgument)
	wantKind(t, s.LogBatch(ctx, id, nil, nil, make([]domain.Tag, 101)), apierr.InvalidArgument)
	// Duplicate keys with different values inside one batch.
	wantKind(t, s.LogBatch(ctx, id, nil, []domain.Param{{Key: "z", Value: "1"}, {Key: "z", Value: "2"}}, nil), apierr.InvalidArgument)
}

func testSearch(ctx context.Context, t *testing.T, s *store.Store) {
	exp := must[string](t)(s.CreateExperiment(ctx, "search-exp", "", nil))
	var ids []string
	for i := range 5 {
		r := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: exp, StartTime: int64(100 + i)}))
		if err := s.LogMetric(ctx, r.Info.RunID, domain.Metric{Key: "acc", Value: float64(i), Timestamp: 1}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Info.RunID)
	}
	if err := s.SetRunStage(ctx, ids[0], domain.StageDeleted); err != nil {
		t.Fatal(err)
	}
	runs, more, err := s.SearchRuns(ctx, []string{exp}, domain.ViewActiveOnly, 3, 0)
	if err != nil || !more || len(runs) != 3 {
		t.Fatalf("page1: %d %v %v", len(runs), more, err)
	}
	if runs[0].Info.RunID != ids[4] || runs[1].Info.RunID != ids[3] || runs[2].Info.RunID != ids[2] {
		t.Fatal("runs not ordered by start_time desc")
	}
	if len(runs[0].Metrics) != 1 || runs[0].Metrics[0].Value != 4 {
		t.Fatalf("search run data: %+v", runs[0])
	}
	runs, more, _ = s.SearchRuns(ctx, []string{exp}, domain.ViewActiveOnly, 3, 3)
	if more || len(runs) != 1 || runs[0].Info.RunID != ids[1] {
		t.Fatalf("page2: %d %v", len(runs), more)
	}
	runs, _, _ = s.SearchRuns(ctx, []string{exp}, domain.ViewDeletedOnly, 10, 0)
	if len(runs) != 1 || runs[0].Info.RunID != ids[0] {
		t.Fatalf("deleted view: %d", len(runs))
	}
	runs, _, _ = s.SearchRuns(ctx, []string{exp, "0"}, domain.ViewAll, 1000, 0)
	if len(runs) < 5 {
		t.Fatalf("all view: %d", len(runs))
	}
	// Deleting the experiment deletes its runs; restoring brings them back.
	if err := s.SetExperimentStage(ctx, exp, domain.StageDeleted); err != nil {
		t.Fatal(err)
	}
	if runs, _, _ = s.SearchRuns(ctx, []string{exp}, domain.ViewActiveOnly, 10, 0); len(runs) != 0 {
		t.Fatalf("runs of a deleted experiment are active: %d", len(runs))
	}
	if err := s.SetExperimentStage(ctx, exp, domain.StageActive); err != nil {
		t.Fatal(err)
	}
	if runs, _, _ = s.SearchRuns(ctx, []string{exp}, domain.ViewActiveOnly, 10, 0); len(runs) != 5 {
		t.Fatalf("restore: %d active runs, want 5 (MLflow restores every deleted run of the experiment)", len(runs))
	}
	_, _, err = s.SearchRuns(ctx, []string{"x"}, domain.ViewAll, 10, 0)
	wantKind(t, err, apierr.InvalidArgument)
}

// testSearchFiltered: MLflow filter strings and order_by run as SQL on every dialect.
func testSearchFiltered(ctx context.Context, t *testing.T, s *store.Store) {
	exp := must[string](t)(s.CreateExperiment(ctx, "filtered-exp", "", nil))
	var ids []string
	for i := range 6 {
		r := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: exp, StartTime: int64(1000 + i)}))
		id := r.Info.RunID
		if i != 5 { // run 5 has no rmse at all
			if err := s.LogMetric(ctx, id, domain.Metric{Key: "rmse", Value: float64(10 - i), Timestamp: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.LogParam(ctx, id, domain.Param{Key: "model", Value: []string{"Ridge", "lasso", "RidgeCV"}[i%3]}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetTag(ctx, id, domain.Tag{Key: "team", Value: []string{"a", "b"}[i%2]}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	search1 := func(filter string, order ...string) []string {
		t.Helper()
		f, err := search.ParseFilter(filter)
		if err != nil {
			t.Fatalf("parse %q: %v", filter, err)
		}
		o, err := search.ParseOrderBy(order)
		if err != nil {
			t.Fatalf("parse order %v: %v", order, err)
		}
		runs, _, err := s.SearchRunsFiltered(ctx, []string{exp}, domain.ViewActiveOnly, f, o, 100, 0)
		if err != nil {
			t.Fatalf("search %q %v: %v", filter, order, err)
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.Info.RunID)
		}
		return out
	}
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}
	for _, tc := range []struct {
		filter string
		order  []string
		want   []string
	}{
		// rmse = 10,9,8,7,6 for runs 0..4; default order start_time DESC.
		{"metrics.rmse < 8", nil, pick(4, 3)},
		{"metrics.rmse >= 8 and params.model = 'Ridge'", nil, pick(0)},
		{"params.model LIKE 'Ridge%'", nil, pick(5, 3, 2, 0)},
		{"params.model ILIKE 'ridge%'", nil, pick(5, 3, 2, 0)},
		{"tags.team = 'b' AND metrics.rmse > 0", nil, pick(3, 1)},
		{"params.model IN ('lasso', 'RidgeCV')", nil, pick(5, 4, 2, 1)},
		{"attributes.start_time > 1003", nil, pick(5, 4)},
		// order by a metric: runs without it come last, whatever the direction.
		{"", []string{"metrics.rmse ASC"}, pick(4, 3, 2, 1, 0, 5)},
		{"", []string{"metrics.rmse DESC"}, pick(0, 1, 2, 3, 4, 5)},
		{"tags.team = 'a'", []string{"params.model DESC"}, pick(4, 2, 0)}, // byte order: lasso > RidgeCV > Ridge
	} {
		if got := search1(tc.filter, tc.order...); !slices.Equal(got, tc.want) {
			t.Errorf("filter %q order %v = %v, want %v", tc.filter, tc.order, got, tc.want)
		}
	}
}
