package search

import (
	"reflect"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
)

func TestParseRegistryFilter(t *testing.T) {
	cases := []struct {
		target RegistryTarget
		src    string
		want   []Comparison
	}{
		{RegisteredModels, "", nil},
		{RegisteredModels, "name = 'x'", []Comparison{{Attribute, "name", OpEq, "x"}}},
		{RegisteredModels, "name LIKE '%x%'", []Comparison{{Attribute, "name", OpLike, "%x%"}}},
		{RegisteredModels, "attributes.NAME ilike \"A%\" and tags.k = 'v'", []Comparison{{Attribute, "name", OpILike, "A%"}, {Tag, "k", OpEq, "v"}}},
		{RegisteredModels, "tags.`a b` != 'it''s'", []Comparison{{Tag, "a b", OpNe, "it's"}}},
		{ModelVersions, "name='x'", []Comparison{{Attribute, "name", OpEq, "x"}}},
		{ModelVersions, "run_id = 'abc'", []Comparison{{Attribute, "run_id", OpEq, "abc"}}},
		{ModelVersions, "run_id IN ('a', \"b\")", []Comparison{{Attribute, "run_id", OpIn, []string{"a", "b"}}}},
		{ModelVersions, "source_path LIKE 's3://b/%' AND version_number >= 3", []Comparison{{Attribute, "source_path", OpLike, "s3://b/%"}, {Attribute, "version_number", OpGe, int64(3)}}},
		{ModelVersions, "tags.mlflow.source = 'x'", []Comparison{{Tag, "mlflow.source", OpEq, "x"}}},
	}
	for _, c := range cases {
		got, err := ParseRegistryFilter(c.src, c.target)
		if err != nil {
			t.Fatalf("ParseRegistryFilter(%q): %v", c.src, err)
		}
		if !reflect.DeepEqual(got.Comparisons, c.want) {
			t.Errorf("ParseRegistryFilter(%q) = %#v, want %#v", c.src, got.Comparisons, c.want)
		}
	}
}

func TestParseRegistryFilterInvalid(t *testing.T) {
	cases := []struct {
		target RegistryTarget
		src    string
		msg    string
	}{
		{RegisteredModels, "run_id = 'x'", `invalid attribute "run_id" at position 0`},
		{RegisteredModels, "name IN ('a')", "operator IN is not allowed"},
		{RegisteredModels, "name > 'a'", "operator > is not allowed"},
		{RegisteredModels, "name = 1", "expected a quoted string"},
		{RegisteredModels, "name = 'a' OR name = 'b'", "OR is not supported at position 11"},
		{RegisteredModels, "name = 'a' AND", "expected a comparison after AND"},
		{RegisteredModels, "name = 'a", "unterminated quoted string"},
		{RegisteredModels, "metrics.x > 1", `invalid entity type "metrics"`},
		{RegisteredModels, "tags. = 'x'", "expected a key"},
		{RegisteredModels, "tags.a..b = 'x'", "invalid key"},
		{ModelVersions, "run_id LIKE 'a%'", "operator LIKE is not allowed"},
		{ModelVersions, "version_number = '1'", "expected an integer"},
		{ModelVersions, "version_number = 1.5", "expected an integer"},
		{ModelVersions, "run_id IN 'a'", "expected a parenthesised list"},
		{ModelVersions, "current_stage = 'None'", `invalid attribute "current_stage"`},
		{ModelVersions, "name = 'a' name = 'b'", "expected AND or end of filter"},
	}
	for _, c := range cases {
		_, err := ParseRegistryFilter(c.src, c.target)
		if err == nil {
			t.Errorf("ParseRegistryFilter(%q) succeeded", c.src)
			continue
		}
		assertInvalid(t, err, "filter")
		checkMsg(t, err, c.msg)
	}
}

