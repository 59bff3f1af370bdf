package httpapi

import (
	"io"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

// CreateEntityRequest is POST /entity's body.
type CreateEntityRequest struct {
	Entity      *domain.Entity `json:"entity"`
	Owner       string         `json:"owner"`
	Tags        []string       `json:"tags"`
	Description string         `json:"description"`
}

// CreateFeatureGroupRequest is POST /feature-group's body.
type CreateFeatureGroupRequest struct {
	FeatureGroup *featureGroupIn `json:"featureGroup"`
	Owner        string          `json:"owner"`
	Tags         []string        `json:"tags"`
	Description  string          `json:"description"`
}

// featureGroupIn is a feature group as sent: versionEnabled defaults to true, featureGroupType to ONLINE.
type featureGroupIn struct {
	FeatureGroupName string                 `json:"featureGroupName"`
	VersionEnabled   *bool                  `json:"versionEnabled"`
	FeatureGroupType string                 `json:"featureGroupType"`
	EntityName       string                 `json:"entityName"`
	Features         []domain.FeatureColumn `json:"features"`
}

type stateRequest struct {
	State string `json:"state"`
}

type ttlRequest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	TTL     *int64 `json:"ttl"`
}

// SearchRequest is the body of /search/feature-groups and /search/entities.
type SearchRequest struct {
	SearchPattern string   `json:"searchPattern"`
	Tags          []string `json:"tags"`
	Owners        []string `json:"owners"`
}

func validOwner(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// parseCreateEntity decodes and validates a create-entity body.
func parseCreateEntity(body []byte) (domain.EntityMetadata, error) {
	var req CreateEntityRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, domain.ErrEntityRequest, &req); err != nil {
		return domain.EntityMetadata{}, err
	}
	if req.Entity == nil {
		return domain.EntityMetadata{}, domain.E(domain.ErrEntityRequest, "entity is required")
	}
	if !validOwner(req.Owner) {
		return domain.EntityMetadata{}, domain.E(domain.ErrEntityRequest, "owner must be an email address")
	}
	e := *req.Entity
	if !domain.ValidIdent(e.TableName) {
		return domain.EntityMetadata{}, domain.E(domain.ErrEntitySchema, "invalid tableName %q: letters, digits and single underscores, at most 48 characters", e.TableName)
	}
	if len(e.Features) == 0 {
		return domain.EntityMetadata{}, domain.E(domain.ErrEntitySchema, "entity %s has no features", e.TableName)
	}
	if err := domain.ValidateColumns(e.Features); err != nil {
		return domain.EntityMetadata{}, domain.E(domain.ErrEntitySchema, "%v", err)
	}
	e.Features = domain.NormalizeColumns(e.Features)
	if len(e.PrimaryKeys) == 0 {
		return domain.EntityMetadata{}, domain.E(domain.ErrEntitySchema, "primaryKeys is required")
	}
	seen := map[string]bool{}
	for _, pk := range e.PrimaryKeys {
		if _, ok := e.Column(pk); !ok {
			return domain.EntityMetadata{}, domain.E(domain.ErrEntitySchema, "primary key %q is not a feature of the entity", pk)
		}
		if seen[pk] {
			return domain.EntityMetadata{}, domain.E(domain.ErrEntitySchema, "duplicate primary key %q", pk)
		}
		seen[pk] = true
	}
	if e.TTL != nil && *e.TTL < 0 {
		return domain.EntityMetadata{}, domain.E(domain.ErrEntitySchema, "ttl must be >= 0")
	}
	return domain.EntityMetadata{Name: e.TableName, Entity: e, Owner: req.Owner, Tags: req.Tags, Description: req.Description}, nil
}

func readBody(r *http.Request, limit int64, c domain.Code) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, domain.E(c, "read request body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, domain.E(c, "request body exceeds %d bytes", limit)
	}
	return b, nil
}

func (h *Handler) createEntity(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrEntityRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := parseCreateEntity(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if s, ok := h.online.(online.Schema); ok {
		// The table first: a DDL failure records nothing, and CREATE TABLE IF NOT EXISTS is safe to repeat.
		if err := h.createEntityTable(r.Context(), s, m); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	m, err = h.meta.CreateEntity(r.Context(), m)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, map[string]any{"entity": m.Entity})
}

func queryName(r *http.Request, c domain.Code) (string, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return "", domain.E(c, "query parameter name is required")
	}
	return name, nil
}

