package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

func TestRegistryContract(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		s, clk := newStore(d)
		t.Run("models", func(t *testing.T) { testRegisteredModels(ctx, t, s, clk) })
		t.Run("versions", func(t *testing.T) { testModelVersions(ctx, t, s, clk) })
		t.Run("aliases", func(t *testing.T) { testAliases(ctx, t, s) })
		t.Run("rename and delete", func(t *testing.T) { testRenameDelete(ctx, t, s) })
		t.Run("search", func(t *testing.T) { testRegistrySearch(ctx, t, s, clk) })
		t.Run("resolve", func(t *testing.T) { testResolveModelURI(ctx, t, s) })
	})
}

func versionNumbers(vs []domain.ModelVersion) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name + "/" + v.Version + "/" + v.CurrentStage
	}
	return out
}

func testRegisteredModels(ctx context.Context, t *testing.T, s *store.Store, clk *clock.Fake) {
	m := must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "iris", "first model", []domain.Tag{{Key: "team", Value: "ml"}, {Key: "a", Value: "1"}}))
	if m.Name != "iris" || m.Description != "first model" || m.CreationTimestamp != 1_700_000_000_000 || m.LastUpdatedTimestamp != m.CreationTimestamp ||
		len(m.Tags) != 2 || m.Tags[0] != (domain.Tag{Key: "a", Value: "1"}) || len(m.LatestVersions) != 0 || len(m.Aliases) != 0 {
		t.Fatalf("created = %+v", m)
	}
	_, err := s.CreateRegisteredModel(ctx, "iris", "", nil)
	wantKind(t, err, apierr.AlreadyExists)
	for _, bad := range []string{"", "  ", "a/b", "x\x00y", string(make([]byte, 257))} {
		_, err = s.CreateRegisteredModel(ctx, bad, "", nil)
		wantKind(t, err, apierr.InvalidArgument)
	}
	_, err = s.CreateRegisteredModel(ctx, "badtag", "", []domain.Tag{{Key: "../x", Value: "v"}})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.GetRegisteredModel(ctx, "badtag") // nothing half-written
	wantKind(t, err, apierr.NotFound)
	_, err = s.GetRegisteredModel(ctx, "IRIS") // case-sensitive
	wantKind(t, err, apierr.NotFound)

	clk.Advance(time.Second)
	desc := "updated"
	m = must[domain.RegisteredModel](t)(s.UpdateRegisteredModel(ctx, "iris", &desc))
	if m.Description != "updated" || m.LastUpdatedTimestamp != 1_700_000_001_000 {
		t.Fatalf("updated = %+v", m)
	}
	m = must[domain.RegisteredModel](t)(s.UpdateRegisteredModel(ctx, "iris", nil))
	if m.Description != "updated" {
		t.Fatalf("nil description changed it: %+v", m)
	}
	_, err = s.UpdateRegisteredModel(ctx, "nope", &desc)
	wantKind(t, err, apierr.NotFound)

	if err := s.SetRegisteredModelTag(ctx, "iris", domain.Tag{Key: "team", Value: "infra"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegisteredModelTag(ctx, "iris", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegisteredModelTag(ctx, "iris", "never-set"); err != nil {
		t.Fatalf("deleting a missing tag: %v", err)
	}
	wantKind(t, s.SetRegisteredModelTag(ctx, "nope", domain.Tag{Key: "k", Value: "v"}), apierr.NotFound)
	wantKind(t, s.SetRegisteredModelTag(ctx, "iris", domain.Tag{Key: "k", Value: string(make([]byte, 5001))}), apierr.InvalidArgument)
	wantKind(t, s.DeleteRegisteredModelTag(ctx, "nope", "k"), apierr.NotFound)
	m = must[domain.RegisteredModel](t)(s.GetRegisteredModel(ctx, "iris"))
	if len(m.Tags) != 1 || m.Tags[0] != (domain.Tag{Key: "team", Value: "infra"}) {
		t.Fatalf("tags = %+v", m.Tags)
	}
}

func testModelVersions(ctx context.Context, t *testing.T, s *store.Store, clk *clock.Fake) {
	run := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{}))
	must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "mv", "", nil))
	v1 := must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "mv", Source: "runs:/" + run.Info.RunID + "/model",
		RunID: run.Info.RunID, RunLink: "http://x/run", Description: "v1", Tags: []domain.Tag{{Key: "k", Value: "v"}}}))
	if v1.Version != "1" || v1.CurrentStage != "None" || v1.Status != "READY" || v1.RunID != run.Info.RunID || v1.RunLink != "http://x/run" ||
		v1.Description != "v1" || len(v1.Tags) != 1 || v1.Source != "runs:/"+run.Info.RunID+"/model" {
		t.Fatalf("v1 = %+v", v1)
	}
	clk.Advance(time.Second)
	v2 := must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "mv", Source: "s3://b/2"}))
	if v2.Version != "2" || v2.RunID != "" {
		t.Fatalf("v2 = %+v", v2)
	}
	m := must[domain.RegisteredModel](t)(s.GetRegisteredModel(ctx, "mv"))
	if m.LastUpdatedTimestamp != v2.CreationTimestamp || !slices.Equal(versionNumbers(m.LatestVersions), []string{"mv/2/None"}) {
		t.Fatalf("model after versions = %+v", m)
	}

	// Errors write nothing.
	_, err := s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "mv", Source: "s3://x", RunID: "0123456789abcdef0123456789abcdef"})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "nope", Source: "s3://x"})
	wantKind(t, err, apierr.NotFound)
	_, err = s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "mv"})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "mv", Source: "s3://x", Tags: []domain.Tag{{Key: "", Value: "v"}}})
	wantKind(t, err, apierr.InvalidArgument)
	for _, bad := range []string{"0", "-1", "x", "1.5", "", "+1", "99999999999999999999"} {
		_, err = s.GetModelVersion(ctx, "mv", bad)
		wantKind(t, err, apierr.InvalidArgument)
	}
	_, err = s.GetModelVersion(ctx, "mv", "3")
	wantKind(t, err, apierr.NotFound)

	// Stages.
	clk.Advance(time.Second)
	v1 = must[domain.ModelVersion](t)(s.TransitionModelVersionStage(ctx, "mv", "1", "production", false))
	if v1.CurrentStage != "Production" || v1.LastUpdatedTimestamp != v2.CreationTimestamp+1000 || v1.CreationTimestamp != v2.CreationTimestamp-1000 {
		t.Fatalf("transitioned = %+v", v1)
	}
	_, err = s.TransitionModelVersionStage(ctx, "mv", "1", "Prod", false)
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.TransitionModelVersionStage(ctx, "mv", "1", "Archived", true)
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.TransitionModelVersionStage(ctx, "mv", "9", "Staging", false)
	wantKind(t, err, apierr.NotFound)
	v3 := must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "mv", Source: "s3://b/3"}))
	must[domain.ModelVersion](t)(s.TransitionModelVersionStage(ctx, "mv", v3.Version, "STAGING", false))
	latest := must[[]domain.ModelVersion](t)(s.GetLatestVersions(ctx, "mv", nil))
	if got := versionNumbers(latest); !slices.Equal(got, []string{"mv/2/None", "mv/3/Staging", "mv/1/Production"}) {
		t.Fatalf("latest = %v", got)
	}
	latest = must[[]domain.ModelVersion](t)(s.GetLatestVersions(ctx, "mv", []string{"production", "None"}))
	if got := versionNumbers(latest); !slices.Equal(got, []string{"mv/2/None", "mv/1/Production"}) {
		t.Fatalf("latest(production, none) = %v", got)
	}
	if len(latest[1].Tags) != 1 {
		t.Fatalf("latest versions carry tags: %+v", latest[1])
	}
	_, err = s.GetLatestVersions(ctx, "mv", []string{"bogus"})
	wantKind(t, err, apierr.InvalidArgument)
	_, err = s.GetLatestVersions(ctx, "nope", nil)
	wantKind(t, err, apierr.NotFound)
	// archive_existing_versions moves the other Production versions to Archived.
	must[domain.ModelVersion](t)(s.TransitionModelVersionStage(ctx, "mv", "3", "Production", true))
	if v := must[domain.ModelVersion](t)(s.GetModelVersion(ctx, "mv", "1")); v.CurrentStage != "Archived" {
		t.Fatalf("v1 after archive = %+v", v)
	}
	if v := must[domain.ModelVersion](t)(s.GetModelVersion(ctx, "mv", "2")); v.CurrentStage != "None" {
		t.Fatalf("v2 must stay in None: %+v", v)
	}

	// Update, tags.
	desc := "better"
	if v := must[domain.ModelVersion](t)(s.UpdateModelVersion(ctx, "mv", "2", &desc)); v.Description != "better" {
		t.Fatalf("updated = %+v", v)
	}
	if err := s.SetModelVersionTag(ctx, "mv", "2", domain.Tag{Key: "acc", Value: "0.9"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetModelVersionTag(ctx, "mv", "2", domain.Tag{Key: "acc", Value: "0.95"}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.SetModelVersionTag(ctx, "mv", "7", domain.Tag{Key: "acc", Value: "1"}), apierr.NotFound)
	if v := must[domain.ModelVersion](t)(s.GetModelVersion(ctx, "mv", "2")); len(v.Tags) != 1 || v.Tags[0].Value != "0.95" {
		t.Fatalf("tags = %+v", v.Tags)
	}
	if err := s.DeleteModelVersionTag(ctx, "mv", "2", "acc"); err != nil {
		t.Fatal(err)
	}
	if v := must[domain.ModelVersion](t)(s.GetModelVersion(ctx, "mv", "2")); len(v.Tags) != 0 {
		t.Fatalf("tags after delete = %+v", v.Tags)
	}
	if uri := must[string](t)(s.GetModelVersionDownloadURI(ctx, "mv", "2")); uri != "s3://b/2" {
		t.Fatalf("download uri = %q", uri)
	}

	// Delete: numbers are not reused.
	if err := s.DeleteModelVersion(ctx, "mv", "3"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.DeleteModelVersion(ctx, "mv", "3"), apierr.NotFound)
	v4 := must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "mv", Source: "s3://b/4"}))
	if v4.Version != "4" {
		t.Fatalf("version after deleting the newest = %s, want 4", v4.Version)
	}
}

