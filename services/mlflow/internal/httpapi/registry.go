package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
	"github.com/darwinml/darwin/services/mlflow/internal/store"
)

// mountRegistry registers the model registry endpoints (registered-models/..., model-versions/...).
func (h *Handler) mountRegistry(r chi.Router) {
	r.Post("/registered-models/create", h.wrap(h.createRegisteredModel))
	r.Get("/registered-models/get", h.wrap(h.getRegisteredModel))
	r.Post("/registered-models/rename", h.wrap(h.renameRegisteredModel))
	r.Patch("/registered-models/update", h.wrap(h.updateRegisteredModel))
	r.Delete("/registered-models/delete", h.wrap(h.deleteRegisteredModel))
	r.Get("/registered-models/search", h.wrap(h.searchRegisteredModels))
	r.Post("/registered-models/get-latest-versions", h.wrap(h.getLatestVersions))
	r.Get("/registered-models/get-latest-versions", h.wrap(h.getLatestVersions))
	r.Post("/registered-models/set-tag", h.wrap(h.setRegisteredModelTag))
	r.Delete("/registered-models/delete-tag", h.wrap(h.deleteRegisteredModelTag))
	r.Post("/registered-models/alias", h.wrap(h.setModelAlias))
	r.Delete("/registered-models/alias", h.wrap(h.deleteModelAlias))
	r.Get("/registered-models/alias", h.wrap(h.getModelVersionByAlias))

	r.Post("/model-versions/create", h.wrap(h.createModelVersion))
	r.Get("/model-versions/get", h.wrap(h.getModelVersion))
	r.Patch("/model-versions/update", h.wrap(h.updateModelVersion))
	r.Delete("/model-versions/delete", h.wrap(h.deleteModelVersion))
	r.Get("/model-versions/search", h.wrap(h.searchModelVersions))
	r.Get("/model-versions/get-download-uri", h.wrap(h.getModelVersionDownloadURI))
	r.Post("/model-versions/transition-stage", h.wrap(h.transitionModelVersionStage))
	r.Post("/model-versions/set-tag", h.wrap(h.setModelVersionTag))
	r.Delete("/model-versions/delete-tag", h.wrap(h.deleteModelVersionTag))
}

// ------------------------------------------------------------------------------------------------- requests

// versionString is a model version in a request: protobuf declares it a string, but numbers are accepted too.
type versionString string

// UnmarshalJSON accepts "3" and 3; null leaves the value unchanged.
func (v *versionString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = versionString(s)
		return nil
	}
	var n Int64
	if err := n.UnmarshalJSON(b); err != nil {
		return apierr.InvalidField("version", "Parameter 'version' must be an integer, got %s.", truncateBytes(b))
	}
	*v = versionString(strconv.FormatInt(int64(n), 10))
	return nil
}

type registeredModelReq struct {
	Name        string        `json:"name"`
	NewName     string        `json:"new_name"`
	Description *string       `json:"description"`
	Tags        []tagJSON     `json:"tags"`
	Key         string        `json:"key"`
	Value       *string       `json:"value"`
	Alias       string        `json:"alias"`
	Version     versionString `json:"version"`
	Stages      []string      `json:"stages"`
}

type modelVersionReq struct {
	Name                    string        `json:"name"`
	Version                 versionString `json:"version"`
	Source                  string        `json:"source"`
	RunID                   string        `json:"run_id"`
	RunLink                 string        `json:"run_link"`
	Description             *string       `json:"description"`
	Tags                    []tagJSON     `json:"tags"`
	Stage                   string        `json:"stage"`
	ArchiveExistingVersions bool          `json:"archive_existing_versions"`
	Key                     string        `json:"key"`
	Value                   *string       `json:"value"`
}

type registrySearchReq struct {
	Filter     string   `json:"filter"`
	MaxResults *Int64   `json:"max_results"`
	OrderBy    []string `json:"order_by"`
	PageToken  string   `json:"page_token"`
}

// repeatedParams are the registry's repeated request fields, which a query string may give once or repeatedly.
var repeatedParams = map[string]bool{"stages": true, "order_by": true}

