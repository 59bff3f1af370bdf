package hermes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

const maxInputFile = 4 << 20

// readStructured reads a YAML or JSON file holding one mapping.
func readStructured(path string) (map[string]any, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory", path)
	}
	if st.Size() > maxInputFile {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxInputFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return parseStructured(path, b)
}

func parseStructured(name string, b []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	v = jsonCompatible(v)
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse %s: want a YAML/JSON mapping at the top level", name)
	}
	return m, nil
}

// jsonCompatible turns YAML-decoded values into JSON-encodable ones (map[any]any keys become strings).
func jsonCompatible(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonCompatible(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonCompatible(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = jsonCompatible(x)
		}
		return t
	case int:
		return int64(t)
	}
	return v
}

// readProjectServeConfig reads .hermes/serve_config.json of the current directory (nil when absent).
func readProjectServeConfig() (map[string]any, error) {
	m, err := readStructured(".hermes/serve_config.json")
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return m, err
}

func str(m map[string]any, key string) string {
	if m == nil {
		return ""
	}
	switch t := m[key].(type) {
	case string:
		return t
	case nil:
		return ""
	default:
		return fmt.Sprint(t)
	}
}

// toInt accepts integers, integral floats and numeric strings.
func toInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case int:
		return int64(t), true
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t), true
		}
	case json.Number:
		i, err := t.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func mapAt(m map[string]any, key string) map[string]any {
	if m == nil {
		return nil
	}
	v, _ := m[key].(map[string]any)
	return v
}
