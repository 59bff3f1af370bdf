package applayer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/pkg/blob"
)

// proxiedScheme is the artifact URI scheme whose objects the artifact store holds (mlflow-artifacts:/<key>).
const proxiedScheme = "mlflow-artifacts:"

// artifactKey validates an artifact path and returns it as a store key.
func artifactKey(p string) (string, error) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "", required("path")
	}
	if strings.ContainsAny(p, "\\\x00") {
		return "", apierr.InvalidField("path", "Invalid artifact path %s", quote(truncate(p, 64)))
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", apierr.InvalidField("path", "Invalid artifact path %s: empty, '.' and '..' segments are not allowed", quote(truncate(p, 64)))
		}
	}
	if err := blob.ValidateKey(p); err != nil {
		return "", apierr.InvalidField("path", "Invalid artifact path %s", quote(truncate(p, 64)))
	}
	return p, nil
}

// artifact serves GET /artifacts/{path} (path = the artifact store key, i.e. what follows mlflow-artifacts:/)
// and GET /get-artifact?path=P[&run_uuid=R] (P relative to run R's artifact root, or a store key without R).
// The caller needs READ on the experiment the artifact belongs to.
func (h *Handler) artifact(w http.ResponseWriter, r *http.Request) {
	err := h.serveArtifact(w, r)
	if err != nil {
		h.writeError(r.Context(), w, err)
	}
}

func (h *Handler) serveArtifact(w http.ResponseWriter, r *http.Request) error {
	if err := h.ready(); err != nil {
		return err
	}
	user, err := h.caller(r)
	if err != nil {
		return err
	}
	if h.deps.Artifacts == nil {
		return apierr.New(apierr.Unavailable, "The artifact store is not configured")
	}
	var key, experiment string
	if strings.HasSuffix(r.URL.Path, "/get-artifact") {
		q := r.URL.Query()
		rel := q.Get("path")
		runID := q.Get("run_uuid")
		if runID == "" {
			runID = q.Get("run_id")
		}
		if runID == "" {
			if key, err = artifactKey(rel); err != nil {
				return err
			}
			experimentOfKey(&experiment, key)
		} else {
			run, err := h.deps.Store.GetRun(r.Context(), runID)
			if err != nil {
				return err
			}
			experiment = run.Info.ExperimentID
			root, ok := strings.CutPrefix(run.Info.ArtifactURI, proxiedScheme)
			if !ok {
				return apierr.InvalidField("run_uuid", "Artifacts of run %s (%s) are not served by the artifact proxy", runID, run.Info.ArtifactURI)
			}
			root = strings.Trim(root, "/")
			if key, err = artifactKey(root + "/" + strings.TrimPrefix(rel, "/")); err != nil || rel == "" {
				if err == nil {
					err = required("path")
				}
				return err
			}
		}
	} else {
		if key, err = artifactKey(chi.URLParam(r, "*")); err != nil {
			return err
		}
		experimentOfKey(&experiment, key)
	}
	need := Read
	if experiment != "" {
		if _, err := h.deps.Store.GetExperiment(r.Context(), experiment); err != nil {
			if !apierr.Is(err, apierr.NotFound) {
				return err
			}
			experiment = ""
		}
	}
	if experiment != "" {
		if err := h.authorize(r.Context(), experiment, user, need); err != nil {
			return err
		}
	} else if !h.admins[user] && h.defaultPerm < need {
		return errForbidden
	}
	rc, info, err := h.deps.Artifacts.Get(r.Context(), key)
	if err != nil {
		if apierr.Is(err, apierr.NotFound) {
			return apierr.New(apierr.NotFound, "Artifact %s not found", quote(truncate(key, 200)))
		}
		return err
	}
	defer rc.Close()
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if info.Size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		h.log.WarnContext(r.Context(), "artifact download interrupted", "key", key, "err", err)
	}
	return nil
}

// experimentOfKey sets *experiment to the key's first segment when it is an experiment id.
func experimentOfKey(experiment *string, key string) {
	first, _, _ := strings.Cut(key, "/")
	if _, err := strconv.ParseUint(first, 10, 63); err == nil {
		*experiment = first
	}
}

// ----------------------------------------------------------------------------------------------- ajax-api

// Guarded tracking calls forwarded through /ajax-api: the permission each needs and where its target is.
type ajaxGuard struct {
	need  Permission
	onRun bool
}

