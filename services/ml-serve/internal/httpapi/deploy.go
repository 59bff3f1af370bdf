package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
)

const (
	healthcheckPath = "/healthcheck"
	applicationPort = 8000
)

// valuesInput is what a resource's values document is built from.
type valuesInput struct {
	serve    domain.Serve
	env      domain.Environment
	cfg      domain.APIServeConfig
	image    string
	path     string // ingress path, e.g. /<serve>/
	envVars  map[string]string
	strategy string
	params   map[string]any
	model    map[string]any // one-click only
}

// values builds the darwin-fastapi-serve values document.
func values(in valuesInput) map[string]any {
	vars := map[string]any{}
	for k, v := range in.envVars {
		vars[k] = v
	}
	hosts := make([]any, 0, len(in.cfg.AdditionalHosts))
	for _, h := range in.cfg.AdditionalHosts {
		hosts = append(hosts, h)
	}
	v := map[string]any{
		"name":         in.serve.Name,
		"environment":  in.env.Name,
		"image":        in.image,
		"backend_type": in.cfg.BackendType,
		"port":         applicationPort,
		"healthcheck":  healthcheckPath,
		"resources": map[string]any{
			"cores":     in.cfg.FastAPI.Cores,
			"memory_gb": in.cfg.FastAPI.Memory,
		},
		"replicas": map[string]any{
			"min": in.cfg.FastAPI.MinReplicas,
			"max": in.cfg.FastAPI.MaxReplicas,
		},
		"node_capacity_type": in.cfg.FastAPI.NodeCapacityType,
		"env":                vars,
		"ingress": map[string]any{
			"path":             in.path,
			"domain_suffix":    in.env.Configs.DomainSuffix,
			"additional_hosts": hosts,
		},
		"cluster": map[string]any{
			"name":           in.env.Configs.ClusterName,
			"namespace":      in.env.Configs.Namespace,
			"security_group": in.env.Configs.SecurityGroup,
			"subnets":        in.env.Configs.Subnets,
		},
		"deployment_strategy":        in.strategy,
		"deployment_strategy_config": in.params,
	}
	if in.params == nil {
		v["deployment_strategy_config"] = map[string]any{}
	}
	if in.model != nil {
		v["model"] = in.model
	}
	return v
}

func resource(resourceID, artifactID string, env domain.Environment, vals map[string]any) deploy.Resource {
	return deploy.Resource{ResourceID: resourceID, ArtifactID: artifactID, Chart: deploy.FastAPIChart, ChartVersion: deploy.FastAPIChartVersion,
		KubeCluster: env.Configs.ClusterName, KubeNamespace: env.Configs.Namespace, Values: vals}
}

// ref is the reference of resource id deployed in env.
func ref(id string, env domain.Environment) deploy.Ref {
	return deploy.Ref{ResourceID: id, KubeCluster: env.Configs.ClusterName, KubeNamespace: env.Configs.Namespace}
}

func (h *Handler) apply(r *http.Request, res deploy.Resource) error {
	if h.opts.Deployer == nil {
		return apierr.New(apierr.Unavailable, "No deployment backend is configured")
	}
	if err := h.opts.Deployer.Apply(r.Context(), res); err != nil {
		return apierr.Wrap(apierr.Unavailable, err, "Deploying %s failed: the deployment backend is unavailable", res.ResourceID)
	}
	return nil
}

// claim checks, before a deployment of serve s in env under resourceID is recorded, that no other serve or
// environment holds that resource (one-click ids are just <serve>, so the same serve in two environments, or a
// serve named "<env>-<other>", would otherwise share one release). It returns the serve's current active
// deployment in env, if any.
func (h *Handler) claim(r *http.Request, q *store.Queries, s domain.Serve, env domain.Environment, resourceID string) (*domain.Deployment, error) {
	holders, err := q.ActiveByResource(r.Context(), resourceID)
	if err != nil {
		return nil, err
	}
	for _, d := range holders {
		if d.ServeID != s.ID || d.EnvironmentID != env.ID {
			return nil, apierr.New(apierr.AlreadyExists, "Resource %s is already used by the active deployment of serve %s in environment %s; undeploy it first", resourceID, d.ServeName, d.EnvName)
		}
	}
	prev, found, err := q.ActiveDeployment(r.Context(), s.ID, env.ID)
	if err != nil || !found {
		return nil, err
	}
	return &prev, nil
}

