package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

// obj is a decoded JSON object with the path it was found at, used to read fields with precise error paths.
type obj struct {
	m    map[string]any
	path string
}

// decodeObject parses body as one JSON object. Numbers are kept as json.Number.
func decodeObject(body []byte) (obj, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return obj{}, apierr.InvalidField("body", "request body is not valid JSON: %s", jsonErrText(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return obj{}, apierr.InvalidField("body", "request body must hold a single JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return obj{}, apierr.InvalidField("body", "request body must be a JSON object")
	}
	return obj{m: m}, nil
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

func (o obj) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// get returns the value of key and whether it is present and not null.
func (o obj) get(key string) (any, bool) {
	v, ok := o.m[key]
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

func (o obj) has(key string) bool { _, ok := o.get(key); return ok }

func (o obj) str(key string, required bool, def string) (string, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return "", apierr.InvalidField(o.field(key), "%s is required", o.field(key))
		}
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", apierr.InvalidField(o.field(key), "%s must be a string", o.field(key))
	}
	return s, nil
}

func (o obj) optStr(key string) (*string, error) {
	if !o.has(key) {
		return nil, nil
	}
	s, err := o.str(key, true, "")
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (o obj) boolean(key string, def bool) (bool, error) {
	v, ok := o.get(key)
	if !ok {
		return def, nil
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		switch strings.ToLower(b) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, apierr.InvalidField(o.field(key), "%s must be a boolean", o.field(key))
}

func (o obj) number(key string, required bool, def float64) (float64, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return 0, apierr.InvalidField(o.field(key), "%s is required", o.field(key))
		}
		return def, nil
	}
	return toNumber(v, o.field(key))
}

func toNumber(v any, field string) (float64, error) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, apierr.InvalidField(field, "%s must be a number", field)
		}
		f = x
	case float64:
		f = n
	default:
		return 0, apierr.InvalidField(field, "%s must be a number", field)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, apierr.InvalidField(field, "%s must be a finite number", field)
	}
	return f, nil
}

func (o obj) integer(key string, required bool, def int) (int, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return 0, apierr.InvalidField(o.field(key), "%s is required", o.field(key))
		}
		return def, nil
	}
	f, err := toNumber(v, o.field(key))
	if err != nil {
		return 0, apierr.InvalidField(o.field(key), "%s must be an integer", o.field(key))
	}
	if f != math.Trunc(f) || math.Abs(f) > 1e9 {
		return 0, apierr.InvalidField(o.field(key), "%s must be an integer", o.field(key))
	}
	return int(f), nil
}

// scalarString accepts a string or a number (e.g. instance_role.id sent as 1 or "1").
func (o obj) scalarString(key string, def string) (string, error) {
	v, ok := o.get(key)
	if !ok {
		return def, nil
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case json.Number:
		return s.String(), nil
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), nil
	}
	return "", apierr.InvalidField(o.field(key), "%s must be a string or a number", o.field(key))
}

func (o obj) object(key string, required bool) (obj, bool, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return obj{}, false, apierr.InvalidField(o.field(key), "%s is required", o.field(key))
		}
		return obj{}, false, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return obj{}, false, apierr.InvalidField(o.field(key), "%s must be an object", o.field(key))
	}
	return obj{m: m, path: o.field(key)}, true, nil
}

func (o obj) list(key string, required bool) ([]any, bool, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return nil, false, apierr.InvalidField(o.field(key), "%s is required", o.field(key))
		}
		return nil, false, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, false, apierr.InvalidField(o.field(key), "%s must be a list", o.field(key))
	}
	return l, true, nil
}

func (o obj) strList(key string) ([]string, error) {
	l, _, err := o.list(key, false)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for i, v := range l {
		s, ok := v.(string)
		if !ok {
			f := fmt.Sprintf("%s[%d]", o.field(key), i)
			return nil, apierr.InvalidField(f, "%s must be a string", f)
		}
		out = append(out, s)
	}
	return out, nil
}

func (o obj) strMap(key string) (map[string]string, bool, error) {
	m, ok, err := o.object(key, false)
	if err != nil || !ok {
		return nil, ok, err
	}
	out := make(map[string]string, len(m.m))
	for k, v := range m.m {
		switch s := v.(type) {
		case string:
			out[k] = s
		case json.Number:
			out[k] = s.String()
		case bool:
			out[k] = strconv.FormatBool(s)
		default:
			return nil, false, apierr.InvalidField(m.field(k), "%s must be a string", m.field(k))
		}
	}
	return out, true, nil
}

func (o obj) elem(key string, i int, v any) (obj, error) {
	f := fmt.Sprintf("%s[%d]", o.field(key), i)
	m, ok := v.(map[string]any)
	if !ok {
		return obj{}, apierr.InvalidField(f, "%s must be an object", f)
	}
	return obj{m: m, path: f}, nil
}

// plain converts json.Number values back to float64/int64 for storage as generic JSON.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}
