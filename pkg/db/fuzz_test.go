package db_test

import (
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
)

func FuzzRebind(f *testing.F) {
	for _, s := range []string{"SELECT ?", "SELECT '?' , ?", `"a?" ? -- ?`, "/* ? */ ?", "'unterminated ?", "/* open ?", "-- ?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := db.Postgres.Rebind(q)
		if !strings.ContainsAny(q, "'\"`-/") && strings.Count(out, "$") != strings.Count(q, "?")+strings.Count(q, "$") {
			t.Fatalf("Rebind(%q) = %q", q, out)
		}
		if db.SQLite.Rebind(q) != q {
			t.Fatal("sqlite rebind changed the query")
		}
	})
}

func FuzzSplitStatements(f *testing.F) {
	for _, s := range []string{"SELECT 1;\nSELECT 2;", "$$;\n$$;", "'a;\n';", "-- x;\n", "$tag$ ; $tag$;\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		for _, stmt := range db.SplitStatements(script) {
			if strings.TrimSpace(stmt) == "" {
				t.Fatalf("empty statement from %q", script)
			}
		}
	})
}