func testAliases(ctx context.Context, t *testing.T, s *store.Store) {
	must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "al", "", nil))
	for range 2 {
		must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "al", Source: "s3://a"}))
	}
	if err := s.SetModelAlias(ctx, "al", "champion", "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetModelAlias(ctx, "al", "challenger", "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetModelAlias(ctx, "al", "champion", "2"); err != nil { // moves
		t.Fatal(err)
	}
	v := must[domain.ModelVersion](t)(s.GetModelVersionByAlias(ctx, "al", "champion"))
	if v.Version != "2" || !slices.Equal(v.Aliases, []string{"champion"}) {
		t.Fatalf("by alias = %+v", v)
	}
	m := must[domain.RegisteredModel](t)(s.GetRegisteredModel(ctx, "al"))
	if len(m.Aliases) != 2 || m.Aliases[0] != (domain.ModelAlias{Alias: "challenger", Version: "1"}) || m.Aliases[1] != (domain.ModelAlias{Alias: "champion", Version: "2"}) {
		t.Fatalf("aliases = %+v", m.Aliases)
	}
	for _, bad := range []string{"", "latest", "LATEST", "v1", "V12", "a/b"} {
		wantKind(t, s.SetModelAlias(ctx, "al", bad, "1"), apierr.InvalidArgument)
	}
	wantKind(t, s.SetModelAlias(ctx, "al", "x", "9"), apierr.NotFound)
	wantKind(t, s.SetModelAlias(ctx, "al", "x", "one"), apierr.InvalidArgument)
	wantKind(t, s.SetModelAlias(ctx, "nope", "x", "1"), apierr.NotFound)
	_, err := s.GetModelVersionByAlias(ctx, "al", "missing")
	wantKind(t, err, apierr.NotFound)
	if err := s.DeleteModelAlias(ctx, "al", "challenger"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetModelVersionByAlias(ctx, "al", "challenger")
	wantKind(t, err, apierr.NotFound)
	// Deleting a version drops the aliases pointing at it.
	if err := s.DeleteModelVersion(ctx, "al", "2"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetModelVersionByAlias(ctx, "al", "champion")
	wantKind(t, err, apierr.NotFound)
}

func testRenameDelete(ctx context.Context, t *testing.T, s *store.Store) {
	must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "old", "d", []domain.Tag{{Key: "k", Value: "v"}}))
	must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "taken", "", nil))
	must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "old", Source: "s3://o", Tags: []domain.Tag{{Key: "vk", Value: "vv"}}}))
	if err := s.SetModelAlias(ctx, "old", "prod", "1"); err != nil {
		t.Fatal(err)
	}
	_, err := s.RenameRegisteredModel(ctx, "old", "taken")
	wantKind(t, err, apierr.AlreadyExists)
	_, err = s.RenameRegisteredModel(ctx, "missing", "x")
	wantKind(t, err, apierr.NotFound)
	_, err = s.RenameRegisteredModel(ctx, "old", "")
	wantKind(t, err, apierr.InvalidArgument)
	m := must[domain.RegisteredModel](t)(s.RenameRegisteredModel(ctx, "old", "new"))
	if m.Name != "new" || m.Description != "d" || len(m.Tags) != 1 || len(m.Aliases) != 1 || len(m.LatestVersions) != 1 || m.LatestVersions[0].Name != "new" {
		t.Fatalf("renamed = %+v", m)
	}
	v := must[domain.ModelVersion](t)(s.GetModelVersionByAlias(ctx, "new", "prod"))
	if v.Name != "new" || len(v.Tags) != 1 || v.Tags[0].Key != "vk" {
		t.Fatalf("renamed version = %+v", v)
	}
	_, err = s.GetRegisteredModel(ctx, "old")
	wantKind(t, err, apierr.NotFound)
	// The old name is free again and starts its own numbering.
	must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "old", "", nil))
	if v := must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "old", Source: "s3://x"})); v.Version != "1" {
		t.Fatalf("fresh model version = %s", v.Version)
	}
	if v := must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "new", Source: "s3://x"})); v.Version != "2" {
		t.Fatalf("renamed model kept its counter: version %s", v.Version)
	}

	if err := s.DeleteRegisteredModel(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.DeleteRegisteredModel(ctx, "new"), apierr.NotFound)
	_, err = s.GetModelVersion(ctx, "new", "1")
	wantKind(t, err, apierr.NotFound)
	// Re-created under the same name, nothing of the deleted model shows.
	m = must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "new", "", nil))
	if len(m.Tags) != 0 || len(m.Aliases) != 0 || len(m.LatestVersions) != 0 {
		t.Fatalf("re-created model = %+v", m)
	}
	vs, _, err := s.SearchModelVersions(ctx, mustFilter(t, "name = 'new'", search.ModelVersions), nil, 100, 0)
	if err != nil || len(vs) != 0 {
		t.Fatalf("versions of the re-created model = %v (%v)", versionNumbers(vs), err)
	}
}

