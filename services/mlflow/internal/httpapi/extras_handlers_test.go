package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/pkg/blob/blobtest"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

func newRun(t *testing.T, c client, expID string) string {
	t.Helper()
	st, body := c.post("runs/create", map[string]any{"experiment_id": expID})
	if st != 200 {
		t.Fatalf("create run: %d %v", st, body)
	}
	return body["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
}

func newExperiment(t *testing.T, c client, body map[string]any) string {
	t.Helper()
	st, resp := c.post("experiments/create", body)
	if st != 200 {
		t.Fatalf("create experiment: %d %v", st, resp)
	}
	return resp["experiment_id"].(string)
}

func dataset(name, digest, source string) map[string]any {
	return map[string]any{"name": name, "digest": digest, "source_type": "local", "source": source}
}

// runInputs returns run.inputs of runs/get as JSON text.
func runInputs(t *testing.T, c client, runID string) string {
	t.Helper()
	st, body := c.get("runs/get?run_id=" + runID)
	if st != 200 {
		t.Fatalf("get run: %d %v", st, body)
	}
	b, _ := json.Marshal(body["run"].(map[string]any)["inputs"])
	return string(b)
}

func TestLogInputs(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		srv, _ := artifactServer(t, d, nil)
		c := client{t: t, url: srv.URL}
		exp := newExperiment(t, c, map[string]any{"name": "inputs"})
		run1, run2 := newRun(t, c, exp), newRun(t, c, exp)
		if got := runInputs(t, c, run1); got != "{}" {
			t.Fatalf("fresh run inputs = %s", got)
		}
		train := dataset("train", "d1", `{"uri": "/data/train.csv"}`)
		train["schema"] = `{"mlflow_colspec": [{"type": "double", "name": "x"}]}`
		train["profile"] = `{"num_rows": 3}`
		st, body := c.post("runs/log-inputs", map[string]any{"run_id": run1, "datasets": []any{
			map[string]any{"tags": []any{map[string]any{"key": "mlflow.data.context", "value": "training"}, map[string]any{"key": "b", "value": ""}}, "dataset": train},
			map[string]any{"dataset": dataset("eval", "d2", "s3://b/eval")},
			map[string]any{"dataset": dataset("train", "d1", "ignored: same name and digest")},
		}})
		if st != 200 || len(body) != 0 {
			t.Fatalf("log-inputs: %d %v", st, body)
		}
		// (JSON object keys sorted: runInputs re-encodes a decoded map.)
		want := `{"dataset_inputs":[{"dataset":{"digest":"d1","name":"train","profile":"{\"num_rows\": 3}",` +
			`"schema":"{\"mlflow_colspec\": [{\"type\": \"double\", \"name\": \"x\"}]}","source":"{\"uri\": \"/data/train.csv\"}","source_type":"local"},` +
			`"tags":[{"key":"b","value":""},{"key":"mlflow.data.context","value":"training"}]},` +
			`{"dataset":{"digest":"d2","name":"eval","source":"s3://b/eval","source_type":"local"}}]}`
		if got := runInputs(t, c, run1); got != want {
			t.Fatalf("inputs:\n got %s\nwant %s", got, want)
		}
		// Logging the same dataset again is a no-op (input tags unchanged); a new digest is a new dataset.
		st, body = c.post("runs/log-inputs", map[string]any{"run_id": run1, "datasets": []any{
			map[string]any{"tags": []any{map[string]any{"key": "mlflow.data.context", "value": "changed"}}, "dataset": dataset("train", "d1", "x")},
			map[string]any{"dataset": dataset("train", "d3", "v2")},
		}})
		if st != 200 {
			t.Fatalf("log-inputs again: %d %v", st, body)
		}
		got := runInputs(t, c, run1)
		if !strings.HasPrefix(got, want[:len(want)-3]) || !strings.Contains(got, `"digest":"d3"`) || strings.Contains(got, "changed") {
			t.Fatalf("inputs after second call: %s", got)
		}
		// Another run of the experiment reuses the stored dataset (its source as first logged).
		if st, body := c.post("runs/log-inputs", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset("eval", "d2", "other source")}}}); st != 200 {
			t.Fatalf("log-inputs run2: %d %v", st, body)
		}
		if got := runInputs(t, c, run2); got != `{"dataset_inputs":[{"dataset":{"digest":"d2","name":"eval","source":"s3://b/eval","source_type":"local"}}]}` {
			t.Fatalf("run2 inputs: %s", got)
		}
		// An empty list is fine.
		if st, body := c.post("runs/log-inputs", map[string]any{"run_id": run2}); st != 200 {
			t.Fatalf("no datasets: %d %v", st, body)
		}
		// runs/search returns inputs too.
		st, body = c.post("runs/search", map[string]any{"experiment_ids": []string{exp}, "filter": "attributes.run_id = '" + run2 + "'"})
		if b, _ := json.Marshal(body["runs"]); st != 200 || !strings.Contains(string(b), `"inputs":{"dataset_inputs":[{"dataset":{"digest":"d2","name":"eval"`) {
			t.Fatalf("search: %d %s", st, b)
		}

		before := runInputs(t, c, run2)
		long := func(n int) string { return strings.Repeat("x", n) }
		for _, tc := range []struct {
			name string
			body any
			st   int
			code string
			msg  string
		}{
			{"no run_id", map[string]any{"datasets": []any{}}, 400, "INVALID_PARAMETER_VALUE", "run_id"},
			{"unknown run", map[string]any{"run_id": "ffffffffffffffffffffffffffffffff"}, 404, "RESOURCE_DOES_NOT_EXIST", "not found"},
			{"no dataset", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"tags": []any{}}}}, 400, "INVALID_PARAMETER_VALUE", "datasets.dataset"},
			{"no name", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset("", "d", "s")}}}, 400, "INVALID_PARAMETER_VALUE", "name"},
			{"no source", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset("n", "d", "")}}}, 400, "INVALID_PARAMETER_VALUE", "source"},
			{"long name", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset(long(501), "d", "s")}}}, 400, "INVALID_PARAMETER_VALUE", "maximum length of 500"},
			{"long digest", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset("n", long(37), "s")}}}, 400, "INVALID_PARAMETER_VALUE", "maximum length of 36"},
			{"long source", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset("n", "d", long(65536))}}}, 400, "INVALID_PARAMETER_VALUE", "maximum length of 65535"},
			{"tag without value", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"tags": []any{map[string]any{"key": "k"}}, "dataset": dataset("n", "d", "s")}}}, 400, "INVALID_PARAMETER_VALUE", "datasets.tags.value"},
			{"long tag value", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"tags": []any{map[string]any{"key": "k", "value": long(501)}}, "dataset": dataset("n", "d", "s")}}}, 400, "INVALID_PARAMETER_VALUE", "maximum length of 500"},
			{"long tag key", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"tags": []any{map[string]any{"key": long(256), "value": "v"}}, "dataset": dataset("n", "d", "s")}}}, 400, "INVALID_PARAMETER_VALUE", "maximum length of 255"},
			{"valid then invalid", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset("fresh", "d", "s")}, map[string]any{"dataset": dataset("n", long(40), "s")}}}, 400, "INVALID_PARAMETER_VALUE", "digest"},
			{"wrong type", map[string]any{"run_id": run2, "datasets": "x"}, 400, "INVALID_PARAMETER_VALUE", "datasets"},
			{"not JSON", "{", 400, "BAD_REQUEST", "not valid JSON"},
		} {
			st, body := c.post("runs/log-inputs", tc.body)
			wantError(t, st, body, tc.st, tc.code, tc.msg)
		}
		var many []any
		for i := range 1001 {
			many = append(many, map[string]any{"dataset": dataset(fmt.Sprint("d", i), "x", "s")})
		}
		st, body = c.post("runs/log-inputs", map[string]any{"run_id": run2, "datasets": many})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "at most 1000 datasets")
		if after := runInputs(t, c, run2); after != before {
			t.Fatalf("rejected requests changed inputs: %s", after)
		}
		// Deleted runs cannot be written to.
		c.post("runs/delete", map[string]any{"run_id": run2})
		st, body = c.post("runs/log-inputs", map[string]any{"run_id": run2, "datasets": []any{map[string]any{"dataset": dataset("n", "d", "s")}}})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
	})
}

