package applayer

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// ------------------------------------------------------------------------------------------------- users

func (h *Handler) createUser(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	user, err := h.caller(r)
	if err != nil {
		return 0, nil, err
	}
	created, err := h.perms.recordUser(r.Context(), user)
	if err != nil {
		return 0, nil, err
	}
	msg := "User created successfully"
	if !created {
		msg = "User already exists"
	}
	return http.StatusOK, successMsg(msg, map[string]any{"username": user, "created": created}), nil
}

// ------------------------------------------------------------------------------------------- experiments

// experimentFor resolves the caller, loads the experiment and checks the caller holds need on it.
func (h *Handler) experimentFor(r *http.Request, need Permission) (string, domain.Experiment, error) {
	user, err := h.caller(r)
	if err != nil {
		return "", domain.Experiment{}, err
	}
	id := chi.URLParam(r, "id")
	e, err := h.deps.Store.GetExperiment(r.Context(), id)
	if err != nil {
		return user, e, err
	}
	return user, e, h.authorize(r.Context(), e.ID, user, need)
}

func (h *Handler) experimentData(ctx context.Context, e domain.Experiment) (map[string]any, error) {
	creator, err := h.perms.creator(ctx, e.ID)
	if err != nil {
		return nil, err
	}
	var createdBy any
	if creator != "" {
		createdBy = creator
	}
	return map[string]any{
		"experiment_id":     e.ID,
		"experiment_name":   e.Name,
		"artifact_location": e.ArtifactLocation,
		"created_by":        createdBy,
		"lifecycle_stage":   e.LifecycleStage,
		"creation_time":     e.CreationTime,
		"last_update_time":  e.LastUpdateTime,
	}, nil
}

func (h *Handler) getExperiment(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	_, e, err := h.experimentFor(r, Read)
	if err != nil {
		return 0, nil, err
	}
	data, err := h.experimentData(r.Context(), e)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(data), nil
}

func decodeExperimentName(w http.ResponseWriter, r *http.Request) (string, error) {
	var req experimentReq
	if err := decodeBody(w, r, &req); err != nil {
		return "", err
	}
	if req.ExperimentName == nil || strings.TrimSpace(*req.ExperimentName) == "" {
		return "", required("experiment_name")
	}
	if err := domain.ValidateExperimentName(*req.ExperimentName); err != nil {
		return "", err
	}
	return *req.ExperimentName, nil
}

func (h *Handler) createExperiment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	user, err := h.caller(r)
	if err != nil {
		return 0, nil, err
	}
	name, err := decodeExperimentName(w, r)
	if err != nil {
		return 0, nil, err
	}
	id, err := h.deps.Store.CreateExperiment(r.Context(), name, "", nil)
	if err != nil {
		return 0, nil, err
	}
	if err := h.perms.recordCreator(r.Context(), id, identityOf(user)); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(map[string]any{"experiment_id": id, "experiment_name": name}), nil
}

