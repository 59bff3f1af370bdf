package fsutil_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/darwinml/darwin/services/cluster-manager/internal/fsutil"
)

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	for _, content := range []string{"first", "second"} {
		if err := fsutil.WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q %v", got, err)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if err := fsutil.WriteJSONAtomic(filepath.Join(dir, "v.json"), map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(path, "not-a-dir"), nil, 0o644); err == nil {
		t.Error("write under a file succeeded")
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max       int
		writes    []string
		want      string
		truncated bool
	}{
		{10, []string{"abc", "def"}, "abcdef", false},
		{5, []string{"abc", "def"}, "bcdef", true},
		{4, []string{"0123456789"}, "6789", true},
		{0, []string{"x"}, "", false},
	}
	for _, tc := range tests {
		b := fsutil.TailBuffer{Max: tc.max}
		for _, w := range tc.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("write %d %v", n, err)
			}
		}
		if b.String() != tc.want || b.Truncated() != tc.truncated {
			t.Errorf("%v: %q truncated=%v", tc.writes, b.String(), b.Truncated())
		}
	}
	big := fsutil.TailBuffer{Max: 3}
	_, _ = big.Write([]byte(strings.Repeat("a", 100) + "xyz"))
	if big.String() != "xyz" {
		t.Errorf("big write %q", big.String())
	}
}
