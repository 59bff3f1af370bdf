package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/darwinml/darwin/pkg/testutil"
	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

// irisSwitchProbe is an iris flower on the versicolor/virginica border, where make_model.py's logistic
// regression (v1) and random forest (v2) disagree: it tells which version answered.
const irisSwitchProbe = `{"sepal_length": 6.0, "sepal_width": 2.7, "petal_length": 4.5, "petal_width": 1.8}`

// irisSeedFeatures are the features of the seed README's iris curl bodies.
const irisSeedFeatures = `{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}`

// TestE2EDeployModelSeed runs the seed README's "Deploy a Model" recipes (iris quick start, housing
// "Creating Your First Project") against `darwin up` with the real hermes binary: models trained by
// make_model.py, logged and registered through MLflow's REST API, deployed by hermes exactly as written (only
// the model URI and, via DARWIN_URL, the platform address differ), predictions checked against scikit-learn's,
// a v2 rollout without a failed request, and undeploy leaving no route and no runtime process.
func TestE2EDeployModelSeed(t *testing.T) {
	needPythonDeps(t)
	dataDir := t.TempDir()
	p := startDarwin(t, dataDir, "-log.level=warn")
	models := t.TempDir()

	iris := makeModel(t, "iris", "logistic", filepath.Join(models, "iris-v1"), irisSeedFeatures, irisSwitchProbe)
	irisV2 := makeModel(t, "iris", "forest", filepath.Join(models, "iris-v2"), irisSeedFeatures, irisSwitchProbe)
	housing := makeModel(t, "housing", "", filepath.Join(models, "housing"))
	t.Logf("expected: iris v1 %v / probe %v, iris v2 probe %v, housing %v",
		iris.Predictions[0].Scores, iris.Predictions[1].Scores, irisV2.Predictions[1].Scores, housing.Predictions[0].Scores)
	if sameScores(iris.Predictions[1].Scores, irisV2.Predictions[1].Scores) {
		t.Fatalf("the switch probe does not tell iris v1 from v2 (both %v)", iris.Predictions[1].Scores)
	}

	irisRun := logModel(t, p, "iris", filepath.Join(models, "iris-v1"))
	irisV2Run := logModel(t, p, "iris", filepath.Join(models, "iris-v2"))
	housingRun := logModel(t, p, "housing", filepath.Join(models, "housing"))
	if v := registerModel(t, p, "iris-classifier", irisRun); v != "1" {
		t.Fatalf("iris-classifier registered as version %s, want 1", v)
	}
	if v := registerModel(t, p, "housing-model", housingRun); v != "1" {
		t.Fatalf("housing-model registered as version %s, want 1", v)
	}

	h := newHermes(t, p.base)
	t.Cleanup(func() {
		// A failed test must not leave replicas running: undeploy whatever is still deployed.
		for _, s := range []string{"iris-classifier", "housing-model"} {
			h.run(t, "undeploy-model", "--serve-name", s, "--env", "local")
		}
	})

	// Quick Start: Deploy a Model (iris), steps 1-4.
	if out := h.must(t, "configure"); !strings.Contains(out, "credential.txt") {
		t.Errorf("hermes configure: %s", out)
	}
	h.must(t, "create-environment", "--name", "local", "--domain-suffix", ".local", "--cluster-name", "kind")
	h.must(t, "create-serve",
		"--name", "iris-classifier",
		"--type", "api",
		"--space", "serve",
		"--description", "Iris classification model")
	start := time.Now()
	out := h.must(t, "deploy-model",
		"--serve-name", "iris-classifier",
		"--artifact-version", "v1",
		"--model-uri", irisRun.URI(),
		"--cores", "2",
		"--memory", "4",
		"--node-capacity", "spot",
		"--min-replicas", "1",
		"--max-replicas", "2")
	t.Logf("iris deploy-model → READY in %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "is READY") || !strings.Contains(out, "/iris-classifier/") {
		t.Errorf("deploy-model output lacks READY or the service URL:\n%s", out)
	}

	// Creating Your First Project, step 6 (housing), deployed from the registry by models:/<name>/1. Steps 1-2
	// are "one-time" and were done above.
	h.must(t, "create-serve",
		"--name", "housing-model",
		"--type", "api",
		"--space", "serve",
		"--description", "House Price Prediction model")
	h.must(t, "deploy-model",
		"--serve-name", "housing-model",
		"--artifact-version", "v1",
		"--model-uri", "models:/housing-model/1",
		"--cores", "2",
		"--memory", "4",
		"--node-capacity", "spot",
		"--min-replicas", "1",
		"--max-replicas", "2")

	// Step 5 / 7: the curl requests.
	client := &http.Client{Timeout: 30 * time.Second}
	checkPredict := func(serve, body string, want []any) {
		t.Helper()
		code, scores, raw, err := predict(client, p.base+"/"+serve+"/predict", body)
		if err != nil || code != http.StatusOK {
			t.Fatalf("POST /%s/predict: %d %s %v", serve, code, raw, err)
		}
		if !sameScores(scores, want) {
			t.Errorf("POST /%s/predict %s = %v, want %v (scikit-learn's)", serve, body, scores, want)
		}
	}
	checkPredict("iris-classifier", seedIrisListBody, iris.Predictions[0].Scores)
	checkPredict("iris-classifier", seedIrisObjectBody, iris.Predictions[0].Scores)
	checkPredict("iris-classifier", `{"features": `+irisSwitchProbe+`}`, iris.Predictions[1].Scores)
	checkPredict("housing-model", seedHousingBody, housing.Predictions[0].Scores)

	for _, s := range []string{"iris-classifier", "housing-model"} {
		out := h.must(t, "get-serve-status", "--name", s, "--env", "local")
		if !strings.Contains(out, "READY") || strings.Contains(out, "NOT_READY") {
			t.Errorf("hermes get-serve-status %s: %s, want READY", s, out)
		}
	}
	oldReplica := replicaURL(t, p, "iris-classifier")

	// A bad model URI for the deployed serve is refused and leaves v1 serving.
	out, errOut, code := h.run(t, "deploy-model",
		"--serve-name", "iris-classifier",
		"--artifact-version", "v9",
		"--model-uri", "mlflow-artifacts:/"+irisRun.ExperimentID+"/"+irisRun.RunID+"/artifacts/no-such-model",
		"--cores", "2",
		"--memory", "4",
		"--node-capacity", "spot",
		"--min-replicas", "1",
		"--max-replicas", "2")
	if code != 1 || !strings.Contains(errOut, "Invalid model URI") {
		t.Errorf("deploy-model of a missing artifact path: exit %d, want 1 with \"Invalid model URI\"\n%s%s", code, out, errOut)
	}
	checkPredict("iris-classifier", `{"features": `+irisSwitchProbe+`}`, iris.Predictions[1].Scores)
	if r := replicaURL(t, p, "iris-classifier"); r != oldReplica {
		t.Errorf("a rejected deploy-model replaced the replica (%s → %s)", oldReplica, r)
	}

	// Roll out iris v2 while a client keeps predicting: every answer must be 200 with v1's or v2's scores.
	probeBody := `{"features": ` + irisSwitchProbe + `}`
	v1, v2 := iris.Predictions[1].Scores, irisV2.Predictions[1].Scores
	var (
		stop            = make(chan struct{})
		wg              sync.WaitGroup
		total, sawV2    atomic.Int64
		failMu          sync.Mutex
		failures        []string
		firstV2, lastV1 atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, scores, raw, err := predict(client, p.base+"/iris-classifier/predict", probeBody)
			total.Add(1)
			now := time.Now().UnixNano()
			switch {
			case err == nil && code == http.StatusOK && sameScores(scores, v1):
				lastV1.Store(now)
			case err == nil && code == http.StatusOK && sameScores(scores, v2):
				sawV2.Add(1)
				firstV2.CompareAndSwap(0, now)
			default:
				failMu.Lock()
				failures = append(failures, fmt.Sprintf("%d %s %v", code, raw, err))
				failMu.Unlock()
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	start = time.Now()
	h.must(t, "deploy-model",
		"--serve-name", "iris-classifier",
		"--artifact-version", "v2",
		"--model-uri", irisV2Run.URI(),
		"--cores", "2",
		"--memory", "4",
		"--node-capacity", "spot",
		"--min-replicas", "1",
		"--max-replicas", "2")
	rollout := time.Since(start)
	switched := eventually(20*time.Second, func() bool { return sawV2.Load() >= 20 })
	close(stop)
	wg.Wait()
	t.Logf("v2 rollout: READY after %s; %d predictions during it, %d answered by v2, %d failed",
		rollout.Round(time.Millisecond), total.Load(), sawV2.Load(), len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d predictions failed during the v2 rollout, first: %s", len(failures), total.Load(), failures[0])
	}
	if !switched {
		t.Fatalf("iris-classifier still answers v1's scores after the v2 rollout (%d v2 answers)", sawV2.Load())
	}
	if lv1 := lastV1.Load(); lv1 > firstV2.Load() {
		t.Logf("v1 answered %s after v2's first answer (replicas overlapping during the switch)", time.Duration(lv1-firstV2.Load()))
	}
	checkPredict("iris-classifier", seedIrisListBody, irisV2.Predictions[0].Scores)
	checkPredict("iris-classifier", probeBody, v2)
	if out := h.must(t, "get-serve-status", "--name", "iris-classifier", "--env", "local"); !strings.Contains(out, "READY") || strings.Contains(out, "NOT_READY") {
		t.Errorf("status after v2: %s", out)
	}
	var deps envelope
	if code := p.call(http.MethodGet, "/ml-serve/api/v1/serve/iris-classifier/deployments", nil, "", &deps); code != http.StatusOK {
		t.Fatalf("deployments: %d", code)
	}
	if d := string(deps.Data); !strings.Contains(d, `"v2"`) || !strings.Contains(d, `"ENDED"`) {
		t.Errorf("deployments after the rollout lack an ACTIVE v2 and the ENDED v1: %s", d)
	}
	newReplica := replicaURL(t, p, "iris-classifier")
	if newReplica == oldReplica {
		t.Logf("v2 reused the replica address %s", newReplica)
	} else if !eventually(10*time.Second, func() bool { return !dialable(oldReplica) }) {
		t.Errorf("the v1 replica %s still listens after the rollout", oldReplica)
	}

	// Undeploy both: routes answer 404 and no runtime process remains.
	replicas := []string{newReplica, replicaURL(t, p, "housing-model")}
	if n := len(runtimeProcesses(dataDir)); n < 2 {
		t.Errorf("%d runtime processes under the data dir before undeploy, want ≥ 2", n)
	}
	for _, s := range []string{"iris-classifier", "housing-model"} {
		h.must(t, "undeploy-model", "--serve-name", s, "--env", "local")
	}
	for _, s := range []string{"iris-classifier", "housing-model"} {
		code, _, raw, err := predict(client, p.base+"/"+s+"/predict", seedIrisListBody)
		if err != nil || code != http.StatusNotFound {
			t.Errorf("POST /%s/predict after undeploy-model: %d %s %v, want 404", s, code, raw, err)
		}
		out, errOut, code2 := h.run(t, "get-serve-status", "--name", s, "--env", "local")
		if code2 == 0 && strings.Contains(out, "READY") && !strings.Contains(out, "NOT_READY") {
			t.Errorf("get-serve-status %s after undeploy says READY: %s %s", s, out, errOut)
		}
	}
	if !eventually(15*time.Second, func() bool { return len(runtimeProcesses(dataDir)) == 0 }) {
		t.Errorf("runtime processes left after undeploy-model: %v", runtimeProcesses(dataDir))
	}
	for _, r := range replicas {
		if dialable(r) {
			t.Errorf("replica %s still listens after undeploy-model", r)
		}
	}
}

// TestE2EDeployModelBadURI: a model URI ml-serve cannot use makes `hermes deploy-model` exit 1 with the
// "Invalid model URI" message, and nothing is created: no serve, no deployment, no route, no process.
func TestE2EDeployModelBadURI(t *testing.T) {
	needPythonDeps(t)
	dataDir := t.TempDir()
	p := startDarwin(t, dataDir, "-log.level=warn")
	h := newHermes(t, p.base)
	h.must(t, "configure")
	h.must(t, "create-environment", "--name", "local", "--domain-suffix", ".local", "--cluster-name", "kind")

	for i, uri := range []string{
		"not-a-model-uri",
		"models:/",
		"mlflow-artifacts:/",
		"models:/no-such-model/1",
		"runs:/0123456789abcdef0123456789abcdef/model",
		"mlflow-artifacts:/999/0123456789abcdef0123456789abcdef/artifacts/model",
	} {
		serve := fmt.Sprintf("bad-uri-%d", i)
		out, errOut, code := h.run(t, "deploy-model",
			"--serve-name", serve,
			"--artifact-version", "v1",
			"--model-uri", uri,
			"--cores", "2",
			"--memory", "4",
			"--node-capacity", "spot",
			"--min-replicas", "1",
			"--max-replicas", "2")
		if code != 1 {
			t.Errorf("deploy-model --model-uri %q: exit %d, want 1\nstdout: %s\nstderr: %s", uri, code, out, errOut)
		}
		if !strings.Contains(errOut, "Invalid model URI") {
			t.Errorf("deploy-model --model-uri %q: stderr lacks \"Invalid model URI\":\n%s", uri, errOut)
		}
		t.Logf("--model-uri %q: exit %d: %s", uri, code, strings.TrimSpace(errOut))
		if c := p.call(http.MethodGet, "/ml-serve/api/v1/serve/"+serve, map[string]string{"Authorization": "Bearer " + seedAdminToken}, "", nil); c != http.StatusNotFound {
			t.Errorf("serve %s exists after a rejected deploy-model (GET = %d)", serve, c)
		}
		if c := p.call(http.MethodPost, "/"+serve+"/predict", nil, seedIrisListBody, nil); c != http.StatusNotFound {
			t.Errorf("POST /%s/predict after a rejected deploy-model = %d, want 404", serve, c)
		}
		var st struct {
			Data struct {
				Installed bool `json:"installed"`
			} `json:"data"`
		}
		c := p.call(http.MethodPost, "/cluster-manager/resource-instance/status", nil, fmt.Sprintf(`{"resource_id": %q}`, serve), &st)
		if c == http.StatusOK && st.Data.Installed {
			t.Errorf("resource %s installed after a rejected deploy-model", serve)
		}
	}
	if procs := runtimeProcesses(dataDir); len(procs) != 0 {
		t.Errorf("runtime processes after rejected deploys: %v", procs)
	}
}

// dialable reports whether something accepts TCP connections at base (http://host:port).
func dialable(base string) bool {
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// TestE2EDeployModelKubernetes is the seed recipe on the Kubernetes path: hermes → the ml-serve binary →
// cluster-manager's gRPC API → the cluster-manager binary with the Kubernetes driver → Helm → a real
// kube-apiserver. It checks the darwin-fastapi-serve objects deploy-model makes (Deployment with ml-serve's
// runtime image and MLFLOW_MODEL_URI, HPA with the requested replicas, Service, Ingress at /<serve>/), READY
// once a pod runs (the test stands in for the kubelet), and that undeploy-model removes them.
func TestE2EDeployModelKubernetes(t *testing.T) {
	api := kubetest.Shared(t)
	kc, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	cmBin := buildBinary(t, "github.com/darwinml/darwin/services/cluster-manager/cmd/cluster-manager")
	cmHTTP, cmGRPC := testutil.FreePort(t), testutil.FreePort(t)
	startProcess(t, cmBin, fmt.Sprintf("http://127.0.0.1:%d", cmHTTP),
		fmt.Sprintf("-server.http-addr=127.0.0.1:%d", cmHTTP), fmt.Sprintf("-server.grpc-addr=127.0.0.1:%d", cmGRPC),
		"-cluster-manager.driver=kubernetes", "-cluster-manager.kubeconfigs=kind="+api.Kubeconfig,
		"-cluster-manager.data-dir="+t.TempDir(), "-cluster-manager.helm-timeout=60s")

	const (
		image    = "localhost:5000/darwin/serve-md-runtime:e2e"
		tracking = "http://darwin.example/mlflow-lib"
		modelURI = "mlflow-artifacts:/1/2b2b1b5727a14c5ca81b44e899979745/artifacts/model"
		ns       = "serve"
		serve    = "iris-classifier"
	)
	msBin := buildBinary(t, "github.com/darwinml/darwin/services/ml-serve/cmd/ml-serve")
	msHTTP := testutil.FreePort(t)
	ms := startProcess(t, msBin, fmt.Sprintf("http://127.0.0.1:%d", msHTTP),
		fmt.Sprintf("-server.http-addr=127.0.0.1:%d", msHTTP), "-server.grpc-addr=127.0.0.1:0",
		"-ml-serve.data-dir="+t.TempDir(), fmt.Sprintf("-ml-serve.cluster-manager-addr=127.0.0.1:%d", cmGRPC),
		"-ml-serve.default-runtime="+image, "-ml-serve.mlflow-tracking-uri="+tracking,
		"-ml-serve.bootstrap-admin-token="+seedAdminToken)

	h := newHermes(t, ms.base)
	ctx := context.Background()
	pods := kc.CoreV1().Pods(ns)
	t.Cleanup(func() {
		h.run(t, "undeploy-model", "--serve-name", serve, "--env", "local")
		_ = pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "darwin.dream11.com/resource-instance-id=" + serve})
	})
	h.must(t, "configure")
	h.must(t, "create-environment", "--name", "local", "--domain-suffix", ".local", "--cluster-name", "kind")
	h.must(t, "create-serve", "--name", serve, "--type", "api", "--space", "serve", "--description", "Iris classification model")

	// deploy-model waits for READY; no kubelet runs the Deployment's pods, so the test makes one Running.
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := h.run(t, "deploy-model",
			"--serve-name", serve,
			"--artifact-version", "v1",
			"--model-uri", modelURI,
			"--cores", "2",
			"--memory", "4",
			"--node-capacity", "spot",
			"--min-replicas", "1",
			"--max-replicas", "2",
			"--timeout", "90s")
		done <- result{out, errOut, code}
	}()
	var dep *appsv1.Deployment
	if !eventually(60*time.Second, func() bool {
		dep, err = kc.AppsV1().Deployments(ns).Get(ctx, serve, metav1.GetOptions{})
		return err == nil
	}) {
		t.Fatalf("no Deployment %s/%s after deploy-model: %v", ns, serve, err)
	}
	select {
	case r := <-done:
		t.Fatalf("deploy-model returned before any pod ran: exit %d\n%s\n%s", r.code, r.out, r.errOut)
	default:
	}
	if st := h.must(t, "get-serve-status", "--name", serve, "--env", "local"); !strings.Contains(st, "NOT_READY") {
		t.Errorf("status with no pod: %s, want NOT_READY", st)
	}
	runFakePod(t, kc, ns, serve, dep)
	var r result
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("deploy-model did not return within 90s of the pod running")
	}
	if r.code != 0 || !strings.Contains(r.errOut, "is READY") {
		t.Fatalf("deploy-model: exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.errOut)
	}
	if st := h.must(t, "get-serve-status", "--name", serve, "--env", "local"); !strings.Contains(st, "READY") || strings.Contains(st, "NOT_READY") {
		t.Errorf("get-serve-status after the pod runs: %s, want READY", st)
	}

	// The objects of the darwin-fastapi-serve release.
	cs := dep.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Deployment containers = %d, want 1", len(cs))
	}
	if cs[0].Image != image {
		t.Errorf("Deployment image = %q, want ml-serve's runtime %q", cs[0].Image, image)
	}
	env := map[string]string{}
	for _, e := range cs[0].Env {
		env[e.Name] = e.Value
	}
	if env["MLFLOW_MODEL_URI"] != modelURI {
		t.Errorf("env MLFLOW_MODEL_URI = %q, want %q (all env: %v)", env["MLFLOW_MODEL_URI"], modelURI, env)
	}
	if env["MLFLOW_TRACKING_URI"] != tracking {
		t.Errorf("env MLFLOW_TRACKING_URI = %q, want %q", env["MLFLOW_TRACKING_URI"], tracking)
	}
	if env["MODEL_VERSION"] == "" {
		t.Errorf("env lacks MODEL_VERSION: %v", env)
	}
	cpu := cs[0].Resources.Requests.Cpu()
	mem := cs[0].Resources.Requests.Memory()
	t.Logf("Deployment %s: image %s, requests cpu=%s memory=%s, env %v", dep.Name, cs[0].Image, cpu, mem, env)
	if cpu.Cmp(resource.MustParse("2")) != 0 || mem.Cmp(resource.MustParse("4Gi")) != 0 {
		t.Errorf("requests cpu=%s memory=%s, want --cores 2 --memory 4 (2, 4Gi)", cpu, mem)
	}
	hpa, err := kc.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, serve, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("HPA %s: %v", serve, err)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 1 || hpa.Spec.MaxReplicas != 2 {
		t.Errorf("HPA min/max = %v/%d, want 1/2", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if hpa.Spec.ScaleTargetRef.Name != serve {
		t.Errorf("HPA targets %s, want %s", hpa.Spec.ScaleTargetRef.Name, serve)
	}
	svc, err := kc.CoreV1().Services(ns).Get(ctx, serve, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Service %s: %v", serve, err)
	}
	if svc.Spec.Selector["darwin.dream11.com/resource-instance-id"] != serve {
		t.Errorf("Service selector = %v", svc.Spec.Selector)
	}
	ing, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, serve, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Ingress %s: %v", serve, err)
	}
	var paths []string
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, pth := range rule.HTTP.Paths {
			paths = append(paths, pth.Path)
			if pth.Backend.Service == nil || pth.Backend.Service.Name != serve {
				t.Errorf("Ingress path %s does not route to Service %s", pth.Path, serve)
			}
		}
	}
	if len(paths) != 1 || !strings.HasPrefix(paths[0], "/"+serve+"(/|$)") {
		t.Errorf("Ingress paths = %v, want /%s/ (as /%s(/|$)(.*))", paths, serve, serve)
	}

	// undeploy-model uninstalls the release: every object goes.
	h.must(t, "undeploy-model", "--serve-name", serve, "--env", "local")
	gone := func(get func() error) bool {
		return eventually(30*time.Second, func() bool { return apierrors.IsNotFound(get()) })
	}
	checks := map[string]func() error{
		"Deployment": func() error { _, err := kc.AppsV1().Deployments(ns).Get(ctx, serve, metav1.GetOptions{}); return err },
		"HPA": func() error {
			_, err := kc.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, serve, metav1.GetOptions{})
			return err
		},
		"Service": func() error { _, err := kc.CoreV1().Services(ns).Get(ctx, serve, metav1.GetOptions{}); return err },
		"Ingress": func() error {
			_, err := kc.NetworkingV1().Ingresses(ns).Get(ctx, serve, metav1.GetOptions{})
			return err
		},
	}
	for kind, get := range checks {
		if !gone(get) {
			t.Errorf("%s %s/%s still exists after undeploy-model", kind, ns, serve)
		}
	}
	if _, err := kc.CoreV1().Secrets(ns).Get(ctx, "sh.helm.release.v1."+serve+".v1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Helm release record of %s after undeploy-model: %v", serve, err)
	}
	if st, _, code := h.run(t, "get-serve-status", "--name", serve, "--env", "local"); code == 0 && !strings.Contains(st, "NOT_READY") {
		t.Errorf("get-serve-status after undeploy-model: %s", st)
	}
}

// runFakePod does the kubelet's part for a Deployment: a pod with its template's labels, Running and Ready.
func runFakePod(t *testing.T, kc kubernetes.Interface, ns, name string, dep *appsv1.Deployment) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-e2e-0", Labels: dep.Spec.Template.Labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: dep.Spec.Template.Spec.Containers[0].Image}}},
	}
	created, err := kc.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	created.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Ready: true, Image: created.Spec.Containers[0].Image,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}},
	}
	if _, err := kc.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pod status: %v", err)
	}
}
