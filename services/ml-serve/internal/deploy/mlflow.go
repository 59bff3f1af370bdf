package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// MLflowResolver resolves model URIs against an MLflow tracking server's REST API:
//
//	models:/<name>/<version>    GET  /api/2.0/mlflow/model-versions/get
//	models:/<name>/<stage>      GET  /api/2.0/mlflow/registered-models/get-latest-versions (stage "latest": any)
//	models:/<name>@<alias>      GET  /api/2.0/mlflow/registered-models/alias
//	runs:/<run_id>/<path>       GET  /api/2.0/mlflow/runs/get, then the run's artifact_uri + path
//	mlflow-artifacts:/<path>    GET  /api/2.0/mlflow-artifacts/artifacts?path=... (listing)
//
// When the model's files live behind MLflow's artifact proxy (mlflow-artifacts:), the size is the sum of the
// listed file sizes and a path that lists nothing is an invalid URI. Storage URLs (s3, gs, file, http(s)) are
// checked for syntax only and their size is unknown.
type MLflowResolver struct {
	// BaseURL is the server root, e.g. http://localhost/mlflow-lib or http://127.0.0.1:5000.
	BaseURL string
	// Username/Password, when set, are sent as HTTP basic auth.
	Username, Password string
	// Client defaults to a client with a 10 s timeout.
	Client *http.Client
	// MaxEntries bounds how many artifact entries a size computation lists (default 10000); past it the size
	// is reported unknown.
	MaxEntries int
}

// Resolve implements ModelResolver.
func (m *MLflowResolver) Resolve(ctx context.Context, uri string) (ModelInfo, error) {
	u, err := ParseModelURI(uri)
	if err != nil {
		return ModelInfo{}, err
	}
	info := ModelInfo{URI: uri, Scheme: u.Scheme}
	var source string
	switch u.Scheme {
	case "models":
		if source, err = m.modelSource(ctx, u); err != nil {
			return info, err
		}
		if strings.HasPrefix(source, "runs:") {
			ru, perr := ParseModelURI(source)
			if perr != nil {
				return info, nil // a source we cannot follow: the version exists, the size is unknown
			}
			if source, err = m.runSource(ctx, ru); err != nil {
				return info, err
			}
		}
	case "runs":
		if source, err = m.runSource(ctx, u); err != nil {
			return info, err
		}
	case "mlflow-artifacts":
		source = uri
	default:
		return info, nil
	}
	if !strings.HasPrefix(source, "mlflow-artifacts:") {
		return info, nil
	}
	su, err := ParseModelURI(source)
	if err != nil {
		return info, nil
	}
	size, exists, known, err := m.proxySize(ctx, su.Path)
	if err != nil {
		return info, err
	}
	if !exists {
		return info, &InvalidModelError{Reason: fmt.Sprintf("no artifacts found at %s", source), Hint: "Check the experiment id, run id and artifact path in the MLflow UI"}
	}
	info.SizeBytes, info.SizeKnown = size, known
	return info, nil
}

type modelVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Source  string `json:"source"`
}

func (m *MLflowResolver) modelSource(ctx context.Context, u URI) (string, error) {
	notFound := func(what string) error {
		return &InvalidModelError{Reason: what, Hint: "Register the model in MLflow first, or check its name and version"}
	}
	if u.Alias != "" {
		var out struct {
			ModelVersion modelVersion `json:"model_version"`
		}
		if err := m.get(ctx, "/api/2.0/mlflow/registered-models/alias", url.Values{"name": {u.Name}, "alias": {u.Alias}}, &out); err != nil {
			return "", m.mapErr(err, notFound(fmt.Sprintf("registered model %s has no alias %s", u.Name, u.Alias)))
		}
		return out.ModelVersion.Source, nil
	}
	if _, err := strconv.ParseInt(u.Ref, 10, 64); err == nil {
		var out struct {
			ModelVersion modelVersion `json:"model_version"`
		}
		if err := m.get(ctx, "/api/2.0/mlflow/model-versions/get", url.Values{"name": {u.Name}, "version": {u.Ref}}, &out); err != nil {
			return "", m.mapErr(err, notFound(fmt.Sprintf("model version %s of %s not found", u.Ref, u.Name)))
		}
		return out.ModelVersion.Source, nil
	}
	q := url.Values{"name": {u.Name}}
	if !strings.EqualFold(u.Ref, "latest") {
		q.Set("stages", u.Ref)
	}
	var out struct {
		ModelVersions []modelVersion `json:"model_versions"`
	}
	if err := m.get(ctx, "/api/2.0/mlflow/registered-models/get-latest-versions", q, &out); err != nil {
		return "", m.mapErr(err, notFound(fmt.Sprintf("registered model %s not found", u.Name)))
	}
	best, bestN := "", int64(-1)
	for _, v := range out.ModelVersions {
		if n, err := strconv.ParseInt(v.Version, 10, 64); err == nil && n > bestN {
			best, bestN = v.Source, n
		}
	}
	if bestN < 0 {
		return "", notFound(fmt.Sprintf("registered model %s has no version in stage %s", u.Name, u.Ref))
	}
	return best, nil
}

