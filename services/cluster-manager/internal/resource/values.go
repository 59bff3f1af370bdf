package resource

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/charts"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// MaxLocalReplicas bounds the replicas the local driver starts for one instance.
const MaxLocalReplicas = 8

// DeepCopy copies a JSON-like value.
func DeepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = DeepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = DeepCopy(x)
		}
		return out
	}
	return v
}

// DeepMerge returns base with patch merged in (Helm's semantics): maps merge recursively, other values
// replace, and a null in patch removes the key. Neither input is modified.
func DeepMerge(base, patch map[string]any) map[string]any {
	out, _ := DeepCopy(base).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(out, k)
			continue
		}
		pm, pIsMap := pv.(map[string]any)
		bm, bIsMap := out[k].(map[string]any)
		if pIsMap && bIsMap {
			out[k] = DeepMerge(bm, pm)
			continue
		}
		out[k] = DeepCopy(pv)
	}
	return out
}

// Normalize maps the shorthand keys callers use onto the chart's own keys (a copy is returned):
//
//	image: "repo:tag"                          → image.repository, image.tag
//	env / environment_variables: {K: V}        → envs
//	replicas: {min, max}, min_replicas, max_replicas → hpa.minReplicas / hpa.maxReplicas, replicaCount = min
//	port                                       → containerPort
//	healthcheck: "/path"                       → healthcheck.path
//	resources: {cores, memory_gb | memory}     → resources.limits / requests (cpu, memory "<n>Gi")
//	model: {uri}                               → envs.MLFLOW_MODEL_URI (unless set)
//
// Anything else is kept as given.
func Normalize(values map[string]any) map[string]any {
	v, _ := DeepCopy(values).(map[string]any)
	if v == nil {
		return map[string]any{}
	}
	if s, ok := v["image"].(string); ok {
		repo, tag := splitImage(s)
		v["image"] = map[string]any{"repository": repo, "tag": tag}
	}
	envs, _ := v["envs"].(map[string]any)
	for _, alias := range []string{"env", "environment_variables"} {
		if m, ok := v[alias].(map[string]any); ok {
			if envs == nil {
				envs = map[string]any{}
			}
			for k, x := range m {
				if _, set := envs[k]; !set {
					envs[k] = x
				}
			}
			delete(v, alias)
		}
	}
	if m, ok := v["model"].(map[string]any); ok {
		if uri, ok := m["uri"].(string); ok && uri != "" {
			if envs == nil {
				envs = map[string]any{}
			}
			if _, set := envs["MLFLOW_MODEL_URI"]; !set {
				envs["MLFLOW_MODEL_URI"] = uri
			}
		}
	}
	if envs != nil {
		v["envs"] = envs
	}
	minR, maxR := v["min_replicas"], v["max_replicas"]
	if r, ok := v["replicas"].(map[string]any); ok {
		if minR == nil {
			minR = r["min"]
		}
		if maxR == nil {
			maxR = r["max"]
		}
		delete(v, "replicas")
	}
	delete(v, "min_replicas")
	delete(v, "max_replicas")
	if minR != nil || maxR != nil {
		hpa, _ := v["hpa"].(map[string]any)
		if hpa == nil {
			hpa = map[string]any{}
		}
		if minR != nil {
			hpa["minReplicas"] = minR
			v["replicaCount"] = minR
		}
		if maxR != nil {
			hpa["maxReplicas"] = maxR
		}
		v["hpa"] = hpa
	}
	if p, ok := v["port"]; ok {
		if _, set := v["containerPort"]; !set {
			v["containerPort"] = p
		}
		delete(v, "port")
	}
	if s, ok := v["healthcheck"].(string); ok {
		v["healthcheck"] = map[string]any{"path": s}
	}
	if r, ok := v["resources"].(map[string]any); ok && r["limits"] == nil && r["requests"] == nil && (r["cores"] != nil || r["memory_gb"] != nil || r["memory"] != nil) {
		q := map[string]any{}
		if c := r["cores"]; c != nil {
			q["cpu"] = quantity(c, "")
		}
		if m := r["memory_gb"]; m != nil {
			q["memory"] = quantity(m, "Gi")
		} else if m := r["memory"]; m != nil {
			q["memory"] = quantity(m, "Gi")
		}
		v["resources"] = map[string]any{"limits": q, "requests": DeepCopy(q)}
	}
	return v
}

