package store_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// Paging with SearchRunsPage (keyset for the default and single-metric orders, offsets otherwise) returns exactly
// the runs, in exactly the order, of one unpaged SearchRunsFiltered call — through value ties, start_time ties,
// NaN values, runs lacking the key, a deleted run and a filter — on every dialect.
func TestSearchRunsPageMatchesUnpaged(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		s, _ := newStore(d)
		ctx := t.Context()
		exp := must[string](t)(s.CreateExperiment(ctx, "paging", "", nil))
		other := must[string](t)(s.CreateExperiment(ctx, "paging-other", "", nil))
		for i := range 41 {
			e := exp
			if i%10 == 9 {
				e = other
			}
			// start_time repeats every 4 runs, so ties fall to the run id.
			r := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{ExperimentID: e, StartTime: int64(1000 + i%4)}))
			var ms []domain.Metric
			switch {
			case i%7 == 0: // no "score"
			case i%11 == 0:
				ms = append(ms, domain.Metric{Key: "score", Value: math.NaN(), Timestamp: 1})
			default:
				ms = append(ms, domain.Metric{Key: "score", Value: float64(i % 5), Timestamp: 1}) // value ties
			}
			ms = append(ms, domain.Metric{Key: "loss", Value: float64(i) / 10, Timestamp: 1})
			ps := []domain.Param{{Key: "group", Value: fmt.Sprint(i % 3)}}
			if err := s.LogBatch(ctx, r.Info.RunID, ms, ps, nil); err != nil {
				t.Fatal(err)
			}
			if i == 20 {
				if err := s.SetRunStage(ctx, r.Info.RunID, domain.StageDeleted); err != nil {
					t.Fatal(err)
				}
			}
		}
		filter, err := search.ParseFilter("metrics.loss < 3.5 and params.group != '2'")
		if err != nil {
			t.Fatal(err)
		}
		orders := map[string][]string{
			"default":         nil,
			"start_time DESC": {"attributes.start_time DESC"},
			"score DESC":      {"metrics.score DESC"},
			"score ASC":       {"metrics.score ASC"},
			"loss DESC":       {"metrics.loss DESC"},
			"missing key":     {"metrics.nope ASC"},
			"params (offset)": {"params.group ASC", "metrics.score DESC"},
		}
		for name, ob := range orders {
			order, err := search.ParseOrderBy(ob)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []search.Filter{{}, filter} {
				for _, view := range []string{domain.ViewActiveOnly, domain.ViewAll} {
					want, more, err := s.SearchRunsFiltered(ctx, []string{exp, other}, view, f, order, 1000, 0)
					if err != nil || more {
						t.Fatalf("%s: unpaged: %v (more %v)", name, err, more)
					}
					for _, limit := range []int{1, 7} {
						var got []domain.Run
						token, pages := "", 0
						for {
							page, next, err := s.SearchRunsPage(ctx, store.RunQuery{
								ExperimentIDs: []string{exp, other}, View: view, Filter: f, Order: order, Limit: limit, PageToken: token,
							})
							if err != nil {
								t.Fatalf("%s limit %d page %d: %v", name, limit, pages, err)
							}
							if len(page) > limit || (next != "" && len(page) != limit) {
								t.Fatalf("%s limit %d: page of %d runs, next %q", name, limit, len(page), next)
							}
							got = append(got, page...)
							pages++
							if next == "" {
								break
							}
							if pages > len(want)+1 {
								t.Fatalf("%s limit %d: paging does not end", name, limit)
							}
							token = next
						}
						if !slices.Equal(runIDs(got), runIDs(want)) {
							t.Fatalf("%s (filter %v, view %s) limit %d:\n got %v\nwant %v", name, !f.Empty(), view, limit, runIDs(got), runIDs(want))
						}
					}
				}
			}
		}
		// The full result has everything the scenario built into it.
		all, _, err := s.SearchRunsFiltered(ctx, []string{exp, other}, domain.ViewAll, search.Filter{}, nil, 1000, 0)
		if err != nil || len(all) != 41 {
			t.Fatalf("all runs: %d, %v", len(all), err)
		}

		// Tokens are checked: garbage, and a keyset token used with a different kind of order.
		for _, tok := range []string{"%%%", "eyJzZWciOjd9", "bm90IGpzb24"} {
			_, _, err := s.SearchRunsPage(ctx, store.RunQuery{ExperimentIDs: []string{exp}, Limit: 2, PageToken: tok})
			if !apierr.Is(err, apierr.InvalidArgument) {
				t.Fatalf("token %q: %v, want InvalidArgument", tok, err)
			}
		}
		byScore, _ := search.ParseOrderBy([]string{"metrics.score DESC"})
		_, next, err := s.SearchRunsPage(ctx, store.RunQuery{ExperimentIDs: []string{exp}, Order: byScore, Limit: 2})
		if err != nil || next == "" {
			t.Fatalf("first page by score: %q, %v", next, err)
		}
		byParam, _ := search.ParseOrderBy([]string{"params.group ASC"})
		if _, _, err := s.SearchRunsPage(ctx, store.RunQuery{ExperimentIDs: []string{exp}, Order: byParam, Limit: 2, PageToken: next}); !apierr.Is(err, apierr.InvalidArgument) {
			t.Fatalf("keyset token with an offset order: %v, want InvalidArgument", err)
		}
	})
}

func runIDs(runs []domain.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Info.RunID
	}
	return out
}
