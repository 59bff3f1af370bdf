package httpapi

import (
	"fmt"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// MaxPageSize bounds page_size on the search endpoints.
const MaxPageSize = 1000

// SearchRequest is the body of POST /search.
type SearchRequest struct {
	Query          string         `json:"query"`
	Filters        map[string]any `json:"filters"`
	ExcludeFilters map[string]any `json:"exclude_filters"`
	SortBy         string         `json:"sort_by"`
	SortOrder      string         `json:"sort_order"`
	PageSize       *int           `json:"page_size"`
	Offset         int            `json:"offset"`
	IsJobCluster   bool           `json:"is_job_cluster"`
}

// FilterValue is one filter of POST /cluster/search.
type FilterValue struct {
	SelectAll bool   `json:"select_all"`
	Values    []any  `json:"values"`
	Query     string `json:"query"`
	Exclude   bool   `json:"exclude"`
}

// ClusterSearchRequest is the body of POST /cluster/search.
type ClusterSearchRequest struct {
	Query     string                 `json:"query"`
	Filters   map[string]FilterValue `json:"filters"`
	SortBy    string                 `json:"sort_by"`
	SortOrder string                 `json:"sort_order"`
	PageSize  *int                   `json:"page_size"`
	Offset    int                    `json:"offset"`
}

func pageChecks(pageSize *int, offset int, def int) (int, error) {
	ps := def
	if pageSize != nil {
		ps = *pageSize
	}
	if ps < 1 || ps > MaxPageSize {
		return 0, apierr.InvalidField("page_size", "page_size must be between 1 and %d", MaxPageSize)
	}
	if offset < 0 {
		return 0, apierr.InvalidField("offset", "offset must not be negative")
	}
	return ps, nil
}

func sortChecks(by, order string) (string, bool, error) {
	switch by {
	case "", "created_on", "name", "last_used_on", "last_used_at", "status", "user", "created_by":
	default:
		return "", false, apierr.InvalidField("sort_by", "sort_by must be one of created_on, name, last_used_on, status, user")
	}
	switch strings.ToLower(order) {
	case "", "desc":
		return by, true, nil
	case "asc":
		return by, false, nil
	}
	return "", false, apierr.InvalidField("sort_order", "sort_order must be asc or desc")
}

// statusesForUI expands UI statuses (inactive/creating/active) and internal ones to internal statuses.
func statusesForUI(field string, vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		found := false
		for _, s := range domain.AllStatuses {
			if s == v || domain.UIStatus(s) == v {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, apierr.InvalidField(field, "unknown status %q", v)
		}
	}
	return out, nil
}

func stringsOf(field string, v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			switch s := e.(type) {
			case string:
				out = append(out, s)
			case bool:
				out = append(out, fmt.Sprint(s))
			default:
				return nil, apierr.InvalidField(fmt.Sprintf("%s[%d]", field, i), "%s[%d] must be a string", field, i)
			}
		}
		return out, nil
	}
	return nil, apierr.InvalidField(field, "%s must be a list of strings", field)
}

func applyFilter(q *domain.SearchQuery, field, key string, vals []string) error {
	var err error
	switch key {
	case "status":
		q.Statuses, err = statusesForUI(field, vals)
	case "user", "users", "created_by":
		q.Users = vals
	case "tags", "tag":
		q.Tags = vals
	case "runtime", "runtimes":
		q.Runtimes = vals
	case "is_job_cluster":
		if len(vals) == 1 {
			b := vals[0] == "true"
			q.IsJobCluster = &b
		}
	}
	return err
}

// DecodeSearch decodes and validates a POST /search body into a query.
func DecodeSearch(body []byte) (domain.SearchQuery, SearchRequest, error) {
	var req SearchRequest
	if err := envelope.DecodeBytes(body, &req); err != nil {
		return domain.SearchQuery{}, req, err
	}
	ps, err := pageChecks(req.PageSize, req.Offset, 100)
	if err != nil {
		return domain.SearchQuery{}, req, err
	}
	by, desc, err := sortChecks(req.SortBy, req.SortOrder)
	if err != nil {
		return domain.SearchQuery{}, req, err
	}
	job := req.IsJobCluster
	q := domain.SearchQuery{Query: strings.TrimSpace(req.Query), SortBy: by, SortDesc: desc, Offset: req.Offset, Limit: ps, IsJobCluster: &job}
	for k, v := range req.Filters {
		f := "filters." + k
		vals, err := stringsOf(f, v)
		if err != nil {
			return q, req, err
		}
		if len(vals) == 0 {
			continue
		}
		if err := applyFilter(&q, f, k, vals); err != nil {
			return q, req, err
		}
	}
	req.PageSize = &ps
	return q, req, nil
}

// DecodeClusterSearch decodes and validates a POST /cluster/search body.
func DecodeClusterSearch(body []byte) (domain.SearchQuery, int, error) {
	var req ClusterSearchRequest
	if err := envelope.DecodeBytes(body, &req); err != nil {
		return domain.SearchQuery{}, 0, err
	}
	ps, err := pageChecks(req.PageSize, req.Offset, 100)
	if err != nil {
		return domain.SearchQuery{}, 0, err
	}
	by, desc, err := sortChecks(req.SortBy, req.SortOrder)
	if err != nil {
		return domain.SearchQuery{}, 0, err
	}
	no := false
	q := domain.SearchQuery{Query: strings.TrimSpace(req.Query), SortBy: by, SortDesc: desc, Offset: req.Offset, Limit: ps, IsJobCluster: &no}
	for k, fv := range req.Filters {
		f := "filters." + k + ".values"
		if fv.SelectAll || fv.Exclude {
			if k == "is_job_cluster" && fv.SelectAll {
				q.IsJobCluster = nil
			}
			continue
		}
		vals, err := stringsOf(f, any(fv.Values))
		if err != nil {
			return q, 0, err
		}
		if len(vals) == 0 {
			continue
		}
		if err := applyFilter(&q, f, k, vals); err != nil {
			return q, 0, err
		}
	}
	return q, ps, nil
}
