package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// Admin routes for tenants, topics, run data, consumer and populator metadata (spec §5.5).

// Limits of the tenant, consumer, populator and run-data requests.
const (
	maxNameLen       = 191 // the metadata columns' VARCHAR size
	maxTopicLen      = 249 // Kafka's topic name limit
	maxPartitions    = 10000
	maxConsumers     = 10000
	maxWorkers       = 1024
	maxRunDataPage   = 1000
	defaultRunPage   = 100
	maxSampleRows    = 1000
	maxErrorMsgBytes = 64 << 10
)

func (h *Handler) registerAdminExt(r chi.Router) {
	r.Post("/feature-group/tenant", h.setFeatureGroupTenant)
	r.Get("/feature-group/tenant", h.getFeatureGroupTenant)
	r.Get("/feature-group/topic", h.featureGroupTopic)
	r.Get("/feature-group/{name}/topic", h.featureGroupTopic)
	r.Post("/feature-group/run-data", h.addRunData)
	r.Get("/feature-group/run-data", h.listRunData)
	r.Get("/tenant/feature-group/all", h.tenantFeatureGroups)
	r.Put("/tenant/all", h.moveTenant)
	r.Get("/tenant/list", h.listTenants)
	r.Get("/consumer/metadata/all", h.listConsumers)
	r.Post("/consumer/onboard", h.onboardConsumer)
	r.Post("/consumer/register", h.registerConsumer)
	r.Put("/consumer/topic", h.updateConsumer(consumerTopic))
	r.Put("/consumer/partitions", h.updateConsumer(consumerPartitions))
	r.Put("/consumer/count", h.updateConsumer(consumerCount))
	r.Get("/populator/metadata/all", h.listPopulators)
	r.Put("/populator/metadata", h.setPopulator)
}

// tenantConfigIn accepts both spellings of a tenant assignment: the metadata's {read, write, consume} and §5.1's
// {readerTenant, writerTenant, consumerTenant}; absent roles keep their current tenant.
type tenantConfigIn struct {
	Read           *string `json:"read"`
	Write          *string `json:"write"`
	Consume        *string `json:"consume"`
	ReaderTenant   *string `json:"readerTenant"`
	WriterTenant   *string `json:"writerTenant"`
	ConsumerTenant *string `json:"consumerTenant"`
}

// FeatureGroupTenantRequest is POST /feature-group/tenant's body.
type FeatureGroupTenantRequest struct {
	FeatureGroupName string          `json:"featureGroupName"`
	TenantConfig     *tenantConfigIn `json:"tenantConfig"`
}

// validName reports whether s is usable as a tenant name or run id: 1..191 printable characters.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// parseFeatureGroupTenant decodes and validates a POST /feature-group/tenant body.
func parseFeatureGroupTenant(body []byte) (string, domain.Tenant, error) {
	var req FeatureGroupTenantRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, domain.ErrFGRequest, &req); err != nil {
		return "", domain.Tenant{}, err
	}
	if req.FeatureGroupName == "" {
		return "", domain.Tenant{}, domain.E(domain.ErrFGRequest, "featureGroupName is required")
	}
	if req.TenantConfig == nil {
		return "", domain.Tenant{}, domain.E(domain.ErrFGRequest, "tenantConfig is required")
	}
	var t domain.Tenant
	pick := func(field string, a, b *string, dst *string) error {
		v := a
		if v == nil {
			v = b
		}
		if v == nil {
			return nil
		}
		if !validName(*v) {
			return domain.E(domain.ErrFGRequest, "tenantConfig.%s must be a tenant name of 1 to %d printable characters", field, maxNameLen)
		}
		*dst = *v
		return nil
	}
	c := req.TenantConfig
	if err := pick("readerTenant", c.ReaderTenant, c.Read, &t.Read); err != nil {
		return "", t, err
	}
	if err := pick("writerTenant", c.WriterTenant, c.Write, &t.Write); err != nil {
		return "", t, err
	}
	if err := pick("consumerTenant", c.ConsumerTenant, c.Consume, &t.Consume); err != nil {
		return "", t, err
	}
	if t == (domain.Tenant{}) {
		return "", t, domain.E(domain.ErrFGRequest, "tenantConfig must set readerTenant, writerTenant or consumerTenant")
	}
	return req.FeatureGroupName, t, nil
}

