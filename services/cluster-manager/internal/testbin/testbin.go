// Package testbin builds the cluster-manager binary for tests that start
// real node processes (the local driver execs `<binary> node head|worker`).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build compiles ./cmd/cluster-manager into dir and returns its path.
func Build(dir string) (string, error) {
	out := filepath.Join(dir, "cluster-manager")
	cmd := exec.Command("go", "build", "-o", out, "github.com/darwinml/darwin/services/cluster-manager/cmd/cluster-manager")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build cluster-manager: %w", err)
	}
	return out, nil
}

// Main is a TestMain body: it builds the binary once into a temp dir, stores
// its path in *bin, runs the tests and removes the dir. It returns the exit
// code for os.Exit.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "cluster-manager-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
