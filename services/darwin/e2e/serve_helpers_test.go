package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Helpers of the "Deploy a Model" tests (serve_test.go, serve_bench_test.go).

// seedAdminToken is the token the seed README exports as HERMES_USER_TOKEN.
const seedAdminToken = "admin-token-default-change-in-production"

// The seed README's curl bodies.
const (
	seedIrisListBody   = `{"features": [[5.1, 3.5, 1.4, 0.2]]}`
	seedIrisObjectBody = `{
    "features": {
      "sepal_length": 5.1,
      "sepal_width": 3.5,
      "petal_length": 1.4,
      "petal_width": 0.2
    }
  }`
	seedHousingBody = `{
    "features": {
      "MedInc": 3.5214,
      "HouseAge": 15.0,
      "AveRooms": 6.575757575757576,
      "AveBedrms": 1.0196969696969697,
      "Population": 1447.0,
      "AveOccup": 3.0144927536231883,
      "Latitude": 37.63,
      "Longitude": -122.43
    }
  }`
)

// workspaceRoot is the workspace root (the directory holding go.work) above the test's working directory.
func workspaceRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.work above %s", wd)
		}
	}
}

// needPythonDeps runs scripts/python-deps.sh (Debian python3 with scikit-learn, numpy, pandas, PyYAML), which
// the model runtime and make_model.py need; the test fails with the script's output when it cannot.
func needPythonDeps(t testing.TB) {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(workspaceRoot(t), "scripts", "python-deps.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("the model runtime needs /usr/bin/python3 with scikit-learn: scripts/python-deps.sh failed: %v\n%s", err, out)
	}
}

// madeModel is make_model.py's answer.
type madeModel struct {
	Kind        string `json:"kind"`
	Estimator   string `json:"estimator"`
	ModelDir    string `json:"model_dir"`
	Predictions []struct {
		Features map[string]any `json:"features"`
		Scores   []any          `json:"scores"`
	} `json:"predictions"`
}

// makeModel trains a model with runtimes/serve/tools/make_model.py into out; inputs are features objects to get
// the expected scores of (none: the seed README's body).
func makeModel(t testing.TB, kind, estimator, out string, inputs ...string) madeModel {
	t.Helper()
	args := []string{filepath.Join(workspaceRoot(t), "runtimes", "serve", "tools", "make_model.py"), "--kind", kind, "--out", out}
	if estimator != "" {
		args = append(args, "--estimator", estimator)
	}
	for _, in := range inputs {
		args = append(args, "--input", in)
	}
	cmd := exec.Command("/usr/bin/python3", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("make_model.py %s: %v\n%s", kind, err, stderr.String())
	}
	var m madeModel
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("make_model.py output %q: %v", raw, err)
	}
	if len(m.Predictions) == 0 {
		t.Fatalf("make_model.py gave no predictions: %s", raw)
	}
	return m
}

// loggedModel is a model directory uploaded as a run's "model" artifact.
type loggedModel struct {
	ExperimentID, RunID string
}

// URI is the mlflow-artifacts URI of the model, the form of the seed README.
func (l loggedModel) URI() string {
	return "mlflow-artifacts:/" + l.ExperimentID + "/" + l.RunID + "/artifacts/model"
}

// mlflowPost posts body to /mlflow-lib/api/2.0/mlflow/<path> and decodes the answer into out.
func mlflowPost(t testing.TB, p *platform, path, body string, out any) {
	t.Helper()
	var raw json.RawMessage
	if code := p.call(http.MethodPost, "/mlflow-lib/api/2.0/mlflow/"+path, nil, body, &raw); code != http.StatusOK {
		t.Fatalf("MLflow %s %s: %d %s", path, body, code, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("MLflow %s: %s: %v", path, raw, err)
		}
	}
}

