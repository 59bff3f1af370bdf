package search

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
)

func TestParseExperimentFilter(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []Comparison
	}{
		{"", nil},
		{"name LIKE '%x%'", []Comparison{{Attribute, "name", OpLike, "%x%"}}},
		{"attribute.name = \"a b\"", []Comparison{{Attribute, "name", OpEq, "a b"}}},
		{"Name ILIKE 'A%' and tags.team != 'x'", []Comparison{{Attribute, "name", OpILike, "A%"}, {Tag, "team", OpNe, "x"}}},
		{"tags.mlflow.note = 'n' AND tags.`a b` LIKE 'v%'", []Comparison{{Tag, "mlflow.note", OpEq, "n"}, {Tag, "a b", OpLike, "v%"}}},
		{"attributes.creation_time > 5 AND last_update_time <= -1", []Comparison{{Attribute, "creation_time", OpGt, int64(5)}, {Attribute, "last_update_time", OpLe, int64(-1)}}},
	} {
		f, err := ParseExperimentFilter(tc.src)
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if !reflect.DeepEqual(f.Comparisons, tc.want) {
			t.Fatalf("%q = %#v, want %#v", tc.src, f.Comparisons, tc.want)
		}
	}
}

func TestParseExperimentFilterInvalid(t *testing.T) {
	for src, msg := range map[string]string{
		"experiment_id = '1'":        "invalid attribute key",
		"metrics.x > 1":              "invalid entity type",
		"name > 'a'":                 "operator > is not allowed",
		"name IN ('a')":              "operator IN is not allowed",
		"tags.k = 1":                 "expected a quoted string",
		"creation_time = 1.5":        "expected an integer",
		"creation_time ILIKE 'x'":    "operator ILIKE is not allowed",
		"name = 'a' OR name = 'b'":   "OR is not supported",
		"name = 'a' name = 'b'":      "expected AND",
		"tags. = 'x'":                "expected a key",
		"tags.a..b = 'x'":            "invalid key",
		"name = 'open":               "unterminated",
		"= 'x'":                      "expected an identifier",
		"attribute.start_time > 1":   "invalid attribute key",
		"name LIKE 'a' AND   ":       "expected a comparison after AND",
		"tags.`k`x = 'v'":            "expected a comparison operator",
		"creation_time > 1e3":        "expected an integer",
		"name = 'a' AND tags.k":      "expected a comparison operator",
		"last_update_time != 'now'":  "expected an integer",
		"attr.name = 'x' AND name ~": "expected a comparison operator",
	} {
		_, err := ParseExperimentFilter(src)
		checkMsg(t, err, msg)
		assertInvalid(t, err, "filter")
	}
}

func TestParseExperimentOrderBy(t *testing.T) {
	keys, err := ParseExperimentOrderBy([]string{"name", "attribute.creation_time DESC", "experiment_id asc", "last_update_time Desc"})
	if err != nil {
		t.Fatal(err)
	}
	want := []OrderKey{{Attribute, "name", false}, {Attribute, "creation_time", true}, {Attribute, "experiment_id", false}, {Attribute, "last_update_time", true}}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys = %v", keys)
	}
	for _, tc := range []struct {
		items []string
		msg   string
	}{
		{[]string{"tags.k"}, "ordering by tags is not supported"},
		{[]string{"name", "name desc"}, "duplicate"},
		{[]string{"start_time"}, "invalid attribute key"},
		{[]string{"name sideways"}, "expected ASC or DESC"},
		{[]string{"name ASC extra"}, "unexpected"},
		{[]string{"  "}, "empty order_by"},
		{[]string{"params.x"}, "invalid entity type"},
	} {
		_, err := ParseExperimentOrderBy(tc.items)
		checkMsg(t, err, tc.msg)
		assertInvalid(t, err, "order_by")
	}
}

func TestExperimentSQLGolden(t *testing.T) {
	f, err := ParseExperimentFilter("name LIKE 'a%' AND tags.team = 'v' AND creation_time >= 7")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d    db.Dialect
		want string
	}{
		{db.SQLite, "e.name GLOB ? AND EXISTS (SELECT 1 FROM mlflow_experiment_tags f1 WHERE f1.experiment_id = e.experiment_id AND f1.tag_key = ? AND f1.tag_value = ?) AND e.creation_time >= ?"},
		{db.MySQL, "CAST(e.name AS BINARY) LIKE ? AND EXISTS (SELECT 1 FROM mlflow_experiment_tags f1 WHERE f1.experiment_id = e.experiment_id AND f1.tag_key = ? AND CAST(f1.tag_value AS BINARY) = ?) AND e.creation_time >= ?"},
		{db.Postgres, "e.name LIKE ? AND EXISTS (SELECT 1 FROM mlflow_experiment_tags f1 WHERE f1.experiment_id = e.experiment_id AND f1.tag_key = ? AND f1.tag_value = ?) AND e.creation_time >= ?"},
	} {
		sql, args := ExperimentFilterSQL(f, tc.d, "e")
		if sql != tc.want {
			t.Fatalf("%s:\n got %s\nwant %s", tc.d, sql, tc.want)
		}
		wantFirst := "a%"
		if tc.d == db.SQLite {
			wantFirst = "a*"
		}
		if fmt.Sprint(args) != fmt.Sprintf("[%s team v 7]", wantFirst) {
			t.Fatalf("%s args = %v", tc.d, args)
		}
	}
	if s, args := ExperimentFilterSQL(Filter{}, db.SQLite, "e"); s != "" || args != nil {
		t.Fatalf("empty filter = %q %v", s, args)
	}
	for _, tc := range []struct {
		keys []OrderKey
		d    db.Dialect
		want string
	}{
		{nil, db.SQLite, "e.creation_time DESC, e.experiment_id ASC"},
		{[]OrderKey{{Attribute, "name", false}}, db.Postgres, `e.name COLLATE "C" ASC, e.experiment_id ASC`},
		{[]OrderKey{{Attribute, "name", true}}, db.MySQL, "e.name DESC, e.experiment_id ASC"},
		{[]OrderKey{{Attribute, "experiment_id", true}, {Attribute, "last_update_time", false}}, db.SQLite, "e.experiment_id DESC, e.last_update_time ASC"},
	} {
		if got := ExperimentOrderSQL(tc.keys, tc.d, "e"); got != tc.want {
			t.Fatalf("order %v on %s = %q, want %q", tc.keys, tc.d, got, tc.want)
		}
	}
}

func FuzzParseExperimentFilter(f *testing.F) {
	for _, s := range []string{"name LIKE '%x%'", "tags.`a b` = 'v' AND creation_time > 1", "attribute.last_update_time <= -5", "name = \"q\"\"q\"", "tags.k ILIKE '\\%'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := ParseExperimentFilter(src)
		if err != nil {
			assertInvalid(t, err, "filter")
			return
		}
		for _, c := range flt.Comparisons {
			sql, _ := ExperimentFilterSQL(Filter{Comparisons: []Comparison{c}}, db.Postgres, "e")
			if sql == "" || sql == "1 = 0" {
				t.Fatalf("%q: comparison %v renders %q", src, c, sql)
			}
		}
	})
}