func (h *Handler) updateExperiment(w http.ResponseWriter, r *http.Request) (int, any, error) {
	user, err := h.caller(r)
	if err != nil {
		return 0, nil, err
	}
	name, err := decodeExperimentName(w, r)
	if err != nil {
		return 0, nil, err
	}
	e, err := h.deps.Store.GetExperiment(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return 0, nil, err
	}
	if err := h.authorize(r.Context(), e.ID, user, Manage); err != nil {
		return 0, nil, err
	}
	if err := h.deps.Store.RenameExperiment(r.Context(), e.ID, name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(map[string]any{"experiment_id": e.ID, "experiment_name": name}), nil
}

func (h *Handler) deleteExperiment(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	_, e, err := h.experimentFor(r, Manage)
	if err != nil {
		return 0, nil, err
	}
	if err := h.deps.Store.SetExperimentStage(r.Context(), e.ID, domain.StageDeleted); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, successMsg("Experiment deleted successfully", map[string]any{"experiment_id": e.ID}), nil
}

// ------------------------------------------------------------------------------------------- permissions

func (h *Handler) listPermissions(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	user, e, err := h.experimentFor(r, Read)
	if err != nil {
		return 0, nil, err
	}
	grants, err := h.perms.grants(r.Context(), e.ID)
	if err != nil {
		return 0, nil, err
	}
	mine, err := h.permission(r.Context(), e.ID, user)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(map[string]any{
		"experiment_id":      e.ID,
		"permissions":        grants,
		"default_permission": h.defaultPerm.String(),
		"your_permission":    mine.String(),
	}), nil
}

func decodePermission(w http.ResponseWriter, r *http.Request, needPerm bool) (string, Permission, error) {
	var req permissionReq
	if err := decodeBody(w, r, &req); err != nil {
		return "", 0, err
	}
	if req.Username == nil && r.Method == http.MethodDelete {
		if u := r.URL.Query().Get("username"); u != "" {
			req.Username = &u
		}
	}
	if req.Username == nil || strings.TrimSpace(*req.Username) == "" {
		return "", 0, required("username")
	}
	user, err := NormalizeEmail(*req.Username)
	if err != nil {
		return "", 0, apierr.InvalidField("username", "username must be a valid email address: %s", quote(truncate(*req.Username, 64)))
	}
	if !needPerm {
		return user, 0, nil
	}
	if req.Permission == nil {
		return "", 0, required("permission")
	}
	perm, err := ParsePermission(*req.Permission)
	return user, perm, err
}

func (h *Handler) grantPermission(w http.ResponseWriter, r *http.Request) (int, any, error) {
	caller, err := h.caller(r)
	if err != nil {
		return 0, nil, err
	}
	user, perm, err := decodePermission(w, r, true)
	if err != nil {
		return 0, nil, err
	}
	e, err := h.deps.Store.GetExperiment(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return 0, nil, err
	}
	if err := h.authorize(r.Context(), e.ID, caller, Manage); err != nil {
		return 0, nil, err
	}
	if err := h.perms.setPermission(r.Context(), e.ID, user, perm); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(map[string]any{"experiment_id": e.ID, "username": user, "permission": perm.String()}), nil
}

func (h *Handler) revokePermission(w http.ResponseWriter, r *http.Request) (int, any, error) {
	caller, err := h.caller(r)
	if err != nil {
		return 0, nil, err
	}
	user, _, err := decodePermission(w, r, false)
	if err != nil {
		return 0, nil, err
	}
	e, err := h.deps.Store.GetExperiment(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return 0, nil, err
	}
	if err := h.authorize(r.Context(), e.ID, caller, Manage); err != nil {
		return 0, nil, err
	}
	if err := h.perms.deletePermission(r.Context(), e.ID, user); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, successMsg("Permission deleted successfully", map[string]any{"experiment_id": e.ID, "username": user}), nil
}

// -------------------------------------------------------------------------------------------------- runs

func runData(run domain.Run) map[string]any {
	metrics := map[string]any{}
	for _, m := range run.Metrics {
		metrics[m.Key] = jsonFloat(m.Value)
	}
	params := map[string]string{}
	for _, p := range run.Params {
		params[p.Key] = p.Value
	}
	tags := map[string]string{}
	for _, t := range run.Tags {
		tags[t.Key] = t.Value
	}
	var end any
	if run.Info.EndTime != nil {
		end = *run.Info.EndTime
	}
	return map[string]any{
		"run_id":          run.Info.RunID,
		"run_name":        run.Info.RunName,
		"experiment_id":   run.Info.ExperimentID,
		"user_id":         run.Info.UserID,
		"status":          run.Info.Status,
		"start_time":      run.Info.StartTime,
		"end_time":        end,
		"artifact_uri":    run.Info.ArtifactURI,
		"lifecycle_stage": run.Info.LifecycleStage,
		"metrics":         metrics,
		"params":          params,
		"tags":            tags,
	}
}

func (h *Handler) createRun(w http.ResponseWriter, r *http.Request) (int, any, error) {
	user, err := h.caller(r)
	if err != nil {
		return 0, nil, err
	}
	var req createRunReq
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	in := store.CreateRunInput{UserID: user}
	if req.RunName != nil {
		in.RunName = *req.RunName
	}
	hasUserTag := false
	for _, t := range req.Tags.tags {
		in.Tags = append(in.Tags, domain.Tag{Key: t[0], Value: t[1]})
		hasUserTag = hasUserTag || t[0] == domain.TagUser
	}
	if !hasUserTag {
		in.Tags = append(in.Tags, domain.Tag{Key: domain.TagUser, Value: user})
	}
	e, err := h.deps.Store.GetExperiment(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return 0, nil, err
	}
	if err := h.authorize(r.Context(), e.ID, user, Edit); err != nil {
		return 0, nil, err
	}
	in.ExperimentID = e.ID
	run, err := h.deps.Store.CreateRun(r.Context(), in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(runData(run)), nil
}

// runFor resolves the caller and loads the run named in the path, checking it belongs to the experiment in the
// path (when there is one).
func (h *Handler) runFor(r *http.Request) (string, domain.Run, error) {
	user, err := h.caller(r)
	if err != nil {
		return "", domain.Run{}, err
	}
	rid := chi.URLParam(r, "rid")
	run, err := h.deps.Store.GetRun(r.Context(), rid)
	if err != nil {
		return user, run, err
	}
	if eid := chi.URLParam(r, "id"); eid != "" && eid != run.Info.ExperimentID {
		return user, run, apierr.New(apierr.NotFound, "Run with id=%s not found in experiment %s", rid, truncate(eid, 40))
	}
	return user, run, nil
}

func (h *Handler) getRun(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	user, run, err := h.runFor(r)
	if err != nil {
		return 0, nil, err
	}
	if err := h.authorize(r.Context(), run.Info.ExperimentID, user, Read); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(runData(run)), nil
}

// canDeleteRun: MANAGE on the run's experiment, or being the run's creator (who holds at least EDIT).
func (h *Handler) canDeleteRun(ctx context.Context, run domain.RunInfo, user string) error {
	p, err := h.permission(ctx, run.ExperimentID, user)
	if err != nil {
		return err
	}
	if p >= Manage || (p >= Edit && run.UserID == user) {
		return nil
	}
	return errForbidden
}

func (h *Handler) deleteRun(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	user, run, err := h.runFor(r)
	if err != nil {
		return 0, nil, err
	}
	if err := h.canDeleteRun(r.Context(), run.Info, user); err != nil {
		return 0, nil, err
	}
	if err := h.deps.Store.SetRunStage(r.Context(), run.Info.RunID, domain.StageDeleted); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, successMsg("Run deleted successfully", map[string]any{"run_id": run.Info.RunID}), nil
}

func (h *Handler) logData(w http.ResponseWriter, r *http.Request) (int, any, error) {
	user, err := h.caller(r)
	if err != nil {
		return 0, nil, err
	}
	var req logDataReq
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	metrics, params, err := validateLogData(req, nowMillis())
	if err != nil {
		return 0, nil, err
	}
	_, run, err := h.runFor(r)
	if err != nil {
		return 0, nil, err
	}
	if err := h.authorize(r.Context(), run.Info.ExperimentID, user, Edit); err != nil {
		return 0, nil, err
	}
	if err := h.deps.Store.LogBatch(r.Context(), run.Info.RunID, metrics, params, nil); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, successMsg("Data logged successfully", map[string]any{
		"run_id": run.Info.RunID, "metrics": len(metrics), "params": len(params)}), nil
}

// validateLogData checks a log-data body (at least one metric or param; keys ≤ 255 bytes, param values ≤
// 6000 bytes) and converts it; metrics without a timestamp get now, without a step 0.
func validateLogData(req logDataReq, now int64) ([]domain.Metric, []domain.Param, error) {
	if len(req.Metrics.items) == 0 && len(req.Params.items) == 0 {
		return nil, nil, apierr.InvalidField("metrics", "At least one of 'metrics' or 'params' is required")
	}
	metrics := make([]domain.Metric, 0, len(req.Metrics.items))
	for _, m := range req.Metrics.items {
		if m.Key == nil || *m.Key == "" {
			return nil, nil, required("metrics.key")
		}
		if len(*m.Key) > MaxParamKeyBytes {
			return nil, nil, apierr.InvalidField("metrics.key", "metrics.key is %d bytes, more than the limit of %d", len(*m.Key), MaxParamKeyBytes)
		}
		if !m.Value.set {
			return nil, nil, required("metrics.value")
		}
		ts := now
		if m.Timestamp.set {
			ts = m.Timestamp.v
		}
		metrics = append(metrics, domain.Metric{Key: *m.Key, Value: m.Value.v, Timestamp: ts, Step: m.Step.v})
	}
	params := make([]domain.Param, 0, len(req.Params.items))
	seen := map[string]string{}
	for _, p := range req.Params.items {
		if p.Key == nil || *p.Key == "" {
			return nil, nil, required("params.key")
		}
		if len(*p.Key) > MaxParamKeyBytes {
			return nil, nil, apierr.InvalidField("params.key", "params.key is %d bytes, more than the limit of %d", len(*p.Key), MaxParamKeyBytes)
		}
		if !p.Value.set {
			return nil, nil, required("params.value")
		}
		if len(p.Value.v) > MaxParamValueBytes {
			return nil, nil, apierr.InvalidField("params.value", "params.value is %d bytes, more than the limit of %d", len(p.Value.v), MaxParamValueBytes)
		}
		if old, dup := seen[*p.Key]; dup {
			if old != p.Value.v {
				return nil, nil, apierr.InvalidField("params", "Param %s is given twice with different values", quote(truncate(*p.Key, 64)))
			}
			continue
		}
		seen[*p.Key] = p.Value.v
		params = append(params, domain.Param{Key: *p.Key, Value: p.Value.v})
	}
	return metrics, params, nil
}

// jsonFloat keeps NaN/±Inf encodable (as MLflow's JSON strings).
func jsonFloat(f float64) any {
	switch {
	case f != f:
		return "NaN"
	case f > 1.7976931348623157e308:
		return "Infinity"
	case f < -1.7976931348623157e308:
		return "-Infinity"
	}
	return f
}

func identityOf(email string) auth.Identity { return auth.Identity{Email: email, Source: SourceEmail} }
