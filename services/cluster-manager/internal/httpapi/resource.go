package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

// maxResourceBody bounds a /resource-instance request body (values up to resource.MaxValuesBytes).
const maxResourceBody = resource.MaxValuesBytes + 64<<10

// Envelope is the {"status","message","data"} answer of the /resource-instance routes.
type Envelope struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// ResourceRequest is any /resource-instance JSON body; which fields are mandatory depends on the route.
type ResourceRequest struct {
	ArtifactID     string
	DarwinResource string
	Version        string
	Values         map[string]any // nil when absent
	ResourceID     string
	KubeCluster    string
	KubeNamespace  string
}

var resourceFields = map[string]bool{"artifact_id": true, "darwin_resource": true, "version": true, "resource_id": true, "kube_cluster": true, "kube_namespace": true}

// DecodeResourceRequest reads a /resource-instance body: a JSON object whose known fields are strings
// (values: an object), checking the mandatory ones; unknown fields are ignored.
func DecodeResourceRequest(body io.Reader, mandatory ...string) (ResourceRequest, error) {
	var req ResourceRequest
	data, err := io.ReadAll(io.LimitReader(body, maxResourceBody+1))
	if err != nil {
		return req, apierr.Wrap(apierr.InvalidArgument, err, "read request body")
	}
	if len(data) > maxResourceBody {
		return req, apierr.New(apierr.InvalidArgument, "request body exceeds %d bytes", maxResourceBody)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil || raw == nil || dec.More() {
		return req, apierr.New(apierr.InvalidArgument, "request body must be one JSON object")
	}
	str := map[string]string{}
	for k, v := range raw {
		if !resourceFields[k] {
			continue
		}
		if t := strings.TrimSpace(string(v)); t == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return req, apierr.InvalidField(k, "%s must be a string", k)
		}
		str[k] = strings.TrimSpace(s)
	}
	if v, ok := raw["values"]; ok && strings.TrimSpace(string(v)) != "null" {
		vals, err := resource.DecodeValues(v)
		if err != nil {
			return req, err
		}
		req.Values = vals
	}
	for _, f := range mandatory {
		if f == "values" {
			if req.Values == nil {
				return req, apierr.InvalidField("values", "values is mandatory")
			}
			continue
		}
		if str[f] == "" {
			return req, apierr.InvalidField(f, "%s is mandatory", f)
		}
	}
	req.ArtifactID, req.DarwinResource, req.Version = str["artifact_id"], str["darwin_resource"], str["version"]
	req.ResourceID, req.KubeCluster, req.KubeNamespace = str["resource_id"], str["kube_cluster"], str["kube_namespace"]
	return req, nil
}

// ResourceAPI serves /resource-instance/*.
type ResourceAPI struct {
	res    *resource.Service
	logger *slog.Logger
}

// NewResourceAPI returns the handlers over res.
func NewResourceAPI(res *resource.Service, logger *slog.Logger) *ResourceAPI {
	return &ResourceAPI{res: res, logger: logger}
}

// Register mounts the routes (without the /cluster-manager prefix).
func (a *ResourceAPI) Register(r chi.Router) {
	r.Post("/resource-instance/", a.create)
	r.Post("/resource-instance", a.create)
	r.Put("/resource-instance/chart", a.updateChart)
	r.Patch("/resource-instance/values", a.updateValues)
	r.Post("/resource-instance/start", a.start)
	r.Post("/resource-instance/stop", a.stop)
	r.Post("/resource-instance/status", a.status)
}

func (a *ResourceAPI) decode(w http.ResponseWriter, r *http.Request, mandatory ...string) (ResourceRequest, bool) {
	req, err := DecodeResourceRequest(r.Body, mandatory...)
	if err != nil {
		writeError(w, r, a.logger, err)
		return req, false
	}
	return req, true
}

func ok(w http.ResponseWriter, status int, msg string, data any) {
	writeJSON(w, status, Envelope{Status: "SUCCESS", Message: msg, Data: data})
}

func (a *ResourceAPI) create(w http.ResponseWriter, r *http.Request) {
	req, good := a.decode(w, r, "artifact_id", "darwin_resource")
	if !good {
		return
	}
	vals := req.Values
	if vals == nil {
		vals = map[string]any{}
	}
	d, url, err := a.res.Create(r.Context(), req.ArtifactID, req.DarwinResource, req.Version, vals)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	ok(w, http.StatusCreated, "Artifact Creation Success", map[string]any{"artifact_id": d.ArtifactID, "artifact_url": url, "version": d.Version})
}

func (a *ResourceAPI) updateChart(w http.ResponseWriter, r *http.Request) {
	req, good := a.decode(w, r, "artifact_id", "darwin_resource")
	if !good {
		return
	}
	d, err := a.res.UpdateChart(r.Context(), req.ArtifactID, req.DarwinResource, req.Version)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	ok(w, http.StatusOK, "Chart Updation Success", map[string]any{"artifact_id": d.ArtifactID, "version": d.Version})
}

