package libraries

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// Handler serves the library API and the remote-command API.
type Handler struct {
	svc    *Service
	logger *slog.Logger
}

// NewHandler returns the libraries / remote-commands REST handler.
func NewHandler(svc *Service, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, logger: logger}
}

// Routes registers the routes (without the /compute prefix) on the router that also serves /cluster/...
func (h *Handler) Routes(r chi.Router) {
	r.Get("/cluster/{cluster_id}/library", h.list)
	r.Post("/cluster/{cluster_id}/library/install", h.install)
	r.Post("/cluster/{cluster_id}/library/install/batch", h.installBatch)
	r.Put("/cluster/{cluster_id}/library/uninstall", h.uninstall)
	r.Get("/cluster/{cluster_id}/library/{library_id}", h.get)
	r.Get("/cluster/{cluster_id}/library/{library_id}/status", h.status)
	r.Patch("/cluster/{cluster_id}/library/{library_id}/install/retry", h.retry)

	r.Post("/cluster/command/pod/status", h.podStatus)
	r.Post("/cluster/{cluster_id}/command", h.addCommands)
	r.Post("/cluster/{cluster_id}/command/execute", h.execute)
	r.Delete("/cluster/{cluster_id}/command/{execution_id}", h.deleteCommand)
	r.Get("/cluster/{cluster_id}/command/{execution_id}/status", h.commandStatus)
	r.Get("/cluster/{cluster_id}/commands", h.listCommands)
}

// DecodeInstall decodes and validates POST .../library/install.
func DecodeInstall(r *http.Request) (Spec, error) {
	var req InstallRequest
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return Spec{}, err
	}
	return req.Validate()
}

// DecodeBatch decodes and validates POST .../library/install/batch.
func DecodeBatch(r *http.Request) ([]Spec, error) {
	var req BatchInstallRequest
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	return req.Validate()
}

// DecodeCommand decodes and validates POST .../command/execute.
func DecodeCommand(r *http.Request) (CommandSpec, error) {
	var req CommandRequest
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return CommandSpec{}, err
	}
	return req.Validate()
}

// DecodeAddCommands decodes and validates POST .../command.
func DecodeAddCommands(r *http.Request) ([]CommandSpec, error) {
	var req AddCommandsRequest
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	return req.Validate()
}

// DecodePodStatus decodes and validates POST /cluster/command/pod/status.
func DecodePodStatus(r *http.Request) (PodReport, error) {
	var req PodStatusReport
	if err := envelope.DecodeJSON(r, &req); err != nil {
		return PodReport{}, err
	}
	return req.Validate()
}

// DecodeListParams reads the list query (?key=&sort_by=id&sort_order=desc&offset=0&page_size=10).
func DecodeListParams(r *http.Request) (ListParams, error) {
	q := r.URL.Query()
	p := ListParams{Key: strings.TrimSpace(q.Get("key")), SortBy: "id", SortOrder: "desc"}
	if v := q.Get("sort_by"); v != "" {
		if !slices.Contains(SortColumns, v) {
			return p, apierr.InvalidField("sort_by", "sort_by must be one of %s", strings.Join(SortColumns, ", "))
		}
		p.SortBy = v
	}
	if v := strings.ToLower(q.Get("sort_order")); v != "" {
		if v != "asc" && v != "desc" {
			return p, apierr.InvalidField("sort_order", "sort_order must be asc or desc")
		}
		p.SortOrder = v
	}
	var err error
	if p.Offset, err = envelope.QueryInt(r, "offset", 0); err != nil {
		return p, err
	}
	if p.Offset < 0 {
		return p, apierr.InvalidField("offset", "offset must be >= 0")
	}
	if p.PageSize, err = envelope.QueryInt(r, "page_size", 10); err != nil {
		return p, err
	}
	if p.PageSize < 1 || p.PageSize > MaxPageSize {
		return p, apierr.InvalidField("page_size", "page_size must be between 1 and %d", MaxPageSize)
	}
	if len(p.Key) > maxNameLen {
		return p, apierr.InvalidField("key", "key must be at most %d bytes", maxNameLen)
	}
	return p, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	envelope.Error(w, r, err, h.logger)
}

