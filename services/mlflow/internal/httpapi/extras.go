package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// mountTrackingExtras registers runs/log-inputs, runs/log-model, metrics/get-history-bulk and artifacts/list.
func (h *Handler) mountTrackingExtras(r chi.Router) {
	r.Post("/runs/log-inputs", h.wrap(h.logInputs))
	r.Post("/runs/log-model", h.wrap(h.logModel))
	r.Get("/metrics/get-history-bulk", h.wrap(h.getHistoryBulk))
	r.Get("/metrics/get-history-bulk-interval", h.wrap(h.getHistoryBulkInterval))
	r.Get("/artifacts/list", h.wrap(h.listRunArtifacts))
}

// Bulk metric history limits (MLflow's handlers).
const (
	maxBulkRuns              = 100
	maxBulkHistoryResults    = 25000
	maxBulkIntervalPerRun    = 2500
	maxLogInputsBody         = 32 << 20 // a dataset profile may be up to 16 MB
	maxRunArtifactsListCount = 1000
)

// -------------------------------------------------------------------------------------------- log-inputs

type inputTagJSON struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

type datasetJSON struct {
	Name       string  `json:"name"`
	Digest     string  `json:"digest"`
	SourceType string  `json:"source_type"`
	Source     string  `json:"source"`
	Schema     *string `json:"schema,omitempty"`
	Profile    *string `json:"profile,omitempty"`
}

type datasetInputJSON struct {
	Tags    []inputTagJSON `json:"tags"`
	Dataset *datasetJSON   `json:"dataset"`
}

type logInputsReq struct {
	RunID    string             `json:"run_id"`
	Datasets []datasetInputJSON `json:"datasets"`
}

// toDatasetInputs converts a decoded request, requiring every dataset and input tag value.
func (req logInputsReq) toDatasetInputs() ([]domain.DatasetInput, error) {
	out := make([]domain.DatasetInput, 0, len(req.Datasets))
	for _, di := range req.Datasets {
		if di.Dataset == nil {
			return nil, required("datasets.dataset")
		}
		d := *di.Dataset
		in := domain.DatasetInput{Dataset: domain.Dataset{Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source,
			Schema: d.Schema, Profile: d.Profile}}
		for _, t := range di.Tags {
			if t.Value == nil {
				return nil, required("datasets.tags.value")
			}
			in.Tags = append(in.Tags, domain.InputTag{Key: t.Key, Value: *t.Value})
		}
		out = append(out, in)
	}
	return out, nil
}

func (h *Handler) logInputs(w http.ResponseWriter, r *http.Request) (any, error) {
	var req logInputsReq
	if err := decodeBody(w, r, maxLogInputsBody, &req); err != nil {
		return nil, err
	}
	if req.RunID == "" {
		return nil, required("run_id")
	}
	inputs, err := req.toDatasetInputs()
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.LogInputs(r.Context(), req.RunID, inputs)
}

type datasetOutJSON struct {
	Tags    []tagJSON   `json:"tags,omitempty"`
	Dataset datasetJSON `json:"dataset"`
}

// runsWithInputs renders runs with their dataset inputs (run.inputs.dataset_inputs).
func (h *Handler) runsWithInputs(ctx context.Context, runs []domain.Run) ([]runJSON, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.Info.RunID
	}
	inputs, err := h.st.RunInputs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]runJSON, len(runs))
	for i, r := range runs {
		out[i] = toRunJSON(r)
		if ins := inputs[r.Info.RunID]; len(ins) > 0 {
			js := make([]datasetOutJSON, len(ins))
			for j, in := range ins {
				d := in.Dataset
				js[j].Dataset = datasetJSON{Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source, Schema: d.Schema, Profile: d.Profile}
				for _, t := range in.Tags {
					js[j].Tags = append(js[j].Tags, tagJSON{Key: t.Key, Value: t.Value})
				}
			}
			out[i].Inputs = map[string]any{"dataset_inputs": js}
		}
	}
	return out, nil
}

// --------------------------------------------------------------------------------------------- log-model

