// Package resource implements DCM's resource instances (spec §2
// `/resource-instance/*`): a values document for one of the embedded charts
// (today darwin-fastapi-serve, the model server ml-serve deploys) is merged
// into the chart's defaults and stored as a versioned artifact under
// mlp/cluster_manager/<darwin_resource>/<artifact_id>; a Runner (the local
// process driver or the Kubernetes driver) installs, upgrades, removes and
// inspects the release named after the resource id.
package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/charts"
)

// Doc is a stored artifact: the chart it is for and the merged values.
type Doc struct {
	ArtifactID     string         `json:"artifact_id"`
	DarwinResource string         `json:"darwin_resource"`
	Version        string         `json:"version"`
	Values         map[string]any `json:"values"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// Pod is one replica of a resource instance.
type Pod struct {
	Name    string
	Status  string // driver.PodRunning, PodPending or PodFailed
	Message string
}

// Status is what a Runner reports about a resource instance.
type Status struct {
	ResourceID string
	// Installed is false when nothing runs under the id (never started, or stopped).
	Installed  bool
	ArtifactID string
	Pods       []Pod
	// URL is a base URL the instance answers on (local: a ready replica; kubernetes: the Service), "" if none.
	URL string
}

// Runner runs resource instances. kube_cluster/namespace travel in the
// context (driver.WithPlacement). Errors are *apierr.Error.
type Runner interface {
	// StartResource installs the release resourceID from doc, or upgrades it when it is installed. It returns
	// once the change is accepted; replicas become ready later (Status).
	StartResource(ctx context.Context, resourceID string, doc Doc) error
	// StopResource removes the release; stopping an unknown id is NotFound.
	StopResource(ctx context.Context, resourceID string) error
	// ResourceStatus reports the release's pods; an unknown id is Installed=false with no error.
	ResourceStatus(ctx context.Context, resourceID string) (Status, error)
}

// Limits.
const (
	MaxValuesBytes = artifact.MaxSize
	maxIDLength    = 53 // Helm release names
)

var (
	resourceIDPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	artifactIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	versionPattern    = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+){0,2}([-+][0-9A-Za-z.-]+)?$`)
)

// ValidateResourceID checks that id can name a Helm release and Kubernetes objects.
func ValidateResourceID(field, id string) error {
	if id == "" {
		return apierr.InvalidField(field, "%s is mandatory", field)
	}
	if len(id) > maxIDLength || !resourceIDPattern.MatchString(id) {
		return apierr.InvalidField(field, "%s %q must be 1-%d lowercase letters, digits or '-', starting and ending with a letter or digit", field, id, maxIDLength)
	}
	return nil
}

