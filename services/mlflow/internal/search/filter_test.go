package search

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
)

func cmp(e Entity, k string, op Op, v any) Comparison {
	return Comparison{Entity: e, Key: k, Op: op, Value: v}
}

func TestParseFilterValid(t *testing.T) {
	tests := []struct {
		in   string
		want []Comparison
	}{
		{"", nil},
		{"   ", nil},
		// MLflow's documented examples.
		{"metrics.accuracy > 0.92", []Comparison{cmp(Metric, "accuracy", OpGt, 0.92)}},
		{`params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05`, []Comparison{
			cmp(Param, "model", OpEq, "LogisticRegression"),
			cmp(Param, "lambda", OpEq, "0.001"),
			cmp(Metric, "error", OpLe, 0.05),
		}},
		{`attributes.status = "FAILED"`, []Comparison{cmp(Attribute, "status", OpEq, "FAILED")}},
		{"metrics.`f1 score` = 1", []Comparison{cmp(Metric, "f1 score", OpEq, 1.0)}},
		{`metrics."f1-score" != 1`, []Comparison{cmp(Metric, "f1-score", OpNe, 1.0)}},
		{"tags.`mlflow.source.type` = 'LOCAL'", []Comparison{cmp(Tag, "mlflow.source.type", OpEq, "LOCAL")}},
		{"tags.mlflow.runName = 'r1'", []Comparison{cmp(Tag, "mlflow.runName", OpEq, "r1")}},
		{"attributes.run_name LIKE 'x%'", []Comparison{cmp(Attribute, "run_name", OpLike, "x%")}},
		{"tags.group ILIKE '%x%'", []Comparison{cmp(Tag, "group", OpILike, "%x%")}},
		{"attributes.run_id IN ('a', 'b')", []Comparison{cmp(Attribute, "run_id", OpIn, []string{"a", "b"})}},
		{"attributes.start_time >= 1700000000000", []Comparison{cmp(Attribute, "start_time", OpGe, int64(1700000000000))}},
		// Entity aliases, case-insensitive keywords.
		{"metric.a < -1.5e-3 AnD param.b like 'q' aND parameter.c iLiKe 'Q' AND tag.d In ('x') and attr.status not in ('RUNNING', \"FAILED\")", []Comparison{
			cmp(Metric, "a", OpLt, -1.5e-3),
			cmp(Param, "b", OpLike, "q"),
			cmp(Param, "c", OpILike, "Q"),
			cmp(Tag, "d", OpIn, []string{"x"}),
			cmp(Attribute, "status", OpNotIn, []string{"RUNNING", "FAILED"}),
		}},
		{"run.user_id = 'u' AND attribute.end_time < 5 AND attributes.created > 3", []Comparison{
			cmp(Attribute, "user_id", OpEq, "u"),
			cmp(Attribute, "end_time", OpLt, int64(5)),
			cmp(Attribute, "start_time", OpGt, int64(3)),
		}},
		// Documented attribute spellings (mlflow.org "Search Runs").
		{"attributes.`Run Name` IN ('alpha', 'beta', 'gamma') AND attributes.`run name` ILIKE \"%alpha%\" AND attributes.Created > 1670628787527", []Comparison{
			cmp(Attribute, "run_name", OpIn, []string{"alpha", "beta", "gamma"}),
			cmp(Attribute, "run_name", OpILike, "%alpha%"),
			cmp(Attribute, "start_time", OpGt, int64(1670628787527)),
		}},
		{"tags.`mlflow.user` = ''", []Comparison{cmp(Tag, "mlflow.user", OpEq, "")}},
		{`metrics."2019-04-02 error rate" < 1`, []Comparison{cmp(Metric, "2019-04-02 error rate", OpLt, 1.0)}},
		// Bare attribute names.
		{"status = 'FINISHED' and lifecycle_stage = 'active'", []Comparison{
			cmp(Attribute, "status", OpEq, "FINISHED"),
			cmp(Attribute, "lifecycle_stage", OpEq, "active"),
		}},
		// Numbers.
		{"metrics.m = 3", []Comparison{cmp(Metric, "m", OpEq, 3.0)}},
		{"metrics.m = +3.", []Comparison{cmp(Metric, "m", OpEq, 3.0)}},
		{"metrics.m = .5", []Comparison{cmp(Metric, "m", OpEq, 0.5)}},
		{"metrics.m = 1E6", []Comparison{cmp(Metric, "m", OpEq, 1e6)}},
		{"metrics.m = -2e+2", []Comparison{cmp(Metric, "m", OpEq, -200.0)}},
		{"metrics.m>=-0", []Comparison{cmp(Metric, "m", OpGe, 0.0)}},
		// Escapes and quoting.
		{`params.p = 'it\'s'`, []Comparison{cmp(Param, "p", OpEq, "it's")}},
		{`params.p = 'it''s'`, []Comparison{cmp(Param, "p", OpEq, "it's")}},
		{`params.p = "say \"hi\""`, []Comparison{cmp(Param, "p", OpEq, `say "hi"`)}},
		{`params.p = 'a\\b'`, []Comparison{cmp(Param, "p", OpEq, `a\b`)}},
		{`params.p LIKE 'a\_b'`, []Comparison{cmp(Param, "p", OpLike, `a\_b`)}},
		{`params.p = ''`, []Comparison{cmp(Param, "p", OpEq, "")}},
		{"params.`a``b` = 'x'", []Comparison{cmp(Param, "a`b", OpEq, "x")}},
		{"`params`.`a b` = 'x'", []Comparison{cmp(Param, "a b", OpEq, "x")}},
		{`params."x.y" = "1"`, []Comparison{cmp(Param, "x.y", OpEq, "1")}},
		{"params.x='1'AND params.y='2'", []Comparison{cmp(Param, "x", OpEq, "1"), cmp(Param, "y", OpEq, "2")}},
		{"\tparams.x\n=\r'1'  ", []Comparison{cmp(Param, "x", OpEq, "1")}},
		{"params.p = 'héllo wörld'", []Comparison{cmp(Param, "p", OpEq, "héllo wörld")}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := ParseFilter(tt.in)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(f.Comparisons, tt.want) {
				t.Fatalf("ParseFilter(%q) =\n %#v\nwant\n %#v", tt.in, f.Comparisons, tt.want)
			}
			if f.Empty() != (len(tt.want) == 0) {
				t.Fatalf("Empty() = %v", f.Empty())
			}
		})
	}
}