// decodeQuery fills dst from a query string as if the stock client had sent the fields as a JSON body:
// repeated fields (stages, order_by) become lists, archive_existing_versions a boolean, anything else a string
// (its first value; Int64 fields accept decimal strings). A value of the wrong shape is INVALID_PARAMETER_VALUE
// naming the parameter.
func decodeQuery(q map[string][]string, dst any) error {
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		var v any = vs[0]
		switch {
		case repeatedParams[k]:
			v = vs
		case k == "archive_existing_versions":
			b, err := strconv.ParseBool(vs[0])
			if err != nil {
				return apierr.InvalidField(k, "Invalid value %q for parameter '%s': expected true or false", truncateBytes([]byte(vs[0])), k)
			}
			v = b
		}
		b, err := json.Marshal(map[string]any{k: v})
		if err != nil {
			return apierr.InvalidField(k, "Invalid value for parameter '%s'", k)
		}
		if err := decodeJSON(b, dst); err != nil {
			return apierr.InvalidField(k, "Invalid value %q for parameter '%s'", truncateBytes([]byte(vs[0])), k)
		}
	}
	return nil
}

// decodeRegistryReq fills dst from the query string (GET and DELETE) and then from the JSON body, which the
// stock client sends with DELETE and PATCH too; body fields win over query parameters.
func decodeRegistryReq(w http.ResponseWriter, r *http.Request, dst any) error {
	if r.Method == http.MethodGet || r.Method == http.MethodDelete {
		if err := decodeQuery(r.URL.Query(), dst); err != nil {
			return err
		}
	}
	return decodeBody(w, r, maxBody, dst)
}

func decodeModelReq(w http.ResponseWriter, r *http.Request, need ...string) (registeredModelReq, error) {
	var req registeredModelReq
	if err := decodeRegistryReq(w, r, &req); err != nil {
		return req, err
	}
	for _, f := range need {
		var missing bool
		switch f {
		case "name":
			missing = req.Name == ""
		case "new_name":
			missing = req.NewName == ""
		case "key":
			missing = req.Key == ""
		case "value":
			missing = req.Value == nil
		case "alias":
			missing = req.Alias == ""
		case "version":
			missing = req.Version == ""
		}
		if missing {
			return req, required(f)
		}
	}
	return req, nil
}

func decodeVersionReq(w http.ResponseWriter, r *http.Request, need ...string) (modelVersionReq, error) {
	var req modelVersionReq
	if err := decodeRegistryReq(w, r, &req); err != nil {
		return req, err
	}
	for _, f := range need {
		var missing bool
		switch f {
		case "name":
			missing = req.Name == ""
		case "version":
			missing = req.Version == ""
		case "source":
			missing = req.Source == ""
		case "stage":
			missing = req.Stage == ""
		case "key":
			missing = req.Key == ""
		case "value":
			missing = req.Value == nil
		}
		if missing {
			return req, required(f)
		}
	}
	return req, nil
}

// decodeSearch decodes a registry search request and parses its filter, order and paging.
func decodeSearch(w http.ResponseWriter, r *http.Request, target search.RegistryTarget, def, limit int) (search.Filter, []search.OrderKey, int, int, error) {
	var req registrySearchReq
	if err := decodeRegistryReq(w, r, &req); err != nil {
		return search.Filter{}, nil, 0, 0, err
	}
	filter, err := search.ParseRegistryFilter(req.Filter, target)
	if err != nil {
		return search.Filter{}, nil, 0, 0, err
	}
	order, err := search.ParseRegistryOrderBy(req.OrderBy, target)
	if err != nil {
		return search.Filter{}, nil, 0, 0, err
	}
	n, err := maxResults(req.MaxResults, def, limit)
	if err != nil {
		return search.Filter{}, nil, 0, 0, err
	}
	offset, err := decodeToken(req.PageToken)
	if err != nil {
		return search.Filter{}, nil, 0, 0, err
	}
	return filter, order, n, offset, nil
}

// ------------------------------------------------------------------------------------------------ responses

type modelVersionJSON struct {
	Name                 string    `json:"name"`
	Version              string    `json:"version"`
	CreationTimestamp    int64     `json:"creation_timestamp"`
	LastUpdatedTimestamp int64     `json:"last_updated_timestamp"`
	UserID               string    `json:"user_id,omitempty"`
	CurrentStage         string    `json:"current_stage"`
	Description          string    `json:"description,omitempty"`
	Source               string    `json:"source"`
	RunID                string    `json:"run_id,omitempty"`
	Status               string    `json:"status"`
	RunLink              string    `json:"run_link,omitempty"`
	Tags                 []tagJSON `json:"tags,omitempty"`
	Aliases              []string  `json:"aliases,omitempty"`
}