// ValidateArtifactID checks an artifact id ("<env>-<serve>-<version>").
func ValidateArtifactID(id string) error {
	if id == "" {
		return apierr.InvalidField("artifact_id", "artifact_id is mandatory")
	}
	if !artifactIDPattern.MatchString(id) || id == "." || id == ".." {
		return apierr.InvalidField("artifact_id", "artifact_id %q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// ValidateChart checks darwin_resource (and version, when given) against the embedded charts and returns the
// chart version to record.
func ValidateChart(darwinResource, version string) (string, error) {
	if darwinResource == "" {
		return "", apierr.InvalidField("darwin_resource", "darwin_resource is mandatory")
	}
	if darwinResource != charts.FastAPIServe {
		return "", apierr.InvalidField("darwin_resource", "darwin_resource %q is not supported (supported: %s)", darwinResource, charts.FastAPIServe)
	}
	c, err := charts.Load(darwinResource)
	if err != nil {
		return "", apierr.Wrap(apierr.Internal, err, "load chart %s", darwinResource)
	}
	have := c.Metadata.Version
	if version == "" {
		return have, nil
	}
	if !versionPattern.MatchString(version) {
		return "", apierr.InvalidField("version", "version %q is not a chart version like 1.0.0", version)
	}
	if version != have && version != "v"+have {
		return "", apierr.InvalidField("version", "chart %s version %s is not available (this build has %s)", darwinResource, version, have)
	}
	return have, nil
}

// Service is the resource-instance use cases over an artifact store and a runner.
type Service struct {
	store  artifact.Store
	runner Runner
	clk    clock.Clock
}

// New returns the service.
func New(store artifact.Store, runner Runner, clk clock.Clock) *Service {
	if clk == nil {
		clk = clock.Real()
	}
	return &Service{store: store, runner: runner, clk: clk}
}

func key(darwinResource, artifactID string) string { return darwinResource + "/" + artifactID }

// URL is where an artifact is stored.
func (s *Service) URL(darwinResource, artifactID string) string {
	return s.store.URL(key(darwinResource, artifactID))
}

// Load returns a stored artifact (NotFound if there is none).
func (s *Service) Load(ctx context.Context, darwinResource, artifactID string) (Doc, error) {
	if _, err := ValidateChart(darwinResource, ""); err != nil {
		return Doc{}, err
	}
	if err := ValidateArtifactID(artifactID); err != nil {
		return Doc{}, err
	}
	data, err := s.store.Get(ctx, key(darwinResource, artifactID))
	if apierr.KindOf(err) == apierr.NotFound {
		return Doc{}, apierr.New(apierr.NotFound, "artifact %s of %s not found", artifactID, darwinResource)
	}
	if err != nil {
		return Doc{}, err
	}
	var d Doc
	if err := json.Unmarshal(data, &d); err != nil {
		return Doc{}, apierr.Wrap(apierr.Internal, err, "read artifact %s", artifactID)
	}
	return d, nil
}

func (s *Service) save(ctx context.Context, d Doc) (string, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return "", apierr.Wrap(apierr.Internal, err, "encode artifact %s", d.ArtifactID)
	}
	if len(data) > MaxValuesBytes {
		return "", apierr.InvalidField("values", "merged values of %d bytes exceed %d", len(data), MaxValuesBytes)
	}
	return s.store.Put(ctx, key(d.DarwinResource, d.ArtifactID), data)
}

// Create merges values into the chart's defaults, validates the result by rendering the chart and stores it
// (replacing an artifact of the same id). It returns the stored document and its URL.
func (s *Service) Create(ctx context.Context, artifactID, darwinResource, version string, values map[string]any) (Doc, string, error) {
	if err := ValidateArtifactID(artifactID); err != nil {
		return Doc{}, "", err
	}
	ver, err := ValidateChart(darwinResource, version)
	if err != nil {
		return Doc{}, "", err
	}
	merged, err := MergeDefaults(darwinResource, values)
	if err != nil {
		return Doc{}, "", err
	}
	now := s.clk.Now().UTC()
	d := Doc{ArtifactID: artifactID, DarwinResource: darwinResource, Version: ver, Values: merged, CreatedAt: now, UpdatedAt: now}
	if old, err := s.Load(ctx, darwinResource, artifactID); err == nil {
		d.CreatedAt = old.CreatedAt
	}
	url, err := s.save(ctx, d)
	if err != nil {
		return Doc{}, "", err
	}
	return d, url, nil
}

// UpdateChart re-validates an artifact's values against the chart (version, when given) and records it.
func (s *Service) UpdateChart(ctx context.Context, artifactID, darwinResource, version string) (Doc, error) {
	ver, err := ValidateChart(darwinResource, version)
	if err != nil {
		return Doc{}, err
	}
	d, err := s.Load(ctx, darwinResource, artifactID)
	if err != nil {
		return Doc{}, err
	}
	// Values stored by an older chart pick up defaults the chart has gained since.
	merged, err := MergeDefaults(darwinResource, d.Values)
	if err != nil {
		return Doc{}, err
	}
	d.Values, d.Version, d.UpdatedAt = merged, ver, s.clk.Now().UTC()
	if _, err := s.save(ctx, d); err != nil {
		return Doc{}, err
	}
	return d, nil
}

// UpdateValues deep-merges values into a stored artifact.
func (s *Service) UpdateValues(ctx context.Context, artifactID, darwinResource string, values map[string]any) (Doc, error) {
	if values == nil {
		return Doc{}, apierr.InvalidField("values", "values is mandatory")
	}
	d, err := s.Load(ctx, darwinResource, artifactID)
	if err != nil {
		return Doc{}, err
	}
	merged := DeepMerge(d.Values, Normalize(values))
	if err := validate(darwinResource, merged); err != nil {
		return Doc{}, err
	}
	d.Values, d.UpdatedAt = merged, s.clk.Now().UTC()
	if _, err := s.save(ctx, d); err != nil {
		return Doc{}, err
	}
	return d, nil
}

// Start installs or upgrades release resourceID from the artifact.
func (s *Service) Start(ctx context.Context, resourceID, artifactID, darwinResource string) error {
	if err := ValidateResourceID("resource_id", resourceID); err != nil {
		return err
	}
	d, err := s.Load(ctx, darwinResource, artifactID)
	if err != nil {
		return err
	}
	return s.runner.StartResource(ctx, resourceID, d)
}

// Stop removes release resourceID.
func (s *Service) Stop(ctx context.Context, resourceID string) error {
	if err := ValidateResourceID("resource_id", resourceID); err != nil {
		return err
	}
	return s.runner.StopResource(ctx, resourceID)
}

// Status reports release resourceID.
func (s *Service) Status(ctx context.Context, resourceID string) (Status, error) {
	if err := ValidateResourceID("resource_id", resourceID); err != nil {
		return Status{}, err
	}
	st, err := s.runner.ResourceStatus(ctx, resourceID)
	if err != nil {
		return Status{}, err
	}
	if st.Pods == nil {
		st.Pods = []Pod{}
	}
	st.ResourceID = resourceID
	return st, nil
}

// DecodeValues parses a JSON object of values (gRPC values_json).
func DecodeValues(data []byte) (map[string]any, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return map[string]any{}, nil
	}
	if len(trimmed) > MaxValuesBytes {
		return nil, apierr.InvalidField("values", "values of %d bytes exceed %d", len(trimmed), MaxValuesBytes)
	}
	if trimmed[0] != '{' {
		return nil, apierr.InvalidField("values", "values must be a JSON object")
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, apierr.InvalidField("values", "values are not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, apierr.InvalidField("values", "values must be one JSON object")
	}
	n, err := numbersToNative(v)
	if err != nil {
		return nil, err
	}
	return n.(map[string]any), nil
}

// numbersToNative turns json.Number into int64 (integral) or float64 throughout v; numbers out of float64's
// range are an error.
func numbersToNative(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			n, err := numbersToNative(x)
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
		return t, nil
	case []any:
		for i, x := range t {
			n, err := numbersToNative(x)
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
		return t, nil
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, apierr.InvalidField("values", "number %s is out of range", t.String())
		}
		return f, nil
	}
	return v, nil
}
