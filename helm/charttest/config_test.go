package charttest

import (
	"bytes"
	"github.com/darwinml/darwin/pkg/testutil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestRenderedConfigsLoad feeds each service's rendered ConfigMap to the real binary (-print.config), with the
// environment the Deployment sets, so a config key the binary does not know (the loader is strict) or a broken
// ${VAR} reference fails here rather than in a crash-looping pod.
func TestRenderedConfigsLoad(t *testing.T) {
	if testing.Short() {
		if testutil.RequireAll() {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "builds the service binaries")
		}
		t.Skip("builds the service binaries")
	}
	t.Parallel()
	out, err := render(t, loadValues(t, []string{"presets/training.yaml", "ci/mysql-ingress-on.yaml"}))
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	configs := map[string]string{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil || cm.Kind != "ConfigMap" {
			continue
		}
		configs[cm.Name] = cm.Data["config.yaml"]
	}
	repo := filepath.Dir(helmDir(t))
	bin := t.TempDir()
	for _, tc := range []struct {
		binary, pkg, configMap string
		env                    []string
		want                   []string
	}{
		{
			binary: "compute", pkg: "./services/compute/cmd/compute", configMap: "darwin-compute-config",
			env:  []string{"DARWIN_DB_DSN=mysql://darwin:pw@tcp(mysql.databases.svc:3306)/darwin", "POD_NAMESPACE=darwin"},
			want: []string{"http_addr: :8000", "grpc_addr: :9092", "cluster_manager_addr: darwin-cluster-manager:9091", "tcp(mysql.databases.svc:3306)/darwin"},
		},
		{
			binary: "cluster-manager", pkg: "./services/cluster-manager/cmd/cluster-manager", configMap: "darwin-cluster-manager-config",
			env:  []string{"POD_NAMESPACE=darwin"},
			want: []string{"http_addr: :8080", "grpc_addr: :9091", "driver: kubernetes", "namespace: darwin"},
		},
	} {
		t.Run(tc.binary, func(t *testing.T) {
			cfg, ok := configs[tc.configMap]
			if !ok {
				t.Fatalf("no ConfigMap %s rendered", tc.configMap)
			}
			exe := filepath.Join(bin, tc.binary)
			build := exec.CommandContext(t.Context(), "go", "build", "-o", exe, tc.pkg)
			build.Dir = repo
			if b, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", tc.pkg, err, b)
			}
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), exe, "-config.file="+file, "-print.config")
			cmd.Env = append(os.Environ(), tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s -print.config: %v\nstderr: %s\nconfig:\n%s", tc.binary, err, stderr.String(), cfg)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("effective %s config lacks %q:\n%s", tc.binary, w, stdout.String())
				}
			}
		})
	}
}