type logModelReq struct {
	RunID     string  `json:"run_id"`
	ModelJSON *string `json:"model_json"`
}

// modelMandatoryFields are the keys MLflow requires in model_json.
var modelMandatoryFields = []string{"artifact_path", "flavors", "run_id", "utc_time_created"}

func (h *Handler) logModel(w http.ResponseWriter, r *http.Request) (any, error) {
	var req logModelReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	if req.RunID == "" {
		return nil, required("run_id")
	}
	if req.ModelJSON == nil || *req.ModelJSON == "" {
		return nil, required("model_json")
	}
	model, err := parseModelJSON(*req.ModelJSON)
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.LogModel(r.Context(), req.RunID, model)
}

// parseModelJSON checks that s is a JSON object holding MLflow's mandatory model fields.
func parseModelJSON(s string) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil || fields == nil {
		return nil, domain.Invalid("Malformed model info. \n %s \n is not a valid JSON object.", truncateBytes([]byte(s)))
	}
	var missing []string
	for _, f := range modelMandatoryFields {
		if _, ok := fields[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, domain.Invalid("Model json is missing mandatory fields: %s", strings.Join(missing, ", "))
	}
	return json.RawMessage(s), nil
}

// ---------------------------------------------------------------------------------- bulk metric history

type runMetricJSON struct {
	Key       string `json:"key"`
	Value     Double `json:"value"`
	Timestamp int64  `json:"timestamp"`
	Step      int64  `json:"step"`
	RunID     string `json:"run_id"`
}

func toRunMetricsJSON(ms []store.RunMetric) []runMetricJSON {
	out := make([]runMetricJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, runMetricJSON{Key: m.Key, Value: Double(m.Value), Timestamp: m.Timestamp, Step: m.Step, RunID: m.RunID})
	}
	return out
}

// getHistoryBulk is MLflow's older metrics/get-history-bulk: run_id repeated, metric_key, max_results (at most
// 25000 points in all; larger values are clamped, as MLflow does).
func (h *Handler) getHistoryBulk(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	runIDs := q["run_id"]
	if len(runIDs) == 0 {
		return nil, apierr.InvalidField("run_id", "GetMetricHistoryBulk request must specify at least one run_id.")
	}
	if len(runIDs) > maxBulkRuns {
		return nil, apierr.InvalidField("run_id", "GetMetricHistoryBulk request cannot specify more than %d run_ids. Received %d run_ids.", maxBulkRuns, len(runIDs))
	}
	key := q.Get("metric_key")
	if key == "" {
		return nil, apierr.InvalidField("metric_key", "GetMetricHistoryBulk request must specify a metric_key.")
	}
	mr, err := queryInt64(q, "max_results")
	if err != nil {
		return nil, err
	}
	limit := maxBulkHistoryResults
	if mr != nil {
		if *mr <= 0 {
			return nil, apierr.InvalidField("max_results", "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", int64(*mr))
		}
		limit = int(min(int64(*mr), maxBulkHistoryResults))
	}
	ms, err := h.st.MetricHistoryBulk(r.Context(), runIDs, key, limit)
	if err != nil {
		return nil, err
	}
	return map[string]any{"metrics": toRunMetricsJSON(ms)}, nil
}

