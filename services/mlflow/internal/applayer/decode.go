package applayer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

// badRequest is a body that is not JSON (400).
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Limits of /v1/run/{rid}/log-data (the original's pydantic model).
const (
	MaxParamKeyBytes   = 255
	MaxParamValueBytes = 6000
)

// decodeBody reads a JSON object body into dst; an empty body is {}. Unknown fields are ignored. Syntax
// errors, wrong field types and bodies over the limit are 400.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierr.New(apierr.InvalidArgument, "Request body exceeds the limit of %d bytes", int64(maxBody))
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
			return apierr.InvalidField(te.Field, "Invalid value for field '%s': expected %s", te.Field, te.Type.String())
		}
		var fe *fieldError
		if errors.As(err, &fe) {
			return apierr.InvalidField(fe.field, "Invalid value for field '%s': %s", fe.field, fe.msg)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &badRequest{msg: "Malformed request: body is not valid JSON"}
		}
		return apierr.New(apierr.InvalidArgument, "Invalid request body: %s", truncate(err.Error(), 200))
	}
	if _, err := dec.Token(); err != io.EOF {
		return &badRequest{msg: "Malformed request: trailing data after the JSON object"}
	}
	return nil
}

// fieldError is a custom decoder's complaint about one field.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func required(field string) error {
	return apierr.InvalidField(field, "Field '%s' is required", field)
}

// scalarString is a string field that, like pydantic's str, also takes a number or boolean (kept as written).
// null leaves it unset.
type scalarString struct {
	set bool
	v   string
}

func (s *scalarString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &s.v); err != nil {
			return err
		}
	case string(b) == "true" || string(b) == "false":
		s.v = string(b)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		s.v = n.String()
	default:
		return &fieldError{field: "value", msg: "expected a string"}
	}
	s.set = true
	return nil
}

// number is a float field: a JSON number or a numeric string ("NaN", "Infinity", "-Infinity" too). null
// leaves it unset.
type number struct {
	set bool
	v   float64
}

func (n *number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return &fieldError{field: "value", msg: fmt.Sprintf("%s is not a number", quote(truncate(s, 40)))}
		}
		n.v, n.set = f, true
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &fieldError{field: "value", msg: "expected a number"}
		}
		return err
	}
	n.v, n.set = f, true
	return nil
}

// integer is an int64 field: a JSON integer or a decimal string. null leaves it unset.
type integer struct {
	set bool
	v   int64
}

func (n *integer) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return &fieldError{field: "step/timestamp", msg: fmt.Sprintf("%s is not an integer", quote(truncate(s, 40)))}
	}
	n.v, n.set = v, true
	return nil
}

// tagList is the original's tags: [{k: v}, ...] (each object may hold several pairs); a single object
// {k: v, ...} and MLflow's [{"key": k, "value": v}] are accepted too. Values are strings (numbers and booleans
// are kept as written).
type tagList struct{ tags [][2]string }

func (t *tagList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	var objs []map[string]scalarString
	if len(b) > 0 && b[0] == '{' {
		var one map[string]scalarString
		if err := json.Unmarshal(b, &one); err != nil {
			return &fieldError{field: "tags", msg: "expected a list of {key: value} objects with string values"}
		}
		objs = []map[string]scalarString{one}
	} else if err := json.Unmarshal(b, &objs); err != nil {
		return &fieldError{field: "tags", msg: "expected a list of {key: value} objects with string values"}
	}
	for _, o := range objs {
		if k, ok := o["key"]; ok && len(o) == 2 {
			if v, ok := o["value"]; ok {
				t.tags = append(t.tags, [2]string{k.v, v.v})
				continue
			}
		}
		for _, k := range sortedKeys(o) {
			if !o[k].set {
				return &fieldError{field: "tags", msg: fmt.Sprintf("tag %s has no value", quote(truncate(k, 40)))}
			}
			t.tags = append(t.tags, [2]string{k, o[k].v})
		}
	}
	return nil
}

// metricIn is one metric of log-data.
type metricIn struct {
	Key       *string `json:"key"`
	Value     number  `json:"value"`
	Step      integer `json:"step"`
	Timestamp integer `json:"timestamp"`
}

// paramIn is one param of log-data.
type paramIn struct {
	Key   *string      `json:"key"`
	Value scalarString `json:"value"`
}

// oneOrMany decodes an object or a list of objects.
type oneOrMany[T any] struct{ items []T }

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &o.items)
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	o.items = []T{one}
	return nil
}

// logDataReq is the body of POST /v1/run/{rid}/log-data.
type logDataReq struct {
	Metrics oneOrMany[metricIn] `json:"metrics"`
	Params  oneOrMany[paramIn]  `json:"params"`
}

type experimentReq struct {
	ExperimentName *string `json:"experiment_name"`
}

type createRunReq struct {
	RunName *string `json:"run_name"`
	Tags    tagList `json:"tags"`
}

type permissionReq struct {
	Username   *string `json:"username"`
	Permission *string `json:"permission"`
}

// uniqueKeys reports the first key that repeats.
func firstDuplicate(keys []string) (string, bool) {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return sorted[i], true
		}
	}
	return "", false
}