type aliasJSON struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

type registeredModelJSON struct {
	Name                 string             `json:"name"`
	CreationTimestamp    int64              `json:"creation_timestamp"`
	LastUpdatedTimestamp int64              `json:"last_updated_timestamp"`
	UserID               string             `json:"user_id,omitempty"`
	Description          string             `json:"description,omitempty"`
	LatestVersions       []modelVersionJSON `json:"latest_versions,omitempty"`
	Tags                 []tagJSON          `json:"tags,omitempty"`
	Aliases              []aliasJSON        `json:"aliases,omitempty"`
}

func toModelVersionJSON(v domain.ModelVersion) modelVersionJSON {
	return modelVersionJSON{Name: v.Name, Version: v.Version, CreationTimestamp: v.CreationTimestamp, LastUpdatedTimestamp: v.LastUpdatedTimestamp,
		UserID: v.UserID, CurrentStage: v.CurrentStage, Description: v.Description, Source: v.Source, RunID: v.RunID, Status: v.Status,
		RunLink: v.RunLink, Tags: nilIfEmpty(tagsJSON(v.Tags)), Aliases: v.Aliases}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func toModelVersionsJSON(vs []domain.ModelVersion) []modelVersionJSON {
	var out []modelVersionJSON
	for _, v := range vs {
		out = append(out, toModelVersionJSON(v))
	}
	return out
}

func toRegisteredModelJSON(m domain.RegisteredModel) registeredModelJSON {
	out := registeredModelJSON{Name: m.Name, CreationTimestamp: m.CreationTimestamp, LastUpdatedTimestamp: m.LastUpdatedTimestamp,
		UserID: m.UserID, Description: m.Description, LatestVersions: toModelVersionsJSON(m.LatestVersions), Tags: nilIfEmpty(tagsJSON(m.Tags))}
	for _, a := range m.Aliases {
		out.Aliases = append(out.Aliases, aliasJSON{Alias: a.Alias, Version: a.Version})
	}
	return out
}

func registeredModelResp(m domain.RegisteredModel, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": toRegisteredModelJSON(m)}, nil
}

func modelVersionResp(v domain.ModelVersion, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": toModelVersionJSON(v)}, nil
}

// ---------------------------------------------------------------------------------------- registered models

func (h *Handler) createRegisteredModel(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name")
	if err != nil {
		return nil, err
	}
	desc := ""
	if req.Description != nil {
		desc = *req.Description
	}
	return registeredModelResp(h.st.CreateRegisteredModel(r.Context(), req.Name, desc, toTags(req.Tags)))
}

func (h *Handler) getRegisteredModel(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name")
	if err != nil {
		return nil, err
	}
	return registeredModelResp(h.st.GetRegisteredModel(r.Context(), req.Name))
}

func (h *Handler) renameRegisteredModel(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name", "new_name")
	if err != nil {
		return nil, err
	}
	return registeredModelResp(h.st.RenameRegisteredModel(r.Context(), req.Name, req.NewName))
}

func (h *Handler) updateRegisteredModel(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name")
	if err != nil {
		return nil, err
	}
	return registeredModelResp(h.st.UpdateRegisteredModel(r.Context(), req.Name, req.Description))
}

func (h *Handler) deleteRegisteredModel(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.DeleteRegisteredModel(r.Context(), req.Name)
}

func (h *Handler) searchRegisteredModels(w http.ResponseWriter, r *http.Request) (any, error) {
	filter, order, limit, offset, err := decodeSearch(w, r, search.RegisteredModels, domain.DefaultModelSearchResults, domain.MaxModelSearchResults)
	if err != nil {
		return nil, err
	}
	ms, more, err := h.st.SearchRegisteredModels(r.Context(), filter, order, limit, offset)
	if err != nil {
		return nil, err
	}
	resp := struct {
		RegisteredModels []registeredModelJSON `json:"registered_models,omitempty"`
		NextPageToken    string                `json:"next_page_token,omitempty"`
	}{}
	for _, m := range ms {
		resp.RegisteredModels = append(resp.RegisteredModels, toRegisteredModelJSON(m))
	}
	if more {
		resp.NextPageToken = encodeToken(offset + limit)
	}
	return resp, nil
}

func (h *Handler) getLatestVersions(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name")
	if err != nil {
		return nil, err
	}
	vs, err := h.st.GetLatestVersions(r.Context(), req.Name, req.Stages)
	if err != nil {
		return nil, err
	}
	return struct {
		ModelVersions []modelVersionJSON `json:"model_versions,omitempty"`
	}{toModelVersionsJSON(vs)}, nil
}

func (h *Handler) setRegisteredModelTag(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name", "key", "value")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.SetRegisteredModelTag(r.Context(), req.Name, domain.Tag{Key: req.Key, Value: *req.Value})
}

func (h *Handler) deleteRegisteredModelTag(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name", "key")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.DeleteRegisteredModelTag(r.Context(), req.Name, req.Key)
}

func (h *Handler) setModelAlias(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name", "alias", "version")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.SetModelAlias(r.Context(), req.Name, req.Alias, string(req.Version))
}

func (h *Handler) deleteModelAlias(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name", "alias")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.DeleteModelAlias(r.Context(), req.Name, req.Alias)
}

func (h *Handler) getModelVersionByAlias(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeModelReq(w, r, "name", "alias")
	if err != nil {
		return nil, err
	}
	return modelVersionResp(h.st.GetModelVersionByAlias(r.Context(), req.Name, req.Alias))
}

// ------------------------------------------------------------------------------------------- model versions

func (h *Handler) createModelVersion(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "source")
	if err != nil {
		return nil, err
	}
	in := store.CreateModelVersionInput{Name: req.Name, Source: req.Source, RunID: req.RunID, RunLink: req.RunLink, Tags: toTags(req.Tags)}
	if req.Description != nil {
		in.Description = *req.Description
	}
	return modelVersionResp(h.st.CreateModelVersion(r.Context(), in))
}