// retire stops the resource of a replaced deployment when the new one runs under another id (a regular deploy
// after a one-click one, or the reverse), so no release is left running without an ACTIVE row.
func (h *Handler) retire(r *http.Request, prev *domain.Deployment, env domain.Environment, newResourceID string) error {
	if prev == nil || prev.ResourceID == newResourceID {
		return nil
	}
	if err := h.opts.Deployer.Stop(r.Context(), ref(prev.ResourceID, env)); err != nil && !errors.Is(err, deploy.ErrNotFound) {
		return apierr.Wrap(apierr.Unavailable, err, "Stopping the previous resource %s failed: the deployment backend is unavailable", prev.ResourceID)
	}
	return nil
}

// regularPath is the ingress path of a regular deployment: /<serve>-<env>/, or /<serve>/ in a protected env.
func regularPath(s domain.Serve, env domain.Environment) string {
	if env.IsProtected {
		return "/" + s.Name + "/"
	}
	return "/" + s.Name + "-" + env.Name + "/"
}

// deployServe deploys an artifact of an API serve with its infra config for the environment. Environment
// variables and strategy default to the previous deployment's. The deployment rows and the active pointer
// are written, then the Deployer is called, all in one transaction.
func (h *Handler) deployServe(w http.ResponseWriter, r *http.Request, u *domain.User) error {
	name, err := pathName(r, "serve")
	if err != nil {
		return err
	}
	var req domain.DeployRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	d, err := req.Validate()
	if err != nil {
		return err
	}
	var url string
	err = h.st.Tx(r.Context(), func(q *store.Queries) error {
		s, err := q.MustServe(r.Context(), name)
		if err != nil {
			return err
		}
		env, found, err := q.Environment(r.Context(), d.Env)
		if err != nil {
			return err
		}
		if !found {
			return apierr.InvalidField("env", "Environment %s does not exist", d.Env)
		}
		if s.Type == domain.ServeTypeWorkflow {
			return apierr.New(apierr.FailedPrecondition, "Deploying workflow serves is not supported yet")
		}
		cfg, found, err := q.APIConfig(r.Context(), s.ID, env.ID)
		if err != nil {
			return err
		}
		if !found {
			return apierr.New(apierr.NotFound, "Infra config not found for serve %s in environment %s", s.Name, env.Name)
		}
		if cfg.BackendType != domain.BackendFastAPI {
			return apierr.New(apierr.FailedPrecondition, "backend_type %s cannot be deployed; only fastapi is supported", cfg.BackendType)
		}
		art, found, err := q.Artifact(r.Context(), s.ID, d.ArtifactVersion)
		if err != nil {
			return err
		}
		if !found {
			return apierr.New(apierr.NotFound, "Artifact version %s not found for serve %s", d.ArtifactVersion, s.Name)
		}
		if art.ImageURL == "" {
			return apierr.New(apierr.FailedPrecondition, "Artifact version %s has no image", d.ArtifactVersion)
		}
		prev, hasPrev, err := q.LatestAppLayer(r.Context(), s.ID, env.ID)
		if err != nil {
			return err
		}
		al := domain.AppLayerDeployment{Params: d.Params, EnvVars: d.EnvVars}
		if d.Strategy != nil {
			al.Strategy = *d.Strategy
		} else if hasPrev {
			al.Strategy = prev.Strategy
			if al.Params == nil {
				al.Params = prev.Params
			}
		}
		if al.EnvVars == nil && hasPrev {
			al.EnvVars = prev.EnvVars
		}
		resID := domain.ResourceID(env.Name, s.Name)
		prevActive, err := h.claim(r, q, s, env, resID)
		if err != nil {
			return err
		}
		if _, err := q.CreateDeployment(r.Context(), store.NewDeployment{ServeID: s.ID, ArtifactID: art.ID, EnvironmentID: env.ID, ResourceID: resID, CreatedBy: userID(u), AppLayer: &al}); err != nil {
			return err
		}
		path := regularPath(s, env)
		url = h.opts.PublicURL + path
		vals := values(valuesInput{serve: s, env: env, cfg: cfg, image: art.ImageURL, path: path, envVars: al.EnvVars, strategy: al.Strategy, params: al.Params})
		if err := h.apply(r, resource(resID, domain.ArtifactID(env.Name, s.Name, art.Version), env, vals)); err != nil {
			return err
		}
		return h.retire(r, prevActive, env, resID)
	})
	if err != nil {
		return err
	}
	ok(w, http.StatusOK, "Deployment started", map[string]any{"service_url": url})
	return nil
}

