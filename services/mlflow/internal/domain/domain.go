// Package domain holds the MLflow tracking entities, their limits and the validation rules of MLflow's REST API.
package domain

import (
	"math"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Lifecycle stages and view types.
const (
	StageActive  = "active"
	StageDeleted = "deleted"

	ViewActiveOnly  = "ACTIVE_ONLY"
	ViewDeletedOnly = "DELETED_ONLY"
	ViewAll         = "ALL"
)

// Run statuses.
const (
	StatusRunning   = "RUNNING"
	StatusScheduled = "SCHEDULED"
	StatusFinished  = "FINISHED"
	StatusFailed    = "FAILED"
	StatusKilled    = "KILLED"
)

// Reserved tags.
const (
	TagRunName = "mlflow.runName"
	TagUser    = "mlflow.user"
)

// MLflow's limits.
const (
	MaxEntityKeyLength     = 250
	MaxParamValueLength    = 6000
	MaxTagValueLength      = 8000
	MaxExperimentTagLen    = 5000
	MaxExperimentNameLen   = 256
	MaxRunNameLength       = 250
	MaxUserIDLength        = 256
	MaxArtifactLocationLen = 1000

	MaxBatchMetrics  = 1000
	MaxBatchParams   = 100
	MaxBatchTags     = 100
	MaxBatchEntities = 1000
	MaxBatchBytes    = 1 << 20

	DefaultSearchMaxResults = 1000
	MaxSearchMaxResults     = 50000
	DefaultHistoryPageSize  = 25000
	MaxHistoryPageSize      = 25000
)

// Tag is a key/value tag on an experiment or run.
type Tag struct {
	Key   string
	Value string
}

// Param is a run parameter.
type Param struct {
	Key   string
	Value string
}

// Metric is one point of a metric series.
type Metric struct {
	Key       string
	Value     float64
	Timestamp int64
	Step      int64
}

// Experiment is an MLflow experiment.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	CreationTime     int64
	LastUpdateTime   int64
	Tags             []Tag
}

// RunInfo is a run's metadata.
type RunInfo struct {
	RunID          string
	RunName        string
	ExperimentID   string
	UserID         string
	Status         string
	StartTime      int64
	EndTime        *int64
	ArtifactURI    string
	LifecycleStage string
}

// Run is a run with its latest metrics, params and tags.
type Run struct {
	Info    RunInfo
	Metrics []Metric
	Params  []Param
	Tags    []Tag
}

// ValidStatus reports whether s is an MLflow RunStatus.
func ValidStatus(s string) bool {
	switch s {
	case StatusRunning, StatusScheduled, StatusFinished, StatusFailed, StatusKilled:
		return true
	}
	return false
}

// ParseViewType validates a view type; empty means ACTIVE_ONLY.
func ParseViewType(field, v string) (string, error) {
	switch v {
	case "":
		return ViewActiveOnly, nil
	case ViewActiveOnly, ViewDeletedOnly, ViewAll:
		return v, nil
	}
	return "", apierr.InvalidField(field, "Invalid value %q for parameter '%s': expected one of ACTIVE_ONLY, DELETED_ONLY, ALL", v, field)
}

// ValidateKey checks a metric, param or tag key as MLflow does: non-empty, at most 250 characters, a relative
// path without "." or ".." segments.
func ValidateKey(kind, key string) error {
	if key == "" {
		return apierr.InvalidField("key", "Missing value for required parameter 'key' of %s", kind)
	}
	if len(key) > MaxEntityKeyLength {
		return apierr.InvalidField("key", "%s key '%s' had length %d, which exceeded length limit of %d", kind, truncate(key), len(key), MaxEntityKeyLength)
	}
	if strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return apierr.InvalidField("key", "Invalid %s name: '%s'. Names may not start with '/' or contain '\\' or NUL", kind, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return apierr.InvalidField("key", "Invalid %s name: '%s'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such", kind, key)
		}
	}
	return nil
}

// ValidateParam checks a param's key and value length.
func ValidateParam(p Param) error {
	if err := ValidateKey("param", p.Key); err != nil {
		return err
	}
	if len(p.Value) > MaxParamValueLength {
		return apierr.InvalidField("value", "Param value '%s' had length %d, which exceeded length limit of %d", truncate(p.Value), len(p.Value), MaxParamValueLength)
	}
	return nil
}