func (h *Handler) getModelVersion(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "version")
	if err != nil {
		return nil, err
	}
	return modelVersionResp(h.st.GetModelVersion(r.Context(), req.Name, string(req.Version)))
}

func (h *Handler) updateModelVersion(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "version")
	if err != nil {
		return nil, err
	}
	return modelVersionResp(h.st.UpdateModelVersion(r.Context(), req.Name, string(req.Version), req.Description))
}

func (h *Handler) deleteModelVersion(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "version")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.DeleteModelVersion(r.Context(), req.Name, string(req.Version))
}

func (h *Handler) searchModelVersions(w http.ResponseWriter, r *http.Request) (any, error) {
	filter, order, limit, offset, err := decodeSearch(w, r, search.ModelVersions, domain.DefaultVersionSearchResult, domain.MaxVersionSearchResults)
	if err != nil {
		return nil, err
	}
	vs, more, err := h.st.SearchModelVersions(r.Context(), filter, order, limit, offset)
	if err != nil {
		return nil, err
	}
	resp := struct {
		ModelVersions []modelVersionJSON `json:"model_versions,omitempty"`
		NextPageToken string             `json:"next_page_token,omitempty"`
	}{ModelVersions: toModelVersionsJSON(vs)}
	if more {
		resp.NextPageToken = encodeToken(offset + limit)
	}
	return resp, nil
}

func (h *Handler) getModelVersionDownloadURI(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "version")
	if err != nil {
		return nil, err
	}
	uri, err := h.st.GetModelVersionDownloadURI(r.Context(), req.Name, string(req.Version))
	if err != nil {
		return nil, err
	}
	return map[string]string{"artifact_uri": uri}, nil
}

func (h *Handler) transitionModelVersionStage(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "version", "stage")
	if err != nil {
		return nil, err
	}
	return modelVersionResp(h.st.TransitionModelVersionStage(r.Context(), req.Name, string(req.Version), req.Stage, req.ArchiveExistingVersions))
}

func (h *Handler) setModelVersionTag(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "version", "key", "value")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.SetModelVersionTag(r.Context(), req.Name, string(req.Version), domain.Tag{Key: req.Key, Value: *req.Value})
}

func (h *Handler) deleteModelVersionTag(w http.ResponseWriter, r *http.Request) (any, error) {
	req, err := decodeVersionReq(w, r, "name", "version", "key")
	if err != nil {
		return nil, err
	}
	return emptyObject, h.st.DeleteModelVersionTag(r.Context(), req.Name, string(req.Version), req.Key)
}
