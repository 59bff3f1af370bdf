package httpapi

import (
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
)

type submitted struct {
	Status  string `json:"status"`
	TaskID  string `json:"task_id"`
	LogsURL string `json:"logs_url"`
	Message string `json:"message"`
}

func (h *Handler) logsURL(id string) string { return h.opts.PublicURL + "/static/" + id + ".log" }

func (h *Handler) submit(w http.ResponseWriter, r *http.Request, kind domain.Kind, app, tag string, p domain.BuildParams) error {
	id := domain.NewTaskID()
	t, err := h.st.CreateTask(r.Context(), domain.Task{TaskID: id, Kind: kind, AppName: app, ImageTag: tag, LogsURL: h.logsURL(id), Params: p})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, submitted{Status: "SUCCESS", TaskID: t.TaskID, LogsURL: t.LogsURL, Message: "task has been added to queue"})
	return nil
}

func (h *Handler) buildWithDockerfile(w http.ResponseWriter, r *http.Request) error {
	req, err := DecodeDockerfileRequest(r)
	if err != nil {
		return err
	}
	return h.submit(w, r, domain.KindDockerfile, req.AppName, req.ImageTag, domain.BuildParams{
		GitRepo: req.GitRepo, Branch: req.Branch, AppDir: req.AppDir, Dockerfile: req.Dockerfile})
}

func (h *Handler) buildModelImage(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes+1))
	if err != nil {
		return apierr.InvalidField("body", "request body is larger than %d bytes", MaxBodyBytes)
	}
	req, err := DecodeModelRequest(data)
	if err != nil {
		return err
	}
	if h.opts.CheckModel != nil {
		if err := h.opts.CheckModel(req); err != nil {
			return err
		}
	}
	return h.submit(w, r, domain.KindModel, req.AppName, req.ImageTag, domain.BuildParams{
		ModelURI: req.ModelURI, ModelDir: req.ModelDir, BaseImage: req.BaseImage, Entrypoint: req.Entrypoint})
}

type taskItem struct {
	TaskID   string `json:"task_id"`
	AppName  string `json:"app_name"`
	ImageTag string `json:"image_tag"`
	LogsURL  string `json:"logs_url"`
	Status   string `json:"status"`
	Kind     string `json:"kind"`
	ImageURL string `json:"image_url"`
}

type taskList struct {
	Status  string     `json:"status"`
	Data    []taskItem `json:"data"`
	Message string     `json:"message"`
}

func (h *Handler) listTasks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, offset, err := ParsePage(q.Get("limit"), q.Get("offset"))
	if err != nil {
		return err
	}
	tasks, err := h.st.Tasks(r.Context(), limit, offset)
	if err != nil {
		return err
	}
	out := taskList{Status: "SUCCESS", Data: make([]taskItem, 0, len(tasks))}
	for _, t := range tasks {
		out.Data = append(out.Data, taskItem{TaskID: t.TaskID, AppName: t.AppName, ImageTag: t.ImageTag, LogsURL: t.LogsURL,
			Status: string(t.Status), Kind: string(t.Kind), ImageURL: t.ImageURL})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) task(r *http.Request, id string) (domain.Task, error) {
	if id == "" {
		return domain.Task{}, apierr.InvalidField("task_id", "task_id is required")
	}
	if !domain.ValidTaskID(id) {
		return domain.Task{}, apierr.New(apierr.NotFound, "task %q not found", strings.ToValidUTF8(id, "?"))
	}
	return h.st.Task(r.Context(), id)
}

type statusBody struct {
	Status      string `json:"status"`
	BuildStatus string `json:"build_status"`
	ImageURL    string `json:"image_url,omitempty"`
	Message     string `json:"message"`
}

func (h *Handler) taskStatus(w http.ResponseWriter, r *http.Request) error {
	t, err := h.task(r, r.URL.Query().Get("task_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusBody{Status: "SUCCESS", BuildStatus: string(t.Status), ImageURL: t.ImageURL, Message: t.Message})
	return nil
}

type logsBody struct {
	Status  string `json:"status"`
	LogsURL string `json:"logs_url"`
	Message string `json:"message"`
}

func (h *Handler) taskLogs(w http.ResponseWriter, r *http.Request) error {
	t, err := h.task(r, r.URL.Query().Get("task_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, logsBody{Status: "SUCCESS", LogsURL: t.LogsURL, Message: ""})
	return nil
}

// staticLog serves the raw build log so far (readable while the build runs).
func (h *Handler) staticLog(w http.ResponseWriter, r *http.Request) error {
	id, ok := strings.CutSuffix(chi.URLParam(r, "file"), ".log")
	if !ok || !domain.ValidTaskID(id) {
		return apierr.New(apierr.NotFound, "log not found")
	}
	text, err := h.st.Logs(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, text)
	return nil
}