func mustFilter(t *testing.T, f string, target search.RegistryTarget) search.Filter {
	t.Helper()
	p, err := search.ParseRegistryFilter(f, target)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOrder(t *testing.T, target search.RegistryTarget, o ...string) []search.OrderKey {
	t.Helper()
	p, err := search.ParseRegistryOrderBy(o, target)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func modelNames(ms []domain.RegisteredModel) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func testRegistrySearch(ctx context.Context, t *testing.T, s *store.Store, clk *clock.Fake) {
	run := must[domain.Run](t)(s.CreateRun(ctx, store.CreateRunInput{}))
	for i, n := range []string{"srch-beta", "srch-Alpha", "srch-gamma_1", "srch-gammaX1"} {
		clk.Advance(time.Second)
		must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, n, "", []domain.Tag{{Key: "idx", Value: strconv.Itoa(i)}}))
	}
	search1 := func(f string, order ...string) []string {
		t.Helper()
		ms, _, err := s.SearchRegisteredModels(ctx, mustFilter(t, f, search.RegisteredModels), mustOrder(t, search.RegisteredModels, order...), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		return modelNames(ms)
	}
	cases := []struct {
		filter string
		order  []string
		want   []string
	}{
		{"name LIKE 'srch-%'", nil, []string{"srch-Alpha", "srch-beta", "srch-gammaX1", "srch-gamma_1"}},
		{"name = 'srch-beta'", nil, []string{"srch-beta"}},
		{"name LIKE 'srch-a%'", nil, nil},
		{"name ILIKE 'SRCH-A%'", nil, []string{"srch-Alpha"}},
		{"name LIKE 'srch-gamma\\_1'", nil, []string{"srch-gamma_1"}},
		{"name LIKE 'srch-gamma_1'", nil, []string{"srch-gammaX1", "srch-gamma_1"}},
		{"tags.idx = '2' and name like 'srch%'", nil, []string{"srch-gamma_1"}},
		{"name LIKE 'srch-%'", []string{"timestamp DESC"}, []string{"srch-gammaX1", "srch-gamma_1", "srch-Alpha", "srch-beta"}},
		{"name LIKE 'srch-%'", []string{"last_updated_timestamp ASC"}, []string{"srch-beta", "srch-Alpha", "srch-gamma_1", "srch-gammaX1"}},
		{"name != 'srch-beta' AND name LIKE 'srch%'", []string{"name DESC"}, []string{"srch-gamma_1", "srch-gammaX1", "srch-Alpha"}},
	}
	for _, c := range cases {
		if got := search1(c.filter, c.order...); !slices.Equal(got, c.want) {
			t.Errorf("search(%q, %v) = %v, want %v", c.filter, c.order, got, c.want)
		}
	}
	// Paging.
	f := mustFilter(t, "name LIKE 'srch-%'", search.RegisteredModels)
	p1, more, err := s.SearchRegisteredModels(ctx, f, nil, 3, 0)
	if err != nil || !more || len(p1) != 3 {
		t.Fatalf("page 1 = %v more=%v err=%v", modelNames(p1), more, err)
	}
	p2, more, err := s.SearchRegisteredModels(ctx, f, nil, 3, 3)
	if err != nil || more || !slices.Equal(modelNames(p2), []string{"srch-gamma_1"}) {
		t.Fatalf("page 2 = %v more=%v err=%v", modelNames(p2), more, err)
	}

	// Model versions.
	for i := range 3 {
		in := store.CreateModelVersionInput{Name: "srch-beta", Source: fmt.Sprintf("s3://bucket/beta/%d", i), Tags: []domain.Tag{{Key: "i", Value: strconv.Itoa(i)}}}
		if i == 1 {
			in.RunID = run.Info.RunID
		}
		must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, in))
	}
	must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "srch-Alpha", Source: "s3://bucket/alpha", RunID: run.Info.RunID}))
	versions := func(f string, order ...string) []string {
		t.Helper()
		vs, _, err := s.SearchModelVersions(ctx, mustFilter(t, f, search.ModelVersions), mustOrder(t, search.ModelVersions, order...), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = v.Name + "/" + v.Version
		}
		return out
	}
	vcases := []struct {
		filter string
		order  []string
		want   []string
	}{
		{"name='srch-beta'", nil, []string{"srch-beta/3", "srch-beta/2", "srch-beta/1"}},
		{"run_id = '" + run.Info.RunID + "'", nil, []string{"srch-Alpha/1", "srch-beta/2"}},
		{"run_id IN ('" + run.Info.RunID + "', 'other')", nil, []string{"srch-Alpha/1", "srch-beta/2"}},
		{"source_path LIKE 's3://bucket/beta/%'", []string{"version_number ASC"}, []string{"srch-beta/1", "srch-beta/2", "srch-beta/3"}},
		{"source_path = 's3://bucket/alpha'", nil, []string{"srch-Alpha/1"}},
		{"tags.i = '2'", nil, []string{"srch-beta/3"}},
		{"name = 'srch-beta' AND version_number >= 2", []string{"version_number"}, []string{"srch-beta/2", "srch-beta/3"}},
		{"name LIKE 'srch-%'", []string{"creation_timestamp DESC", "name"}, []string{"srch-Alpha/1", "srch-beta/3", "srch-beta/2", "srch-beta/1"}},
	}
	for _, c := range vcases {
		if got := versions(c.filter, c.order...); !slices.Equal(got, c.want) {
			t.Errorf("search versions(%q, %v) = %v, want %v", c.filter, c.order, got, c.want)
		}
	}
	vs, _, err := s.SearchModelVersions(ctx, mustFilter(t, "tags.i = '0'", search.ModelVersions), nil, 10, 0)
	if err != nil || len(vs) != 1 || len(vs[0].Tags) != 1 {
		t.Fatalf("search result carries tags: %+v (%v)", vs, err)
	}
	vs, more, err = s.SearchModelVersions(ctx, mustFilter(t, "name = 'srch-beta'", search.ModelVersions), nil, 2, 2)
	if err != nil || more || len(vs) != 1 || vs[0].Version != "1" {
		t.Fatalf("version page 2 = %+v more=%v (%v)", vs, more, err)
	}
}

