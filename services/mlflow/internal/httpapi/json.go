package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
)

// Int64 is a protobuf int64 in JSON: a number or a decimal string on input (protobuf's JSON mapping allows
// both), a number on output (as MLflow's server writes it).
type Int64 int64

// UnmarshalJSON accepts 12 and "12"; null leaves the value unchanged (protobuf: the field is unset).
func (v *Int64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		// Protobuf also accepts integral numbers written with an exponent or fraction (1e3, 5.0).
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return fmt.Errorf("invalid int64 value %s", truncateBytes(b))
		}
		n = int64(f)
	}
	*v = Int64(n)
	return nil
}

// Double is a protobuf double in JSON: a number or "NaN", "Infinity", "-Infinity" (or a numeric string).
type Double float64

// UnmarshalJSON accepts numbers and protobuf's special-value strings; null leaves the value unchanged.
func (v *Double) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*v = Double(math.NaN())
			return nil
		case "Infinity":
			*v = Double(math.Inf(1))
			return nil
		case "-Infinity":
			*v = Double(math.Inf(-1))
			return nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("invalid double value %q", truncateBytes([]byte(s)))
		}
		*v = Double(f)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*v = Double(f)
	return nil
}

// MarshalJSON writes finite values as numbers and NaN/±Inf as protobuf's strings.
func (v Double) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(f)
}

func truncateBytes(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// badRequest is MLflow's BAD_REQUEST (a body that is not JSON).
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// maxBody bounds request bodies other than log-batch's (which MLflow limits to 1 MB).
const maxBody = 16 << 20

// decodeBody reads a JSON object body into dst. An empty body is {}. Unknown fields are ignored, as the MLflow
// server parses with ignore_unknown_fields. Syntax errors are BAD_REQUEST; wrong field types are
// INVALID_PARAMETER_VALUE; bodies over limit are INVALID_PARAMETER_VALUE.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierr.New(apierr.InvalidArgument, "Request body exceeds the limit of %d bytes", limit)
		}
		return &badRequest{msg: "Could not read the request body"}
	}
	return decodeJSON(body, dst)
}

func decodeJSON(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return apierr.New(apierr.InvalidArgument, "Invalid request body: expected a JSON object")
			}
			return apierr.InvalidField(te.Field, "Invalid value for parameter '%s': expected %s", te.Field, te.Type.String())
		}
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &badRequest{msg: "Malformed request: body is not valid JSON"}
		}
		return apierr.New(apierr.InvalidArgument, "Invalid request body: %s", err.Error())
	}
	if dec.More() {
		return &badRequest{msg: "Malformed request: trailing data after the JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &badRequest{msg: "Malformed request: trailing data after the JSON object"}
	}
	return nil
}

func required(field string) error {
	return apierr.InvalidField(field, "Missing value for required parameter '%s'. See the API docs for more information about request parameters.", field)
}

// pageToken is the opaque page token: base64url JSON {"offset": n}.
type pageToken struct {
	Offset int `json:"offset"`
}

func encodeToken(offset int) string {
	b, _ := json.Marshal(pageToken{Offset: offset})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	var p pageToken
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.Offset < 0 {
		return 0, apierr.InvalidField("page_token", "Invalid page token, could not base64-decode: %s", truncateBytes([]byte(tok)))
	}
	return p.Offset, nil
}

// maxResults applies MLflow's default (when unset) and upper bound.
func maxResults(v *Int64, def, limit int) (int, error) {
	if v == nil {
		return def, nil
	}
	n := int64(*v)
	if n <= 0 || n > int64(limit) {
		return 0, apierr.InvalidField("max_results", "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer at most %d", n, limit)
	}
	return int(n), nil
}

// ------------------------------------------------------------------------------------------- JSON entities

type tagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type metricJSON struct {
	Key       string `json:"key"`
	Value     Double `json:"value"`
	Timestamp int64  `json:"timestamp"`
	Step      int64  `json:"step"`
}

type experimentJSON struct {
	ExperimentID     string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	LifecycleStage   string    `json:"lifecycle_stage"`
	LastUpdateTime   int64     `json:"last_update_time"`
	CreationTime     int64     `json:"creation_time"`
	Tags             []tagJSON `json:"tags,omitempty"`
}

type runInfoJSON struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

type runDataJSON struct {
	Metrics []metricJSON `json:"metrics,omitempty"`
	Params  []tagJSON    `json:"params,omitempty"`
	Tags    []tagJSON    `json:"tags,omitempty"`
}

type runJSON struct {
	Info   runInfoJSON    `json:"info"`
	Data   runDataJSON    `json:"data"`
	Inputs map[string]any `json:"inputs"`
}

func tagsJSON[T domain.Tag | domain.Param](in []T) []tagJSON {
	out := make([]tagJSON, 0, len(in))
	for _, t := range in {
		switch v := any(t).(type) {
		case domain.Tag:
			out = append(out, tagJSON{Key: v.Key, Value: v.Value})
		case domain.Param:
			out = append(out, tagJSON{Key: v.Key, Value: v.Value})
		}
	}
	return out
}

func toExperimentJSON(e domain.Experiment) experimentJSON {
	return experimentJSON{ExperimentID: e.ID, Name: e.Name, ArtifactLocation: e.ArtifactLocation, LifecycleStage: e.LifecycleStage,
		LastUpdateTime: e.LastUpdateTime, CreationTime: e.CreationTime, Tags: tagsJSON(e.Tags)}
}

func toRunInfoJSON(r domain.RunInfo) runInfoJSON {
	return runInfoJSON{RunID: r.RunID, RunUUID: r.RunID, RunName: r.RunName, ExperimentID: r.ExperimentID, UserID: r.UserID,
		Status: r.Status, StartTime: r.StartTime, EndTime: r.EndTime, ArtifactURI: r.ArtifactURI, LifecycleStage: r.LifecycleStage}
}

func toMetricsJSON(ms []domain.Metric) []metricJSON {
	out := make([]metricJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, metricJSON{Key: m.Key, Value: Double(m.Value), Timestamp: m.Timestamp, Step: m.Step})
	}
	return out
}

func toRunJSON(r domain.Run) runJSON {
	return runJSON{Info: toRunInfoJSON(r.Info), Data: runDataJSON{Metrics: toMetricsJSON(r.Metrics), Params: tagsJSON(r.Params), Tags: tagsJSON(r.Tags)},
		Inputs: map[string]any{}}
}
