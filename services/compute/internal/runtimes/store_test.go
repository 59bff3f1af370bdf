package runtimes_test

import (
	"strings"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/runtimes"
	"github.com/darwinml/darwin/services/compute/migrations"
)

var computeMigrations = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

var _ domain.RuntimeResolver = (*runtimes.Store)(nil)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

func ptr[T any](v T) *T { return &v }

func spec(name, class string, typ *string, image string) runtimes.V2Spec {
	return runtimes.V2Spec{Runtime: name, Class: class, Type: typ, Image: image, User: "alice@example.com",
		Components: []runtimes.Component{{Name: "Ray", Version: "2.40.0"}, {Name: "Python", Version: "3.11"}}}
}

func TestStoreContract(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, computeMigrations, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		clk := clock.NewFake(t0)
		s := runtimes.NewStore(d, clk)

		// Seeds and Resolve.
		for name, want := range map[string]string{"0.0": "localhost:5000/ray:2.37.0", "0.1": "localhost:5000/ray:2.53.0"} {
			img, ns, err := s.Resolve(ctx, name)
			if err != nil || img != want || ns != "ray" {
				t.Errorf("Resolve(%s) = %q %q %v, want %q ray", name, img, ns, err, want)
			}
		}
		if _, _, err := s.Resolve(ctx, "9.9"); apierr.From(err).Field != "runtime" || !apierr.Is(err, apierr.NotFound) {
			t.Errorf("Resolve(unknown) err = %v, want NotFound on runtime", err)
		}
		v1, err := s.ListV1(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(v1["cpu"]) != 2 || v1["cpu"][0] != (runtimes.V1Summary{Name: "0.0", CreatedBy: "Darwin", Image: "localhost:5000/ray:2.37.0"}) ||
			len(v1["gpu"]) != 0 || v1["custom"] == nil {
			t.Errorf("ListV1 = %+v", v1)
		}

		// v1 custom runtime: resolvable, duplicates refused.
		if err := s.CreateV1(ctx, runtimes.V1{Runtime: "c1", Image: "img/c1:1", Namespace: "ns1", CreatedBy: "bob", Type: "custom"}); err != nil {
			t.Fatal(err)
		}
		if img, ns, err := s.Resolve(ctx, "c1"); img != "img/c1:1" || ns != "ns1" || err != nil {
			t.Errorf("Resolve(c1) = %q %q %v", img, ns, err)
		}
		if err := s.CreateV1(ctx, runtimes.V1{Runtime: "c1", Image: "other", Namespace: "ray", CreatedBy: "b", Type: "cpu"}); apierr.From(err).Field != "runtime" || !apierr.Is(err, apierr.AlreadyExists) {
			t.Errorf("duplicate v1 name err = %v", err)
		}
		if err := s.CreateV1(ctx, runtimes.V1{Runtime: "c2", Image: "img/c1:1", Namespace: "ray", CreatedBy: "b", Type: "cpu"}); apierr.From(err).Field != "image" {
			t.Errorf("duplicate v1 image err = %v", err)
		}

		// v2 seeds.
		seed, err := s.GetV2(ctx, "0.0")
		if err != nil || seed.Class != "CPU" || seed.Type == nil || *seed.Type != "Ray Only" || seed.IsDeleted ||
			len(seed.Components) != 1 || seed.Components[0] != (runtimes.Component{Name: "Ray", Version: "2.37.0"}) {
			t.Errorf("GetV2(0.0) = %+v, %v", seed, err)
		}

		// Create v2.
		rt, err := s.CreateV2(ctx, spec("r1", "GPU", ptr("Ray and Spark"), "img/r1:1"))
		if err != nil {
			t.Fatal(err)
		}
		if rt.Runtime != "r1" || rt.Class != "GPU" || *rt.Type != "Ray and Spark" || rt.CreatedBy != "alice@example.com" ||
			!rt.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || len(rt.Components) != 2 || rt.ReferenceLink != nil {
			t.Errorf("CreateV2 = %+v", rt)
		}
		if img, ns, _ := s.Resolve(ctx, "r1"); img != "img/r1:1" || ns != "ray" {
			t.Errorf("Resolve(r1) = %q %q", img, ns)
		}
		if _, err := s.CreateV2(ctx, spec("r1", "GPU", ptr("Others"), "img/r1:2")); !apierr.Is(err, apierr.AlreadyExists) || apierr.From(err).Field != "runtime" {
			t.Errorf("duplicate CreateV2 err = %v", err)
		}
		if _, err := s.CreateV2(ctx, spec("r2", "CPU", ptr("Others"), "img/r1:1")); !apierr.Is(err, apierr.AlreadyExists) || apierr.From(err).Field != "image" {
			t.Errorf("CreateV2 with a taken image err = %v", err)
		}
		// v2 wins over v1 in Resolve.
		if _, err := s.CreateV2(ctx, spec("c1", "CUSTOM", nil, "img/c1-v2")); err != nil {
			t.Fatal(err)
		}
		if img, _, _ := s.Resolve(ctx, "c1"); img != "img/c1-v2" {
			t.Errorf("Resolve(c1) = %q, want the v2 image", img)
		}

		// Update: fields change, name immutable, default class cannot change.
		clk.Advance(time.Minute)
		up := spec("r1", "GPU", ptr("Others"), "img/r1:2")
		up.User, up.Components, up.ReferenceLink, up.SparkConnect = "bob", []runtimes.Component{{Name: "Spark", Version: "3.5"}}, ptr("https://docs"), true
		rt, err = s.UpdateV2(ctx, up)
		if err != nil {
			t.Fatal(err)
		}
		if *rt.Type != "Others" || rt.Image != "img/r1:2" || rt.LastUpdatedBy != "bob" || rt.CreatedBy != "alice@example.com" ||
			!rt.LastUpdatedAt.Equal(t0.Add(time.Minute).Truncate(time.Microsecond)) || len(rt.Components) != 1 || rt.Components[0].Name != "Spark" ||
			rt.ReferenceLink == nil || !rt.SparkConnect {
			t.Errorf("UpdateV2 = %+v", rt)
		}
		if _, err := s.UpdateV2(ctx, spec("ghost", "CPU", ptr("Others"), "img/ghost")); !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("UpdateV2(missing) err = %v, want InvalidArgument", err)
		}
		if _, err := s.UpdateV2(ctx, spec("0.0", "GPU", ptr("Others"), "localhost:5000/ray:2.37.0")); apierr.From(err).Field != "class" {
			t.Errorf("changing the class of the default err = %v, want field class", err)
		}
		if _, err := s.UpdateV2(ctx, spec("r1", "GPU", ptr("Others"), "localhost:5000/ray:2.37.0")); apierr.From(err).Field != "image" {
			t.Errorf("UpdateV2 to a taken image err = %v", err)
		}

		// The longest accepted values fit every dialect.
		long := runtimes.V2Request{Runtime: ptr(strings.Repeat("r", 255)), Class: ptr("CPU"), Type: ptr("Others"), Image: ptr(strings.Repeat("i", 512)),
			ReferenceLink: ptr(strings.Repeat("l", 2048)), User: ptr(strings.Repeat("u", 255)),
			Components: []runtimes.ComponentRequest{{Name: ptr("Ray"), Version: ptr(strings.Repeat("9", 64))}}}
		longSpec, err := long.Validate()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.CreateV2(ctx, longSpec); err != nil || got.Runtime != *long.Runtime || *got.ReferenceLink != *long.ReferenceLink {
			t.Errorf("CreateV2 at the limits: %v", err)
		}
		long.Image = ptr(strings.Repeat("i", 513))
		if _, err := long.Validate(); apierr.From(err).Field != "image" {
			t.Errorf("513-byte image err = %v", err)
		}

		// Default switching.
		def := spec("r3", "CPU", ptr("Ray Only"), "img/r3")
		def.SetAsDefault = true
		if _, err := s.CreateV2(ctx, def); err != nil {
			t.Fatal(err)
		}
		groups, err := s.ListV2(ctx, runtimes.ListFilter{Class: ptr("CPU")}, "x")
		if err != nil || len(groups) != 1 || groups[0].DefaultRuntime == nil || *groups[0].DefaultRuntime != "r3" {
			t.Fatalf("ListV2(CPU) default = %+v, %v", groups, err)
		}
		// 0.0 is no longer the default, so it can be deleted now; r3 cannot.
		if err := s.SoftDeleteV2(ctx, "r3", "carol"); !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("deleting the default err = %v", err)
		}
		if err := s.SoftDeleteV2(ctx, "0.1", "carol"); err != nil {
			t.Fatal(err)
		}
		if err := s.SoftDeleteV2(ctx, "0.1", "carol"); !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("second delete err = %v", err)
		}
		if err := s.SoftDeleteV2(ctx, "ghost", "carol"); !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("deleting a missing runtime err = %v", err)
		}
		if _, err := s.GetV2(ctx, "0.1"); !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("GetV2(deleted) err = %v", err)
		}
		if _, err := s.UpdateV2(ctx, spec("0.1", "CPU", ptr("Others"), "x")); !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("UpdateV2(deleted) err = %v", err)
		}
		// A deleted v2 runtime falls back to the v1 row of the same name.
		if img, _, _ := s.Resolve(ctx, "0.1"); img != "localhost:5000/ray:2.53.0" {
			t.Errorf("Resolve(0.1) after soft delete = %q", img)
		}
		deleted, err := s.ListV2(ctx, runtimes.ListFilter{IsDeleted: ptr(true)}, "x")
		if err != nil || deleted[0].TotalCount != 1 || deleted[0].Runtimes[0].RuntimeList[0].Runtime != "0.1" {
			t.Errorf("ListV2(deleted) = %+v, %v", deleted, err)
		}
		// Re-creating a soft-deleted name revives it with the new definition.
		again := spec("0.1", "GPU", ptr("Ray Only"), "img/new-0.1")
		again.User = "dave"
		rt, err = s.CreateV2(ctx, again)
		if err != nil || rt.IsDeleted || rt.Class != "GPU" || rt.Image != "img/new-0.1" || rt.CreatedBy != "Darwin" || rt.LastUpdatedBy != "dave" {
			t.Errorf("re-create = %+v, %v", rt, err)
		}
	})
}