func TestParseRegistryOrderBy(t *testing.T) {
	got, err := ParseRegistryOrderBy([]string{"name DESC", "timestamp", "last_updated_timestamp asc"}, RegisteredModels)
	if err != nil {
		t.Fatal(err)
	}
	want := []OrderKey{{Attribute, "name", true}, {Attribute, "creation_timestamp", false}, {Attribute, "last_updated_timestamp", false}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %#v", got)
	}
	if got, err := ParseRegistryOrderBy([]string{"version_number DESC"}, ModelVersions); err != nil || !got[0].Desc || got[0].Key != "version_number" {
		t.Fatalf("version order = %#v, %v", got, err)
	}
	for _, bad := range [][]string{{"version_number"}, {"tags.k"}, {""}, {"name UP"}, {"name ASC DESC"}, {"run_id"}} {
		_, err := ParseRegistryOrderBy(bad, RegisteredModels)
		if err == nil {
			t.Errorf("ParseRegistryOrderBy(%q) succeeded", bad)
			continue
		}
		assertInvalid(t, err, "order_by")
	}
}

var testVersionSchema = RegistrySchema{
	Table:    "mv",
	Columns:  map[string]string{"name": "name", "run_id": "run_id", "source_path": "source", "version_number": "version", "creation_timestamp": "ctime", "last_updated_timestamp": "utime"},
	Join:     []string{"name", "version"},
	Tags:     Table{Name: "mv_tags", Key: "k", Value: "v"},
	Tiebreak: []OrderKey{{Attribute, "name", false}, {Attribute, "version_number", true}},
}

func TestRegistrySQL(t *testing.T) {
	f, err := ParseRegistryFilter("name LIKE 'a%' AND tags.t = 'x' AND run_id IN ('r1','r2') AND version_number > 2", ModelVersions)
	if err != nil {
		t.Fatal(err)
	}
	where, args := testVersionSchema.FilterSQL(f, db.MySQL, "v")
	wantWhere := "CAST(v.name AS BINARY) LIKE ? AND EXISTS (SELECT 1 FROM mv_tags f1 WHERE f1.name = v.name AND f1.version = v.version AND f1.k = ? AND CAST(f1.v AS BINARY) = ?) AND CAST(v.run_id AS BINARY) IN (?, ?) AND v.version > ?"
	if where != wantWhere {
		t.Fatalf("where =\n%s\nwant\n%s", where, wantWhere)
	}
	if !reflect.DeepEqual(args, []any{"a%", "t", "x", "r1", "r2", int64(2)}) {
		t.Fatalf("args = %#v", args)
	}
	if where, _ := testVersionSchema.FilterSQL(f, db.SQLite, "v"); !strings.HasPrefix(where, "v.name GLOB ?") {
		t.Fatalf("sqlite LIKE = %s", where)
	}
	order := testVersionSchema.OrderSQL([]OrderKey{{Attribute, "creation_timestamp", true}, {Attribute, "name", true}}, db.Postgres, "v")
	if order != `v.ctime DESC, v.name COLLATE "C" DESC, v.version DESC` {
		t.Fatalf("order = %s", order)
	}
	if order := testVersionSchema.OrderSQL(nil, db.SQLite, "v"); order != "v.name ASC, v.version DESC" {
		t.Fatalf("default order = %s", order)
	}
}

func FuzzParseRegistryFilter(f *testing.F) {
	for _, s := range []string{"name = 'x'", "name LIKE '%x%' AND tags.k = 'v'", "run_id IN ('a','b')", "version_number >= 2",
		"source_path ILIKE 'S3://%'", "tags.`a b` != \"c\"", "", "name = 'a' OR b", "attributes.name = 'x'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, target := range []RegistryTarget{RegisteredModels, ModelVersions} {
			flt, err := ParseRegistryFilter(s, target)
			if err != nil {
				assertInvalid(t, err, "filter")
				continue
			}
			for _, d := range []db.Dialect{db.SQLite, db.MySQL, db.Postgres} {
				where, args := testVersionSchema.FilterSQL(flt, d, "v")
				if n := strings.Count(where, "?"); n != len(args) {
					t.Fatalf("%q on %s: %d placeholders, %d args: %s", s, d, n, len(args), where)
				}
			}
		}
		if _, err := ParseRegistryOrderBy([]string{s}, ModelVersions); err != nil {
			assertInvalid(t, err, "order_by")
		}
	})
}
