package httpapi

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// Bounds of the query and path parameters decoded here.
const (
	// DefaultEventsLimit and MaxEventsLimit bound ?limit= of GET /cluster/{id}/events.
	DefaultEventsLimit = 50
	MaxEventsLimit     = 500
	// MaxRunningMinutes bounds GET /running-clusters/{minutes} (ten years) so the duration cannot overflow.
	MaxRunningMinutes = 10 * 365 * 24 * 60
	// maxIDLen bounds cluster ids taken from request bodies.
	maxIDLen = 255
)

// requiredBodyField decodes a JSON object body and returns its field name as a T. A missing or null field, a
// body that is not an object and a value of the wrong type are InvalidArgument errors naming the field.
func requiredBodyField[T any](body []byte, name string) (T, error) {
	var v T
	var obj map[string]json.RawMessage
	if err := envelope.DecodeBytes(body, &obj); err != nil {
		return v, err
	}
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		return v, apierr.InvalidField(name, "%s is required", name)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, apierr.InvalidField(name, "%s has the wrong type", name)
	}
	return v, nil
}

// DecodeRename decodes PUT /cluster/update-name/{id}: {"cluster_name": str}. The name's syntax is checked by
// the domain (Service.Rename).
func DecodeRename(body []byte) (string, error) {
	return requiredBodyField[string](body, "cluster_name")
}

// DecodeChangeUser decodes PUT /cluster/user/{id}: {"cluster_user": str}. The domain checks it is an email.
func DecodeChangeUser(body []byte) (string, error) {
	return requiredBodyField[string](body, "cluster_user")
}

// DecodeTags decodes PUT /cluster/update-tags/{id}: {"tags": [str]}. An empty list clears the tags; the domain
// checks each tag.
func DecodeTags(body []byte) ([]string, error) {
	tags, err := requiredBodyField[[]string](body, "tags")
	if err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

// InitScriptReport is the body of PUT /init-script-status, sent by a cluster's init script.
type InitScriptReport struct {
	ClusterID string `json:"cluster_id"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	UID       string `json:"uid"`
}

// DecodeInitScriptStatus decodes and validates PUT /init-script-status: cluster_id is required and status is
// STARTED, FAILED or SUCCESS.
func DecodeInitScriptStatus(body []byte) (InitScriptReport, error) {
	var rep InitScriptReport
	if err := envelope.DecodeBytes(body, &rep); err != nil {
		return InitScriptReport{}, err
	}
	if err := checkClusterID("cluster_id", rep.ClusterID); err != nil {
		return InitScriptReport{}, err
	}
	switch rep.Status {
	case "STARTED", "FAILED", "SUCCESS":
	default:
		return InitScriptReport{}, apierr.InvalidField("status", "status must be STARTED, FAILED or SUCCESS")
	}
	return rep, nil
}

// DecodeVisit decodes POST /recently-visited: {"cluster_id": str}.
func DecodeVisit(body []byte) (string, error) {
	id, err := requiredBodyField[string](body, "cluster_id")
	if err != nil {
		return "", err
	}
	if err := checkClusterID("cluster_id", id); err != nil {
		return "", err
	}
	return id, nil
}

func checkClusterID(field, id string) error {
	if strings.TrimSpace(id) == "" {
		return apierr.InvalidField(field, "%s is required", field)
	}
	if len(id) > maxIDLen {
		return apierr.InvalidField(field, "%s must be at most %d characters", field, maxIDLen)
	}
	return nil
}

// ParseEventsLimit reads ?limit= of GET /cluster/{id}/events: absent means DefaultEventsLimit, otherwise an
// integer in 1..MaxEventsLimit.
func ParseEventsLimit(raw string) (int, error) {
	return boundedInt("limit", raw, DefaultEventsLimit, 1, MaxEventsLimit)
}

// ParseRunningMinutes reads the {minutes} of GET /running-clusters/{minutes}: 0..MaxRunningMinutes. The error
// names running_time, the original's parameter name.
func ParseRunningMinutes(raw string) (int, error) {
	if raw == "" {
		return 0, apierr.InvalidField("running_time", "running_time is required")
	}
	return boundedInt("running_time", raw, 0, 0, MaxRunningMinutes)
}

// boundedInt parses raw as an integer in lo..hi; empty raw gives def.
func boundedInt(field, raw string, def, lo, hi int) (int, error) {
	if raw == "" {
		return def, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || v < lo || v > hi {
		return 0, apierr.InvalidField(field, "%s must be an integer between %d and %d", field, lo, hi)
	}
	return v, nil
}

// PageQuery is the paging and ordering of GET /cluster/get-action-groups/{id}.
type PageQuery struct {
	Offset, PageSize int
	Desc             bool
}

// ParsePageQuery reads offset (default 0), page_size (default 10, 1..MaxPageSize) and sort_order (asc|desc,
// default defaultDesc) from raw query values.
func ParsePageQuery(offset, pageSize, sortOrder string, defaultDesc bool) (PageQuery, error) {
	var q PageQuery
	var err error
	if q.Offset, err = boundedInt("offset", offset, 0, 0, maxInt32); err != nil {
		return q, err
	}
	if q.PageSize, err = boundedInt("page_size", pageSize, 10, 1, MaxPageSize); err != nil {
		return q, err
	}
	q.Desc, err = ParseSortOrder(sortOrder, defaultDesc)
	return q, err
}

const maxInt32 = 1<<31 - 1

// ParseSortOrder reads a sort_order value: asc or desc (any case); empty gives defaultDesc.
func ParseSortOrder(raw string, defaultDesc bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "":
		return defaultDesc, nil
	case "desc":
		return true, nil
	case "asc":
		return false, nil
	}
	return false, apierr.InvalidField("sort_order", "sort_order must be asc or desc")
}