func (h *Handler) getEntity(w http.ResponseWriter, r *http.Request) {
	name, err := queryName(r, domain.ErrEntityRequest)
	if err == nil {
		var m domain.EntityMetadata
		if m, err = h.meta.GetEntity(r.Context(), name); err == nil {
			writeData(w, map[string]any{"entity": m.Entity})
			return
		}
	}
	h.fail(w, r, err)
}

func (h *Handler) getEntityMetadata(w http.ResponseWriter, r *http.Request) {
	name, err := queryName(r, domain.ErrEntityRequest)
	if err == nil {
		var m domain.EntityMetadata
		if m, err = h.meta.GetEntity(r.Context(), name); err == nil {
			writeData(w, map[string]any{"metadata": m})
			return
		}
	}
	h.fail(w, r, err)
}

func parseState(body []byte, c domain.Code) (string, error) {
	var req stateRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, c, &req); err != nil {
		return "", err
	}
	st := strings.ToUpper(req.State)
	if st != domain.StateLive && st != domain.StateArchived {
		return "", domain.E(c, "state must be LIVE or ARCHIVED")
	}
	return st, nil
}

func (h *Handler) updateEntityState(w http.ResponseWriter, r *http.Request) {
	name, err := queryName(r, domain.ErrUpdateEntityRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrUpdateEntityRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := parseState(body, domain.ErrUpdateEntityRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.meta.UpdateEntityState(r.Context(), name, st)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.cache.invalidateEntity(name)
	writeData(w, map[string]any{"metadata": m})
}

func sinceParam(r *http.Request, c domain.Code) (int64, error) {
	if !strings.HasSuffix(r.URL.Path, "all-updated") {
		return 0, nil
	}
	ts, err := strconv.ParseInt(r.URL.Query().Get("timestamp"), 10, 64)
	if err != nil || ts < 0 {
		return 0, domain.E(c, "query parameter timestamp must be epoch milliseconds")
	}
	return ts, nil
}

func (h *Handler) allEntities(w http.ResponseWriter, r *http.Request) {
	since, err := sinceParam(r, domain.ErrEntityRequest)
	if err == nil {
		var list []domain.EntityMetadata
		if list, err = h.meta.ListEntities(r.Context(), since); err == nil {
			writeData(w, list)
			return
		}
	}
	h.fail(w, r, err)
}

// parseCreateFeatureGroup decodes and validates a create-feature-group body.
func parseCreateFeatureGroup(body []byte) (domain.FeatureGroupMetadata, error) {
	var req CreateFeatureGroupRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, domain.ErrFGRequest, &req); err != nil {
		return domain.FeatureGroupMetadata{}, err
	}
	if req.FeatureGroup == nil {
		return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGRequest, "featureGroup is required")
	}
	if !validOwner(req.Owner) {
		return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGRequest, "owner must be an email address")
	}
	in := req.FeatureGroup
	if !domain.ValidIdent(in.FeatureGroupName) {
		return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGSchema, "invalid featureGroupName %q: letters, digits and single underscores, at most 48 characters", in.FeatureGroupName)
	}
	if in.EntityName == "" {
		return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGSchema, "entityName is required")
	}
	if len(in.Features) == 0 {
		return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGSchema, "feature group %s has no features", in.FeatureGroupName)
	}
	if err := domain.ValidateColumns(in.Features); err != nil {
		if strings.Contains(err.Error(), "duplicate") || strings.Contains(err.Error(), "column name") {
			return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGColumnNames, "%v", err)
		}
		return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGSchema, "%v", err)
	}
	typ := strings.ToUpper(in.FeatureGroupType)
	if typ == "" {
		typ = domain.TypeOnline
	}
	if typ != domain.TypeOnline && typ != domain.TypeOffline {
		return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGSchema, "featureGroupType must be ONLINE or OFFLINE")
	}
	ve := in.VersionEnabled == nil || *in.VersionEnabled
	fg := domain.FeatureGroup{FeatureGroupName: in.FeatureGroupName, VersionEnabled: ve, FeatureGroupType: typ,
		EntityName: in.EntityName, Features: domain.NormalizeColumns(in.Features)}
	return domain.FeatureGroupMetadata{Name: fg.FeatureGroupName, VersionEnabled: ve, FeatureGroupType: typ, FeatureGroup: fg,
		Owner: req.Owner, Tags: req.Tags, Tenant: domain.DefaultTenants(), Description: req.Description}, nil
}