func TestParseFilterInvalid(t *testing.T) {
	tests := []struct {
		in      string
		wantMsg string // substring of the error message, including the position
	}{
		{"metrics", `expected '.' and a key after "metrics" at position 7`},
		{"foo.bar = 1", `invalid entity type "foo" at position 0`},
		{"bogus = 'x'", `invalid identifier "bogus"`},
		{"attributes.nope = 'x'", `invalid attribute key "nope"`},
		{"metrics. = 1", `expected a key after "metrics.", found " " at position 8`},
		{"params.`` = 'x'", `empty key after "params." at position 7`},
		{"metrics.a. = 1", `invalid key "a."`},
		{"metrics.a = 'x'", `expected a numeric value for metric "a", found "'" at position 12`},
		{"metrics.a LIKE '1'", `operator LIKE is not allowed for metric "a" at position 10`},
		{"metrics.a IN ('1')", `operator IN is not allowed`},
		{"params.a = 1", `expected a quoted string for param "a", found "1" at position 11`},
		{"params.a > '1'", `operator > is not allowed for param "a"`},
		{"tags.a IN 'x'", `expected a parenthesised list of strings after IN`},
		{"tags.a IN ()", `expected a quoted string in value list, found ")" at position 11`},
		{"tags.a IN ('x',)", `expected a quoted string in value list`},
		{"tags.a IN ('x'", `expected ',' or ')' in value list, found end of input at position 14`},
		{"tags.a IN ('x' 'y')", `expected ',' or ')' in value list`},
		{"tags.a IN (1)", `expected a quoted string in value list, found "1"`},
		{"tags.a NOT LIKE 'x'", `expected IN after NOT, found "LIKE" at position 11`},
		{"attributes.start_time = '1'", `expected an integer`},
		{"attributes.start_time = 1.5", `expected an integer`},
		{"attributes.start_time LIKE 1", `operator LIKE is not allowed`},
		{"attributes.end_time IN ('1')", `operator IN is not allowed for attribute "end_time"`},
		{"attributes.status > 'A'", `operator > is not allowed`},
		{"params.a = 'x", `unterminated quoted string`},
		{"params.`a = 'x'", `unterminated quoted string`},
		{"params.a = 'x' OR params.b = 'y'", `OR is not supported, only AND at position 15`},
		{"params.a = 'x' params.b = 'y'", `expected AND or end of filter, found "params" at position 15`},
		{"params.a = 'x' AND", `expected a comparison after AND, found end of input at position 18`},
		{"params.a = 'x' AND ", `expected a comparison after AND`},
		{"params.a == 'x'", `expected a quoted string, a number or a parenthesised list, found "=" at position 10`},
		{"params.a <> 'x'", `found ">" at position 10`},
		{"params.a 'x'", `expected a comparison operator`},
		{"params.a", `found end of input at position 8`},
		{"params.a =", `expected a value, found end of input at position 10`},
		{"metrics.a = 1x", `found "1x" at position 12`},
		{"metrics.a = 1e", `found "1e" at position 12`},
		{"metrics.a = 1e999", `invalid number "1e999"`},
		{"metrics.a = -", `found "-" at position 12`},
		{"= 1", `expected an identifier`},
		{"(metrics.a = 1)", `expected an identifier such as metrics.<key>, found "(" at position 0`},
		{"params.`a`b = 'x'", `unexpected "b" after quoted key`},
		{"params.a = 'x' AND AND params.b = 'y'", `invalid identifier "AND"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := ParseFilter(tt.in)
			if err == nil {
				t.Fatalf("ParseFilter(%q) = %#v, want error", tt.in, f)
			}
			assertInvalid(t, err, "filter")
			checkMsg(t, err, tt.wantMsg)
		})
	}
}

// checkMsg checks an error message against "<text> at position N" (or just "<text>"): the message must read
// "invalid <field> at position N: ...<text>...".
func checkMsg(t *testing.T, err error, want string) {
	t.Helper()
	msg := err.Error()
	text, pos, hasPos := strings.Cut(want, " at position ")
	if !strings.Contains(msg, text) || hasPos && !strings.Contains(msg, " at position "+pos+": ") {
		t.Fatalf("error %q does not match %q", msg, want)
	}
}

func assertInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *apierr.Error", err, err)
	}
	if ae.Kind != apierr.InvalidArgument {
		t.Fatalf("error kind = %v, want InvalidArgument", ae.Kind)
	}
	if ae.Field != field {
		t.Fatalf("error field = %q, want %q", ae.Field, field)
	}
}

func TestParseOrderBy(t *testing.T) {
	got, err := ParseOrderBy([]string{
		"metrics.rmse DESC",
		"attributes.start_time",
		"params.alpha ASC",
		"`tags`.`a b`",
		"tags.mlflow.runName desc",
		`metric."m-1" asc`,
		"start_time",
		"attr.run_id Desc",
		"  status  ",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []OrderKey{
		{Metric, "rmse", true},
		{Attribute, "start_time", false},
		{Param, "alpha", false},
		{Tag, "a b", false},
		{Tag, "mlflow.runName", true},
		{Metric, "m-1", false},
		{Attribute, "start_time", false},
		{Attribute, "run_id", true},
		{Attribute, "status", false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseOrderBy =\n %#v\nwant\n %#v", got, want)
	}
	if got, err := ParseOrderBy(nil); err != nil || len(got) != 0 {
		t.Fatalf("ParseOrderBy(nil) = %v, %v", got, err)
	}
}

func TestParseOrderByInvalid(t *testing.T) {
	tests := []struct {
		in      string
		wantMsg string
	}{
		{"", "empty order_by entry"},
		{"   ", "empty order_by entry"},
		{"metrics.rmse DOWN", `expected ASC or DESC in "metrics.rmse DOWN", found "DOWN" at position 13`},
		{"metrics.rmse DESC ASC", `unexpected "ASC"`},
		{"metrics.rmse,params.a", `expected ASC or DESC`},
		{"foo.bar", `invalid entity type "foo"`},
		{"attributes.nope", `invalid attribute key "nope"`},
		{"metrics", `expected '.' and a key`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseOrderBy([]string{"metrics.ok", tt.in})
			if err == nil {
				t.Fatalf("ParseOrderBy(%q): want error", tt.in)
			}
			assertInvalid(t, err, "order_by")
			checkMsg(t, err, tt.wantMsg)
		})
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"metrics.accuracy > 0.92",
		`params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05`,
		`attributes.status = "FAILED"`,
		"tags.`a b` ILIKE '%x\\_%' AND attributes.run_id NOT IN ('a', \"b\")",
		"attributes.start_time >= -1e3",
		"params.p = 'it''s'",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Kind != apierr.InvalidArgument {
				t.Fatalf("ParseFilter(%q): error %v is not an InvalidArgument apierr", s, err)
			}
			return
		}
		for _, c := range flt.Comparisons {
			switch c.Value.(type) {
			case float64, int64, string, []string:
			default:
				t.Fatalf("ParseFilter(%q): comparison %#v has value type %T", s, c, c.Value)
			}
		}
		// Rendering must not panic and must have one argument per placeholder.
		for _, d := range []string{"sqlite", "mysql", "postgres"} {
			where, args := flt.SQL(db.Dialect(d), "r")
			if n := strings.Count(where, "?"); n != len(args) {
				t.Fatalf("ParseFilter(%q).SQL(%s): %d placeholders, %d args: %s", s, d, n, len(args), where)
			}
		}
	})
}