// getHistoryBulkInterval is metrics/get-history-bulk-interval: run_ids repeated (at most 100), metric_key,
// optional start_step and end_step (both or neither), max_results per run (1 to 2500, default 2500).
func (h *Handler) getHistoryBulkInterval(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	runIDs := q["run_ids"]
	if len(runIDs) == 0 {
		return nil, required("run_ids")
	}
	if len(runIDs) > maxBulkRuns {
		return nil, apierr.InvalidField("run_ids", "GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %d run_ids.", maxBulkRuns, len(runIDs))
	}
	for _, id := range runIDs {
		if id == "" {
			return nil, apierr.InvalidField("run_ids", "run_ids must not contain empty values")
		}
	}
	key := q.Get("metric_key")
	if key == "" {
		return nil, required("metric_key")
	}
	start, err := queryInt64(q, "start_step")
	if err != nil {
		return nil, err
	}
	end, err := queryInt64(q, "end_step")
	if err != nil {
		return nil, err
	}
	switch {
	case (start == nil) != (end == nil):
		return nil, domain.Invalid("If either start step or end step are specified, both must be specified.")
	case start != nil && *start > *end:
		return nil, apierr.InvalidField("end_step", "end_step must be greater than start_step. Found start_step=%d and end_step=%d.", int64(*start), int64(*end))
	}
	mr, err := queryInt64(q, "max_results")
	if err != nil {
		return nil, err
	}
	limit, err := maxResults(mr, maxBulkIntervalPerRun, maxBulkIntervalPerRun)
	if err != nil {
		return nil, err
	}
	var s, e *int64
	if start != nil {
		a, b := int64(*start), int64(*end)
		s, e = &a, &b
	}
	ms, err := h.st.MetricHistoryInterval(r.Context(), runIDs, key, s, e, limit)
	if err != nil {
		return nil, err
	}
	resp := struct {
		Metrics []runMetricJSON `json:"metrics,omitempty"`
	}{}
	if len(ms) > 0 {
		resp.Metrics = toRunMetricsJSON(ms)
	}
	return resp, nil
}

// ----------------------------------------------------------------------------------------- artifacts/list

// artifactsScheme is the URI scheme of proxied artifact locations.
const artifactsScheme = "mlflow-artifacts"

// proxiedKey returns the blob key prefix of a mlflow-artifacts: URI (mlflow-artifacts:/a/b,
// mlflow-artifacts:///a/b or mlflow-artifacts://host:port/a/b all map to "a/b"), or an INVALID_PARAMETER_VALUE
// error naming the scheme of any other URI.
func proxiedKey(runID, uri string) (string, error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || strings.Contains(scheme, "/") {
		scheme = "file"
	}
	if scheme != artifactsScheme {
		return "", domain.Invalid("The artifact_uri of run %s (%s) uses the scheme %q; this server lists only %s: artifacts", runID, uri, scheme, artifactsScheme)
	}
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i:]
		} else {
			rest = ""
		}
	}
	key := strings.Trim(rest, "/")
	if key != "" {
		if _, err := cleanArtifactPath(key, false); err != nil {
			return "", domain.Invalid("The artifact_uri of run %s (%s) is not a valid artifact location", runID, uri)
		}
	}
	return key, nil
}

type listRunArtifactsResp struct {
	RootURI       string         `json:"root_uri"`
	Files         []fileInfoJSON `json:"files,omitempty"`
	NextPageToken string         `json:"next_page_token,omitempty"`
}

func (h *Handler) listRunArtifacts(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	id, err := runID(q.Get("run_id"), q.Get("run_uuid"))
	if err != nil {
		return nil, err
	}
	rel, err := cleanArtifactPath(q.Get("path"), true)
	if err != nil {
		return nil, err
	}
	offset, err := decodeToken(q.Get("page_token"))
	if err != nil {
		return nil, err
	}
	run, err := h.st.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	root, err := proxiedKey(id, run.Info.ArtifactURI)
	if err != nil {
		return nil, err
	}
	bs, err := h.artifactStore()
	if err != nil {
		return nil, err
	}
	files, err := listArtifactDir(r.Context(), bs, joinKey(root, rel))
	if err != nil {
		return nil, err
	}
	resp := listRunArtifactsResp{RootURI: run.Info.ArtifactURI}
	if offset < len(files) {
		end := min(offset+maxRunArtifactsListCount, len(files))
		for _, f := range files[offset:end] {
			f.Path = joinKey(rel, f.Path)
			resp.Files = append(resp.Files, f)
		}
		if end < len(files) {
			resp.NextPageToken = encodeToken(end)
		}
	}
	return resp, nil
}

func joinKey(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// sortFiles orders listing entries by path.
func sortFiles(fs []fileInfoJSON) {
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Path != fs[j].Path {
			return fs[i].Path < fs[j].Path
		}
		return !fs[i].IsDir && fs[j].IsDir
	})
}