func (h *Handler) setFeatureGroupTenant(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name, t, err := parseFeatureGroupTenant(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.meta.SetFeatureGroupTenant(r.Context(), name, t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.cache.invalidate(name)
	writeData(w, map[string]any{"featureGroupName": m.Name, "tenantConfig": m.Tenant})
}

func (h *Handler) getFeatureGroupTenant(w http.ResponseWriter, r *http.Request) {
	m, err := h.lookupFG(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, map[string]any{"featureGroupName": m.Name, "tenantConfig": m.Tenant})
}

// featureGroupTopic serves GET /feature-group/{name}/topic and /feature-group/topic?name=.
func (h *Handler) featureGroupTopic(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if name == "" {
		name = r.URL.Query().Get("name")
	}
	if name == "" {
		h.fail(w, r, domain.E(domain.ErrFGRequest, "query parameter name is required"))
		return
	}
	topic, err := h.meta.FeatureGroupTopic(r.Context(), name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, map[string]string{"topic": topic})
}

// RunDataRequest is POST /feature-group/run-data's body.
type RunDataRequest struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	RunID        string            `json:"runId"`
	Source       string            `json:"source"`
	TimeTaken    *int64            `json:"timeTaken"`
	Count        *int64            `json:"count"`
	SampleData   []json.RawMessage `json:"sampleData"`
	ErrorMessage string            `json:"errorMessage"`
	Status       string            `json:"status"`
	Timestamp    int64             `json:"timestamp"`
}

// parseRunData decodes and validates a run-data body.
func parseRunData(body []byte) (domain.RunData, error) {
	var req RunDataRequest
	c := domain.ErrFGRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, c, &req); err != nil {
		return domain.RunData{}, err
	}
	switch {
	case req.Name == "":
		return domain.RunData{}, domain.E(c, "name is required")
	case req.Version != "" && !validVersion(req.Version):
		return domain.RunData{}, domain.E(c, "version must look like v1, v2, …")
	case !validName(req.RunID):
		return domain.RunData{}, domain.E(c, "runId must be 1 to %d printable characters", maxNameLen)
	case req.TimeTaken != nil && *req.TimeTaken < 0:
		return domain.RunData{}, domain.E(c, "timeTaken must be >= 0")
	case req.Count != nil && *req.Count < 0:
		return domain.RunData{}, domain.E(c, "count must be >= 0")
	case len(req.SampleData) > maxSampleRows:
		return domain.RunData{}, domain.E(c, "sampleData holds at most %d rows", maxSampleRows)
	case len(req.ErrorMessage) > maxErrorMsgBytes:
		return domain.RunData{}, domain.E(c, "errorMessage exceeds %d bytes", maxErrorMsgBytes)
	case len(req.Source) > maxNameLen:
		return domain.RunData{}, domain.E(c, "source exceeds %d characters", maxNameLen)
	case req.Timestamp < 0:
		return domain.RunData{}, domain.E(c, "timestamp must be epoch milliseconds")
	}
	st := strings.ToUpper(req.Status)
	if st != domain.RunSuccess && st != domain.RunFailed {
		return domain.RunData{}, domain.E(c, "status must be SUCCESS or FAILED")
	}
	rd := domain.RunData{Name: req.Name, Version: req.Version, RunID: req.RunID, Source: req.Source, SampleData: req.SampleData,
		Status: st, ErrorMessage: req.ErrorMessage, Timestamp: req.Timestamp}
	for i, s := range rd.SampleData {
		if len(s) == 0 {
			rd.SampleData[i] = null
		}
	}
	if req.TimeTaken != nil {
		rd.TimeTaken = *req.TimeTaken
	}
	if req.Count != nil {
		rd.Count = *req.Count
	}
	return rd, nil
}

func validVersion(v string) bool {
	_, ok := domain.ParseVersion(v)
	return ok
}

func (h *Handler) addRunData(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rd, err := parseRunData(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rd, err = h.meta.RecordRunData(r.Context(), rd)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, rd)
}

// pageParams parses page-size (1..maxSize, default def) and page-offset (>= 0).
func pageParams(r *http.Request, c domain.Code, def, maxSize int) (int, int, error) {
	size, offset := def, 0
	if v := r.URL.Query().Get("page-size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSize {
			return 0, 0, domain.E(c, "page-size must be between 1 and %d", maxSize)
		}
		size = n
	}
	if v := r.URL.Query().Get("page-offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, domain.E(c, "page-offset must be >= 0")
		}
		offset = n
	}
	return size, offset, nil
}

