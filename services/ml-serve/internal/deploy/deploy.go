// Package deploy holds ml-serve's two outbound contracts: Deployer (runs serve resources on a cluster — the
// original called darwin-cluster-manager's /resource-instance API) and ModelResolver (checks that a model URI
// exists and reports its size — the original asked MLflow). It also provides ParseModelURI, a ModelResolver
// over MLflow's REST API (MLflowResolver) and a recording fake Deployer (Recorder).
package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Chart names the cluster-manager resource chart of API serves.
const (
	FastAPIChart        = "darwin-fastapi-serve"
	FastAPIChartVersion = "1.0.0"
)

// Resource is one serve resource to install or upgrade.
type Resource struct {
	// ResourceID names the running resource (the Helm release): "<env>-<serve>" for regular deployments,
	// "<serve>" for one-click deployments.
	ResourceID string
	// ArtifactID names the values document built for this deployment: "<env>-<serve>-<version>".
	ArtifactID string
	// Chart and ChartVersion select the resource chart (FastAPIChart, FastAPIChartVersion).
	Chart        string
	ChartVersion string
	// KubeCluster and KubeNamespace come from the environment's configuration.
	KubeCluster   string
	KubeNamespace string
	// Values is the chart's values document (see the package README for its keys).
	Values map[string]any
}

// ResourceStatus is what Status reports about a resource.
type ResourceStatus struct {
	// Exists is false when no resource with that id is running (never deployed, or stopped).
	Exists bool
	// Ready is true when every pod is running and the serve answers its health check.
	Ready bool
	// Message is a human-readable detail (optional).
	Message string
}

// Deployer runs serve resources. Implementations must be safe for concurrent use.
//
// Contract (the recording fake, Recorder, implements exactly this and is what handler tests rely on):
//   - Apply installs the resource when ResourceID is not running and upgrades it in place (new values, same id)
//     when it is; it returns once the cluster has accepted the change, not when pods are ready. Applying the
//     same Resource twice is not an error. An error means nothing was changed.
//   - Stop removes a running resource. Stopping a resource that does not exist returns an error wrapping
//     ErrNotFound, so callers can tell "already gone" from a failure.
//   - Status reports whether the resource exists and is ready; a resource that does not exist is
//     ResourceStatus{Exists: false} with a nil error (errors mean the backend could not be asked).
//
// ml-serve calls the Deployer inside the request's database transaction, after its own writes: a Deployer
// error rolls the request back, so the database never records a deployment the cluster refused.
type Deployer interface {
	Apply(ctx context.Context, r Resource) error
	Stop(ctx context.Context, ref Ref) error
	Status(ctx context.Context, ref Ref) (ResourceStatus, error)
}

// Ref names a running resource and where it runs (the Kubernetes driver needs the cluster and namespace; the
// local driver only the id).
type Ref struct {
	ResourceID    string
	KubeCluster   string
	KubeNamespace string
}

// Ref returns the resource's reference.
func (r Resource) Ref() Ref {
	return Ref{ResourceID: r.ResourceID, KubeCluster: r.KubeCluster, KubeNamespace: r.KubeNamespace}
}

// ErrNotFound is wrapped by Deployer.Stop for a resource that does not exist.
var ErrNotFound = errors.New("resource not found")

// ModelInfo describes a resolved model URI.
type ModelInfo struct {
	URI    string
	Scheme string
	// SizeBytes is the model's total size; meaningful only when SizeKnown.
	SizeBytes int64
	SizeKnown bool
}

// InvalidModelError is returned by a ModelResolver when the URI is malformed or does not name an existing
// model; ml-serve answers 400 {"message":"Invalid model URI","error":Reason,"hint":Hint}.
type InvalidModelError struct {
	Reason string
	Hint   string
}

func (e *InvalidModelError) Error() string { return "invalid model URI: " + e.Reason }

// ModelResolver validates a model URI. It returns *InvalidModelError for a URI that is malformed or names
// nothing; any other error means the check could not be made (e.g. MLflow is unreachable).
type ModelResolver interface {
	Resolve(ctx context.Context, uri string) (ModelInfo, error)
}

// URI is a parsed model URI.
type URI struct {
	Scheme string // models, runs, mlflow-artifacts, s3, gs, file, http, https
	// models:/<Name>/<Ref> (Ref a version, a stage or "latest") or models:/<Name>@<Alias>.
	Name, Ref, Alias string
	// runs:/<RunID>/<Path>.
	RunID string
	// Path is the artifact path for runs:/ and mlflow-artifacts:/, the key/path for storage URLs.
	Path string
	// Host is the bucket (s3, gs) or host (http, https).
	Host string
}