var ajaxGuards = map[string]ajaxGuard{
	"2.0/mlflow/experiments/delete":             {Manage, false},
	"2.0/mlflow/experiments/restore":            {Manage, false},
	"2.0/mlflow/experiments/update":             {Manage, false},
	"2.0/mlflow/experiments/set-experiment-tag": {Edit, false},
	"2.0/mlflow/runs/create":                    {Edit, false},
	"2.0/mlflow/runs/delete":                    {Manage, true},
	"2.0/mlflow/runs/restore":                   {Manage, true},
	"2.0/mlflow/runs/update":                    {Edit, true},
	"2.0/mlflow/runs/log-metric":                {Edit, true},
	"2.0/mlflow/runs/log-parameter":             {Edit, true},
	"2.0/mlflow/runs/set-tag":                   {Edit, true},
	"2.0/mlflow/runs/delete-tag":                {Edit, true},
	"2.0/mlflow/runs/log-batch":                 {Edit, true},
	"2.0/mlflow/runs/log-inputs":                {Edit, true},
	"2.0/mlflow/runs/log-model":                 {Edit, true},
}

// ajax forwards /ajax-api/{path} in-process to the tracking API with the caller's identity (as the email
// header, so experiments created this way are owned by the caller). Writes that target an experiment or run
// are checked against the caller's permission first; deleting or restoring needs MANAGE (or, for a run,
// being its creator).
func (h *Handler) ajax(w http.ResponseWriter, r *http.Request) {
	if err := h.forwardAjax(w, r); err != nil {
		h.writeError(r.Context(), w, err)
	}
}

func (h *Handler) forwardAjax(w http.ResponseWriter, r *http.Request) error {
	if err := h.ready(); err != nil {
		return err
	}
	user, err := h.caller(r)
	if err != nil {
		return err
	}
	if h.deps.Tracking == nil {
		return apierr.New(apierr.Unavailable, "The tracking API is not available")
	}
	rest := chi.URLParam(r, "*")
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/ajax-api/" + rest
	r2.URL.RawPath = ""
	r2.RequestURI = ""
	r2.Header.Del(auth.HeaderAuthorization)
	r2.Header.Set(HeaderEmail, user)
	if guard, ok := ajaxGuards[strings.TrimSuffix(rest, "/")]; ok && r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
		if err != nil {
			return apierr.New(apierr.InvalidArgument, "Could not read the request body")
		}
		if err := h.checkAjax(r, user, guard, rest == "2.0/mlflow/runs/create", body); err != nil {
			return err
		}
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
		r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	h.deps.Tracking.ServeHTTP(w, r2)
	return nil
}

// ajaxTarget returns the run id (onRun) or experiment id a guarded tracking write names in its body; ok is
// false when the body names none or is not a JSON object. runs/create (defaultZero) without an experiment id
// targets the Default experiment "0".
func ajaxTarget(body []byte, onRun, defaultZero bool) (string, bool) {
	var ids struct {
		ExperimentID json.RawMessage `json:"experiment_id"`
		RunID        string          `json:"run_id"`
		RunUUID      string          `json:"run_uuid"`
	}
	if json.Unmarshal(body, &ids) != nil {
		return "", false
	}
	if onRun {
		id := ids.RunID
		if id == "" {
			id = ids.RunUUID
		}
		return id, id != ""
	}
	var exp string
	if json.Unmarshal(ids.ExperimentID, &exp) != nil {
		exp = strings.TrimSpace(string(ids.ExperimentID)) // protobuf JSON also allows a bare number
	}
	if exp == "" || exp == "null" {
		if !defaultZero {
			return "", false
		}
		exp = "0"
	}
	return exp, true
}

// checkAjax authorizes a guarded tracking write. Bodies the tracking API would reject (not JSON, no or unknown
// ids) are passed through so the caller gets MLflow's own error.
func (h *Handler) checkAjax(r *http.Request, user string, guard ajaxGuard, defaultZero bool, body []byte) error {
	ctx := r.Context()
	id, ok := ajaxTarget(body, guard.onRun, defaultZero)
	if !ok {
		return nil
	}
	if guard.onRun {
		run, err := h.deps.Store.GetRun(ctx, id)
		if apierr.Is(err, apierr.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if guard.need == Manage {
			return h.canDeleteRun(ctx, run.Info, user)
		}
		return h.authorize(ctx, run.Info.ExperimentID, user, guard.need)
	}
	e, err := h.deps.Store.GetExperiment(ctx, id)
	if apierr.Is(err, apierr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return h.authorize(ctx, e.ID, user, guard.need)
}