func modelJSON(runID, path string) string {
	return fmt.Sprintf(`{"artifact_path": %q, "flavors": {"sklearn": {"pickled_model": "model.pkl"}}, "run_id": %q, "utc_time_created": "2024-04-01 10:00:00.000000", "model_uuid": "u"}`, path, runID)
}

// runTag returns a run tag's value ("" and false when absent).
func runTag(t *testing.T, c client, runID, key string) (string, bool) {
	t.Helper()
	_, body := c.get("runs/get?run_id=" + runID)
	tags, _ := body["run"].(map[string]any)["data"].(map[string]any)["tags"].([]any)
	for _, tg := range tags {
		if m := tg.(map[string]any); m["key"] == key {
			return m["value"].(string), true
		}
	}
	return "", false
}

func TestLogModel(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		srv, _ := artifactServer(t, d, nil)
		c := client{t: t, url: srv.URL}
		run := newRun(t, c, "0")
		for _, p := range []string{"model", "model2"} {
			if st, body := c.post("runs/log-model", map[string]any{"run_id": run, "model_json": modelJSON(run, p)}); st != 200 || len(body) != 0 {
				t.Fatalf("log-model %s: %d %v", p, st, body)
			}
		}
		v, ok := runTag(t, c, run, "mlflow.log-model.history")
		var hist []map[string]any
		if !ok || json.Unmarshal([]byte(v), &hist) != nil || len(hist) != 2 || hist[0]["artifact_path"] != "model" || hist[1]["artifact_path"] != "model2" ||
			hist[0]["flavors"].(map[string]any)["sklearn"] == nil || hist[1]["model_uuid"] != "u" {
			t.Fatalf("history tag = %q", v)
		}

		for _, tc := range []struct {
			name string
			body any
			st   int
			code string
			msg  string
		}{
			{"no run_id", map[string]any{"model_json": modelJSON(run, "m")}, 400, "INVALID_PARAMETER_VALUE", "run_id"},
			{"no model_json", map[string]any{"run_id": run}, 400, "INVALID_PARAMETER_VALUE", "model_json"},
			{"not JSON", map[string]any{"run_id": run, "model_json": "{oops"}, 400, "INVALID_PARAMETER_VALUE", "is not a valid JSON"},
			{"array", map[string]any{"run_id": run, "model_json": "[1]"}, 400, "INVALID_PARAMETER_VALUE", "is not a valid JSON"},
			{"null", map[string]any{"run_id": run, "model_json": "null"}, 400, "INVALID_PARAMETER_VALUE", "is not a valid JSON"},
			{"missing fields", map[string]any{"run_id": run, "model_json": `{"artifact_path": "m", "run_id": "x"}`}, 400, "INVALID_PARAMETER_VALUE", "missing mandatory fields: flavors, utc_time_created"},
			{"model_json not a string", map[string]any{"run_id": run, "model_json": map[string]any{}}, 400, "INVALID_PARAMETER_VALUE", "model_json"},
			{"unknown run", map[string]any{"run_id": "ffffffffffffffffffffffffffffffff", "model_json": modelJSON(run, "m")}, 404, "RESOURCE_DOES_NOT_EXIST", "not found"},
			{"too long for the tag", map[string]any{"run_id": run, "model_json": strings.Replace(modelJSON(run, "m"), `"u"`, `"`+strings.Repeat("u", 8000)+`"`, 1)}, 400, "INVALID_PARAMETER_VALUE", "exceeded length limit of 8000"},
		} {
			st, body := c.post("runs/log-model", tc.body)
			wantError(t, st, body, tc.st, tc.code, tc.msg)
		}
		if v2, _ := runTag(t, c, run, "mlflow.log-model.history"); v2 != v {
			t.Fatalf("rejected calls changed the history: %s", v2)
		}

		// Concurrent calls all land: the append is atomic.
		run2 := newRun(t, c, "0")
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				st, body := c.post("runs/log-model", map[string]any{"run_id": run2, "model_json": modelJSON(run2, fmt.Sprint("m", i))})
				if st != 200 {
					t.Errorf("concurrent log-model: %d %v", st, body)
				}
			})
		}
		wg.Wait()
		v, _ = runTag(t, c, run2, "mlflow.log-model.history")
		if err := json.Unmarshal([]byte(v), &hist); err != nil || len(hist) != 8 {
			t.Fatalf("after 8 concurrent calls: %d entries (%v)", len(hist), err)
		}

		c.post("runs/update", map[string]any{"run_id": run2, "status": "FINISHED"})
		c.post("runs/delete", map[string]any{"run_id": run2})
		st, body := c.post("runs/log-model", map[string]any{"run_id": run2, "model_json": modelJSON(run2, "m")})
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "must be in the 'active' state")
	})
}

