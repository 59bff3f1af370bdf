// Package httpapi serves compute's REST API (chi) over the domain service, in the original's envelope.
package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// EventLog reads the lifecycle events recorded about a subject, newest first (pkg/bus Outbox.Recent).
type EventLog interface {
	Recent(ctx context.Context, subject string, limit int) ([]bus.Event, error)
}

// Handler is the cluster REST API.
type Handler struct {
	svc    *domain.Service
	events EventLog
	log    *slog.Logger
}

// New returns the handler. events serves GET /cluster/{id}/events; when nil that route answers 503.
func New(svc *domain.Service, events EventLog, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, events: events, log: log}
}

// Routes registers the cluster routes (without the /compute prefix).
func (h *Handler) Routes(r chi.Router) {
	r.Get("/healthcheck", h.health)
	r.Get("/health", h.health)
	r.Post("/search", h.search)
	r.Get("/get-limits", h.limits)
	r.Get("/get-disk-types", h.diskTypes)
	r.Get("/get-instance-role", h.instanceRoles)
	r.Get("/get-az", h.azs)
	r.Get("/get-tags", h.tags)
	r.Get("/node-types", h.nodeTypes)
	r.Get("/gpu-pods", h.gpuPods)
	r.Get("/filters", h.filters)
	r.Put("/init-script-status", h.initScriptStatus)
	r.Get("/running-clusters/{minutes}", h.runningClusters)
	r.Post("/recently-visited", h.visit)
	r.Get("/recently-visited", h.recentlyVisited)

	r.Post("/cluster", h.create)
	r.Post("/cluster/search", h.clusterSearch)
	r.Post("/cluster/cost/predict", h.costPredict)
	r.Get("/cluster/job/inactive", h.inactiveJobClusters)
	r.Put("/cluster/force/{id}", h.forceUpdate)
	r.Post("/cluster/start-cluster/{id}", h.start)
	r.Post("/cluster/stop-cluster/{id}", h.stop)
	r.Post("/cluster/restart-cluster/{id}", h.restart)
	r.Put("/cluster/update-name/{id}", h.rename)
	r.Put("/cluster/user/{id}", h.changeUser)
	r.Put("/cluster/update-tags/{id}", h.setTags)
	r.Get("/cluster/get-action-groups/{id}", h.actionGroups)
	r.Get("/cluster/get-action-group-details/{run_id}", h.actionGroupDetails)
	r.Get("/cluster/{id}", h.get)
	r.Put("/cluster/{id}", h.update)
	r.Delete("/cluster/{id}", h.delete)
	r.Get("/cluster/{id}/metadata", h.metadata)
	r.Get("/cluster/{id}/dashboards", h.dashboards)
	r.Get("/cluster/{id}/pods", h.pods)
	r.Get("/cluster/{id}/resources", h.resources)
	r.Get("/cluster/{id}/events", h.clusterEvents)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	envelope.Error(w, r, err, h.log)
}

// decodeBody reads the request body (bounded) and decodes it with decode.
func decodeBody[T any](r *http.Request, decode func([]byte) (T, error)) (T, error) {
	body, err := readBody(r)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(body)
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, apierr.InvalidField("body", "request body is required")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, envelope.MaxBodyBytes+1))
	if err != nil {
		return nil, apierr.Wrap(apierr.InvalidArgument, err, "cannot read request body")
	}
	if len(b) > envelope.MaxBodyBytes {
		return nil, apierr.InvalidField("body", "request body is larger than %d bytes", envelope.MaxBodyBytes)
	}
	return b, nil
}

// user returns the msd-user identity, or an InvalidArgument error when it is missing or malformed.
func user(r *http.Request) (string, error) {
	id, err := auth.Require(r.Context())
	if err != nil {
		return "", err
	}
	return id.Email, nil
}

// optionalUser returns the identity, def when no identity header was sent, and the InvalidArgument error of a
// malformed msd-user header (or an unknown bearer token).
func optionalUser(r *http.Request, def string) (string, error) {
	if r.Header.Get(auth.HeaderUser) == "" && r.Header.Get(auth.HeaderAuthorization) == "" {
		return def, nil
	}
	return user(r)
}

