package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

type client struct {
	t   *testing.T
	url string
}

func (c client) post(path string, body any) (int, map[string]any) {
	c.t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	resp, err := http.Post(c.url+"/api/2.0/mlflow/"+path, "application/json", strings.NewReader(string(b)))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s: not JSON: %s", path, raw)
	}
	return resp.StatusCode, out
}

func (c client) get(path string) (int, map[string]any) {
	c.t.Helper()
	resp, err := http.Get(c.url + "/api/2.0/mlflow/" + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, out
}

func wantError(t *testing.T, status int, body map[string]any, wantStatus int, code, msgPart string) {
	t.Helper()
	if status != wantStatus || body["error_code"] != code || !strings.Contains(fmt.Sprint(body["message"]), msgPart) {
		t.Fatalf("got %d %v, want %d %s containing %q", status, body, wantStatus, code, msgPart)
	}
}

func items(kind string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"key": fmt.Sprintf("%s%d", kind, i), "value": "v"}
		if kind == "m" {
			out[i] = map[string]any{"key": "m", "value": float64(i), "timestamp": 1, "step": i}
		}
	}
	return out
}

// TestLogBatchLimits checks MLflow's log-batch limits (1000 metrics, 100 params, 100 tags, 1000 entities, 1 MB)
// and that a rejected batch writes nothing.
func TestLogBatchLimits(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		c := client{t: t, url: newServer(t, d).URL}
		_, created := c.post("runs/create", map[string]any{"experiment_id": "0"})
		runID := created["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)

		st, body := c.post("runs/log-batch", map[string]any{"run_id": runID, "metrics": items("m", 1001)})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "at most 1000 metrics")
		st, body = c.post("runs/log-batch", map[string]any{"run_id": runID, "params": items("p", 101)})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "at most 100 params")
		st, body = c.post("runs/log-batch", map[string]any{"run_id": runID, "tags": items("t", 101)})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "at most 100 tags")
		st, body = c.post("runs/log-batch", map[string]any{"run_id": runID, "metrics": items("m", 901), "params": items("p", 100)})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "at most 1000 total")
		big := strings.Repeat("x", 5000)
		var tags []map[string]any
		for i := range 100 {
			tags = append(tags, map[string]any{"key": fmt.Sprintf("t%d", i), "value": big})
		}
		var params []map[string]any
		for i := range 100 {
			params = append(params, map[string]any{"key": fmt.Sprintf("p%d", i), "value": big + "yyyyy"})
		}
		// 100 × 5 KB tags + 100 × 5 KB params + padding metrics > 1 MB.
		metrics := items("m", 800)
		for i := range metrics {
			metrics[i]["key"] = strings.Repeat("k", 200)
		}
		st, body = c.post("runs/log-batch", map[string]any{"run_id": runID, "tags": tags, "params": params, "metrics": metrics})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "exceeds the limit of 1048576 bytes")

		// The full allowed batch goes through: 1000 entities.
		st, body = c.post("runs/log-batch", map[string]any{"run_id": runID, "metrics": items("m", 800), "params": items("p", 100), "tags": items("t", 100)})
		if st != 200 || len(body) != 0 {
			t.Fatalf("max batch: %d %v", st, body)
		}
		// Atomic: an invalid last metric key rejects the whole batch.
		st, body = c.post("runs/log-batch", map[string]any{"run_id": runID,
			"params":  []map[string]any{{"key": "fresh", "value": "1"}},
			"metrics": []map[string]any{{"key": "ok", "value": 1, "timestamp": 1}, {"key": "bad/../key", "value": 1, "timestamp": 1}}})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "bad/../key")
		st, body = c.post("runs/log-batch", map[string]any{"run_id": runID,
			"params": []map[string]any{{"key": "fresh", "value": "1"}, {"key": "p0", "value": "changed"}}})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed")
		_, got := c.get("runs/get?run_id=" + runID)
		data := got["run"].(map[string]any)["data"].(map[string]any)
		if n := len(data["params"].([]any)); n != 100 {
			t.Fatalf("params after rejected batches = %d, want 100", n)
		}
		if n := len(data["metrics"].([]any)); n != 1 {
			t.Fatalf("metrics after rejected batches = %d, want 1", n)
		}
		_, hist := c.get("metrics/get-history?run_id=" + runID + "&metric_key=m")
		if n := len(hist["metrics"].([]any)); n != 800 {
			t.Fatalf("history of m = %d points, want 800", n)
		}
		_, hist = c.get("metrics/get-history?run_id=" + runID + "&metric_key=ok")
		if _, ok := hist["metrics"]; ok {
			t.Fatalf("rejected batch wrote metric ok: %v", hist)
		}
	})
}

// TestRunSearchPaging walks runs/search pages with the opaque token.
func TestRunSearchPaging(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		c := client{t: t, url: newServer(t, d).URL}
		_, exp := c.post("experiments/create", map[string]any{"name": "paging"})
		expID := exp["experiment_id"].(string)
		for i := range 7 {
			if st, b := c.post("runs/create", map[string]any{"experiment_id": expID, "start_time": 1000 + i}); st != 200 {
				t.Fatal(b)
			}
		}
		var starts []float64
		tok := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			req := map[string]any{"experiment_ids": []string{expID}, "max_results": 3}
			if tok != "" {
				req["page_token"] = tok
			}
			st, body := c.post("runs/search", req)
			if st != 200 {
				t.Fatal(body)
			}
			for _, r := range body["runs"].([]any) {
				starts = append(starts, r.(map[string]any)["info"].(map[string]any)["start_time"].(float64))
			}
			next, _ := body["next_page_token"].(string)
			if next == "" {
				break
			}
			tok = next
		}
		if fmt.Sprint(starts) != "[1006 1005 1004 1003 1002 1001 1000]" {
			t.Fatalf("start times = %v", starts)
		}
		if st, body := c.post("runs/search", map[string]any{"experiment_ids": []string{expID}, "max_results": 0}); st != 400 {
			t.Fatalf("max_results 0: %d %v", st, body)
		}
	})
}
