package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// TestE2EMLflowTracking: darwin up serves the MLflow tracking API under
// /mlflow-lib (MLFLOW_TRACKING_URI=http://localhost:8080/mlflow-lib), the
// calls the stock client makes for start_run/log_metric/end_run and a search
// with a metric filter.
func TestE2EMLflowTracking(t *testing.T) {
	p := startDarwin(t, "")
	api := p.base + "/mlflow-lib/api/2.0/mlflow/"
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if code := doJSON(t, http.MethodPost, api+"experiments/create", nil, `{"name": "e2e-tracking"}`, &exp); code != http.StatusOK || exp.ExperimentID == "" {
		t.Fatalf("experiments/create = %d %+v", code, exp)
	}
	var runIDs []string
	for i, rmse := range []float64{0.9, 0.3, 0.5} {
		var run struct {
			Run struct {
				Info struct {
					RunID string `json:"run_id"`
				} `json:"info"`
			} `json:"run"`
		}
		body := fmt.Sprintf(`{"experiment_id": %q, "run_name": "r%d", "start_time": %d}`, exp.ExperimentID, i, 1000+i)
		if code := doJSON(t, http.MethodPost, api+"runs/create", nil, body, &run); code != http.StatusOK {
			t.Fatalf("runs/create = %d", code)
		}
		id := run.Run.Info.RunID
		runIDs = append(runIDs, id)
		metric := fmt.Sprintf(`{"run_id": %q, "key": "rmse", "value": %g, "timestamp": 1, "step": 0}`, id, rmse)
		if code := doJSON(t, http.MethodPost, api+"runs/log-metric", nil, metric, nil); code != http.StatusOK {
			t.Fatalf("log-metric = %d", code)
		}
		if code := doJSON(t, http.MethodPost, api+"runs/update", nil, fmt.Sprintf(`{"run_id": %q, "status": "FINISHED", "end_time": 2000}`, id), nil); code != http.StatusOK {
			t.Fatalf("runs/update = %d", code)
		}
	}
	var found struct {
		Runs []struct {
			Info struct {
				RunID  string `json:"run_id"`
				Status string `json:"status"`
			} `json:"info"`
		} `json:"runs"`
	}
	body := fmt.Sprintf(`{"experiment_ids": [%q], "filter": "metrics.rmse < 0.8", "order_by": ["metrics.rmse ASC"]}`, exp.ExperimentID)
	if code := doJSON(t, http.MethodPost, api+"runs/search", nil, body, &found); code != http.StatusOK {
		t.Fatalf("runs/search = %d", code)
	}
	if len(found.Runs) != 2 || found.Runs[0].Info.RunID != runIDs[1] || found.Runs[1].Info.RunID != runIDs[2] || found.Runs[0].Info.Status != "FINISHED" {
		t.Fatalf("runs/search rmse < 0.8 by rmse = %+v, want runs r1 then r2", found.Runs)
	}
	var missing struct {
		ErrorCode string `json:"error_code"`
	}
	if code := doJSON(t, http.MethodGet, api+"runs/get?run_id=00000000000000000000000000000000", nil, "", &missing); code != http.StatusNotFound || missing.ErrorCode != "RESOURCE_DOES_NOT_EXIST" {
		t.Fatalf("unknown run = %d %+v", code, missing)
	}
}