func (h *Handler) health(w http.ResponseWriter, _ *http.Request) {
	envelope.Bare(w, http.StatusOK, map[string]any{"status": "SUCCESS", "message": "OK"})
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBody(r, domain.DecodeClusterRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.svc.Create(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster created successfully", map[string]any{
		"cluster_id": res.Cluster.ID, "cluster_name": res.Cluster.Name, "packages": res.Packages,
	})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	cs, err := h.svc.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster details fetched successfully", clusterView(cs, h.svc.DashboardURLs(r.Context(), &cs.Cluster, false)))
}

func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.Metadata(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster metadata fetched successfully", metadataView(st))
}

func (h *Handler) dashboards(w http.ResponseWriter, r *http.Request) {
	internal := false
	if raw := r.URL.Query().Get("internal"); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			h.fail(w, r, apierr.InvalidField("internal", "internal must be true or false"))
			return
		}
		internal = b
	}
	d, err := h.svc.Dashboards(r.Context(), chi.URLParam(r, "id"), internal)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster dashboards fetched successfully", d)
}

func (h *Handler) pods(w http.ResponseWriter, r *http.Request) {
	pods, err := h.svc.Pods(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res := []any{}
	for _, p := range pods {
		res = append(res, map[string]any{"Name": p.Name, "Type": p.Type, "Status": p.Status, "Message": p.Message})
	}
	envelope.OK(w, http.StatusOK, "Cluster pods fetched successfully", map[string]any{"Resources": res})
}

func (h *Handler) resources(w http.ResponseWriter, r *http.Request) {
	cores, mem, ok, err := h.svc.Resources(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		envelope.OK(w, http.StatusOK, "Cluster is not active", nil)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster resources fetched successfully", map[string]any{"cores_used": cores, "memory_used": mem})
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	u, err := optionalUser(r, "user_not_passed")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := decodeBody(r, domain.DecodeClusterRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.svc.Update(r.Context(), chi.URLParam(r, "id"), req, u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.Bare(w, http.StatusOK, map[string]any{"status": "SUCCESS", "data": map[string]any{
		"cluster_id": res.Cluster.ID, "cluster_name": res.Cluster.Name, "updated": res.Changed, "restarted": res.Restarted,
		"artifact_name": res.Cluster.ArtifactName(),
	}})
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := h.svc.Delete(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.Bare(w, http.StatusOK, map[string]any{"status": "SUCCESS", "data": map[string]any{"cluster_id": id}})
}

func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	h.launch(w, r, h.svc.Start, "Cluster Start Accepted")
}

func (h *Handler) restart(w http.ResponseWriter, r *http.Request) {
	h.launch(w, r, h.svc.Restart, "Restart Cluster Accepted")
}

// launch runs a start or restart for the msd-user caller and answers 202 with cluster-manager's reply.
func (h *Handler) launch(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, id, user string) (domain.StartResult, error), msg string) {
	u, err := user(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := fn(r.Context(), chi.URLParam(r, "id"), u)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusAccepted, msg, map[string]any{
		"ClusterName": res.ClusterName, "Namespace": res.Namespace, "KubeCluster": res.KubeCluster})
}

func (h *Handler) stop(w http.ResponseWriter, r *http.Request) {
	u, err := user(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	if err := h.svc.Stop(r.Context(), id, u); err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusAccepted, "Cluster stopped successfully", map[string]any{"cluster_id": id})
}

// mutation runs a definition change whose body decode gives a T, and answers with the changed fields.
func mutation[T any](h *Handler, w http.ResponseWriter, r *http.Request, decode func([]byte) (T, error), msg string,
	fn func(ctx context.Context, id string, v T) (domain.Cluster, error), view func(c domain.Cluster) map[string]any) {
	v, err := decodeBody(r, decode)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := fn(r.Context(), chi.URLParam(r, "id"), v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, msg, view(c))
}

func (h *Handler) rename(w http.ResponseWriter, r *http.Request) {
	mutation(h, w, r, DecodeRename, "Cluster name updated successfully", h.svc.Rename,
		func(c domain.Cluster) map[string]any {
			return map[string]any{"cluster_id": c.ID, "cluster_name": c.Name}
		})
}

func (h *Handler) changeUser(w http.ResponseWriter, r *http.Request) {
	if _, err := user(r); err != nil {
		h.fail(w, r, err)
		return
	}
	mutation(h, w, r, DecodeChangeUser, "Cluster user updated successfully", h.svc.ChangeUser,
		func(c domain.Cluster) map[string]any { return map[string]any{"cluster_id": c.ID, "user": c.User} })
}

func (h *Handler) setTags(w http.ResponseWriter, r *http.Request) {
	mutation(h, w, r, DecodeTags, "Cluster tags updated successfully", h.svc.SetTags,
		func(c domain.Cluster) map[string]any {
			return map[string]any{"cluster_id": c.ID, "tags": nonNil(c.Tags)}
		})
}

func (h *Handler) initScriptStatus(w http.ResponseWriter, r *http.Request) {
	rep, err := decodeBody(r, DecodeInitScriptStatus)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.InitScriptStatus(r.Context(), rep.ClusterID, rep.Status, rep.Message, rep.UID); err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.Bare(w, http.StatusOK, map[string]any{"status": "SUCCESS", "data": nil})
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q, req, err := DecodeSearch(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, total, err := h.svc.Search(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	data := []any{}
	for _, cs := range list {
		c := cs.Cluster
		data = append(data, map[string]any{
			"cluster_id": c.ID, "name": c.Name, "tags": nonNil(c.Tags), "status": domain.UIStatus(cs.Status.Status), "runtime": c.Runtime,
			"active_pod": cs.Status.ActivePods, "total_memory": c.TotalMemory(), "total_cores": c.TotalCores(),
			"last_used_on": iso(cs.Status.LastUsedAt), "create_by": c.User, "created_on": iso(c.CreatedOn),
			"estimated_cost": costRange(&c),
		})
	}
	envelope.Bare(w, http.StatusOK, map[string]any{"status": "SUCCESS", "result_size": total, "page_size": *req.PageSize,
		"offset": req.Offset, "data": data})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Handler) clusterSearch(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q, ps, err := DecodeClusterSearch(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, total, err := h.svc.Search(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []any{}
	for _, cs := range list {
		c := cs.Cluster
		out = append(out, map[string]any{
			"cluster_id": c.ID, "name": c.Name, "status": domain.UIStatus(cs.Status.Status), "runtime": c.Runtime,
			"tags": nonNil(c.Tags), "labels": c.Labels, "cpu": c.TotalCores(), "memory": c.TotalMemory(), "cost": costRange(&c),
			"created_by": c.User, "created_on": iso(c.CreatedOn), "last_used_on": iso(cs.Status.LastUsedAt),
		})
	}
	envelope.OK(w, http.StatusOK, "Clusters fetched successfully", map[string]any{
		"pagination": map[string]any{"total_matches": total, "page_size": ps, "offset": q.Offset}, "body": out})
}

func (h *Handler) limits(w http.ResponseWriter, _ *http.Request) {
	envelope.OK(w, http.StatusOK, "Limits fetched successfully", map[string]any{
		"head_node_limits": map[string]any{
			"cores":  map[string]any{"min": domain.HeadCoresMin, "max": domain.HeadCoresMax},
			"memory": map[string]any{"min": domain.HeadMemoryMin, "max": domain.HeadMemoryMax},
		},
		"worker_node_limits": map[string]any{
			"cores":  map[string]any{"min": domain.WorkerCoresMin, "max": domain.WorkerCoresMax},
			"memory": map[string]any{"min": domain.WorkerMemMin, "max": domain.WorkerMemMax},
			"pods":   map[string]any{"min": 0},
		},
		"inactive_time_limits": map[string]any{"min": 10},
		"auto_termination_policy_default_settings": map[string]any{
			"time": 30, "head_node_threshold": 100, "head_node_without_worker_group_threshold": 10, "worker_group_threshold": 5,
			"active_ray_job":   true,
			"jupyter_activity": map[string]any{"kernel_activity": true, "terminal_activity": false, "expiry_time": 5},
		},
	})
}

func (h *Handler) diskTypes(w http.ResponseWriter, _ *http.Request) {
	envelope.OK(w, http.StatusOK, "Disk types fetched successfully", []string{"gp2"})
}

func (h *Handler) instanceRoles(w http.ResponseWriter, _ *http.Request) {
	out := []any{}
	for _, r := range domain.InstanceRoles {
		out = append(out, roleView(r))
	}
	envelope.OK(w, http.StatusOK, "Instance roles fetched successfully", out)
}

func (h *Handler) azs(w http.ResponseWriter, _ *http.Request) {
	envelope.OK(w, http.StatusOK, "Availability zones fetched successfully", []any{map[string]any{"az_id": "az_id", "display_name": "az_name"}})
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request) {
	tags, err := h.svc.Store().DistinctTags(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Tags fetched successfully", nonNil(tags))
}

func (h *Handler) nodeTypes(w http.ResponseWriter, _ *http.Request) {
	envelope.OK(w, http.StatusOK, "Node types fetched successfully", domain.NodeTypes)
}

func (h *Handler) gpuPods(w http.ResponseWriter, _ *http.Request) {
	envelope.OK(w, http.StatusOK, "GPU pods fetched successfully", domain.GPUPods)
}

func (h *Handler) filters(w http.ResponseWriter, r *http.Request) {
	users, err := h.svc.Store().DistinctUsers(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Filters fetched successfully", map[string]any{
		"status": []string{domain.UIInactive, domain.UICreating, domain.UIActive}, "users": users})
}

func (h *Handler) runningClusters(w http.ResponseWriter, r *http.Request) {
	minutes, err := ParseRunningMinutes(chi.URLParam(r, "minutes"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var running []string
	for _, s := range domain.AllStatuses {
		if s != domain.StatusInactive {
			running = append(running, s)
		}
	}
	list, _, err := h.svc.Search(r.Context(), domain.SearchQuery{Statuses: running, Limit: MaxPageSize})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.svc.Clock().Now()
	out := []any{}
	for _, cs := range list {
		at, ok, err := h.svc.Store().LastActionAt(r.Context(), cs.Cluster.ID, []string{domain.ActionStarted, domain.ActionRestarting})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !ok || now.Sub(at) < time.Duration(minutes)*time.Minute {
			continue
		}
		out = append(out, map[string]any{"cluster_id": cs.Cluster.ID, "name": cs.Cluster.Name, "user": cs.Cluster.User,
			"status": domain.UIStatus(cs.Status.Status), "started_at": iso(at), "running_minutes": int(now.Sub(at).Minutes())})
	}
	envelope.OK(w, http.StatusOK, "Running clusters fetched successfully", map[string]any{"clusters": out, "running_time": minutes})
}

func (h *Handler) visit(w http.ResponseWriter, r *http.Request) {
	u, err := user(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	clusterID, err := decodeBody(r, DecodeVisit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.svc.Metadata(r.Context(), clusterID); err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.svc.Store().RecordVisit(r.Context(), u, clusterID, h.svc.Clock().Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Recently visited updated successfully", map[string]any{"updatedCount": n})
}

func (h *Handler) recentlyVisited(w http.ResponseWriter, r *http.Request) {
	u, err := user(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ids, err := h.svc.Store().RecentVisits(r.Context(), u, 10)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []any{}
	for _, id := range ids {
		cs, err := h.svc.Get(r.Context(), id)
		if apierr.KindOf(err) == apierr.NotFound {
			continue
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		c := cs.Cluster
		out = append(out, map[string]any{"cluster_id": c.ID, "cluster_name": c.Name, "status": domain.UIStatus(cs.Status.Status),
			"resources": map[string]any{"cores": c.TotalCores(), "memory": c.TotalMemory()}})
	}
	envelope.OK(w, http.StatusOK, "Recently visited clusters fetched successfully", out)
}

func (h *Handler) actionGroups(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := h.svc.Metadata(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	qv := r.URL.Query()
	pq, err := ParsePageQuery(qv.Get("offset"), qv.Get("page_size"), qv.Get("sort_order"), true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	offset, size, desc := pq.Offset, pq.PageSize, pq.Desc
	actions, err := h.svc.Store().ListActions(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type group struct{ first, last domain.Action }
	groups := map[string]*group{}
	var order []string
	for _, a := range actions {
		if a.RunID == "" {
			continue
		}
		g, ok := groups[a.RunID]
		if !ok {
			g = &group{first: a}
			groups[a.RunID] = g
			order = append(order, a.RunID)
		}
		g.last = a
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := groups[order[i]].first.UpdatedAt, groups[order[j]].first.UpdatedAt
		if desc {
			return a.After(b)
		}
		return a.Before(b)
	})
	total := len(order)
	page := []any{}
	for i := offset; i < len(order) && i < offset+size; i++ {
		g := groups[order[i]]
		page = append(page, map[string]any{"cluster_runtime_id": order[i], "cluster_id": id,
			"start_time": iso(g.first.UpdatedAt), "end_time": iso(g.last.UpdatedAt),
			"first_event": g.first.Action, "last_event": g.last.Action, "artifact_id": g.last.ArtifactID})
	}
	envelope.OK(w, http.StatusOK, "Action groups fetched successfully", map[string]any{"total": total, "action_groups": page})
}

func (h *Handler) actionGroupDetails(w http.ResponseWriter, r *http.Request) {
	runID := chi.URLParam(r, "run_id")
	desc, err := ParseSortOrder(r.URL.Query().Get("sort_order"), false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	actions, err := h.svc.Store().ActionsOfRun(r.Context(), runID, desc)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(actions) == 0 {
		h.fail(w, r, apierr.New(apierr.NotFound, "Cluster run id %s not found", runID))
		return
	}
	out := []any{}
	for _, a := range actions {
		out = append(out, map[string]any{"id": a.ID, "cluster_runid": a.RunID, "action": a.Action, "message": a.Message,
			"updated_at": iso(a.UpdatedAt), "cluster_id": a.ClusterID, "artifact_id": a.ArtifactID})
	}
	envelope.OK(w, http.StatusOK, "Action group details fetched successfully", out)
}

func (h *Handler) costPredict(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBody(r, domain.DecodeClusterRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lo, hi := costBounds(&req.Cluster)
	envelope.OK(w, http.StatusOK, "Cost predicted successfully", map[string]any{"min": lo, "max": hi})
}

func (h *Handler) inactiveJobClusters(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	offset, err := boundedInt("offset", qv.Get("offset"), 0, 0, maxInt32)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit, err := boundedInt("limit", qv.Get("limit"), 1000, 1, 1000)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// days is bounded (100 years) so the cutoff computation cannot overflow.
	days, err := boundedInt("days", qv.Get("days"), 30, 0, 36500)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ids, err := h.svc.InactiveJobClusters(r.Context(), days, offset, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(ids) == 0 {
		h.fail(w, r, apierr.New(apierr.NotFound, "No inactive job clusters found"))
		return
	}
	envelope.OK(w, http.StatusOK, "Inactive job clusters fetched successfully", map[string]any{"cluster_ids": ids})
}

func (h *Handler) forceUpdate(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	art, err := h.svc.ForceUpdate(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Cluster force updated successfully", map[string]any{"cluster_id": id, "artifact_name": art})
}

// clusterEvents answers GET /cluster/{id}/events?limit=50: the cluster's lifecycle events from the outbox,
// newest first, in the chronos shape {event_type, timestamp, cluster_id, cluster_name, message, metadata}.
func (h *Handler) clusterEvents(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	limit, err := ParseEventsLimit(r.URL.Query().Get("limit"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.svc.Metadata(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	if h.events == nil {
		h.fail(w, r, apierr.New(apierr.Unavailable, "event log is not configured"))
		return
	}
	evs, err := h.events.Recent(r.Context(), id, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]any, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventView(e))
	}
	envelope.OK(w, http.StatusOK, "Cluster events fetched successfully", out)
}