// redeployActive re-applies the serve's active deployment in env with a changed infra config (PATCH
// infra-config). It reports whether there was an active deployment.
func (h *Handler) redeployActive(r *http.Request, q *store.Queries, s domain.Serve, env domain.Environment, cfg domain.APIServeConfig) (bool, error) {
	active, found, err := q.ActiveDeployment(r.Context(), s.ID, env.ID)
	if err != nil || !found {
		return false, err
	}
	if cfg.BackendType != domain.BackendFastAPI {
		return false, apierr.New(apierr.FailedPrecondition, "backend_type %s cannot be deployed; only fastapi is supported", cfg.BackendType)
	}
	art, found, err := q.Artifact(r.Context(), s.ID, active.ArtifactVersion)
	if err != nil {
		return false, err
	}
	if !found {
		return false, apierr.New(apierr.Internal, "active deployment's artifact is missing")
	}
	al, _, err := q.AppLayer(r.Context(), active.ID)
	if err != nil {
		return false, err
	}
	path := regularPath(s, env)
	var model map[string]any
	if active.ResourceID == s.Name { // a one-click deployment
		path = "/" + s.Name + "/"
		if st, ok := al.Params["storage_strategy"].(string); ok {
			model = map[string]any{"uri": art.GithubRepoURL, "storage_strategy": st, "pvc_name": h.opts.ModelCachePVC, "cache_path": h.opts.ModelCachePath}
		}
	}
	vals := values(valuesInput{serve: s, env: env, cfg: cfg, image: art.ImageURL, path: path, envVars: al.EnvVars, strategy: al.Strategy, params: al.Params, model: model})
	return true, h.apply(r, resource(active.ResourceID, domain.ArtifactID(env.Name, s.Name, art.Version), env, vals))
}

