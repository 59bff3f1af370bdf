// Package charts holds the Helm charts cluster-manager installs, embedded in
// the binary: ray-cluster (a KubeRay RayCluster with its head Service and
// Ingress), darwin-jupyter and darwin-fastapi-serve. Each chart validates its
// values against values.schema.json, so bad values fail at render time.
package charts

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
)

// Chart names.
const (
	RayCluster   = "ray-cluster"
	Jupyter      = "darwin-jupyter"
	FastAPIServe = "darwin-fastapi-serve"
)

//go:embed all:ray-cluster all:darwin-jupyter all:darwin-fastapi-serve
var files embed.FS

// Names lists the embedded charts.
func Names() []string { return []string{RayCluster, Jupyter, FastAPIServe} }

// Load returns a fresh copy of an embedded chart (callers may not share a
// *chart.Chart across concurrent Helm actions safely).
func Load(name string) (*chart.Chart, error) {
	var buffered []*loader.BufferedFile
	err := fs.WalkDir(files, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		buffered = append(buffered, &loader.BufferedFile{Name: strings.TrimPrefix(p, name+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chart %q: %w", name, err)
	}
	if len(buffered) == 0 {
		return nil, fmt.Errorf("chart %q is not embedded", name)
	}
	c, err := loader.LoadFiles(buffered)
	if err != nil {
		return nil, fmt.Errorf("load chart %q: %w", name, err)
	}
	return c, nil
}

// ValuesError is a values document the chart's schema or templates reject.
type ValuesError struct {
	Chart string
	Err   error
}

func (e *ValuesError) Error() string {
	return fmt.Sprintf("values rejected by chart %s: %s", e.Chart, strings.TrimSpace(e.Err.Error()))
}

func (e *ValuesError) Unwrap() error { return e.Err }

// Render renders chart name as release in namespace with values merged over
// the chart defaults and returns the manifests by template path (empty ones
// dropped). Schema violations and template `fail`s are *ValuesError.
func Render(name, release, namespace string, values map[string]any) (map[string]string, error) {
	c, err := Load(name)
	if err != nil {
		return nil, err
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(c, values, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, &ValuesError{Chart: name, Err: err}
	}
	out, err := engine.Render(c, vals)
	if err != nil {
		return nil, &ValuesError{Chart: name, Err: err}
	}
	manifests := map[string]string{}
	for p, m := range out {
		if path.Ext(p) != ".yaml" || strings.TrimSpace(m) == "" {
			continue
		}
		manifests[p] = m
	}
	return manifests, nil
}

// Join concatenates rendered manifests in path order as one YAML stream.
func Join(manifests map[string]string) string {
	keys := make([]string, 0, len(manifests))
	for k := range manifests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", k, strings.TrimSpace(manifests[k]))
	}
	return b.String()
}
