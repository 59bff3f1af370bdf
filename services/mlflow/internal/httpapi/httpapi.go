// Package httpapi serves MLflow's tracking REST API 2.0 (experiments, runs, metrics) with MLflow's JSON field
// names and error shape {"error_code": ..., "message": ...}.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// Options are the handler's optional collaborators.
type Options struct {
	// Artifacts backs the artifact proxy (/api/2.0/mlflow-artifacts/artifacts/...): the object for
	// mlflow-artifacts:/<path> is stored under key <path>. Nil disables the proxy (503 TEMPORARILY_UNAVAILABLE).
	Artifacts blob.Store
	// ExperimentCreated, when set, is called after an experiment is created through the API, with the request
	// that created it (the app layer records the creator as the experiment's owner).
	ExperimentCreated func(ctx context.Context, r *http.Request, experimentID string) error
}

// Handler serves the tracking API.
type Handler struct {
	st   *store.Store
	log  *slog.Logger
	opts Options
}

// New returns a handler over st.
func New(st *store.Store, logger *slog.Logger, opts Options) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{st: st, log: logger, opts: opts}
}

// Routes registers the API under /api/2.0/mlflow and /ajax-api/2.0/mlflow on r, and the artifact proxy under
// /api/2.0/mlflow-artifacts and /ajax-api/2.0/mlflow-artifacts.
func (h *Handler) Routes(r chi.Router) {
	for _, prefix := range []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"} {
		r.Route(prefix, h.mount)
	}
	for _, prefix := range []string{"/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"} {
		r.Route(prefix, h.mountArtifactProxy)
	}
}