// deployModel is the one-click flow: resolve the model URI, create the serve if needed, upsert the artifact
// (runtime image + model URI) and the API infra config, record the deployment and apply resource <serve>.
// It answers the bare {"service_url": ...} that hermes expects.
func (h *Handler) deployModel(w http.ResponseWriter, r *http.Request, u *domain.User) error {
	var req domain.DeployModelRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	d, err := req.Validate()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(r.Context(), h.opts.ResolveTimeout)
	info, err := h.opts.Resolver.Resolve(rctx, d.ModelURI)
	cancel()
	if err != nil {
		var im *deploy.InvalidModelError
		if errors.As(err, &im) {
			return err
		}
		return apierr.Wrap(apierr.Unavailable, err, "Could not check the model URI: the model registry is unavailable")
	}
	storage := domain.StorageFor(d.StorageStrategy, info.SizeBytes, info.SizeKnown)
	path := "/" + d.ServeName + "/"
	err = h.st.Tx(r.Context(), func(q *store.Queries) error {
		env, err := q.MustEnvironment(r.Context(), d.Env)
		if err != nil {
			return err
		}
		s, found, err := q.Serve(r.Context(), d.ServeName)
		if err != nil {
			return err
		}
		if !found {
			space := "default"
			if u != nil {
				space = domain.SanitizeSpace(u.Username)
			}
			if s, err = q.CreateServe(r.Context(), domain.Serve{Name: d.ServeName, Type: domain.ServeTypeAPI, Description: domain.OneClickDescription, Space: space, UserID: userID(u)}); err != nil {
				return err
			}
		} else if s.Type != domain.ServeTypeAPI {
			return apierr.InvalidField("serve_name", "Serve %s is a %s serve; one-click deployment needs an api serve", s.Name, s.Type)
		}
		prevActive, err := h.claim(r, q, s, env, s.Name)
		if err != nil {
			return err
		}
		if prevActive != nil && prevActive.ArtifactVersion == d.ArtifactVersion {
			return apierr.InvalidField("artifact_version", "Version %s is already deployed for serve %s in environment %s", d.ArtifactVersion, s.Name, env.Name)
		}
		art, found, err := q.Artifact(r.Context(), s.ID, d.ArtifactVersion)
		if err != nil {
			return err
		}
		if found {
			if err := q.UpdateArtifactSource(r.Context(), art.ID, d.ModelURI, h.opts.DefaultRuntime); err != nil {
				return err
			}
			art.GithubRepoURL, art.ImageURL = d.ModelURI, h.opts.DefaultRuntime
		} else if art, err = q.CreateArtifact(r.Context(), domain.Artifact{ServeID: s.ID, Version: d.ArtifactVersion, GithubRepoURL: d.ModelURI, ImageURL: h.opts.DefaultRuntime, CreatedBy: userID(u)}); err != nil {
			return err
		}
		cfg := domain.APIServeConfig{ServeID: s.ID, EnvironmentID: env.ID, EnvName: env.Name, BackendType: domain.BackendFastAPI, AdditionalHosts: []string{},
			FastAPI: domain.FastAPIConfig{Cores: float64(d.Cores), Memory: float64(d.Memory), NodeCapacityType: d.NodeCapacity, MinReplicas: d.MinReplicas, MaxReplicas: d.MaxReplicas}}
		if err := q.UpsertAPIConfig(r.Context(), cfg, userID(u), true); err != nil {
			return err
		}
		vars := map[string]string{"MLFLOW_MODEL_URI": d.ModelURI, "MODEL_VERSION": d.ArtifactVersion}
		if h.opts.MLflowTrackingURI != "" {
			vars["MLFLOW_TRACKING_URI"] = h.opts.MLflowTrackingURI
		}
		if h.opts.MLflowTrackingUsername != "" {
			vars["MLFLOW_TRACKING_USERNAME"] = h.opts.MLflowTrackingUsername
		}
		if h.opts.MLflowTrackingPassword != "" {
			vars["MLFLOW_TRACKING_PASSWORD"] = h.opts.MLflowTrackingPassword
		}
		params := map[string]any{"storage_strategy": storage}
		if info.SizeKnown {
			params["model_size_bytes"] = info.SizeBytes
		}
		al := domain.AppLayerDeployment{Params: params, EnvVars: vars}
		if _, err := q.CreateDeployment(r.Context(), store.NewDeployment{ServeID: s.ID, ArtifactID: art.ID, EnvironmentID: env.ID, ResourceID: s.Name, CreatedBy: userID(u), AppLayer: &al}); err != nil {
			return err
		}
		model := map[string]any{"uri": d.ModelURI, "storage_strategy": storage, "pvc_name": h.opts.ModelCachePVC, "cache_path": h.opts.ModelCachePath}
		if info.SizeKnown {
			model["size_bytes"] = info.SizeBytes
		}
		vals := values(valuesInput{serve: s, env: env, cfg: cfg, image: h.opts.DefaultRuntime, path: path, envVars: vars, params: params, model: model})
		if err := h.apply(r, resource(s.Name, domain.ArtifactID(env.Name, s.Name, d.ArtifactVersion), env, vals)); err != nil {
			return err
		}
		return h.retire(r, prevActive, env, s.Name)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"service_url": h.opts.PublicURL + path})
	return nil
}

