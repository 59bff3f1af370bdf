package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrateAndConfig(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"migrate", "-artifact-builder.data-dir", dir}, &out, &errb); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "artifact-builder.db")); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"-artifact-builder.registry", "Not A Registry"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "registry") {
		t.Fatalf("bad registry: %v", err)
	}
}