func testResolveModelURI(ctx context.Context, t *testing.T, s *store.Store) {
	must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "res", "", nil))
	for i := range 3 {
		must[domain.ModelVersion](t)(s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "res", Source: fmt.Sprintf("s3://res/%d", i+1)}))
	}
	must[domain.ModelVersion](t)(s.TransitionModelVersionStage(ctx, "res", "1", "Production", false))
	must[domain.ModelVersion](t)(s.TransitionModelVersionStage(ctx, "res", "2", "Production", false))
	if err := s.SetModelAlias(ctx, "res", "champ", "1"); err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{
		"models:/res/3":          "s3://res/3",
		"models:/res/production": "s3://res/2",
		"models:/res/Production": "s3://res/2",
		"models:/res/None":       "s3://res/3",
		"models:/res/latest":     "s3://res/3",
		"models:/res@champ":      "s3://res/1",
	}
	for uri, want := range ok {
		src, v, err := s.ResolveModelURI(ctx, uri)
		if err != nil || src != want || v.Source != want || v.Name != "res" {
			t.Errorf("resolve %s = %q %+v %v, want %s", uri, src, v, err, want)
		}
	}
	for uri, kind := range map[string]apierr.Kind{
		"models:/res/9": apierr.NotFound, "models:/res/Staging": apierr.NotFound, "models:/res@nope": apierr.NotFound,
		"models:/nope/1": apierr.NotFound, "models:/nope/latest": apierr.NotFound,
		"runs:/abc/model": apierr.InvalidArgument, "models:/res": apierr.InvalidArgument, "models:/res/1/extra": apierr.InvalidArgument,
		"models:/res/Prod": apierr.InvalidArgument, "models://1": apierr.InvalidArgument, "models:/res@": apierr.InvalidArgument,
		"models:/res/0": apierr.InvalidArgument,
	} {
		_, _, err := s.ResolveModelURI(ctx, uri)
		if !apierr.Is(err, kind) {
			t.Errorf("resolve %s: err = %v, want kind %v", uri, err, kind)
		}
	}
}

// TestConcurrentModelVersions creates versions of one model from several goroutines: every creation succeeds
// and the numbers are exactly 1..n.
func TestConcurrentModelVersions(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		s, _ := newStore(d)
		must[domain.RegisteredModel](t)(s.CreateRegisteredModel(ctx, "race", "", nil))
		const workers, per = 6, 5
		var mu sync.Mutex
		var got []int
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range per {
					v, err := s.CreateModelVersion(ctx, store.CreateModelVersionInput{Name: "race", Source: "s3://race"})
					if err != nil {
						t.Errorf("create version: %v", err)
						continue
					}
					n, _ := strconv.Atoi(v.Version)
					mu.Lock()
					got = append(got, n)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		want := make([]int, workers*per)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(got, want) {
			t.Fatalf("versions = %v, want 1..%d without duplicates", got, workers*per)
		}
		vs, _, err := s.SearchModelVersions(ctx, search.Filter{}, nil, 1000, 0)
		if err != nil || len(vs) != workers*per {
			t.Fatalf("stored versions = %d (%v)", len(vs), err)
		}
	})
}