func (a *ResourceAPI) updateValues(w http.ResponseWriter, r *http.Request) {
	req, good := a.decode(w, r, "artifact_id", "darwin_resource", "values")
	if !good {
		return
	}
	d, err := a.res.UpdateValues(r.Context(), req.ArtifactID, req.DarwinResource, req.Values)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	ok(w, http.StatusOK, "Values Updation Success", map[string]any{"artifact_id": d.ArtifactID})
}

func placement(r *http.Request, req ResourceRequest) *http.Request {
	return r.WithContext(driver.WithPlacement(r.Context(), driver.Placement{KubeCluster: req.KubeCluster, Namespace: req.KubeNamespace}))
}

func (a *ResourceAPI) start(w http.ResponseWriter, r *http.Request) {
	req, good := a.decode(w, r, "resource_id", "artifact_id", "darwin_resource")
	if !good {
		return
	}
	r = placement(r, req)
	if err := a.res.Start(r.Context(), req.ResourceID, req.ArtifactID, req.DarwinResource); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	ok(w, http.StatusAccepted, "Resource Instance Start Accepted", map[string]any{"resource_id": req.ResourceID})
}

func (a *ResourceAPI) stop(w http.ResponseWriter, r *http.Request) {
	req, good := a.decode(w, r, "resource_id")
	if !good {
		return
	}
	r = placement(r, req)
	if err := a.res.Stop(r.Context(), req.ResourceID); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	ok(w, http.StatusAccepted, "Resource Instance Stop Accepted", map[string]any{"resource_id": req.ResourceID})
}

// PodStatus is one pod of a /resource-instance/status answer.
type PodStatus struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func (a *ResourceAPI) status(w http.ResponseWriter, r *http.Request) {
	req, good := a.decode(w, r, "resource_id")
	if !good {
		return
	}
	r = placement(r, req)
	st, err := a.res.Status(r.Context(), req.ResourceID)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	pods := make([]PodStatus, 0, len(st.Pods))
	for _, p := range st.Pods {
		pods = append(pods, PodStatus{Name: p.Name, Status: p.Status, Message: p.Message})
	}
	ok(w, http.StatusOK, "Resource Instance Status", map[string]any{
		"resource_id": req.ResourceID,
		"status":      map[string]any{"pods": pods},
		"installed":   st.Installed, "artifact_id": st.ArtifactID, "url": st.URL,
	})
}

// ServeRouter finds a ready replica for the first path segment of a request (see local.Serves.Route).
type ServeRouter interface {
	Route(seg string) (base string, done func(), found bool, err error)
}

// ServeProxy reverse-proxies /<resource-id>/... to a ready replica of the resource instance (round-robin),
// stripping the prefix; 503 in the DCM envelope when none is ready. Paths whose first segment names no
// installed instance go to next (404 when next is nil).
type ServeProxy struct {
	router ServeRouter
	next   http.Handler
	logger *slog.Logger
	rp     *httputil.ReverseProxy
}

type proxyTarget struct{}

// NewServeProxy returns the handler.
func NewServeProxy(router ServeRouter, next http.Handler, logger *slog.Logger) *ServeProxy {
	p := &ServeProxy{router: router, next: next, logger: logger}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(proxyTarget{}).(*url.URL)
			pr.Out.URL.Scheme, pr.Out.URL.Host = t.Scheme, t.Host
			pr.Out.URL.Path, pr.Out.URL.RawPath = t.Path, ""
			pr.Out.Host = t.Host
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.WarnContext(r.Context(), "serve proxy", "path", r.URL.Path, "err", err)
			writeStatusError(w, http.StatusBadGateway, "model server is not answering")
		},
	}
	return p
}

func (p *ServeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/")
	seg, tail, slash := strings.Cut(rest, "/")
	base, done, found, err := "", func() {}, false, error(nil)
	if seg != "" {
		base, done, found, err = p.router.Route(seg)
	}
	if !found {
		if p.next != nil {
			p.next.ServeHTTP(w, r)
			return
		}
		writeStatusError(w, http.StatusNotFound, "not found")
		return
	}
	if err != nil {
		writeError(w, r, p.logger, err)
		return
	}
	if !slash {
		done()
		target := seg + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusFound)
		return
	}
	defer done()
	t, perr := url.Parse(base)
	if perr != nil {
		writeError(w, r, p.logger, apierr.Wrap(apierr.Internal, perr, "bad replica URL"))
		return
	}
	t.Path = "/" + tail
	p.rp.ServeHTTP(w, r.WithContext(contextWith(r, t)))
}

func contextWith(r *http.Request, t *url.URL) context.Context {
	return context.WithValue(r.Context(), proxyTarget{}, t)
}