// listRunData serves GET /feature-group/run-data?name=&version=&page-size=&page-offset= (newest first).
func (h *Handler) listRunData(w http.ResponseWriter, r *http.Request) {
	name, err := queryName(r, domain.ErrFGRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	version := r.URL.Query().Get("version")
	if version != "" && !validVersion(version) {
		h.fail(w, r, domain.E(domain.ErrFGRequest, "version must look like v1, v2, …"))
		return
	}
	size, offset, err := pageParams(r, domain.ErrFGRequest, defaultRunPage, maxRunDataPage)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.meta.GetFeatureGroup(r.Context(), name, version); err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.meta.ListRunData(r.Context(), name, version, size, offset)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, list)
}

// tenantRole parses a tenant-type value (READER, WRITER, CONSUMER, ALL; case-insensitive; empty = def).
func tenantRole(v, def string) (string, bool) {
	if v == "" {
		return def, def != ""
	}
	switch s := strings.ToUpper(v); s {
	case domain.RoleReader, domain.RoleWriter, domain.RoleConsumer, domain.RoleAll:
		return s, true
	}
	return "", false
}

func (h *Handler) tenantFeatureGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant := q.Get("tenant-name")
	if !validName(tenant) {
		h.fail(w, r, domain.E(domain.ErrTenantRequest, "query parameter tenant-name is required"))
		return
	}
	role, ok := tenantRole(q.Get("tenant-type"), domain.RoleAll)
	if !ok {
		h.fail(w, r, domain.E(domain.ErrTenantRequest, "tenant-type must be READER, WRITER, CONSUMER or ALL"))
		return
	}
	if _, err := h.meta.GetConsumer(r.Context(), tenant); err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.meta.TenantFeatureGroups(r.Context(), tenant, role)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, list)
}

// MoveTenantRequest is PUT /tenant/all's body.
type MoveTenantRequest struct {
	TenantType    string `json:"tenantType"`
	CurrentTenant string `json:"currentTenant"`
	NewTenant     string `json:"newTenant"`
}

func parseMoveTenant(body []byte) (MoveTenantRequest, error) {
	var req MoveTenantRequest
	c := domain.ErrTenantRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, c, &req); err != nil {
		return req, err
	}
	role, ok := tenantRole(req.TenantType, "")
	if !ok {
		return req, domain.E(c, "tenantType must be READER, WRITER, CONSUMER or ALL")
	}
	req.TenantType = role
	if !validName(req.CurrentTenant) {
		return req, domain.E(c, "currentTenant is required")
	}
	if !validName(req.NewTenant) {
		return req, domain.E(c, "newTenant is required")
	}
	return req, nil
}

func (h *Handler) moveTenant(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrTenantRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := parseMoveTenant(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	names, err := h.meta.MoveTenant(r.Context(), req.TenantType, req.CurrentTenant, req.NewTenant)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, n := range names {
		h.cache.invalidate(n)
	}
	writeData(w, map[string]any{"tenantType": req.TenantType, "currentTenant": req.CurrentTenant, "newTenant": req.NewTenant, "featureGroups": names})
}

func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request) {
	list, err := h.meta.ListTenants(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, list)
}

func (h *Handler) listConsumers(w http.ResponseWriter, r *http.Request) {
	list, err := h.meta.ListConsumers(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, list)
}

// ConsumerRequest is the body of the /consumer routes; each route requires its own fields.
type ConsumerRequest struct {
	TenantName    string  `json:"tenantName"`
	TopicName     *string `json:"topicName"`
	NumPartitions *int    `json:"numPartitions"`
	NumConsumers  *int    `json:"numConsumers"`
}

// Fields a /consumer route requires.
const (
	consumerTopic = 1 << iota
	consumerPartitions
	consumerCount
)

// topicRE is Kafka's legal topic name.
var topicRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// parseConsumer decodes a /consumer body, requiring tenantName and the fields in need (optional may also be set).
func parseConsumer(body []byte, need, optional int) (ConsumerRequest, error) {
	var req ConsumerRequest
	c := domain.ErrTenantRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, c, &req); err != nil {
		return req, err
	}
	if !validName(req.TenantName) {
		return req, domain.E(c, "tenantName must be 1 to %d printable characters", maxNameLen)
	}
	check := func(bit int, set bool, field string) error {
		if !set && need&bit != 0 {
			return domain.E(c, "%s is required", field)
		}
		if set && (need|optional)&bit == 0 {
			return domain.E(c, "%s is not accepted here", field)
		}
		return nil
	}
	if err := check(consumerTopic, req.TopicName != nil, "topicName"); err != nil {
		return req, err
	}
	if err := check(consumerPartitions, req.NumPartitions != nil, "numPartitions"); err != nil {
		return req, err
	}
	if err := check(consumerCount, req.NumConsumers != nil, "numConsumers"); err != nil {
		return req, err
	}
	if t := req.TopicName; t != nil && (len(*t) > maxTopicLen || !topicRE.MatchString(*t) || *t == "." || *t == "..") {
		return req, domain.E(c, "topicName must be 1 to %d of letters, digits, '.', '_' and '-'", maxTopicLen)
	}
	if n := req.NumPartitions; n != nil && (*n < 1 || *n > maxPartitions) {
		return req, domain.E(c, "numPartitions must be between 1 and %d", maxPartitions)
	}
	if n := req.NumConsumers; n != nil && (*n < 1 || *n > maxConsumers) {
		return req, domain.E(c, "numConsumers must be between 1 and %d", maxConsumers)
	}
	return req, nil
}