// metricSteps returns "run:step" for each metric of a bulk response, with run ids replaced by names.
func metricSteps(t *testing.T, body map[string]any, names map[string]string) string {
	t.Helper()
	ms, _ := body["metrics"].([]any)
	var out []string
	for _, m := range ms {
		mm := m.(map[string]any)
		if mm["key"] != "loss" {
			t.Fatalf("metric %v", mm)
		}
		out = append(out, fmt.Sprintf("%s:%v", names[mm["run_id"].(string)], mm["step"]))
	}
	return strings.Join(out, " ")
}

func TestMetricHistoryBulk(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		srv, _ := artifactServer(t, d, nil)
		c := client{t: t, url: srv.URL}
		a, b := newRun(t, c, "0"), newRun(t, c, "0")
		if a > b {
			a, b = b, a // a sorts first
		}
		names := map[string]string{a: "a", b: "b"}
		var ms []map[string]any
		for step := range 10 {
			ms = append(ms, map[string]any{"key": "loss", "value": 1.0 / float64(step+1), "timestamp": 1000 + step, "step": step})
		}
		ms = append(ms, map[string]any{"key": "other", "value": 1, "timestamp": 1, "step": 0})
		for _, r := range []string{a, b} {
			if st, body := c.post("runs/log-batch", map[string]any{"run_id": r, "metrics": ms}); st != 200 {
				t.Fatal(body)
			}
		}
		c.post("runs/log-metric", map[string]any{"run_id": b, "key": "loss", "value": "NaN", "timestamp": 5000, "step": 12})
		q := func(path string, v url.Values) (int, map[string]any) { return c.get(path + "?" + v.Encode()) }

		st, body := q("metrics/get-history-bulk-interval", url.Values{"run_ids": {b, a}, "metric_key": {"loss"}})
		want := "a:0 a:1 a:2 a:3 a:4 a:5 a:6 a:7 a:8 a:9 b:0 b:1 b:2 b:3 b:4 b:5 b:6 b:7 b:8 b:9 b:12"
		if got := metricSteps(t, body, names); st != 200 || got != want {
			t.Fatalf("interval: %d %s", st, got)
		}
		first := body["metrics"].([]any)[0].(map[string]any)
		if first["value"] != 1.0 || first["timestamp"] != 1000.0 || first["run_id"] != a {
			t.Fatalf("first point %v", first)
		}
		if last := body["metrics"].([]any)[20].(map[string]any); last["value"] != "NaN" {
			t.Fatalf("NaN point %v", last)
		}
		st, body = q("metrics/get-history-bulk-interval", url.Values{"run_ids": {a, b}, "metric_key": {"loss"}, "start_step": {"2"}, "end_step": {"4"}})
		if got := metricSteps(t, body, names); st != 200 || got != "a:2 a:3 a:4 b:2 b:3 b:4" {
			t.Fatalf("interval 2..4: %d %s", st, got)
		}
		// Sampling keeps max_results steps spread over the range plus each run's first and last step.
		st, body = q("metrics/get-history-bulk-interval", url.Values{"run_ids": {a, b}, "metric_key": {"loss"}, "max_results": {"3"}})
		if got := metricSteps(t, body, names); st != 200 || got != "a:0 a:5 a:9 b:0 b:5 b:9 b:12" {
			t.Fatalf("sampled: %d %s", st, got)
		}
		st, body = q("metrics/get-history-bulk-interval", url.Values{"run_ids": {a, "ffffffffffffffffffffffffffffffff"}, "metric_key": {"nope"}})
		if st != 200 || len(body) != 0 {
			t.Fatalf("no points: %d %v", st, body)
		}
		many := url.Values{"metric_key": {"loss"}}
		for i := range 101 {
			many.Add("run_ids", fmt.Sprint("r", i))
		}
		for _, tc := range []struct {
			v    url.Values
			msg  string
			code int
		}{
			{url.Values{"metric_key": {"loss"}}, "run_ids", 400},
			{many, "at most 100 run_ids", 400},
			{url.Values{"run_ids": {a}}, "metric_key", 400},
			{url.Values{"run_ids": {a}, "metric_key": {"loss"}, "start_step": {"1"}}, "both must be specified", 400},
			{url.Values{"run_ids": {a}, "metric_key": {"loss"}, "end_step": {"1"}}, "both must be specified", 400},
			{url.Values{"run_ids": {a}, "metric_key": {"loss"}, "start_step": {"5"}, "end_step": {"1"}}, "end_step must be greater", 400},
			{url.Values{"run_ids": {a}, "metric_key": {"loss"}, "start_step": {"x"}, "end_step": {"1"}}, "start_step", 400},
			{url.Values{"run_ids": {a}, "metric_key": {"loss"}, "max_results": {"0"}}, "max_results", 400},
			{url.Values{"run_ids": {a}, "metric_key": {"loss"}, "max_results": {"2501"}}, "at most 2500", 400},
		} {
			st, body := q("metrics/get-history-bulk-interval", tc.v)
			wantError(t, st, body, tc.code, "INVALID_PARAMETER_VALUE", tc.msg)
		}

		// The older get-history-bulk: run_id repeated, max_results bounds the total.
		st, body = q("metrics/get-history-bulk", url.Values{"run_id": {b, a}, "metric_key": {"loss"}})
		if got := metricSteps(t, body, names); st != 200 || got != want {
			t.Fatalf("bulk: %d %s", st, got)
		}
		st, body = q("metrics/get-history-bulk", url.Values{"run_id": {b, a}, "metric_key": {"loss"}, "max_results": {"12"}})
		if got := metricSteps(t, body, names); st != 200 || got != "a:0 a:1 a:2 a:3 a:4 a:5 a:6 a:7 a:8 a:9 b:0 b:1" {
			t.Fatalf("bulk max 12: %d %s", st, got)
		}
		st, body = q("metrics/get-history-bulk", url.Values{"run_id": {a}, "metric_key": {"nope"}})
		if st != 200 || fmt.Sprint(body["metrics"]) != "[]" {
			t.Fatalf("bulk empty: %d %v", st, body)
		}
		many = url.Values{"metric_key": {"loss"}}
		for i := range 101 {
			many.Add("run_id", fmt.Sprint("r", i))
		}
		for _, tc := range []struct {
			v   url.Values
			msg string
		}{
			{url.Values{"metric_key": {"loss"}}, "at least one run_id"},
			{many, "cannot specify more than 100 run_ids"},
			{url.Values{"run_id": {a}}, "must specify a metric_key"},
			{url.Values{"run_id": {a}, "metric_key": {"loss"}, "max_results": {"-1"}}, "max_results"},
			{url.Values{"run_id": {a}, "metric_key": {"loss"}, "max_results": {"abc"}}, "max_results"},
		} {
			st, body := q("metrics/get-history-bulk", tc.v)
			wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", tc.msg)
		}
	})
}

