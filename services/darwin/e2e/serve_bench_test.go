package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deployedIris starts darwin up, trains the iris classifier, logs it to MLflow and deploys it with hermes as the
// seed README does; it returns the platform, the hermes runner and the model's URI.
func deployedIris(b *testing.B) (*platform, *hermesCLI, string) {
	b.Helper()
	needPythonDeps(b)
	p := startDarwin(b, "", "-log.level=warn")
	dir := filepath.Join(b.TempDir(), "iris")
	makeModel(b, "iris", "logistic", dir, irisSeedFeatures)
	uri := logModel(b, p, "iris", dir).URI()
	h := newHermes(b, p.base)
	h.must(b, "configure")
	h.must(b, "create-environment", "--name", "local", "--domain-suffix", ".local", "--cluster-name", "kind")
	h.must(b, "deploy-model", "--serve-name", "iris-classifier", "--artifact-version", "v1", "--model-uri", uri,
		"--cores", "2", "--memory", "4", "--node-capacity", "spot", "--min-replicas", "1", "--max-replicas", "2")
	b.Cleanup(func() { h.run(b, "undeploy-model", "--serve-name", "iris-classifier", "--env", "local") })
	return p, h, uri
}

// BenchmarkServePredict measures the seed README's iris prediction through darwin up's gateway
// (/iris-classifier/predict → the local driver's proxy → the Python runtime), the same request sent straight to
// the runtime replica (its URL from cluster-manager's /resource-instance/status), and a bare loopback HTTP POST
// measured in the same run (the floor). gateway − direct is the platform's routing cost; direct − floor is the
// runtime's (JSON, pandas, scikit-learn).
func BenchmarkServePredict(b *testing.B) {
	p, _, _ := deployedIris(b)
	direct := replicaURL(b, p, "iris-classifier")

	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"scores":[0]}`)
	}))
	defer floor.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	// A client opening a connection per request: Linux ACKs at once early in a connection, so this shows what
	// a delayed ACK costs on the keep-alive runs (the runtime writes headers and body in two sends without TCP_NODELAY).
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(c *http.Client, url string, check bool) error {
		resp, err := c.Post(url, "application/json", strings.NewReader(seedIrisListBody))
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || check && strings.ReplaceAll(string(raw), " ", "") != `{"scores":[0]}` {
			return fmt.Errorf("POST %s = %d %s", url, resp.StatusCode, raw)
		}
		return nil
	}
	seq := func(name string, c *http.Client, url string, check bool) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := post(c, url, check); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	seq("floor-loopback-http", client, floor.URL+"/predict", false)
	seq("runtime-direct", client, direct+"/predict", true)
	seq("runtime-direct-no-keepalive", fresh, direct+"/predict", true)
	seq("gateway", client, p.base+"/iris-classifier/predict", true)
	b.Run("gateway-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := post(client, p.base+"/iris-classifier/predict", true); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkDeployModelReady measures one-click deploy → READY: each iteration POSTs deploy-model for a new
// artifact version of iris-classifier (a new runtime replica downloads the model from MLflow, loads it and
// replaces the previous one) and polls the serve's status every 20 ms until READY. Reported as seconds/op.
func BenchmarkDeployModelReady(b *testing.B) {
	p, _, uri := deployedIris(b)
	auth := map[string]string{"Authorization": "Bearer " + seedAdminToken}
	version := 1
	var total time.Duration
	for b.Loop() {
		version++
		start := time.Now()
		body := fmt.Sprintf(`{"serve_name":"iris-classifier","artifact_version":"v%d","model_uri":%q,"env":"local","cores":2,"memory":4,"node_capacity":"spot","min_replicas":1,"max_replicas":2}`, version, uri)
		var out map[string]any
		if code := p.call(http.MethodPost, "/ml-serve/api/v1/serve/deploy-model", auth, body, &out); code != http.StatusOK {
			b.Fatalf("deploy-model v%d: %d %v", version, code, out)
		}
		ready := eventuallyEvery(120*time.Second, 20*time.Millisecond, func() bool {
			var st envelope
			if p.call(http.MethodGet, "/ml-serve/api/v1/serve/iris-classifier/status/local", auth, "", &st) != http.StatusOK {
				return false
			}
			return strings.Contains(string(st.Data), `"READY"`)
		})
		if !ready {
			b.Fatalf("v%d not READY within 120s", version)
		}
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "seconds/op")
}

// eventuallyEvery polls cond every interval until it is true or timeout passes.
func eventuallyEvery(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