func (req ConsumerRequest) config() domain.ConsumerConfig {
	c := domain.ConsumerConfig{TenantName: req.TenantName, NumConsumers: 1}
	if req.TopicName != nil {
		c.TopicName = *req.TopicName
	}
	if req.NumPartitions != nil {
		c.NumPartitions = *req.NumPartitions
	}
	if req.NumConsumers != nil {
		c.NumConsumers = *req.NumConsumers
	}
	return c
}

// onboardConsumer serves POST /consumer/onboard {tenantName, topicName, numPartitions, numConsumers?=1}: a new
// tenant.
func (h *Handler) onboardConsumer(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrTenantRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := parseConsumer(body, consumerTopic|consumerPartitions, consumerCount)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.meta.OnboardTenant(r.Context(), req.config())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, c)
}

// registerConsumer serves POST /consumer/register: creates or replaces a tenant's consumer config.
func (h *Handler) registerConsumer(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrTenantRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := parseConsumer(body, consumerTopic|consumerPartitions|consumerCount, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.meta.RegisterConsumer(r.Context(), req.config())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, c)
}

// updateConsumer serves PUT /consumer/topic, /consumer/partitions and /consumer/count: one field of an existing
// tenant's consumer config. Partitions only grow (a Kafka topic cannot lose partitions).
func (h *Handler) updateConsumer(field int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r, MaxAdminBodyBytes, domain.ErrTenantRequest)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		req, err := parseConsumer(body, field, 0)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if field == consumerPartitions {
			cur, err := h.meta.GetConsumer(r.Context(), req.TenantName)
			if err != nil {
				if domain.Is(err, domain.ErrTenantNotFound) {
					err = domain.E(domain.ErrConsumerConfigNotFound, "tenant %s has no consumer config", req.TenantName)
				}
				h.fail(w, r, err)
				return
			}
			if *req.NumPartitions < cur.NumPartitions {
				h.fail(w, r, domain.E(domain.ErrTenantRequest, "numPartitions may not shrink (tenant %s has %d)", req.TenantName, cur.NumPartitions))
				return
			}
		}
		c, err := h.meta.UpdateConsumer(r.Context(), req.TenantName, func(c *domain.ConsumerConfig) {
			switch field {
			case consumerTopic:
				c.TopicName = *req.TopicName
			case consumerPartitions:
				c.NumPartitions = max(c.NumPartitions, *req.NumPartitions)
			case consumerCount:
				c.NumConsumers = *req.NumConsumers
			}
		})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeData(w, c)
	}
}

func (h *Handler) listPopulators(w http.ResponseWriter, r *http.Request) {
	list, err := h.meta.ListPopulators(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, list)
}

// PopulatorRequest is PUT /populator/metadata's body.
type PopulatorRequest struct {
	TenantName string `json:"tenantName"`
	NumWorkers *int   `json:"numWorkers"`
}

func parsePopulator(body []byte) (PopulatorRequest, error) {
	var req PopulatorRequest
	c := domain.ErrTenantRequest
	if err := decodeBytes(body, MaxAdminBodyBytes, c, &req); err != nil {
		return req, err
	}
	if !validName(req.TenantName) {
		return req, domain.E(c, "tenantName must be 1 to %d printable characters", maxNameLen)
	}
	if req.NumWorkers == nil || *req.NumWorkers < 1 || *req.NumWorkers > maxWorkers {
		return req, domain.E(c, "numWorkers must be between 1 and %d", maxWorkers)
	}
	return req, nil
}

func (h *Handler) setPopulator(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAdminBodyBytes, domain.ErrTenantRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req, err := parsePopulator(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.meta.SetPopulator(r.Context(), req.TenantName, *req.NumWorkers)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeData(w, p)
}