func TestListRunArtifacts(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		bs := blobtest.NewLocal(t)
		srv, _ := artifactServer(t, d, bs)
		c := client{t: t, url: srv.URL}
		exp := newExperiment(t, c, map[string]any{"name": "arts"})
		run := newRun(t, c, exp)
		root := exp + "/" + run + "/artifacts"
		for _, k := range []string{"model/MLmodel", "model/model.pkl", "metrics.json", "plots/a/b.png"} {
			if err := bs.Put(t.Context(), root+"/"+k, strings.NewReader("1234"), 4, blob.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		files := func(body map[string]any) string {
			b, _ := json.Marshal(body["files"])
			return string(b)
		}
		st, body := c.get("artifacts/list?run_id=" + run)
		if st != 200 || body["root_uri"] != "mlflow-artifacts:/"+root ||
			files(body) != `[{"file_size":4,"is_dir":false,"path":"metrics.json"},{"is_dir":true,"path":"model"},{"is_dir":true,"path":"plots"}]` {
			t.Fatalf("list root: %d %v", st, body)
		}
		st, body = c.get("artifacts/list?run_uuid=" + run + "&path=model/")
		if st != 200 || files(body) != `[{"file_size":4,"is_dir":false,"path":"model/MLmodel"},{"file_size":4,"is_dir":false,"path":"model/model.pkl"}]` {
			t.Fatalf("list model: %d %v", st, body)
		}
		st, body = c.get("artifacts/list?run_id=" + run + "&path=plots/a")
		if st != 200 || files(body) != `[{"file_size":4,"is_dir":false,"path":"plots/a/b.png"}]` {
			t.Fatalf("list plots/a: %d %v", st, body)
		}
		st, body = c.get("artifacts/list?run_id=" + run + "&path=nothing")
		if st != 200 || body["files"] != nil || body["root_uri"] == nil {
			t.Fatalf("list missing dir: %d %v", st, body)
		}

		// Paging: 1000 entries a page.
		run2 := newRun(t, c, exp)
		for i := range 1001 {
			if err := bs.Put(t.Context(), fmt.Sprintf("%s/%s/artifacts/f%04d", exp, run2, i), strings.NewReader("x"), 1, blob.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		st, body = c.get("artifacts/list?run_id=" + run2)
		tok, _ := body["next_page_token"].(string)
		if st != 200 || len(body["files"].([]any)) != 1000 || tok == "" {
			t.Fatalf("page 1: %d, %d files, token %q", st, len(body["files"].([]any)), tok)
		}
		st, body = c.get("artifacts/list?run_id=" + run2 + "&page_token=" + tok)
		if st != 200 || files(body) != `[{"file_size":1,"is_dir":false,"path":"f1000"}]` || body["next_page_token"] != nil {
			t.Fatalf("page 2: %d %v", st, body)
		}

		// Runs stored elsewhere are not listed by this server.
		s3exp := newExperiment(t, c, map[string]any{"name": "s3", "artifact_location": "s3://bucket/prefix"})
		s3run := newRun(t, c, s3exp)
		st, body = c.get("artifacts/list?run_id=" + s3run)
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", `scheme "s3"`)
		st, body = c.get("artifacts/list?run_id=ffffffffffffffffffffffffffffffff")
		wantError(t, st, body, 404, "RESOURCE_DOES_NOT_EXIST", "not found")
		st, body = c.get("artifacts/list")
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "run_id")
		for _, p := range []string{"..", "model/../..", "/etc", `a\b`} {
			st, body = c.get("artifacts/list?run_id=" + run + "&path=" + url.QueryEscape(p))
			wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
		}
		st, body = c.get("artifacts/list?run_id=" + run + "&page_token=%21%21")
		wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", "page token")

		// Without an artifact store the listing is unavailable.
		srv2, _ := artifactServer(t, d, nil)
		st, body = client{t: t, url: srv2.URL}.get("artifacts/list?run_id=" + run)
		wantError(t, st, body, 503, "TEMPORARILY_UNAVAILABLE", "not configured")
	})
}

func experimentNames(t *testing.T, body map[string]any) string {
	t.Helper()
	exps, _ := body["experiments"].([]any)
	var out []string
	for _, e := range exps {
		out = append(out, e.(map[string]any)["name"].(string))
	}
	return strings.Join(out, " ")
}

func TestSearchExperimentsFilterAndOrder(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		srv, clk := artifactServer(t, d, nil)
		c := client{t: t, url: srv.URL}
		ids := map[string]string{}
		for i, name := range []string{"alpha-x", "Beta-x", "gamma", "delta-x"} {
			clk.Advance(time.Second)
			body := map[string]any{"name": name}
			if i%2 == 0 {
				body["tags"] = []map[string]any{{"key": "team", "value": fmt.Sprint("t", i)}}
			}
			ids[name] = newExperiment(t, c, body)
		}
		clk.Advance(time.Second)
		c.post("experiments/set-experiment-tag", map[string]any{"experiment_id": ids["Beta-x"], "key": "team", "value": "t2"})
		c.post("experiments/delete", map[string]any{"experiment_id": ids["delta-x"]})
		t0 := 1_700_000_000_000

		search := func(filter string, order []string, extra map[string]any) (int, map[string]any) {
			req := map[string]any{"filter": filter, "order_by": order, "view_type": "ALL"}
			for k, v := range extra {
				req[k] = v
			}
			return c.post("experiments/search", req)
		}
		for _, tc := range []struct {
			filter string
			order  []string
			want   string
		}{
			{"name LIKE '%-x'", nil, "delta-x Beta-x alpha-x"},
			{"name LIKE '%-X'", nil, ""},
			{"name ILIKE '%-X'", []string{"name"}, "Beta-x alpha-x delta-x"},
			{"attribute.name = 'gamma'", nil, "gamma"},
			{"name != 'gamma' AND name LIKE 'al%'", nil, "alpha-x"},
			{"tags.team = 't2'", []string{"experiment_id DESC"}, "gamma Beta-x"},
			{"tags.`team` LIKE 't%' AND name LIKE '%x'", nil, "Beta-x alpha-x"},
			{"tags.missing = 'x'", nil, ""},
			{fmt.Sprintf("attribute.creation_time > %d", t0+2000), nil, "delta-x gamma"},
			{fmt.Sprintf("creation_time <= %d AND name LIKE '%%-x'", t0+2000), []string{"creation_time ASC"}, "alpha-x Beta-x"},
			{fmt.Sprintf("last_update_time >= %d", t0+3000), []string{"name DESC"}, "gamma delta-x"},
			{fmt.Sprintf("last_update_time = %d", t0+5000), nil, "delta-x"}, // deleting touched it
			{"name LIKE '%a%'", []string{"attribute.last_update_time DESC", "name"}, "delta-x gamma Beta-x alpha-x Default"},
		} {
			st, body := search(tc.filter, tc.order, nil)
			if got := experimentNames(t, body); st != 200 || got != tc.want {
				t.Fatalf("filter %q order %v: %d %q, want %q (%v)", tc.filter, tc.order, st, got, tc.want, body)
			}
		}
		// The view still applies; GET takes the same parameters.
		st, body := c.get("experiments/search?" + url.Values{"filter": {"name LIKE '%-x'"}, "order_by": {"name DESC"}}.Encode())
		if got := experimentNames(t, body); st != 200 || got != "alpha-x Beta-x" {
			t.Fatalf("GET search: %d %q", st, got)
		}

		// Stable paging over equal creation times: experiment_id breaks ties.
		for i := range 5 {
			newExperiment(t, c, map[string]any{"name": fmt.Sprint("page-", i)})
		}
		var got []string
		tok := ""
		for range 10 {
			extra := map[string]any{"max_results": 2}
			if tok != "" {
				extra["page_token"] = tok
			}
			st, body := search("name LIKE 'page-%'", []string{"creation_time DESC"}, extra)
			if st != 200 {
				t.Fatal(body)
			}
			got = append(got, experimentNames(t, body))
			if tok, _ = body["next_page_token"].(string); tok == "" {
				break
			}
		}
		if strings.Join(got, " ") != "page-0 page-1 page-2 page-3 page-4" {
			t.Fatalf("pages = %q", got)
		}

		for _, tc := range []struct {
			filter string
			order  []string
			msg    string
		}{
			{"name = gamma", nil, "expected a quoted string"},
			{"foo = 'x'", nil, "invalid attribute key"},
			{"params.a = 'x'", nil, "invalid entity type"},
			{"creation_time LIKE '1'", nil, "operator LIKE is not allowed"},
			{"creation_time > 'x'", nil, "expected an integer"},
			{"name IN ('a')", nil, "operator IN is not allowed"},
			{"name = 'a' OR name = 'b'", nil, "OR is not supported"},
			{"name = 'a' AND", nil, "expected a comparison after AND"},
			{"", []string{"tags.team"}, "ordering by tags is not supported"},
			{"", []string{"name", "name DESC"}, "duplicate"},
			{"", []string{"name UP"}, "expected ASC or DESC"},
			{"", []string{"start_time"}, "invalid attribute key"},
			{"", []string{""}, "empty order_by"},
		} {
			st, body := search(tc.filter, tc.order, nil)
			wantError(t, st, body, 400, "INVALID_PARAMETER_VALUE", tc.msg)
		}
	})
}

var _ = http.MethodGet