func (h *Handler) createFeatureGroup(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := parseCreateFeatureGroup(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	upgrade := isTrue(r.Header.Get("upgrade"))
	s, schema := h.online.(online.Schema)
	planned := ""
	if schema {
		// The columns first (ALTER TABLE ADD is idempotent), for the version the registration will get.
		if planned, err = h.plannedVersion(r.Context(), m, upgrade); err == nil && planned != "" {
			p := m
			p.Version = planned
			err = addFeatureGroupColumns(r.Context(), s, p)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	m, err = h.meta.CreateFeatureGroup(r.Context(), m, upgrade)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if schema && m.Version != planned {
		// A concurrent upgrade took the planned version: add this version's columns now.
		if err := addFeatureGroupColumns(r.Context(), s, m); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.cache.invalidate(m.Name)
	writeData(w, map[string]any{"featureGroup": m.FeatureGroup, "version": m.Version})
}

func (h *Handler) lookupFG(r *http.Request) (domain.FeatureGroupMetadata, error) {
	name, err := queryName(r, domain.ErrFGRequest)
	if err != nil {
		return domain.FeatureGroupMetadata{}, err
	}
	return h.meta.GetFeatureGroup(r.Context(), name, r.URL.Query().Get("version"))
}

func (h *Handler) getFeatureGroup(w http.ResponseWriter, r *http.Request) {
	m, err := h.lookupFG(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, map[string]any{"featureGroup": m.FeatureGroup, "version": m.Version})
}

func (h *Handler) featureGroupMetadata(w http.ResponseWriter, r *http.Request) {
	m, err := h.lookupFG(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, map[string]any{"metadata": m})
}

func (h *Handler) featureGroupSchema(w http.ResponseWriter, r *http.Request) {
	m, err := h.lookupFG(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ent, err := h.meta.GetEntity(r.Context(), m.FeatureGroup.EntityName)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	schema := append(append([]domain.FeatureColumn{}, ent.Entity.Features...), m.FeatureGroup.Features...)
	writeData(w, map[string]any{"schema": schema, "primaryKeys": ent.Entity.PrimaryKeys, "version": m.Version, "featureGroupType": m.FeatureGroupType})
}

func (h *Handler) featureGroupVersion(w http.ResponseWriter, r *http.Request) {
	name, err := queryName(r, domain.ErrFGRequest)
	if err == nil {
		var v domain.VersionInfo
		if v, err = h.meta.LatestVersion(r.Context(), name); err == nil {
			writeData(w, map[string]any{"version": v})
			return
		}
	}
	h.fail(w, r, err)
}

func (h *Handler) allFeatureGroups(w http.ResponseWriter, r *http.Request) {
	since, err := sinceParam(r, domain.ErrFGRequest)
	if err == nil {
		var list []domain.FeatureGroupMetadata
		if list, err = h.meta.ListFeatureGroups(r.Context(), since); err == nil {
			writeData(w, list)
			return
		}
	}
	h.fail(w, r, err)
}

func (h *Handler) allVersions(w http.ResponseWriter, r *http.Request) {
	since, err := sinceParam(r, domain.ErrFGRequest)
	if err == nil {
		var list []domain.VersionInfo
		if list, err = h.meta.ListVersions(r.Context(), since); err == nil {
			writeData(w, list)
			return
		}
	}
	h.fail(w, r, err)
}

func (h *Handler) updateFeatureGroupState(w http.ResponseWriter, r *http.Request) {
	name, err := queryName(r, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := parseState(body, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.meta.UpdateFeatureGroupState(r.Context(), name, r.URL.Query().Get("version"), st)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.cache.invalidate(name)
	writeData(w, map[string]any{"metadata": m})
}

func parseTTL(body []byte) (ttlRequest, error) {
	var req ttlRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, domain.ErrFGRequest, &req); err != nil {
		return req, err
	}
	if req.Name == "" {
		return req, domain.E(domain.ErrFGRequest, "name is required")
	}
	if req.TTL == nil || *req.TTL < 0 {
		return req, domain.E(domain.ErrFGRequest, "ttl must be a number of seconds >= 0")
	}
	return req, nil
}

// updateTTL sets the TTL of a feature group's entity table (the online store's TTL is per table, §5.2).
func (h *Handler) updateTTL(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := parseTTL(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.meta.GetFeatureGroup(r.Context(), req.Name, req.Version)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if s, ok := h.online.(online.Schema); ok {
		// The table's TTL first: a failure leaves the recorded TTL as it was; repeating the ALTER is harmless.
		if err := setTableTTL(r.Context(), s, m.FeatureGroup.EntityName, *req.TTL); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	ent, err := h.meta.SetEntityTTL(r.Context(), m.FeatureGroup.EntityName, *req.TTL)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.cache.invalidateEntity(ent.Name)
	writeData(w, map[string]any{"name": m.Name, "version": m.Version, "entityName": ent.Name, "ttl": *req.TTL})
}

// distinct serves the /search/all-* lists: owners (an empty list is OWNERS-NOT-FOUND) or tags.
func (h *Handler) distinct(entities, owners bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		set := map[string]bool{}
		if entities {
			list, err := h.meta.ListEntities(r.Context(), 0)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			for _, m := range list {
				addAll(set, owners, m.Owner, m.Tags)
			}
		} else {
			list, err := h.meta.ListFeatureGroups(r.Context(), 0)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			for _, m := range list {
				addAll(set, owners, m.Owner, m.Tags)
			}
		}
		out := make([]string, 0, len(set))
		for k := range set {
			out = append(out, k)
		}
		sort.Strings(out)
		if owners && len(out) == 0 {
			h.fail(w, r, domain.E(domain.ErrOwnersNotFound, ""))
			return
		}
		writeData(w, out)
	}
}

func addAll(set map[string]bool, owners bool, owner string, tags []string) {
	if owners {
		set[owner] = true
		return
	}
	for _, t := range tags {
		set[t] = true
	}
}

// parseSearch decodes a search body (optional: an empty body matches everything) and the paging parameters.
func parseSearch(r *http.Request, body []byte, c domain.Code) (SearchRequest, int, int, error) {
	var req SearchRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := decodeBytes(body, MaxAdminBodyBytes, c, &req); err != nil {
			return req, 0, 0, err
		}
	}
	size, offset := 100, 0
	if v := r.URL.Query().Get("page-size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return req, 0, 0, domain.E(c, "page-size must be between 1 and 1000")
		}
		size = n
	}
	if v := r.URL.Query().Get("page-offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return req, 0, 0, domain.E(c, "page-offset must be >= 0")
		}
		offset = n
	}
	return req, size, offset, nil
}

func (s SearchRequest) match(name, owner string, tags []string) bool {
	if s.SearchPattern != "" && !strings.Contains(strings.ToLower(name), strings.ToLower(s.SearchPattern)) {
		return false
	}
	if len(s.Owners) > 0 && !contains(s.Owners, owner) {
		return false
	}
	if len(s.Tags) > 0 {
		for _, t := range s.Tags {
			if contains(tags, t) {
				return true
			}
		}
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func page[T any](list []T, size, offset int) []T {
	if offset >= len(list) {
		return []T{}
	}
	return list[offset:min(len(list), offset+size)]
}

func (h *Handler) searchFeatureGroups(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrSearchFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, size, offset, err := parseSearch(r, body, domain.ErrSearchFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.meta.ListFeatureGroups(r.Context(), 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []domain.FeatureGroupMetadata{}
	for _, m := range list {
		if req.match(m.Name, m.Owner, m.Tags) {
			out = append(out, m)
		}
	}
	writeData(w, page(out, size, offset))
}

func (h *Handler) searchEntities(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrSearchEntityRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, size, offset, err := parseSearch(r, body, domain.ErrSearchEntityRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.meta.ListEntities(r.Context(), 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []domain.EntityMetadata{}
	for _, m := range list {
		if req.match(m.Name, m.Owner, m.Tags) {
			out = append(out, m)
		}
	}
	writeData(w, page(out, size, offset))
}
