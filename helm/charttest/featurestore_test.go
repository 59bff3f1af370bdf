package charttest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/testutil"
)

const fsName = "darwin-feature-store"

// TestFeatureStoreChartGolden renders the feature-store chart alone in its SQLite+Pebble and
// MySQL+Cassandra+consumer shapes against helm/testdata/golden/feature-store-<variant>.yaml (-update rewrites them).
func TestFeatureStoreChartGolden(t *testing.T) {
	t.Parallel()
	for _, variant := range []string{"sqlite", "mysql-cassandra"} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			got, err := renderService(t, "feature-store", []string{"ci/" + variant + "-values.yaml"})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			golden := filepath.Join(helmDir(t), "testdata", "golden", "feature-store-"+variant+".yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run go test ./charttest -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("rendered manifests differ from %s (rerun with -update if intended):\n%s", golden, firstDiff(string(want), got))
			}
		})
	}
}

// checkFSIngress asserts both original prefixes go to the one Service unchanged (no rewrite).
func checkFSIngress(t *testing.T, m manifests) {
	t.Helper()
	ing, ok := m.ingresses[fsName]
	if !ok {
		t.Fatalf("no Ingress %s in %v", fsName, m.kinds)
	}
	var paths []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		if p.PathType == nil || *p.PathType != "Prefix" || p.Backend.Service.Name != fsName || p.Backend.Service.Port.Name != "http" {
			t.Errorf("ingress path %+v", p)
		}
		paths = append(paths, p.Path)
	}
	if !slices.Equal(paths, []string{"/feature-store", "/feature-store-admin", "/feature-store-consumer"}) {
		t.Errorf("ingress paths %v", paths)
	}
	if _, ok := ing.Annotations["nginx.ingress.kubernetes.io/rewrite-target"]; ok {
		t.Errorf("ingress rewrites: %v", ing.Annotations)
	}
	if svc := m.services[fsName]; svc == nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("service %+v, want one port 8080", svc)
	}
}

// TestFeatureStoreChartConfigLoads feeds the config the chart renders, for both CI variants, to the real
// feature-store binary (-print.config), so every key the chart writes is one the binary knows.
func TestFeatureStoreChartConfigLoads(t *testing.T) {
	if testing.Short() {
		if testutil.RequireAll() {
			t.Fatalf("%s: cannot run here, and DARWIN_TEST_REQUIRE_ALL=1", "builds the feature-store binary")
		}
		t.Skip("builds the feature-store binary")
	}
	t.Parallel()
	exe := filepath.Join(t.TempDir(), "feature-store")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", exe, "./services/feature-store/cmd/feature-store")
	build.Dir = filepath.Dir(helmDir(t))
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build feature-store: %v\n%s", err, b)
	}
	for _, c := range []struct {
		values string
		env    []string
		want   []string
	}{
		{"ci/sqlite-values.yaml", []string{"DARWIN_DB_DSN=sqlite:///data/feature-store.db"},
			[]string{"http_addr: :8080", `grpc_addr: ""`, "dsn: sqlite:///data/feature-store.db", "backend: pebble", "pebble_dir: /data/online", "data_dir: /data"}},
		{"ci/mysql-cassandra-values.yaml", []string{"DARWIN_DB_DSN=mysql://u:p@tcp(mysql:3306)/darwin_feature_store", "DARWIN_CASSANDRA_USERNAME=u", "DARWIN_CASSANDRA_PASSWORD=p"},
			[]string{"backend: cassandra", "keyspace: ofs", "local_dc: dc1", "replication: network:dc1=3", "enabled: true", "- kafka.databases.svc:9092", "- t1", "disabled: true", "- /mnt/features"}},
	} {
		out, err := renderService(t, "feature-store", []string{c.values})
		if err != nil {
			t.Fatalf("render %s: %v", c.values, err)
		}
		cm, ok := parseManifests(t, out).configMaps[fsName+"-config"]
		if !ok {
			t.Fatalf("%s: no ConfigMap", c.values)
		}
		file := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(file, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), exe, "-config.file="+file, "-print.config")
		cmd.Env = append(os.Environ(), c.env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: -print.config: %v\nstderr: %s\nconfig:\n%s", c.values, err, stderr.String(), cm.Data["config.yaml"])
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%s: effective config lacks %q:\n%s", c.values, w, stdout.String())
			}
		}
	}
}