func libraryID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "library_id"), 10, 64)
	if err != nil || id < 1 {
		return 0, apierr.InvalidField("library_id", "library_id must be a positive integer")
	}
	return id, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	p, err := DecodeListParams(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.svc.ListLibraries(r.Context(), chi.URLParam(r, "cluster_id"), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Libraries fetched successfully", page)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id, err := libraryID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.svc.GetLibrary(r.Context(), chi.URLParam(r, "cluster_id"), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Library fetched successfully", d)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	id, err := libraryID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	clusterID := chi.URLParam(r, "cluster_id")
	d, err := h.svc.GetLibrary(r.Context(), clusterID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Library status fetched successfully",
		map[string]any{"library_id": d.ID, "cluster_id": clusterID, "status": d.Status})
}

func (h *Handler) install(w http.ResponseWriter, r *http.Request) {
	spec, err := DecodeInstall(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	libs, err := h.svc.Install(r.Context(), chi.URLParam(r, "cluster_id"), []Spec{spec})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Library install accepted", libs[0])
}

func (h *Handler) installBatch(w http.ResponseWriter, r *http.Request) {
	specs, err := DecodeBatch(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	clusterID := chi.URLParam(r, "cluster_id")
	libs, err := h.svc.Install(r.Context(), clusterID, specs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Library install accepted", map[string]any{"cluster_id": clusterID, "packages": libs})
}

func (h *Handler) uninstall(w http.ResponseWriter, r *http.Request) {
	var req UninstallRequest
	if err := envelope.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	clusterID := chi.URLParam(r, "cluster_id")
	ids, err := h.svc.Uninstall(r.Context(), clusterID, req.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pkgs := make([]map[string]int64, len(ids))
	for i, id := range ids {
		pkgs[i] = map[string]int64{"id": id}
	}
	envelope.OK(w, http.StatusOK, "Library uninstall accepted", map[string]any{"cluster_id": clusterID, "packages": pkgs})
}

func (h *Handler) retry(w http.ResponseWriter, r *http.Request) {
	id, err := libraryID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := h.svc.Retry(r.Context(), chi.URLParam(r, "cluster_id"), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Library install retried", l)
}

func (h *Handler) addCommands(w http.ResponseWriter, r *http.Request) {
	specs, err := DecodeAddCommands(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.svc.AddCommands(r.Context(), chi.URLParam(r, "cluster_id"), specs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Remote commands added successfully", res)
}

func (h *Handler) execute(w http.ResponseWriter, r *http.Request) {
	spec, err := DecodeCommand(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.svc.Execute(r.Context(), chi.URLParam(r, "cluster_id"), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusAccepted, "Remote command execution accepted", res)
}

func (h *Handler) deleteCommand(w http.ResponseWriter, r *http.Request) {
	ids, err := h.svc.DeleteCommand(r.Context(), chi.URLParam(r, "cluster_id"), chi.URLParam(r, "execution_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Remote command deleted successfully", map[string]any{"execution_ids": ids})
}

func (h *Handler) commandStatus(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.CommandStatus(r.Context(), chi.URLParam(r, "cluster_id"), chi.URLParam(r, "execution_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Remote command status fetched successfully", CommandStatus{
		Status: c.Status, ExecutionID: c.ExecutionID, ErrorCode: c.ErrorCode, ErrorLogsPath: c.ErrorLogsPath})
}

// CommandStatus is the answer of GET /cluster/{id}/command/{execution_id}/status.
type CommandStatus struct {
	Status        string  `json:"status"`
	ExecutionID   string  `json:"execution_id"`
	ErrorCode     *string `json:"error_code"`
	ErrorLogsPath *string `json:"error_logs_path"`
}

func (h *Handler) listCommands(w http.ResponseWriter, r *http.Request) {
	cmds, err := h.svc.ListCommands(r.Context(), chi.URLParam(r, "cluster_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Remote commands fetched successfully", cmds)
}

func (h *Handler) podStatus(w http.ResponseWriter, r *http.Request) {
	rep, err := DecodePodStatus(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.ReportPodStatus(r.Context(), rep); err != nil {
		h.fail(w, r, err)
		return
	}
	envelope.OK(w, http.StatusOK, "Pod command status recorded", rep)
}