// quantity renders a number as a Kubernetes quantity with unit (strings pass through).
func quantity(v any, unit string) any {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64) + unit
	case int64:
		return strconv.FormatInt(t, 10) + unit
	case int:
		return strconv.Itoa(t) + unit
	}
	return fmt.Sprint(v) + unit
}

// splitImage splits "registry:5000/repo:tag" (or "repo@sha256:…") into repository and tag.
func splitImage(s string) (string, string) {
	if strings.Contains(s, "@") {
		return s, ""
	}
	slash := strings.LastIndexByte(s, '/')
	if colon := strings.LastIndexByte(s, ':'); colon > slash {
		return s[:colon], s[colon+1:]
	}
	return s, ""
}

// MergeDefaults normalizes values, merges them over the chart's default values and validates the result by
// rendering the chart (schema and template checks); a rejection is InvalidArgument on "values".
func MergeDefaults(darwinResource string, values map[string]any) (map[string]any, error) {
	c, err := charts.Load(darwinResource)
	if err != nil {
		return nil, apierr.Wrap(apierr.Internal, err, "load chart %s", darwinResource)
	}
	merged := DeepMerge(c.Values, Normalize(values))
	if err := validate(darwinResource, merged); err != nil {
		return nil, err
	}
	return merged, nil
}

func validate(darwinResource string, values map[string]any) error {
	_, err := charts.Render(darwinResource, "validate", "default", values)
	if err == nil {
		return nil
	}
	var ve *charts.ValuesError
	if errors.As(err, &ve) {
		msg := strings.TrimSpace(ve.Err.Error())
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = strings.Join(strings.Fields(msg), " ")
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return &apierr.Error{Kind: apierr.InvalidArgument, Field: "values", Message: "values rejected by chart " + darwinResource + ": " + msg, Cause: err}
	}
	return apierr.Wrap(apierr.Internal, err, "render chart %s", darwinResource)
}

// ServeSpec is what the local driver reads from darwin-fastapi-serve values.
type ServeSpec struct {
	// Name is the serve name (values.name, else the resource id).
	Name string
	// Replicas is hpa.minReplicas when the HPA is enabled, else replicaCount, clamped to [1, MaxLocalReplicas].
	Replicas int
	// Env are values.envs, sorted by name.
	Env []driver.EnvVar
	// HealthPath is healthcheck.path.
	HealthPath string
}

// ServeSpecOf reads a ServeSpec from merged values.
func ServeSpecOf(resourceID string, values map[string]any) ServeSpec {
	s := ServeSpec{Name: resourceID, Replicas: 1, HealthPath: "/healthcheck"}
	if n, ok := values["name"].(string); ok && n != "" {
		s.Name = n
	}
	n := intOf(values["replicaCount"], 1)
	if hpa, ok := values["hpa"].(map[string]any); ok {
		if on, _ := hpa["enabled"].(bool); on {
			n = intOf(hpa["minReplicas"], n)
		}
	}
	s.Replicas = min(max(n, 1), MaxLocalReplicas)
	if envs, ok := values["envs"].(map[string]any); ok {
		for k, v := range envs {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				continue
			}
			var val string
			switch t := v.(type) {
			case string:
				val = t
			case nil:
				continue
			case float64:
				val = strconv.FormatFloat(t, 'f', -1, 64)
			default:
				val = fmt.Sprint(t)
			}
			if strings.ContainsRune(val, 0) {
				continue
			}
			s.Env = append(s.Env, driver.EnvVar{Name: k, Value: val})
		}
		sort.Slice(s.Env, func(i, j int) bool { return s.Env[i].Name < s.Env[j].Name })
	}
	if hc, ok := values["healthcheck"].(map[string]any); ok {
		if p, ok := hc["path"].(string); ok && strings.HasPrefix(p, "/") {
			s.HealthPath = p
		}
	}
	return s
}

func intOf(v any, def int) int {
	switch t := v.(type) {
	case int:
		return t
	case int64:
		if t > math.MaxInt32 || t < math.MinInt32 {
			return def
		}
		return int(t)
	case float64:
		if t != math.Trunc(t) || t > math.MaxInt32 || t < math.MinInt32 {
			return def
		}
		return int(t)
	}
	return def
}
