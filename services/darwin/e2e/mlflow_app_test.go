package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestE2EMLflowAppLayer: darwin up serves the MLflow app layer under /mlflow-app (spec §11). User A creates an
// experiment, logs a run and data through it; user B may read but gets 403 (not the original's 402) when
// deleting A's experiment or run; the darwin CLI shows the experiment, run and registered models; A's
// delete works. An experiment created through /mlflow-lib with the SDK's Basic credentials is owned too.
func TestE2EMLflowAppLayer(t *testing.T) {
	p := startDarwin(t, "")
	const userA, userB = "alice@example.com", "bob@example.com"
	app := "/mlflow-app"
	asA, asB := map[string]string{"email": userA}, map[string]string{"email": userB}

	var health map[string]any
	if code := p.call(http.MethodGet, app+"/healthcheck", nil, "", &health); code != http.StatusOK || health["status"] != "SUCCESS" {
		t.Fatalf("healthcheck = %d %v", code, health)
	}
	var detail struct {
		Detail string `json:"detail"`
	}
	if code := p.call(http.MethodPost, app+"/v1/experiment", nil, `{"experiment_name": "e2e-app"}`, &detail); code != http.StatusUnauthorized || detail.Detail == "" {
		t.Fatalf("create without email = %d %+v", code, detail)
	}
	if code := p.call(http.MethodPost, app+"/v1/experiment", map[string]string{"email": "nope"}, `{"experiment_name": "e2e-app"}`, &detail); code != http.StatusBadRequest {
		t.Fatalf("create with invalid email = %d %+v", code, detail)
	}
	var user struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if code := p.call(http.MethodPost, app+"/v1/user", asA, "", &user); code != http.StatusOK || user.Message != "User created successfully" {
		t.Fatalf("POST /v1/user = %d %+v", code, user)
	}

	type envelope struct {
		Status string         `json:"status"`
		Data   map[string]any `json:"data"`
	}
	var created envelope
	if code := p.call(http.MethodPost, app+"/v1/experiment", asA, `{"experiment_name": "e2e-app"}`, &created); code != http.StatusOK || created.Status != "SUCCESS" {
		t.Fatalf("create experiment = %d %+v", code, created)
	}
	exp, _ := created.Data["experiment_id"].(string)
	var got envelope
	if code := p.call(http.MethodGet, app+"/v1/experiment/"+exp, asB, "", &got); code != http.StatusOK ||
		got.Data["created_by"] != userA || got.Data["experiment_name"] != "e2e-app" {
		t.Fatalf("get experiment as B = %d %+v", code, got)
	}
	var run envelope
	if code := p.call(http.MethodPost, app+"/v1/experiment/"+exp+"/run", asA, `{"run_name": "r1", "tags": [{"team": "ds"}]}`, &run); code != http.StatusOK {
		t.Fatalf("create run = %d %+v", code, run)
	}
	rid, _ := run.Data["run_id"].(string)
	var logged envelope
	if code := p.call(http.MethodPost, app+"/v1/run/"+rid+"/log-data", asA, `{"metrics": {"key": "rmse", "value": 0.42}, "params": {"key": "alpha", "value": "0.5"}}`, &logged); code != http.StatusOK {
		t.Fatalf("log-data = %d %+v", code, logged)
	}
	if code := p.call(http.MethodPost, app+"/v1/run/"+rid+"/log-data", asA, fmt.Sprintf(`{"params": {"key": %q, "value": "v"}}`, strings.Repeat("k", 256)), &detail); code != http.StatusBadRequest {
		t.Fatalf("log-data with a 256-byte key = %d %+v", code, detail)
	}
	// The tracking API sees the same data.
	var tracked struct {
		Run struct {
			Data struct {
				Metrics []struct {
					Key   string  `json:"key"`
					Value float64 `json:"value"`
				} `json:"metrics"`
				Params []struct{ Key, Value string } `json:"params"`
			} `json:"data"`
		} `json:"run"`
	}
	if code := p.call(http.MethodGet, "/mlflow-lib/api/2.0/mlflow/runs/get?run_id="+rid, nil, "", &tracked); code != http.StatusOK ||
		len(tracked.Run.Data.Metrics) != 1 || tracked.Run.Data.Metrics[0].Value != 0.42 || len(tracked.Run.Data.Params) != 1 {
		t.Fatalf("runs/get = %d %+v", code, tracked)
	}

	// B is not the owner: 403 with the original's message, and nothing changes.
	for _, path := range []string{app + "/v1/experiment/" + exp + "/run/" + rid, app + "/v1/experiment/" + exp} {
		if code := p.call(http.MethodDelete, path, asB, "", &detail); code != http.StatusForbidden || detail.Detail != "User is not authorized to perform the action" {
			t.Fatalf("B DELETE %s = %d %+v", path, code, detail)
		}
	}
	var runAfter envelope
	if code := p.call(http.MethodGet, app+"/v1/experiment/"+exp+"/run/"+rid, asB, "", &runAfter); code != http.StatusOK || runAfter.Data["lifecycle_stage"] != "active" {
		t.Fatalf("run after B's delete = %d %+v", code, runAfter)
	}

	// The CLI shows the experiment and the run, and lists registered models.
	out, _ := darwinCLI(t, p, "mlflow", "experiment", "get", exp, "--user", userB, "-o", "json")
	var cliExp map[string]any
	if err := json.Unmarshal([]byte(out), &cliExp); err != nil || cliExp["experiment_name"] != "e2e-app" || cliExp["created_by"] != userA {
		t.Fatalf("darwin mlflow experiment get = %q (%v)", out, err)
	}
	out, _ = darwinCLI(t, p, "mlflow", "run", "get", exp, rid, "--user", userA)
	if !strings.Contains(out, "rmse=0.42") || !strings.Contains(out, "alpha=0.5") || !strings.Contains(out, rid) {
		t.Fatalf("darwin mlflow run get:\n%s", out)
	}
	if code := p.call(http.MethodPost, "/mlflow-lib/api/2.0/mlflow/registered-models/create", nil, `{"name": "e2e-model"}`, nil); code != http.StatusOK {
		t.Fatalf("registered-models/create = %d", code)
	}
	out, _ = darwinCLI(t, p, "mlflow", "model", "list", "--user", userA)
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "e2e-model") {
		t.Fatalf("darwin mlflow model list:\n%s", out)
	}

	// A deletes (through the CLI).
	out, _ = darwinCLI(t, p, "mlflow", "experiment", "delete", exp, "--user", userA)
	if !strings.Contains(out, "Experiment deleted successfully") {
		t.Fatalf("darwin mlflow experiment delete = %q", out)
	}
	if code := p.call(http.MethodGet, app+"/v1/experiment/"+exp, asA, "", &got); code != http.StatusOK || got.Data["lifecycle_stage"] != "deleted" {
		t.Fatalf("experiment after A's delete = %d %+v", code, got)
	}

	// The darwin_mlflow SDK talks to /mlflow-lib with Basic (email, email): the creator owns the experiment.
	basicA := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(userA+":"+userA))}
	var sdkExp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if code := p.call(http.MethodPost, "/mlflow-lib/api/2.0/mlflow/experiments/create", basicA, `{"name": "e2e-sdk"}`, &sdkExp); code != http.StatusOK {
		t.Fatalf("experiments/create via SDK auth = %d", code)
	}
	if code := p.call(http.MethodGet, app+"/v1/experiment/"+sdkExp.ExperimentID, asB, "", &got); code != http.StatusOK || got.Data["created_by"] != userA {
		t.Fatalf("SDK-created experiment = %d %+v", code, got)
	}
	if code := p.call(http.MethodDelete, app+"/v1/experiment/"+sdkExp.ExperimentID, asB, "", &detail); code != http.StatusForbidden {
		t.Fatalf("B deleting the SDK-created experiment = %d", code)
	}
	// The UI's ajax-api goes through the same permission check.
	if code := p.call(http.MethodPost, app+"/ajax-api/2.0/mlflow/experiments/delete", asB, fmt.Sprintf(`{"experiment_id": %q}`, sdkExp.ExperimentID), &detail); code != http.StatusForbidden {
		t.Fatalf("B deleting via ajax-api = %d %+v", code, detail)
	}
	var none map[string]any
	if code := p.call(http.MethodPost, app+"/ajax-api/2.0/mlflow/experiments/delete", asA, fmt.Sprintf(`{"experiment_id": %q}`, sdkExp.ExperimentID), &none); code != http.StatusOK {
		t.Fatalf("A deleting via ajax-api = %d %v", code, none)
	}
}