func TestListV2Grouping(t *testing.T) {
	t.Parallel()
	dbtest.ForEachDialect(t, computeMigrations, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		s := runtimes.NewStore(d, clock.NewFake(t0))
		for _, sp := range []runtimes.V2Spec{
			spec("cpu-a", "CPU", ptr("Ray and Spark"), "i/a"),
			spec("cpu-b", "CPU", ptr("Ray and Spark"), "i/b"),
			spec("gpu-a", "GPU", ptr("Others"), "i/g"),
			spec("mine", "CUSTOM", nil, "i/m"),
			{Runtime: "theirs", Class: "CUSTOM", Image: "i/t", User: "zed@example.com"},
		} {
			if _, err := s.CreateV2(ctx, sp); err != nil {
				t.Fatal(err)
			}
		}
		groups, err := s.ListV2(ctx, runtimes.ListFilter{}, "Alice@Example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != 3 || groups[0].Class != "CPU" || groups[1].Class != "GPU" || groups[2].Class != "CUSTOM" {
			t.Fatalf("classes = %+v", groups)
		}
		cpu := groups[0]
		if cpu.TotalCount != 4 || *cpu.DefaultRuntime != "0.0" || len(cpu.Runtimes) != 3 {
			t.Errorf("CPU group = %+v", cpu)
		}
		if cpu.Runtimes[0].Type != "Ray Only" || cpu.Runtimes[0].Count != 2 || cpu.Runtimes[1].Type != "Ray and Spark" || cpu.Runtimes[1].Count != 2 ||
			cpu.Runtimes[1].RuntimeList[0].Runtime != "cpu-a" || cpu.Runtimes[2].Count != 0 || cpu.Runtimes[2].RuntimeList == nil {
			t.Errorf("CPU types = %+v", cpu.Runtimes)
		}
		if groups[1].DefaultRuntime != nil || groups[1].TotalCount != 1 {
			t.Errorf("GPU group = %+v", groups[1])
		}
		custom := groups[2]
		if custom.Runtimes[0].Type != "Created By Me" || custom.Runtimes[0].Count != 1 || custom.Runtimes[0].RuntimeList[0].Runtime != "mine" ||
			custom.Runtimes[1].Type != "Created By Others" || custom.Runtimes[1].RuntimeList[0].Runtime != "theirs" {
			t.Errorf("CUSTOM types = %+v", custom.Runtimes)
		}
		// Pagination within each type, search and type filters.
		page, err := s.ListV2(ctx, runtimes.ListFilter{Class: ptr("CPU"), Type: ptr("Ray and Spark"), Offset: ptr(1), PageSize: ptr(1)}, "")
		if err != nil || len(page) != 1 || len(page[0].Runtimes) != 1 || page[0].Runtimes[0].Count != 2 ||
			len(page[0].Runtimes[0].RuntimeList) != 1 || page[0].Runtimes[0].RuntimeList[0].Runtime != "cpu-b" {
			t.Errorf("paged = %+v, %v", page, err)
		}
		found, err := s.ListV2(ctx, runtimes.ListFilter{SearchQuery: ptr("GPU-")}, "")
		if err != nil || found[0].TotalCount != 0 || found[1].TotalCount != 1 || found[2].TotalCount != 0 {
			t.Errorf("search = %+v, %v", found, err)
		}
		for _, bad := range []struct {
			f     runtimes.ListFilter
			field string
		}{
			{runtimes.ListFilter{Class: ptr("TPU")}, "class"},
			{runtimes.ListFilter{Class: ptr("CPU"), Type: ptr("Created By Me")}, "type"},
			{runtimes.ListFilter{Class: ptr("CUSTOM"), Type: ptr("Ray Only")}, "type"},
			{runtimes.ListFilter{Offset: ptr(-1)}, "offset"},
			{runtimes.ListFilter{PageSize: ptr(0)}, "page_size"},
		} {
			if _, err := s.ListV2(ctx, bad.f, ""); apierr.From(err).Field != bad.field {
				t.Errorf("ListV2(%+v) err = %v, want field %s", bad.f, err, bad.field)
			}
		}
	})
}
