package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

func TestInputsContract(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		s, _ := newStore(d)
		t.Run("inputs", func(t *testing.T) { testInputs(ctx, t, s) })
		t.Run("log model", func(t *testing.T) { testLogModel(ctx, t, s) })
		t.Run("bulk history", func(t *testing.T) { testBulkHistory(ctx, t, s) })
		t.Run("experiment search", func(t *testing.T) { testExperimentSearch(ctx, t, s) })
	})
}

func ds(name, digest string) domain.Dataset {
	return domain.Dataset{Name: name, Digest: digest, SourceType: "local", Source: "src-" + name}
}

func testInputs(ctx context.Context, t *testing.T, s *store.Store) {
	exp := must[string](t)(s.CreateExperiment(ctx, "inputs-a", "", nil))
	other := must[string](t)(s.CreateExperiment(ctx, "inputs-b", "", nil))
	r1 := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: exp})).Info.RunID
	r2 := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: exp})).Info.RunID
	r3 := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: other})).Info.RunID
	schema := `{"mlflow_colspec": []}`
	withSchema := ds("train", "d1")
	withSchema.Schema = &schema
	if err := s.LogInputs(ctx, r1, []domain.DatasetInput{
		{Dataset: withSchema, Tags: []domain.InputTag{{Key: "mlflow.data.context", Value: "training"}, {Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
		{Dataset: ds("eval", "d2")},
	}); err != nil {
		t.Fatal(err)
	}
	changed := ds("train", "d1")
	changed.Source = "changed"
	if err := s.LogInputs(ctx, r2, []domain.DatasetInput{{Dataset: changed}}); err != nil {
		t.Fatal(err)
	}
	if err := s.LogInputs(ctx, r3, []domain.DatasetInput{{Dataset: changed}}); err != nil {
		t.Fatal(err)
	}
	got := must[map[string][]domain.DatasetInput](t)(s.RunInputs(ctx, []string{r1, r2, r3, "unknown"}))
	if len(got) != 3 || len(got[r1]) != 2 {
		t.Fatalf("inputs = %+v", got)
	}
	in := got[r1][0]
	if in.Dataset.Name != "train" || in.Dataset.Schema == nil || *in.Dataset.Schema != schema || in.Dataset.Profile != nil ||
		fmt.Sprint(in.Tags) != "[{a 2} {mlflow.data.context training}]" || got[r1][1].Dataset.Name != "eval" {
		t.Fatalf("r1 inputs = %+v", got[r1])
	}
	// Same experiment: the stored dataset is reused; another experiment gets its own copy.
	if got[r2][0].Dataset.Source != "src-train" || got[r2][0].Dataset.Schema == nil || got[r3][0].Dataset.Source != "changed" {
		t.Fatalf("dedup: r2 %+v r3 %+v", got[r2], got[r3])
	}
	// Errors write nothing.
	err := s.LogInputs(ctx, r2, []domain.DatasetInput{{Dataset: ds("x", "y")}, {Dataset: domain.Dataset{Name: "n"}}})
	wantKind(t, err, apierr.InvalidArgument)
	wantKind(t, s.LogInputs(ctx, "nope", nil), apierr.NotFound)
	if got := must[map[string][]domain.DatasetInput](t)(s.RunInputs(ctx, []string{r2})); len(got[r2]) != 1 {
		t.Fatalf("r2 after rejected call = %+v", got[r2])
	}
	// Many runs load in chunks.
	many := make([]string, 1200)
	for i := range many {
		many[i] = fmt.Sprint("missing", i)
	}
	many[1100] = r1
	if got := must[map[string][]domain.DatasetInput](t)(s.RunInputs(ctx, many)); len(got) != 1 || len(got[r1]) != 2 {
		t.Fatalf("chunked load = %+v", got)
	}
}

func testLogModel(ctx context.Context, t *testing.T, s *store.Store) {
	run := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: "0"})).Info.RunID
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if err := s.LogModel(ctx, run, json.RawMessage(fmt.Sprintf(`{"artifact_path": "m%d", "flavors": {}}`, i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r := must[domain.Run](t)(s.GetRun(ctx, run))
	var hist []map[string]any
	if err := json.Unmarshal([]byte(tagValue(r.Tags, domain.TagLoggedModels)), &hist); err != nil || len(hist) != 6 {
		t.Fatalf("history = %s (%v)", tagValue(r.Tags, domain.TagLoggedModels), err)
	}
	wantKind(t, s.LogModel(ctx, run, json.RawMessage(`[1]`)), apierr.InvalidArgument)
	wantKind(t, s.LogModel(ctx, "nope", json.RawMessage(`{}`)), apierr.NotFound)
	// A history tag someone overwrote with garbage is reported, not replaced.
	if err := s.SetTag(ctx, run, domain.Tag{Key: domain.TagLoggedModels, Value: "not json"}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.LogModel(ctx, run, json.RawMessage(`{}`)), apierr.InvalidArgument)
}

func testBulkHistory(ctx context.Context, t *testing.T, s *store.Store) {
	a := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: "0"})).Info.RunID
	b := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: "0"})).Info.RunID
	if a > b {
		a, b = b, a
	}
	for step := range int64(20) {
		if err := s.LogMetric(ctx, a, domain.Metric{Key: "m", Value: float64(step), Timestamp: 100 + step, Step: step}); err != nil {
			t.Fatal(err)
		}
	}
	// b: two points at step 5 (timestamps 1 and 205) and one at step 30.
	for _, m := range []domain.Metric{{Key: "m", Value: 1, Timestamp: 205, Step: 5}, {Key: "m", Value: 1, Timestamp: 230, Step: 30}, {Key: "m", Value: 1, Timestamp: 1, Step: 5}} {
		if err := s.LogMetric(ctx, b, m); err != nil {
			t.Fatal(err)
		}
	}
	steps := func(ms []store.RunMetric) string {
		var out []string
		for _, m := range ms {
			name := "a"
			if m.RunID == b {
				name = "b"
			}
			out = append(out, fmt.Sprintf("%s%d", name, m.Step))
		}
		return fmt.Sprint(out)
	}
	all := must[[]store.RunMetric](t)(s.MetricHistoryBulk(ctx, []string{b, a, a}, "m", 1000))
	if got := steps(all); len(all) != 23 || got[:8] != "[a0 a1 a" || steps(all[20:]) != "[b5 b5 b30]" || all[20].Timestamp != 1 {
		t.Fatalf("bulk = %s", got)
	}
	if got := steps(must[[]store.RunMetric](t)(s.MetricHistoryBulk(ctx, []string{a, b}, "m", 3))); got != "[a0 a1 a2]" {
		t.Fatalf("bulk limit 3 = %s", got)
	}
	lo, hi := int64(4), int64(6)
	if got := steps(must[[]store.RunMetric](t)(s.MetricHistoryInterval(ctx, []string{a, b}, "m", &lo, &hi, 100))); got != "[a4 a5 a6 b5 b5]" {
		t.Fatalf("interval 4..6 = %s", got)
	}
	// 21 distinct steps (0..19, 30), 5 sampled evenly: 0, 5, 10, 15, 30; plus the runs' bounds 19 and 5.
	if got := steps(must[[]store.RunMetric](t)(s.MetricHistoryInterval(ctx, []string{a, b}, "m", nil, nil, 5))); got != "[a0 a5 a10 a15 a19 b5 b5 b30]" {
		t.Fatalf("sampled = %s", got)
	}
	if got := must[[]store.RunMetric](t)(s.MetricHistoryInterval(ctx, []string{"nope"}, "m", nil, nil, 5)); len(got) != 0 {
		t.Fatalf("unknown run = %v", got)
	}
}