// status reports READY when the active deployment's resource exists, all pods run and the health check
// answers (as the Deployer reports it), NOT_READY otherwise (including no active deployment).
func (h *Handler) status(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	s, env, err := serveAndEnv(r, &h.st.Queries)
	if err != nil {
		return err
	}
	status := "NOT_READY"
	active, found, err := h.st.ActiveDeployment(r.Context(), s.ID, env.ID)
	if err != nil {
		return err
	}
	if found && h.opts.Deployer != nil {
		st, err := h.opts.Deployer.Status(r.Context(), ref(active.ResourceID, env))
		if err != nil {
			h.log.WarnContext(r.Context(), "deployment status check failed", "resource_id", active.ResourceID, "err", err)
		} else if st.Exists && st.Ready {
			status = "READY"
		}
	}
	ok(w, http.StatusOK, "", map[string]string{"status": status})
	return nil
}

// undeploy stops an API serve's active deployment in env (resource id as recorded at deploy time) and marks it
// ENDED. When nothing is running it answers 200 "No running resource found; nothing to undeploy" (and ends a
// stale ACTIVE row).
func (h *Handler) undeploy(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	const nothing = "No running resource found; nothing to undeploy"
	msg := nothing
	var data any
	err := h.st.Tx(r.Context(), func(q *store.Queries) error {
		s, env, err := serveAndEnv(r, q)
		if err != nil {
			return err
		}
		if s.Type == domain.ServeTypeWorkflow {
			return apierr.New(apierr.FailedPrecondition, "Undeploying workflow serves is not supported")
		}
		active, found, err := q.ActiveDeployment(r.Context(), s.ID, env.ID)
		if err != nil || !found {
			return err
		}
		if h.opts.Deployer == nil {
			return apierr.New(apierr.Unavailable, "No deployment backend is configured")
		}
		st, err := h.opts.Deployer.Status(r.Context(), ref(active.ResourceID, env))
		if err != nil || !st.Exists {
			if err != nil {
				h.log.WarnContext(r.Context(), "deployment status check failed", "resource_id", active.ResourceID, "err", err)
			}
			return q.EndActiveDeployment(r.Context(), s.ID, env.ID, active.ID)
		}
		if err := h.opts.Deployer.Stop(r.Context(), ref(active.ResourceID, env)); err != nil && !errors.Is(err, deploy.ErrNotFound) {
			return apierr.Wrap(apierr.Unavailable, err, "Stopping %s failed: the deployment backend is unavailable", active.ResourceID)
		}
		msg = "Serve " + s.Name + " undeployed from " + env.Name
		data = map[string]string{"serve_name": s.Name, "environment": env.Name}
		return q.EndActiveDeployment(r.Context(), s.ID, env.ID, active.ID)
	})
	if err != nil {
		return err
	}
	ok(w, http.StatusOK, msg, data)
	return nil
}

// undeployModel stops a one-click deployment: 404 for an unknown environment, serve or no active deployment.
func (h *Handler) undeployModel(w http.ResponseWriter, r *http.Request, _ *domain.User) error {
	var req domain.UndeployModelRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	serve, envName, err := req.Validate()
	if err != nil {
		return err
	}
	err = h.st.Tx(r.Context(), func(q *store.Queries) error {
		env, err := q.MustEnvironment(r.Context(), envName)
		if err != nil {
			return err
		}
		s, err := q.MustServe(r.Context(), serve)
		if err != nil {
			return err
		}
		active, found, err := q.ActiveDeployment(r.Context(), s.ID, env.ID)
		if err != nil {
			return err
		}
		if !found {
			return apierr.New(apierr.NotFound, "No active deployment of serve %s in environment %s", s.Name, env.Name)
		}
		if h.opts.Deployer == nil {
			return apierr.New(apierr.Unavailable, "No deployment backend is configured")
		}
		if err := h.opts.Deployer.Stop(r.Context(), ref(active.ResourceID, env)); err != nil && !errors.Is(err, deploy.ErrNotFound) {
			return apierr.Wrap(apierr.Unavailable, err, "Stopping %s failed: the deployment backend is unavailable", active.ResourceID)
		}
		return q.EndActiveDeployment(r.Context(), s.ID, env.ID, active.ID)
	})
	if err != nil {
		return err
	}
	ok(w, http.StatusOK, "Model undeployed successfully", map[string]string{"serve_name": serve, "environment": envName})
	return nil
}
