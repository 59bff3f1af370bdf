package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
)

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

func tsPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := ts(*t)
	return &s
}

// pathName reads and checks a name path parameter (serve or environment).
func pathName(r *http.Request, key string) (string, error) {
	v := chi.URLParam(r, key)
	field := "serve_name"
	check := domain.ValidateServeName
	if key == "env" {
		field, check = "env", domain.ValidateEnvName
	}
	if err := check(field, v); err != nil {
		// A name that could never have been stored names nothing.
		if key == "env" {
			return "", apierr.New(apierr.NotFound, "Environment %s not found", truncate(v))
		}
		return "", apierr.New(apierr.NotFound, "Serve %s not found", truncate(v))
	}
	return v, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

// ---- environments ----

type envJSON struct {
	ID          int64            `json:"id"`
	Name        string           `json:"name"`
	EnvConfigs  domain.EnvConfig `json:"env_configs"`
	IsProtected bool             `json:"is_protected"`
	CreatedAt   string           `json:"created_at"`
	UpdatedAt   string           `json:"updated_at"`
}

func toEnvJSON(e domain.Environment) envJSON {
	return envJSON{ID: e.ID, Name: e.Name, EnvConfigs: e.Configs, IsProtected: e.IsProtected, CreatedAt: ts(e.CreatedAt), UpdatedAt: ts(e.UpdatedAt)}
}

func (h *Handler) createEnvironment(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	var req domain.CreateEnvironmentRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	name, cfg, err := req.Validate()
	if err != nil {
		return err
	}
	env, err := h.st.CreateEnvironment(r.Context(), name, cfg, false)
	if err != nil {
		return err
	}
	ok(w, http.StatusOK, "Environment created successfully", map[string]any{"id": env.ID, "name": env.Name})
	return nil
}

// getEnvironment answers the raw environment object (no envelope), or null when it does not exist — the
// original's behaviour, kept for hermes.
func (h *Handler) getEnvironment(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	name := chi.URLParam(r, "env")
	if domain.ValidateEnvName("env", name) != nil {
		writeJSON(w, http.StatusOK, nil)
		return nil
	}
	env, found, err := h.st.Environment(r.Context(), name)
	if err != nil {
		return err
	}
	if !found {
		writeJSON(w, http.StatusOK, nil)
		return nil
	}
	writeJSON(w, http.StatusOK, toEnvJSON(env))
	return nil
}

func (h *Handler) updateEnvironment(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	name, err := pathName(r, "env")
	if err != nil {
		return err
	}
	var req domain.UpdateEnvironmentRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	var redeployed []string
	err = h.st.Tx(r.Context(), func(q *store.Queries) error {
		env, err := q.MustEnvironment(r.Context(), name)
		if err != nil {
			return err
		}
		cfg := env.Configs
		if err := req.Apply(&cfg); err != nil {
			return err
		}
		if err := q.UpdateEnvironment(r.Context(), env.ID, cfg); err != nil {
			return err
		}
		env.Configs = cfg
		redeployed, err = h.redeployEnvironment(r, q, env)
		return err
	})
	if err != nil {
		return err
	}
	ok(w, http.StatusOK, "Environment updated successfully", map[string]any{"redeployed": redeployed})
	return nil
}

// redeployEnvironment re-applies every active API deployment in env with env's current configuration (namespace,
// cluster, domain suffix reach the values), in the caller's transaction: a Deployer failure rolls the update
// back. The resource ids stay the same, so each is an in-place upgrade (new replicas ready before old ones stop).
func (h *Handler) redeployEnvironment(r *http.Request, q *store.Queries, env domain.Environment) ([]string, error) {
	serves, err := q.ListServes(r.Context())
	if err != nil {
		return nil, err
	}
	redeployed := []string{}
	for _, s := range serves {
		if s.Type != domain.ServeTypeAPI {
			continue
		}
		cfg, found, err := q.APIConfig(r.Context(), s.ID, env.ID)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		done, err := h.redeployActive(r, q, s, env, cfg)
		if err != nil {
			return nil, err
		}
		if done {
			redeployed = append(redeployed, s.Name)
		}
	}
	return redeployed, nil
}

func (h *Handler) deleteEnvironment(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	name, err := pathName(r, "env")
	if err != nil {
		return err
	}
	err = h.st.Tx(r.Context(), func(q *store.Queries) error {
		env, err := q.MustEnvironment(r.Context(), name)
		if err != nil {
			return err
		}
		if env.IsProtected {
			return apierr.New(apierr.AlreadyExists, "Environment %s is protected and cannot be deleted", name)
		}
		what, err := q.EnvironmentInUse(r.Context(), env.ID)
		if err != nil {
			return err
		}
		if what != "" {
			return apierr.New(apierr.AlreadyExists, "Environment %s cannot be deleted: it is referenced by %s", name, what)
		}
		return q.DeleteEnvironment(r.Context(), env.ID)
	})
	if err != nil {
		return err
	}
	ok(w, http.StatusOK, "Environment deleted successfully", nil)
	return nil
}

// ---- serves ----

type serveJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Space       string `json:"space"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
}

func toServeJSON(s domain.Serve) serveJSON {
	return serveJSON{ID: s.ID, Name: s.Name, Type: s.Type, Description: s.Description, Space: s.Space, CreatedAt: ts(s.CreatedAt), UpdatedAt: ts(s.UpdatedAt)}
}

func (h *Handler) listServes(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	serves, err := h.st.ListServes(r.Context())
	if err != nil {
		return err
	}
	out := make([]serveJSON, 0, len(serves))
	for _, s := range serves {
		out = append(out, toServeJSON(s))
	}
	ok(w, http.StatusOK, "", out)
	return nil
}

func (h *Handler) createServe(w http.ResponseWriter, r *http.Request, u *domain.User) error {
	var req domain.CreateServeRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	s, err := req.Validate()
	if err != nil {
		return err
	}
	s.UserID = userID(u)
	s, err = h.st.CreateServe(r.Context(), s)
	if err != nil {
		return err
	}
	ok(w, http.StatusCreated, "Serve created successfully", toServeJSON(s))
	return nil
}

type apiConfigJSON struct {
	Env             string               `json:"env"`
	Type            string               `json:"type"`
	BackendType     string               `json:"backend_type"`
	FastAPIConfig   domain.FastAPIConfig `json:"fast_api_config"`
	AdditionalHosts []string             `json:"additional_hosts"`
	CreatedAt       string               `json:"created_at"`
	UpdatedAt       string               `json:"updated_at"`
}

type workflowConfigJSON struct {
	Env              string                    `json:"env"`
	Type             string                    `json:"type"`
	Schedule         string                    `json:"schedule"`
	HeadNodeConfig   domain.HeadNodeConfig     `json:"head_node_config"`
	WorkerNodeConfig []domain.WorkerNodeConfig `json:"worker_node_config"`
	CreatedAt        string                    `json:"created_at"`
	UpdatedAt        string                    `json:"updated_at"`
}

func toAPIConfigJSON(c domain.APIServeConfig) apiConfigJSON {
	return apiConfigJSON{Env: c.EnvName, Type: "API", BackendType: c.BackendType, FastAPIConfig: c.FastAPI, AdditionalHosts: c.AdditionalHosts, CreatedAt: ts(c.CreatedAt), UpdatedAt: ts(c.UpdatedAt)}
}

func toWorkflowConfigJSON(c domain.WorkflowServeConfig) workflowConfigJSON {
	return workflowConfigJSON{Env: c.EnvName, Type: "WORKFLOW", Schedule: c.Schedule, HeadNodeConfig: c.Head, WorkerNodeConfig: c.Workers, CreatedAt: ts(c.CreatedAt), UpdatedAt: ts(c.UpdatedAt)}
}

func (h *Handler) getServe(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	name, err := pathName(r, "serve")
	if err != nil {
		return err
	}
	s, err := h.st.MustServe(r.Context(), name)
	if err != nil {
		return err
	}
	apis, wfs, err := h.st.ServeConfigs(r.Context(), s.ID)
	if err != nil {
		return err
	}
	configs := make([]any, 0, len(apis)+len(wfs))
	for _, c := range apis {
		configs = append(configs, toAPIConfigJSON(c))
	}
	for _, c := range wfs {
		configs = append(configs, toWorkflowConfigJSON(c))
	}
	ok(w, http.StatusOK, "", map[string]any{"serve": toServeJSON(s), "infra_configs": configs})
	return nil
}

// serveAndEnv loads the path's serve and environment (404 for either).
func serveAndEnv(r *http.Request, q *store.Queries) (domain.Serve, domain.Environment, error) {
	name, err := pathName(r, "serve")
	if err != nil {
		return domain.Serve{}, domain.Environment{}, err
	}
	envName, err := pathName(r, "env")
	if err != nil {
		return domain.Serve{}, domain.Environment{}, err
	}
	s, err := q.MustServe(r.Context(), name)
	if err != nil {
		return s, domain.Environment{}, err
	}
	env, err := q.MustEnvironment(r.Context(), envName)
	return s, env, err
}

func (h *Handler) getInfraConfig(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	s, env, err := serveAndEnv(r, &h.st.Queries)
	if err != nil {
		return err
	}
	if s.Type == domain.ServeTypeWorkflow {
		c, found, err := h.st.WorkflowConfig(r.Context(), s.ID, env.ID)
		if err != nil {
			return err
		}
		if !found {
			return apierr.New(apierr.NotFound, "Infra config not found for serve %s in environment %s", s.Name, env.Name)
		}
		ok(w, http.StatusOK, "", toWorkflowConfigJSON(c))
		return nil
	}
	c, found, err := h.st.APIConfig(r.Context(), s.ID, env.ID)
	if err != nil {
		return err
	}
	if !found {
		return apierr.New(apierr.NotFound, "Infra config not found for serve %s in environment %s", s.Name, env.Name)
	}
	ok(w, http.StatusOK, "", toAPIConfigJSON(c))
	return nil
}

func (h *Handler) createInfraConfig(w http.ResponseWriter, r *http.Request, u *domain.User) error {
	return h.saveInfraConfig(w, r, u, false)
}

func (h *Handler) updateInfraConfig(w http.ResponseWriter, r *http.Request, u *domain.User) error {
	return h.saveInfraConfig(w, r, u, true)
}

// saveInfraConfig creates (update=false; 409 when it exists) or replaces (update=true; 404 when missing) an
// infra config. Replacing an API config of a serve with an active deployment redeploys it with the new sizing
// in the same transaction.
func (h *Handler) saveInfraConfig(w http.ResponseWriter, r *http.Request, u *domain.User, update bool) error {
	var req domain.ServeConfigRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	var out any
	redeployed := false
	err := h.st.Tx(r.Context(), func(q *store.Queries) error {
		s, env, err := serveAndEnv(r, q)
		if err != nil {
			return err
		}
		cfg, err := req.Validate(s.Type)
		if err != nil {
			return err
		}
		if cfg.Workflow != nil {
			c := *cfg.Workflow
			c.ServeID, c.EnvironmentID = s.ID, env.ID
			if update {
				if _, found, err := q.WorkflowConfig(r.Context(), s.ID, env.ID); err != nil {
					return err
				} else if !found {
					return apierr.New(apierr.NotFound, "Infra config not found for serve %s in environment %s", s.Name, env.Name)
				}
			}
			if err := q.UpsertWorkflowConfig(r.Context(), c, userID(u), update); err != nil {
				return err
			}
			saved, _, err := q.WorkflowConfig(r.Context(), s.ID, env.ID)
			out = toWorkflowConfigJSON(saved)
			return err
		}
		c := *cfg.API
		c.ServeID, c.EnvironmentID = s.ID, env.ID
		if update {
			if _, found, err := q.APIConfig(r.Context(), s.ID, env.ID); err != nil {
				return err
			} else if !found {
				return apierr.New(apierr.NotFound, "Infra config not found for serve %s in environment %s", s.Name, env.Name)
			}
		}
		if err := q.UpsertAPIConfig(r.Context(), c, userID(u), update); err != nil {
			return err
		}
		saved, _, err := q.APIConfig(r.Context(), s.ID, env.ID)
		if err != nil {
			return err
		}
		out = toAPIConfigJSON(saved)
		if !update {
			return nil
		}
		redeployed, err = h.redeployActive(r, q, s, env, saved)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case !update:
		ok(w, http.StatusCreated, "Infra config created successfully", out)
	case redeployed:
		ok(w, http.StatusOK, "Infra config updated and active deployment redeployed", out)
	default:
		ok(w, http.StatusOK, "Infra config updated successfully", out)
	}
	return nil
}

// ---- artifacts ----

type artifactJSON struct {
	ID            int64  `json:"id"`
	ServeID       int64  `json:"serve_id"`
	Version       string `json:"version"`
	GithubRepoURL string `json:"github_repo_url"`
	ImageURL      string `json:"image_url"`
	Branch        string `json:"branch"`
	FilePath      string `json:"file_path"`
	JobID         *int64 `json:"job_id"`
	CreatedAt     string `json:"created_at"`
	CreatedBy     *int64 `json:"created_by"`
}

func toArtifactJSON(a domain.Artifact) artifactJSON {
	return artifactJSON{ID: a.ID, ServeID: a.ServeID, Version: a.Version, GithubRepoURL: a.GithubRepoURL, ImageURL: a.ImageURL,
		Branch: a.Branch, FilePath: a.FilePath, JobID: a.JobID, CreatedAt: ts(a.CreatedAt), CreatedBy: a.CreatedBy}
}

// createArtifact records a workflow serve's artifact directly (201, data = artifact) or, for an API serve, a
// PENDING artifact-builder job (201, data {job_id}); the builder that picks the job up is not part of this
// service yet.
func (h *Handler) createArtifact(w http.ResponseWriter, r *http.Request, u *domain.User) error {
	var req domain.CreateArtifactRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	in, err := req.Validate()
	if err != nil {
		return err
	}
	var data any
	err = h.st.Tx(r.Context(), func(q *store.Queries) error {
		s, found, err := q.Serve(r.Context(), in.ServeName)
		if err != nil {
			return err
		}
		if !found {
			return apierr.InvalidField("serve_name", "Serve %s does not exist", in.ServeName)
		}
		if _, exists, err := q.Artifact(r.Context(), s.ID, in.Version); err != nil {
			return err
		} else if exists {
			return apierr.InvalidField("version", "Artifact with version %s already exists for serve %s", in.Version, s.Name)
		}
		if live, err := q.LiveJobExists(r.Context(), s.ID, in.Version); err != nil {
			return err
		} else if live {
			return apierr.InvalidField("version", "Artifact is in creating state for version %s; wait for the build to finish", in.Version)
		}
		repo := in.GithubRepoURL
		if repo == "" {
			if prev, found, err := q.LatestArtifact(r.Context(), s.ID); err != nil {
				return err
			} else if found && domain.ValidateGitURL("github_repo_url", prev.GithubRepoURL) == nil {
				repo = prev.GithubRepoURL
			}
		}
		if repo == "" {
			prev, err := q.LatestJobRepo(r.Context(), s.ID)
			if err != nil {
				return err
			}
			repo = prev
		}
		if repo == "" {
			return apierr.InvalidField("github_repo_url", "github_repo_url is required for the first artifact of a serve")
		}
		if s.Type == domain.ServeTypeWorkflow {
			if in.Branch == "" {
				return apierr.InvalidField("branch", "branch is required for a workflow serve artifact")
			}
			if in.FilePath == "" {
				return apierr.InvalidField("file_path", "file_path is required for a workflow serve artifact")
			}
			a, err := q.CreateArtifact(r.Context(), domain.Artifact{ServeID: s.ID, Version: in.Version, GithubRepoURL: repo, Branch: in.Branch, FilePath: in.FilePath, CreatedBy: userID(u)})
			data = toArtifactJSON(a)
			return err
		}
		branch := in.Branch
		if branch == "" {
			branch = "main"
		}
		j, err := q.CreateJob(r.Context(), domain.Job{ServeID: s.ID, Version: in.Version, GithubRepoURL: repo, Branch: branch, FilePath: in.FilePath, CreatedBy: userID(u)})
		data = map[string]any{"job_id": j.ID}
		return err
	})
	if err != nil {
		return err
	}
	ok(w, http.StatusCreated, "Artifact creation started", data)
	return nil
}

func (h *Handler) listArtifacts(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	name, err := pathName(r, "serve")
	if err != nil {
		return err
	}
	s, err := h.st.MustServe(r.Context(), name)
	if err != nil {
		return err
	}
	arts, err := h.st.Artifacts(r.Context(), s.ID)
	if err != nil {
		return err
	}
	out := make([]artifactJSON, 0, len(arts))
	for _, a := range arts {
		out = append(out, toArtifactJSON(a))
	}
	ok(w, http.StatusOK, "", map[string]any{"data": out})
	return nil
}

type jobJSON struct {
	ID                  int64  `json:"id"`
	Version             string `json:"version"`
	Status              string `json:"status"`
	TaskID              string `json:"task_id"`
	CreatedAt           string `json:"created_at"`
	StatusLastUpdatedAt string `json:"status_last_updated_at"`
	ServeID             int64  `json:"serve_id"`
	ServeName           string `json:"serve__name"`
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	q := r.URL.Query()
	serve, status := strings.TrimSpace(q.Get("serve_name")), strings.ToUpper(strings.TrimSpace(q.Get("status")))
	if serve != "" {
		if err := domain.ValidateServeName("serve_name", serve); err != nil {
			return err
		}
	}
	if status != "" && status != domain.JobPending && status != domain.JobSuccessful && status != domain.JobFailed {
		return apierr.InvalidField("status", "status must be one of PENDING, SUCCESSFUL, FAILED")
	}
	jobs, err := h.st.Jobs(r.Context(), serve, status)
	if err != nil {
		return err
	}
	out := make([]jobJSON, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, jobJSON{ID: j.ID, Version: j.Version, Status: j.Status, TaskID: j.TaskID, CreatedAt: ts(j.CreatedAt),
			StatusLastUpdatedAt: ts(j.StatusLastUpdatedAt), ServeID: j.ServeID, ServeName: j.ServeName})
	}
	ok(w, http.StatusOK, "", map[string]any{"data": out})
	return nil
}

func (h *Handler) jobStatus(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return apierr.InvalidField("job_id", "job_id must be a positive integer")
	}
	j, found, err := h.st.Job(r.Context(), id)
	if err != nil {
		return err
	}
	if !found {
		return apierr.New(apierr.NotFound, "Artifact builder job %d not found", id)
	}
	logs := ""
	if j.TaskID != "" {
		logs = h.opts.ArtifactBuilderPublicURL + "/static/" + j.TaskID + ".log"
	}
	ok(w, http.StatusOK, "", map[string]any{"version": j.Version, "status": j.Status, "logs_url": logs})
	return nil
}

// ---- deployments list ----

type deploymentJSON struct {
	ArtifactVersion string  `json:"artifact_version"`
	Env             string  `json:"env"`
	CreatedAt       string  `json:"created_at"`
	CreatedBy       string  `json:"created_by"`
	Status          string  `json:"status"`
	EndedAt         *string `json:"ended_at"`
}

// listDeployments pages a serve's deployments. Unlike the original (which only ever loaded ACTIVE rows) the
// status filter selects ACTIVE or ENDED rows, and no filter lists both.
func (h *Handler) listDeployments(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	name, err := pathName(r, "serve")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	status := strings.ToUpper(strings.TrimSpace(q.Get("status")))
	if status != "" && status != domain.DeploymentActive && status != domain.DeploymentEnded {
		return apierr.InvalidField("status", "status must be one of ACTIVE, ENDED")
	}
	page, limit := 1, 50
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > 1_000_000 {
			return apierr.InvalidField("page", "page must be an integer of at least 1")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 200 {
			return apierr.InvalidField("limit", "limit must be an integer between 1 and 200")
		}
	}
	s, err := h.st.MustServe(r.Context(), name)
	if err != nil {
		return err
	}
	ds, total, err := h.st.Deployments(r.Context(), s.ID, status, page, limit)
	if err != nil {
		return err
	}
	if total == 0 {
		return apierr.New(apierr.NotFound, "No deployments found for serve %s", s.Name)
	}
	out := make([]deploymentJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deploymentJSON{ArtifactVersion: d.ArtifactVersion, Env: d.EnvName, CreatedAt: ts(d.CreatedAt), CreatedBy: d.CreatedBy, Status: d.Status, EndedAt: tsPtr(d.EndedAt)})
	}
	ok(w, http.StatusOK, "", map[string]any{"data": out, "page": page, "limit": limit, "total": total})
	return nil
}