// experiment returns the id of experiment name, creating it when missing.
func experiment(t testing.TB, p *platform, name string) string {
	t.Helper()
	var got struct {
		Experiment struct {
			ExperimentID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	if code := p.call(http.MethodGet, "/mlflow-lib/api/2.0/mlflow/experiments/get-by-name?experiment_name="+name, nil, "", &got); code == http.StatusOK {
		return got.Experiment.ExperimentID
	}
	var created struct {
		ExperimentID string `json:"experiment_id"`
	}
	mlflowPost(t, p, "experiments/create", fmt.Sprintf(`{"name": %q}`, name), &created)
	return created.ExperimentID
}

// logModel creates a run in experiment expName and uploads every file of dir as its artifacts/model through
// the MLflow artifact proxy, as mlflow.sklearn.log_model does; the run is then marked FINISHED.
func logModel(t testing.TB, p *platform, expName, dir string) loggedModel {
	t.Helper()
	exp := experiment(t, p, expName)
	var run struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	mlflowPost(t, p, "runs/create", fmt.Sprintf(`{"experiment_id": %q, "run_name": "train-%s"}`, exp, filepath.Base(dir)), &run)
	l := loggedModel{ExperimentID: exp, RunID: run.Run.Info.RunID}
	if l.RunID == "" {
		t.Fatal("runs/create gave no run_id")
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		u := p.base + "/mlflow-lib/api/2.0/mlflow-artifacts/artifacts/" + exp + "/" + l.RunID + "/artifacts/model/" + filepath.ToSlash(rel)
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(data))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("PUT %s: %d %s", u, resp.StatusCode, body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("upload model %s: %v", dir, err)
	}
	mlflowPost(t, p, "runs/update", fmt.Sprintf(`{"run_id": %q, "status": "FINISHED", "end_time": %d}`, l.RunID, time.Now().UnixMilli()), nil)
	return l
}

// registerModel registers l as the next version of registered model name and returns the version.
func registerModel(t testing.TB, p *platform, name string, l loggedModel) string {
	t.Helper()
	if code := p.call(http.MethodGet, "/mlflow-lib/api/2.0/mlflow/registered-models/get?name="+name, nil, "", nil); code == http.StatusNotFound {
		mlflowPost(t, p, "registered-models/create", fmt.Sprintf(`{"name": %q}`, name), nil)
	}
	var mv struct {
		ModelVersion struct {
			Version string `json:"version"`
			Status  string `json:"status"`
		} `json:"model_version"`
	}
	mlflowPost(t, p, "model-versions/create", fmt.Sprintf(`{"name": %q, "source": %q, "run_id": %q}`, name, l.URI(), l.RunID), &mv)
	if mv.ModelVersion.Version == "" {
		t.Fatalf("model-versions/create of %s gave no version", name)
	}
	return mv.ModelVersion.Version
}

// hermesCLI runs the real hermes binary against a platform, with the seed README's environment.
type hermesCLI struct {
	bin string
	env []string
}

func newHermes(t testing.TB, darwinURL string) *hermesCLI {
	t.Helper()
	home := t.TempDir()
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "DARWIN_URL=" + darwinURL, "HERMES_USER_TOKEN=" + seedAdminToken}
	return &hermesCLI{bin: buildBinary(t, "github.com/darwinml/darwin/services/darwin/cmd/hermes"), env: env}
}

// run executes `hermes args...` (at most 5 minutes) and returns its stdout, stderr and exit code.
func (h *hermesCLI) run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = h.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("hermes %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// must runs hermes and fails the test unless it exits 0.
func (h *hermesCLI) must(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := h.run(t, args...)
	if code != 0 {
		t.Fatalf("hermes %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out + errOut
}

// predict POSTs body to url and returns the status and the decoded scores (nil when not 200 or undecodable).
func predict(client *http.Client, url, body string) (int, []any, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, "", err
	}
	var out struct {
		Scores []any `json:"scores"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &out); err != nil {
			return resp.StatusCode, nil, string(raw), err
		}
	}
	return resp.StatusCode, out.Scores, string(raw), nil
}

// sameScores compares predicted scores, numbers within a relative 1e-9 (JSON float round trips).
func sameScores(got, want []any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, gok := got[i].(float64)
		w, wok := want[i].(float64)
		if gok != wok {
			return false
		}
		if !gok {
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
				return false
			}
			continue
		}
		if math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
			return false
		}
	}
	return true
}

// runtimeProcesses lists live model runtime processes started under dataDir (the local driver runs each
// replica in a directory of its data dir), so other tests' or engineers' replicas do not count.
func runtimeProcesses(dataDir string) []string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	var found []string
	for _, p := range processesOf("darwin_serve") {
		pid, _, _ := strings.Cut(p, ":")
		cwd, err := os.Readlink(filepath.Join("/proc", pid, "cwd"))
		if err == nil && strings.HasPrefix(cwd, abs+string(filepath.Separator)) {
			found = append(found, p)
		}
	}
	return found
}

// eventually polls cond every 50 ms until it is true or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replicaURL asks cluster-manager's REST API (POST /cluster-manager/resource-instance/status) for the URL of a
// ready replica of resource id.
func replicaURL(t testing.TB, p *platform, id string) string {
	t.Helper()
	var env struct {
		Data struct {
			Installed bool   `json:"installed"`
			URL       string `json:"url"`
			Status    struct {
				Pods []struct {
					Name, Status string
				} `json:"pods"`
			} `json:"status"`
		} `json:"data"`
	}
	if code := p.call(http.MethodPost, "/cluster-manager/resource-instance/status", nil, fmt.Sprintf(`{"resource_id": %q}`, id), &env); code != http.StatusOK {
		t.Fatalf("resource-instance/status %s: %d", id, code)
	}
	if !env.Data.Installed || env.Data.URL == "" {
		t.Fatalf("resource %s: installed=%v url=%q pods=%v", id, env.Data.Installed, env.Data.URL, env.Data.Status.Pods)
	}
	return strings.TrimRight(env.Data.URL, "/")
}