// ValidateTag checks a run tag's key and value length.
func ValidateTag(t Tag) error {
	if err := ValidateKey("tag", t.Key); err != nil {
		return err
	}
	if len(t.Value) > MaxTagValueLength {
		return apierr.InvalidField("value", "Tag value '%s' had length %d, which exceeded length limit of %d", truncate(t.Value), len(t.Value), MaxTagValueLength)
	}
	return nil
}

// ValidateExperimentTag checks an experiment tag.
func ValidateExperimentTag(t Tag) error {
	if err := ValidateKey("tag", t.Key); err != nil {
		return err
	}
	if len(t.Value) > MaxExperimentTagLen {
		return apierr.InvalidField("value", "Tag value had length %d, which exceeded length limit of %d", len(t.Value), MaxExperimentTagLen)
	}
	return nil
}

// ValidateMetric checks a metric's key.
func ValidateMetric(m Metric) error { return ValidateKey("metric", m.Key) }

// ValidateExperimentName checks an experiment name.
func ValidateExperimentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return apierr.InvalidField("name", "Invalid experiment name: '%s'", name)
	}
	if len(name) > MaxExperimentNameLen {
		return apierr.InvalidField("name", "Experiment name had length %d, which exceeded length limit of %d", len(name), MaxExperimentNameLen)
	}
	return nil
}

// ValidateRunName checks a run name.
func ValidateRunName(name string) error {
	if len(name) > MaxRunNameLength {
		return apierr.InvalidField("run_name", "Run name had length %d, which exceeded length limit of %d", len(name), MaxRunNameLength)
	}
	return nil
}

// ValidateBatch checks log-batch counts and every entity; the byte limit is enforced on the request body.
func ValidateBatch(metrics []Metric, params []Param, tags []Tag) error {
	if len(metrics) > MaxBatchMetrics {
		return apierr.InvalidField("metrics", "A batch logging request can contain at most %d metrics. Got %d metrics. Please split up metrics across multiple requests and try again.", MaxBatchMetrics, len(metrics))
	}
	if len(params) > MaxBatchParams {
		return apierr.InvalidField("params", "A batch logging request can contain at most %d params. Got %d params. Please split up params across multiple requests and try again.", MaxBatchParams, len(params))
	}
	if len(tags) > MaxBatchTags {
		return apierr.InvalidField("tags", "A batch logging request can contain at most %d tags. Got %d tags. Please split up tags across multiple requests and try again.", MaxBatchTags, len(tags))
	}
	if n := len(metrics) + len(params) + len(tags); n > MaxBatchEntities {
		return apierr.InvalidField("metrics", "A batch logging request can contain at most %d total metrics, params and tags. Got %d. Please split up entities across multiple requests and try again.", MaxBatchEntities, n)
	}
	seen := make(map[string]string, len(params))
	for _, p := range params {
		if err := ValidateParam(p); err != nil {
			return err
		}
		if v, ok := seen[p.Key]; ok && v != p.Value {
			return apierr.InvalidField("params", "Duplicate parameter keys with different values in the same batch: '%s'", p.Key)
		}
		seen[p.Key] = p.Value
	}
	for _, m := range metrics {
		if err := ValidateMetric(m); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if err := ValidateTag(t); err != nil {
			return err
		}
		if t.Key == TagRunName {
			if err := ValidateRunName(t.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// StoredValue returns how a metric value is stored: NaN as (0, true); ±Inf clamped to ±MaxFloat64 as MLflow's
// SQL store does, because MySQL cannot hold non-finite doubles.
func StoredValue(v float64) (float64, bool) {
	switch {
	case math.IsNaN(v):
		return 0, true
	case math.IsInf(v, 1):
		return math.MaxFloat64, false
	case math.IsInf(v, -1):
		return -math.MaxFloat64, false
	}
	return v, false
}

// NotFound is MLflow's RESOURCE_DOES_NOT_EXIST.
func NotFound(format string, args ...any) error { return apierr.New(apierr.NotFound, format, args...) }

// Invalid is MLflow's INVALID_PARAMETER_VALUE.
func Invalid(format string, args ...any) error {
	return apierr.New(apierr.InvalidArgument, format, args...)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