func (h *Handler) mount(r chi.Router) {
	r.Post("/experiments/create", h.wrap(h.createExperiment))
	r.Get("/experiments/get", h.wrap(h.getExperiment))
	r.Get("/experiments/get-by-name", h.wrap(h.getExperimentByName))
	r.Get("/experiments/search", h.wrap(h.searchExperiments))
	r.Post("/experiments/search", h.wrap(h.searchExperiments))
	r.Post("/experiments/update", h.wrap(h.updateExperiment))
	r.Post("/experiments/delete", h.wrap(h.experimentStage(domain.StageDeleted)))
	r.Post("/experiments/restore", h.wrap(h.experimentStage(domain.StageActive)))
	r.Post("/experiments/set-experiment-tag", h.wrap(h.setExperimentTag))

	r.Post("/runs/create", h.wrap(h.createRun))
	r.Get("/runs/get", h.wrap(h.getRun))
	r.Post("/runs/update", h.wrap(h.updateRun))
	r.Post("/runs/delete", h.wrap(h.runStage(domain.StageDeleted)))
	r.Post("/runs/restore", h.wrap(h.runStage(domain.StageActive)))
	r.Post("/runs/log-metric", h.wrap(h.logMetric))
	r.Post("/runs/log-parameter", h.wrap(h.logParam))
	r.Post("/runs/set-tag", h.wrap(h.setTag))
	r.Post("/runs/delete-tag", h.wrap(h.deleteTag))
	r.Post("/runs/log-batch", h.wrap(h.logBatch))
	r.Post("/runs/search", h.wrap(h.searchRuns))
	r.Get("/metrics/get-history", h.wrap(h.getHistory))

	h.mountTrackingExtras(r)
	h.mountRegistry(r)
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

var emptyObject = struct{}{}

func (h *Handler) wrap(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		resp, err := fn(w, r)
		if err != nil {
			h.writeError(r.Context(), w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type errorJSON struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// ErrorCode maps an error to MLflow's error code and HTTP status.
func ErrorCode(err error) (string, int) {
	var br *badRequest
	if errors.As(err, &br) {
		return "BAD_REQUEST", http.StatusBadRequest
	}
	switch apierr.KindOf(err) {
	case apierr.NotFound:
		return "RESOURCE_DOES_NOT_EXIST", http.StatusNotFound
	case apierr.InvalidArgument:
		return "INVALID_PARAMETER_VALUE", http.StatusBadRequest
	case apierr.AlreadyExists:
		return "RESOURCE_ALREADY_EXISTS", http.StatusBadRequest
	case apierr.FailedPrecondition:
		return "INVALID_STATE", http.StatusBadRequest
	case apierr.PermissionDenied:
		return "PERMISSION_DENIED", http.StatusForbidden
	case apierr.Unauthenticated:
		return "UNAUTHENTICATED", http.StatusUnauthorized
	case apierr.Unavailable:
		return "TEMPORARILY_UNAVAILABLE", http.StatusServiceUnavailable
	}
	return "INTERNAL_ERROR", http.StatusInternalServerError
}

func (h *Handler) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	code, status := ErrorCode(err)
	msg := err.Error()
	var br *badRequest
	if !errors.As(err, &br) {
		e := apierr.From(err)
		msg = e.Message
		if status >= 500 {
			h.log.ErrorContext(ctx, "mlflow request failed", "err", err)
		}
	}
	writeJSON(w, status, errorJSON{ErrorCode: code, Message: msg})
}

func runID(runID, runUUID string) (string, error) {
	if runID != "" {
		return runID, nil
	}
	if runUUID != "" {
		return runUUID, nil
	}
	return "", required("run_id")
}

// ------------------------------------------------------------------------------------------------ experiments

type createExperimentReq struct {
	Name             *string   `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	Tags             []tagJSON `json:"tags"`
}

func toTags(in []tagJSON) []domain.Tag {
	out := make([]domain.Tag, 0, len(in))
	for _, t := range in {
		out = append(out, domain.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func (h *Handler) createExperiment(w http.ResponseWriter, r *http.Request) (any, error) {
	var req createExperimentReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	if req.Name == nil || *req.Name == "" {
		return nil, required("name")
	}
	id, err := h.st.CreateExperiment(r.Context(), *req.Name, req.ArtifactLocation, toTags(req.Tags))
	if err != nil {
		return nil, err
	}
	if h.opts.ExperimentCreated != nil {
		// The experiment exists either way; an owner that could not be recorded is logged, and the experiment
		// is then governed by the default permission, as in MLflow's basic-auth app.
		if err := h.opts.ExperimentCreated(r.Context(), r, id); err != nil {
			h.log.WarnContext(r.Context(), "record experiment owner", "experiment_id", id, "err", err)
		}
	}
	return map[string]string{"experiment_id": id}, nil
}

func (h *Handler) getExperiment(_ http.ResponseWriter, r *http.Request) (any, error) {
	id := r.URL.Query().Get("experiment_id")
	if id == "" {
		return nil, required("experiment_id")
	}
	e, err := h.st.GetExperiment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": toExperimentJSON(e)}, nil
}

func (h *Handler) getExperimentByName(_ http.ResponseWriter, r *http.Request) (any, error) {
	name := r.URL.Query().Get("experiment_name")
	if name == "" {
		return nil, required("experiment_name")
	}
	e, err := h.st.GetExperimentByName(r.Context(), name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": toExperimentJSON(e)}, nil
}

type searchExperimentsReq struct {
	MaxResults *Int64   `json:"max_results"`
	PageToken  string   `json:"page_token"`
	Filter     string   `json:"filter"`
	OrderBy    []string `json:"order_by"`
	ViewType   string   `json:"view_type"`
}

// queryInt64 reads an optional integer query parameter.
func queryInt64(q url.Values, name string) (*Int64, error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	var v Int64
	if err := v.UnmarshalJSON([]byte(s)); err != nil {
		return nil, apierr.InvalidField(name, "Invalid value %q for parameter '%s'", s, name)
	}
	return &v, nil
}

func (h *Handler) searchExperiments(w http.ResponseWriter, r *http.Request) (any, error) {
	var req searchExperimentsReq
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		var err error
		if req.MaxResults, err = queryInt64(q, "max_results"); err != nil {
			return nil, err
		}
		req.PageToken, req.Filter, req.ViewType, req.OrderBy = q.Get("page_token"), q.Get("filter"), q.Get("view_type"), q["order_by"]
	} else if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	filter, err := search.ParseExperimentFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	order, err := search.ParseExperimentOrderBy(req.OrderBy)
	if err != nil {
		return nil, err
	}
	view, err := domain.ParseViewType("view_type", req.ViewType)
	if err != nil {
		return nil, err
	}
	limit, err := maxResults(req.MaxResults, domain.DefaultSearchMaxResults, domain.MaxSearchMaxResults)
	if err != nil {
		return nil, err
	}
	offset, err := decodeToken(req.PageToken)
	if err != nil {
		return nil, err
	}
	exps, more, err := h.st.SearchExperimentsFiltered(r.Context(), view, filter, order, limit, offset)
	if err != nil {
		return nil, err
	}
	resp := struct {
		Experiments   []experimentJSON `json:"experiments,omitempty"`
		NextPageToken string           `json:"next_page_token,omitempty"`
	}{}
	for _, e := range exps {
		resp.Experiments = append(resp.Experiments, toExperimentJSON(e))
	}
	if more {
		resp.NextPageToken = encodeToken(offset + limit)
	}
	return resp, nil
}

type experimentReq struct {
	ExperimentID string  `json:"experiment_id"`
	NewName      string  `json:"new_name"`
	Key          string  `json:"key"`
	Value        *string `json:"value"`
}

func (h *Handler) updateExperiment(w http.ResponseWriter, r *http.Request) (any, error) {
	var req experimentReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	if req.ExperimentID == "" {
		return nil, required("experiment_id")
	}
	if req.NewName == "" {
		return nil, required("new_name")
	}
	return emptyObject, h.st.RenameExperiment(r.Context(), req.ExperimentID, req.NewName)
}

func (h *Handler) experimentStage(stage string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req experimentReq
		if err := decodeBody(w, r, maxBody, &req); err != nil {
			return nil, err
		}
		if req.ExperimentID == "" {
			return nil, required("experiment_id")
		}
		return emptyObject, h.st.SetExperimentStage(r.Context(), req.ExperimentID, stage)
	}
}

func (h *Handler) setExperimentTag(w http.ResponseWriter, r *http.Request) (any, error) {
	var req experimentReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	if req.ExperimentID == "" {
		return nil, required("experiment_id")
	}
	if req.Key == "" {
		return nil, required("key")
	}
	if req.Value == nil {
		return nil, required("value")
	}
	return emptyObject, h.st.SetExperimentTag(r.Context(), req.ExperimentID, domain.Tag{Key: req.Key, Value: *req.Value})
}

// ------------------------------------------------------------------------------------------------------ runs

type createRunReq struct {
	ExperimentID string    `json:"experiment_id"`
	UserID       string    `json:"user_id"`
	RunName      string    `json:"run_name"`
	StartTime    Int64     `json:"start_time"`
	Tags         []tagJSON `json:"tags"`
}

func (h *Handler) createRun(w http.ResponseWriter, r *http.Request) (any, error) {
	var req createRunReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	run, err := h.st.CreateRun(r.Context(), store.CreateRunInput{ExperimentID: req.ExperimentID, UserID: req.UserID,
		RunName: req.RunName, StartTime: int64(req.StartTime), Tags: toTags(req.Tags)})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": toRunJSON(run)}, nil
}

func (h *Handler) getRun(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	id, err := runID(q.Get("run_id"), q.Get("run_uuid"))
	if err != nil {
		return nil, err
	}
	run, err := h.st.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	out, err := h.runsWithInputs(r.Context(), []domain.Run{run})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": out[0]}, nil
}

type updateRunReq struct {
	RunID   string  `json:"run_id"`
	RunUUID string  `json:"run_uuid"`
	Status  *string `json:"status"`
	EndTime *Int64  `json:"end_time"`
	RunName *string `json:"run_name"`
}

func (h *Handler) updateRun(w http.ResponseWriter, r *http.Request) (any, error) {
	var req updateRunReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	id, err := runID(req.RunID, req.RunUUID)
	if err != nil {
		return nil, err
	}
	in := store.UpdateRunInput{RunID: id, Status: req.Status, RunName: req.RunName}
	if req.EndTime != nil {
		v := int64(*req.EndTime)
		in.EndTime = &v
	}
	info, err := h.st.UpdateRun(r.Context(), in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": toRunInfoJSON(info)}, nil
}

type runReq struct {
	RunID   string  `json:"run_id"`
	RunUUID string  `json:"run_uuid"`
	Key     string  `json:"key"`
	Value   *string `json:"value"`
}

// decodeRunReq decodes a run_id/key/value body and resolves the run id; with key (and value) it also requires
// those fields.
func decodeRunReq(w http.ResponseWriter, r *http.Request, key, value bool) (runReq, string, error) {
	var req runReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return req, "", err
	}
	id, err := runID(req.RunID, req.RunUUID)
	switch {
	case err != nil:
		return req, "", err
	case key && req.Key == "":
		return req, "", required("key")
	case value && req.Value == nil:
		return req, "", required("value")
	}
	return req, id, nil
}

func (h *Handler) runStage(stage string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		_, id, err := decodeRunReq(w, r, false, false)
		if err != nil {
			return nil, err
		}
		return emptyObject, h.st.SetRunStage(r.Context(), id, stage)
	}
}

type logMetricReq struct {
	RunID     string  `json:"run_id"`
	RunUUID   string  `json:"run_uuid"`
	Key       string  `json:"key"`
	Value     *Double `json:"value"`
	Timestamp *Int64  `json:"timestamp"`
	Step      Int64   `json:"step"`
}

func (h *Handler) logMetric(w http.ResponseWriter, r *http.Request) (any, error) {
	var req logMetricReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	id, err := runID(req.RunID, req.RunUUID)
	if err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, required("key")
	}
	if req.Value == nil {
		return nil, required("value")
	}
	if req.Timestamp == nil {
		return nil, required("timestamp")
	}
	return emptyObject, h.st.LogMetric(r.Context(), id, domain.Metric{Key: req.Key, Value: float64(*req.Value),
		Timestamp: int64(*req.Timestamp), Step: int64(req.Step)})
}

func (h *Handler) logParam(w http.ResponseWriter, r *http.Request) (any, error) {
	req, id, err := decodeRunReq(w, r, true, true)
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.LogParam(r.Context(), id, domain.Param{Key: req.Key, Value: *req.Value})
}

func (h *Handler) setTag(w http.ResponseWriter, r *http.Request) (any, error) {
	req, id, err := decodeRunReq(w, r, true, true)
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.SetTag(r.Context(), id, domain.Tag{Key: req.Key, Value: *req.Value})
}

func (h *Handler) deleteTag(w http.ResponseWriter, r *http.Request) (any, error) {
	req, id, err := decodeRunReq(w, r, true, false)
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.DeleteTag(r.Context(), id, req.Key)
}

type batchMetricJSON struct {
	Key       string  `json:"key"`
	Value     *Double `json:"value"`
	Timestamp *Int64  `json:"timestamp"`
	Step      Int64   `json:"step"`
}

type logBatchReq struct {
	RunID   string            `json:"run_id"`
	Metrics []batchMetricJSON `json:"metrics"`
	Params  []tagJSON         `json:"params"`
	Tags    []tagJSON         `json:"tags"`
}

func (h *Handler) logBatch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req logBatchReq
	if err := decodeBody(w, r, domain.MaxBatchBytes, &req); err != nil {
		return nil, err
	}
	if req.RunID == "" {
		return nil, required("run_id")
	}
	metrics := make([]domain.Metric, 0, len(req.Metrics))
	for _, m := range req.Metrics {
		if m.Value == nil {
			return nil, required("metrics.value")
		}
		if m.Timestamp == nil {
			return nil, required("metrics.timestamp")
		}
		metrics = append(metrics, domain.Metric{Key: m.Key, Value: float64(*m.Value), Timestamp: int64(*m.Timestamp), Step: int64(m.Step)})
	}
	params := make([]domain.Param, 0, len(req.Params))
	for _, p := range req.Params {
		params = append(params, domain.Param{Key: p.Key, Value: p.Value})
	}
	return emptyObject, h.st.LogBatch(r.Context(), req.RunID, metrics, params, toTags(req.Tags))
}

type searchRunsReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter"`
	RunViewType   string   `json:"run_view_type"`
	MaxResults    *Int64   `json:"max_results"`
	OrderBy       []string `json:"order_by"`
	PageToken     string   `json:"page_token"`
}

func (h *Handler) searchRuns(w http.ResponseWriter, r *http.Request) (any, error) {
	var req searchRunsReq
	if err := decodeBody(w, r, maxBody, &req); err != nil {
		return nil, err
	}
	filter, err := search.ParseFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	order, err := search.ParseOrderBy(req.OrderBy)
	if err != nil {
		return nil, err
	}
	view, err := domain.ParseViewType("run_view_type", req.RunViewType)
	if err != nil {
		return nil, err
	}
	limit, err := maxResults(req.MaxResults, domain.DefaultSearchMaxResults, domain.MaxSearchMaxResults)
	if err != nil {
		return nil, err
	}
	runs, next, err := h.st.SearchRunsPage(r.Context(), store.RunQuery{
		ExperimentIDs: req.ExperimentIDs, View: view, Filter: filter, Order: order, Limit: limit, PageToken: req.PageToken,
	})
	if err != nil {
		return nil, err
	}
	resp := struct {
		Runs          []runJSON `json:"runs,omitempty"`
		NextPageToken string    `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	if resp.Runs, err = h.runsWithInputs(r.Context(), runs); err != nil {
		return nil, err
	}
	return resp, nil
}

func (h *Handler) getHistory(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	id, err := runID(q.Get("run_id"), q.Get("run_uuid"))
	if err != nil {
		return nil, err
	}
	key := q.Get("metric_key")
	if key == "" {
		return nil, required("metric_key")
	}
	mr, err := queryInt64(q, "max_results")
	if err != nil {
		return nil, err
	}
	limit, err := maxResults(mr, domain.DefaultHistoryPageSize, domain.MaxHistoryPageSize)
	if err != nil {
		return nil, err
	}
	offset, err := decodeToken(q.Get("page_token"))
	if err != nil {
		return nil, err
	}
	ms, more, err := h.st.MetricHistory(r.Context(), id, key, limit, offset)
	if err != nil {
		return nil, err
	}
	resp := struct {
		Metrics       []metricJSON `json:"metrics,omitempty"`
		NextPageToken string       `json:"next_page_token,omitempty"`
	}{Metrics: toMetricsJSON(ms)}
	if more {
		resp.NextPageToken = encodeToken(offset + limit)
	}
	return resp, nil
}
