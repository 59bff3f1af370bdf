package values_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/darwinml/darwin/services/compute/internal/domain"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// TestGolden runs request bodies through the request decoder and the whole chain and compares the values document
// with testdata/<name>.golden.json (regenerate with `go test ./services/compute/internal/values -run TestGolden -update`).
func TestGolden(t *testing.T) {
	t.Parallel()
	env := domain.ValuesEnv{Env: "darwin-local", PublicURL: "http://localhost:8080"}
	cases := []struct {
		name, image, namespace, cloudEnv string
		edit                             func(c *domain.Cluster)
	}{
		{name: "cpu_quickstart", image: "localhost:5000/ray:2.37.0", namespace: "ray", cloudEnv: "kind-0"},
		{name: "gpu", image: "localhost:5000/ray:2.53.0", namespace: "ray-gpu", cloudEnv: "kind-0"},
		{name: "multi_worker_group", image: "localhost:5000/ray:2.37.0", namespace: "ray", cloudEnv: "kind-0"},
		{name: "job_cluster", image: "localhost:5000/ray:2.37.0", namespace: "ray", cloudEnv: "kind-jobs"},
		{name: "init_script_env", image: "registry.example.com/ds/ray-custom:1.4", namespace: "ray", cloudEnv: "kind-0",
			edit: func(c *domain.Cluster) {
				c.RemoteCommands = &domain.RemoteCommandSet{
					Head:   []domain.RemoteCommand{{ExecutionID: "exec-lib-1", Command: "pip install requests==2.32.3", Target: "cluster", TimeoutSeconds: 300}},
					Worker: []domain.RemoteCommand{{ExecutionID: "exec-lib-1", Command: "pip install requests==2.32.3", Target: "cluster", TimeoutSeconds: 300}},
				}
			}},
		{name: "spot_zone", image: "localhost:5000/ray", namespace: "ray", cloudEnv: "eks-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", tc.name+".request.json"))
			if err != nil {
				t.Fatal(err)
			}
			req, err := domain.DecodeClusterRequest(body)
			if err != nil {
				t.Fatalf("decode request: %v", err)
			}
			c := req.Cluster
			c.ID, c.ArtifactVersion, c.CloudEnv = "id-golden"+tc.name[:1]+"23456789abc", 1, tc.cloudEnv
			if tc.edit != nil {
				tc.edit(&c)
			}
			doc, err := domain.BuildValues(&c, tc.image, tc.namespace, env)
			if err != nil {
				t.Fatalf("build values: %v", err)
			}
			got, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("values document differs from %s (run with -update after checking the change):\n%s", path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff lists the lines that differ between want and got, position by position (enough for small documents).
func lineDiff(want, got string) string {
	wl, gl := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	var b bytes.Buffer
	for i := 0; i < max(len(wl), len(gl)) && b.Len() < 4000; i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g) + "\n")
		}
	}
	return b.String()
}