func TestSampleSteps(t *testing.T) {
	for _, tc := range []struct {
		steps, keep []int64
		max         int
		want        []int64
	}{
		{[]int64{1, 2, 3}, nil, 5, []int64{1, 2, 3}},
		{[]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, nil, 3, []int64{0, 5, 10}},
		{[]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int64{7, 2}, 2, []int64{0, 2, 7, 10}},
		{[]int64{-3, 4, 9}, nil, 1, []int64{-3}},
		{nil, nil, 3, []int64{}},
	} {
		if got := store.SampleSteps(tc.steps, tc.keep, tc.max); !slices.Equal(got, tc.want) {
			t.Fatalf("SampleSteps(%v, %v, %d) = %v, want %v", tc.steps, tc.keep, tc.max, got, tc.want)
		}
	}
}

func testExperimentSearch(ctx context.Context, t *testing.T, s *store.Store) {
	for _, n := range []string{"es-b", "es-a", "es-C"} {
		must[string](t)(s.CreateExperiment(ctx, n, "", []domain.Tag{{Key: "grp", Value: n[len(n)-1:]}}))
	}
	f, err := search.ParseExperimentFilter("name LIKE 'es-%' AND tags.grp != 'a'")
	if err != nil {
		t.Fatal(err)
	}
	order, err := search.ParseExperimentOrderBy([]string{"name DESC"})
	if err != nil {
		t.Fatal(err)
	}
	exps, more, err := s.SearchExperimentsFiltered(ctx, domain.ViewActiveOnly, f, order, 1, 0)
	if err != nil || more != true || len(exps) != 1 || exps[0].Name != "es-b" || len(exps[0].Tags) != 1 {
		t.Fatalf("page 1 = %+v %v %v", exps, more, err)
	}
	exps, more, err = s.SearchExperimentsFiltered(ctx, domain.ViewActiveOnly, f, order, 5, 1)
	if err != nil || more || len(exps) != 1 || exps[0].Name != "es-C" {
		t.Fatalf("page 2 = %+v %v %v", exps, more, err)
	}
}
