package applayer

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
)

// Model listing limits.
const (
	DefaultModelsPageSize = 100
	MaxModelsPageSize     = 1000
	maxModelTagFilters    = 20
)

// modelQuery is the parsed query of GET /v1/models.
type modelQuery struct {
	filter search.Filter
	limit  int
	offset int
}

// parseModelQuery reads name (a case-insensitive substring; % and _ are LIKE wildcards), tags (k:v or k=v,
// repeated or comma separated, or a JSON object {"k": "v"}; every tag must match exactly), max_results
// (default 100, at most 1000) and page_token.
func parseModelQuery(q url.Values) (modelQuery, error) {
	out := modelQuery{limit: DefaultModelsPageSize}
	if name := q.Get("name"); name != "" {
		if len(name) > domain.MaxRegisteredModelNameLen {
			return out, apierr.InvalidField("name", "name had length %d, which exceeded length limit of %d", len(name), domain.MaxRegisteredModelNameLen)
		}
		out.filter.Comparisons = append(out.filter.Comparisons, search.Comparison{Entity: search.Attribute, Key: "name", Op: search.OpILike, Value: "%" + name + "%"})
	}
	tags, err := parseTagFilters(q["tags"])
	if err != nil {
		return out, err
	}
	for _, k := range sortedKeys(tags) {
		out.filter.Comparisons = append(out.filter.Comparisons, search.Comparison{Entity: search.Tag, Key: k, Op: search.OpEq, Value: tags[k]})
	}
	if s := q.Get("max_results"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > MaxModelsPageSize {
			return out, apierr.InvalidField("max_results", "max_results must be an integer between 1 and %d, got %s", MaxModelsPageSize, quote(truncate(s, 20)))
		}
		out.limit = n
	}
	if tok := q.Get("page_token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		var p struct {
			Offset int `json:"offset"`
		}
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err != nil || p.Offset < 0 {
			return out, apierr.InvalidField("page_token", "Invalid page_token %s", quote(truncate(tok, 40)))
		}
		out.offset = p.Offset
	}
	return out, nil
}

func parseTagFilters(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if strings.HasPrefix(v, "{") {
			var m map[string]scalarString
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return nil, apierr.InvalidField("tags", "tags must be key:value pairs or a JSON object of strings")
			}
			for k, s := range m {
				out[k] = s.v
			}
			continue
		}
		for _, pair := range strings.Split(v, ",") {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			k, val, ok := cutAny(pair, ":=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, apierr.InvalidField("tags", "Invalid tag filter %s: want key:value", quote(truncate(pair, 64)))
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
	}
	if len(out) > maxModelTagFilters {
		return nil, apierr.InvalidField("tags", "At most %d tag filters are allowed", maxModelTagFilters)
	}
	for k := range out {
		if err := domain.ValidateKey("tag", k); err != nil {
			return nil, apierr.InvalidField("tags", "Invalid tag filter key %s", quote(truncate(k, 64)))
		}
	}
	return out, nil
}

func modelData(m domain.RegisteredModel) map[string]any {
	tags := map[string]string{}
	for _, t := range m.Tags {
		tags[t.Key] = t.Value
	}
	aliases := map[string]string{}
	for _, a := range m.Aliases {
		aliases[a.Alias] = a.Version
	}
	versions := make([]map[string]any, 0, len(m.LatestVersions))
	latest := ""
	latestN := int64(-1)
	for _, v := range m.LatestVersions {
		versions = append(versions, map[string]any{
			"version":            v.Version,
			"current_stage":      v.CurrentStage,
			"status":             v.Status,
			"run_id":             v.RunID,
			"source":             v.Source,
			"creation_timestamp": v.CreationTimestamp,
		})
		if n, err := strconv.ParseInt(v.Version, 10, 64); err == nil && n > latestN {
			latestN, latest = n, v.Version
		}
	}
	var latestVersion any
	if latest != "" {
		latestVersion = latest
	}
	return map[string]any{
		"name":                   m.Name,
		"description":            m.Description,
		"user_id":                m.UserID,
		"creation_timestamp":     m.CreationTimestamp,
		"last_updated_timestamp": m.LastUpdatedTimestamp,
		"latest_version":         latestVersion,
		"latest_versions":        versions,
		"tags":                   tags,
		"aliases":                aliases,
	}
}

// listModels serves GET /v1/models?name=&tags=&max_results=&page_token=: registered models (name order)
// with their tags, aliases and latest version per stage. Models are readable by every identified user.
func (h *Handler) listModels(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if _, err := h.caller(r); err != nil {
		return 0, nil, err
	}
	q, err := parseModelQuery(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	models, more, err := h.deps.Store.SearchRegisteredModels(r.Context(), q.filter, nil, q.limit, q.offset)
	if err != nil {
		return 0, nil, err
	}
	list := make([]map[string]any, 0, len(models))
	for _, m := range models {
		list = append(list, modelData(m))
	}
	data := map[string]any{"models": list}
	if more {
		b, _ := json.Marshal(map[string]int{"offset": q.offset + q.limit})
		data["next_page_token"] = base64.RawURLEncoding.EncodeToString(b)
	}
	return http.StatusOK, success(data), nil
}

// getModel serves GET /v1/models/{name}.
func (h *Handler) getModel(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if _, err := h.caller(r); err != nil {
		return 0, nil, err
	}
	m, err := h.deps.Store.GetRegisteredModel(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, success(modelData(m)), nil
}