// Hints shown with InvalidModelError.
const (
	hintForms = "Use models:/<name>/<version|stage>, models:/<name>@<alias>, runs:/<run_id>/<path>, mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>, or an s3://, gs://, file:// or http(s):// URL"
)

func invalid(reason string, args ...any) error {
	return &InvalidModelError{Reason: fmt.Sprintf(reason, args...), Hint: hintForms}
}

// ParseModelURI checks a model URI's syntax.
func ParseModelURI(raw string) (URI, error) {
	if raw == "" {
		return URI{}, invalid("model_uri is empty")
	}
	if len(raw) > 1024 {
		return URI{}, invalid("model_uri is longer than 1024 bytes")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return URI{}, invalid("model_uri must not contain spaces or control characters")
		}
	}
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok {
		return URI{}, invalid("model_uri has no scheme")
	}
	scheme = strings.ToLower(scheme)
	cleanPath := func(p string) (string, error) {
		p = strings.Trim(p, "/")
		if p == "" {
			return "", invalid("%s URI has no path", scheme)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return "", invalid("%s URI path %q has an empty, '.' or '..' segment", scheme, p)
			}
		}
		return p, nil
	}
	switch scheme {
	case "models":
		p := strings.TrimPrefix(rest, "/")
		if strings.HasPrefix(p, "/") || p == "" {
			return URI{}, invalid("models URI must look like models:/<name>/<version|stage>")
		}
		if name, alias, ok := strings.Cut(p, "@"); ok && !strings.Contains(p, "/") {
			if name == "" || alias == "" {
				return URI{}, invalid("models URI must look like models:/<name>@<alias>")
			}
			return URI{Scheme: scheme, Name: name, Alias: alias}, nil
		}
		i := strings.LastIndex(p, "/")
		if i <= 0 || i == len(p)-1 {
			return URI{}, invalid("models URI must look like models:/<name>/<version|stage>")
		}
		return URI{Scheme: scheme, Name: p[:i], Ref: p[i+1:]}, nil
	case "runs":
		p := strings.TrimPrefix(rest, "/")
		runID, path, _ := strings.Cut(p, "/")
		if runID == "" || strings.HasPrefix(p, "/") {
			return URI{}, invalid("runs URI must look like runs:/<run_id>/<path>")
		}
		cp, err := cleanPath(path)
		if err != nil {
			return URI{}, invalid("runs URI must look like runs:/<run_id>/<path>")
		}
		return URI{Scheme: scheme, RunID: runID, Path: cp}, nil
	case "mlflow-artifacts":
		p := rest
		if strings.HasPrefix(p, "//") { // mlflow-artifacts://host/path: the host is the tracking server
			p = p[2:]
			if i := strings.IndexByte(p, '/'); i >= 0 {
				p = p[i:]
			} else {
				p = ""
			}
		}
		cp, err := cleanPath(p)
		if err != nil {
			return URI{}, err
		}
		return URI{Scheme: scheme, Path: cp}, nil
	case "s3", "gs", "file", "http", "https":
		u, err := url.Parse(raw)
		if err != nil {
			return URI{}, invalid("%s", err.Error())
		}
		switch scheme {
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return URI{}, invalid("file URI must be file:///<absolute path>")
			}
			cp, err := cleanPath(u.Path)
			if err != nil {
				return URI{}, err
			}
			return URI{Scheme: scheme, Path: "/" + cp}, nil
		default:
			if u.Host == "" {
				return URI{}, invalid("%s URI has no bucket or host", scheme)
			}
			p := strings.Trim(u.Path, "/")
			if scheme == "s3" || scheme == "gs" {
				if p == "" {
					return URI{}, invalid("%s URI has no object path", scheme)
				}
				if _, err := cleanPath(p); err != nil {
					return URI{}, err
				}
			}
			return URI{Scheme: scheme, Host: u.Host, Path: p}, nil
		}
	}
	return URI{}, invalid("unsupported model URI scheme %q", scheme)
}

// SyntaxResolver checks only the URI's syntax (used when no MLflow server is configured); sizes are unknown.
type SyntaxResolver struct{}

// Resolve implements ModelResolver.
func (SyntaxResolver) Resolve(_ context.Context, uri string) (ModelInfo, error) {
	u, err := ParseModelURI(uri)
	if err != nil {
		return ModelInfo{}, err
	}
	return ModelInfo{URI: uri, Scheme: u.Scheme}, nil
}