func (m *MLflowResolver) runSource(ctx context.Context, u URI) (string, error) {
	var out struct {
		Run struct {
			Info struct {
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := m.get(ctx, "/api/2.0/mlflow/runs/get", url.Values{"run_id": {u.RunID}}, &out); err != nil {
		return "", m.mapErr(err, &InvalidModelError{Reason: fmt.Sprintf("run %s not found", u.RunID), Hint: "Check the run id in the MLflow UI"})
	}
	return strings.TrimRight(out.Run.Info.ArtifactURI, "/") + "/" + u.Path, nil
}

type fileEntry struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size"`
}

func (m *MLflowResolver) list(ctx context.Context, dir string) ([]fileEntry, error) {
	var out struct {
		Files []fileEntry `json:"files"`
	}
	if err := m.get(ctx, "/api/2.0/mlflow-artifacts/artifacts", url.Values{"path": {dir}}, &out); err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusNotFound {
			return nil, nil
		}
		return nil, err
	}
	return out.Files, nil
}

// proxySize returns the total size under p (a file or a directory) on the artifact proxy.
func (m *MLflowResolver) proxySize(ctx context.Context, p string) (size int64, exists, known bool, err error) {
	files, err := m.list(ctx, p)
	if err != nil {
		return 0, false, false, err
	}
	if len(files) == 0 {
		// p may be a single file: look for it in its parent's listing.
		parent := path.Dir(p)
		if parent == "." {
			parent = ""
		}
		siblings, err := m.list(ctx, parent)
		if err != nil {
			return 0, false, false, err
		}
		base := path.Base(p)
		for _, f := range siblings {
			if path.Base(f.Path) == base && !f.IsDir {
				if f.FileSize == nil {
					return 0, true, false, nil
				}
				return *f.FileSize, true, true, nil
			}
		}
		return 0, false, false, nil
	}
	limit := m.MaxEntries
	if limit <= 0 {
		limit = 10000
	}
	seen := 0
	known = true
	var walk func(dir string, entries []fileEntry, depth int) error
	walk = func(dir string, entries []fileEntry, depth int) error {
		for _, f := range entries {
			seen++
			if seen > limit || depth > 32 {
				known = false
				return nil
			}
			full := path.Join(dir, path.Base(f.Path))
			if f.IsDir {
				sub, err := m.list(ctx, full)
				if err != nil {
					return err
				}
				if err := walk(full, sub, depth+1); err != nil {
					return err
				}
				continue
			}
			if f.FileSize == nil {
				known = false
				continue
			}
			size += *f.FileSize
		}
		return nil
	}
	if err := walk(p, files, 0); err != nil {
		return 0, false, false, err
	}
	return size, true, known, nil
}

type statusError struct {
	status int
	code   string
	msg    string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("mlflow answered %d %s: %s", e.status, e.code, e.msg)
}

// mapErr turns "does not exist"/"invalid parameter" answers into notFound; other failures stay errors.
func (m *MLflowResolver) mapErr(err error, notFound error) error {
	var se *statusError
	if errors.As(err, &se) && se.status >= 400 && se.status < 500 {
		return notFound
	}
	return err
}

func (m *MLflowResolver) get(ctx context.Context, p string, q url.Values, out any) error {
	client := m.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(m.BaseURL, "/")+p+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("mlflow request: %w", err)
	}
	if m.Username != "" || m.Password != "" {
		req.SetBasicAuth(m.Username, m.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("mlflow request %s: %w", p, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("mlflow response %s: %w", p, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		return &statusError{status: resp.StatusCode, code: e.Code, msg: e.Message}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("mlflow response %s: %w", p, err)
	}
	return nil
}
