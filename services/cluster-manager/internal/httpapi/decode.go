package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

const (
	maxUploadBytes = 16 << 20
	maxJSONBytes   = 1 << 20
)

// ClusterUpload is the multipart body of POST|PUT compute/v2/cluster.
type ClusterUpload struct {
	ClusterName  string
	ArtifactName string
	Values       []byte
}

// readForm parses a multipart or urlencoded form (bounded) and checks the
// required fields, naming the first missing one.
func readForm(w http.ResponseWriter, r *http.Request, required ...string) (map[string]string, *multipart.Form, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var mf *multipart.Form
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxUploadBytes); err != nil {
			return nil, nil, formError(err)
		}
		mf = r.MultipartForm
	case "application/x-www-form-urlencoded", "":
		if err := r.ParseForm(); err != nil {
			return nil, nil, formError(err)
		}
	default:
		return nil, nil, apierr.New(apierr.InvalidArgument, "content type %q is not supported: send multipart/form-data or application/x-www-form-urlencoded", ct)
	}
	vals := map[string]string{}
	for k, v := range r.Form {
		if len(v) > 0 {
			vals[k] = strings.TrimSpace(v[0])
		}
	}
	if mf != nil {
		for k, v := range mf.Value {
			if len(v) > 0 {
				vals[k] = strings.TrimSpace(v[0])
			}
		}
	}
	for _, f := range required {
		if vals[f] == "" {
			return nil, nil, apierr.InvalidField(f, "%s is mandatory", f)
		}
	}
	return vals, mf, nil
}

func formError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apierr.New(apierr.InvalidArgument, "request body exceeds %d bytes", maxUploadBytes)
	}
	return apierr.Wrap(apierr.InvalidArgument, err, "request body is not a valid form")
}

// DecodeClusterUpload reads cluster_name, artifact_name and the values file.
func DecodeClusterUpload(w http.ResponseWriter, r *http.Request) (ClusterUpload, error) {
	var up ClusterUpload
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return up, apierr.New(apierr.InvalidArgument, "request must be multipart/form-data with cluster_name, artifact_name and file")
	}
	vals, mf, err := readForm(w, r, "cluster_name", "artifact_name")
	if err != nil {
		return up, err
	}
	up.ClusterName, up.ArtifactName = vals["cluster_name"], vals["artifact_name"]
	if strings.Contains(up.ClusterName, "_") {
		return up, apierr.InvalidField("cluster_name", "cluster_name must not contain '_'")
	}
	if mf == nil || len(mf.File["file"]) == 0 {
		return up, apierr.InvalidField("file", "file is mandatory")
	}
	f, err := mf.File["file"][0].Open()
	if err != nil {
		return up, apierr.Wrap(apierr.InvalidArgument, err, "file could not be read")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxUploadBytes))
	if err != nil {
		return up, apierr.Wrap(apierr.InvalidArgument, err, "file could not be read")
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return up, apierr.InvalidField("file", "file is empty")
	}
	up.Values = data
	return up, nil
}

// ExecuteRequest is the JSON body of POST /execute.
type ExecuteRequest struct {
	KubeCluster   string          `json:"kube_cluster"`
	KubeNamespace string          `json:"kube_namespace"`
	LabelSelector string          `json:"label_selector"`
	ContainerName string          `json:"container_name"`
	Command       json.RawMessage `json:"command"`

	// Derived.
	Cluster string `json:"-"`
	Target  string `json:"-"`
	Shell   string `json:"-"`
}

// DecodeExecute reads and validates an /execute body: the cluster comes
// from rayCluster=<id>-kuberay in label_selector, the target from
// ray.io/node-type=head|worker (both when absent); command is a string or
// an argv list.
func DecodeExecute(r io.Reader) (ExecuteRequest, error) {
	var req ExecuteRequest
	data, err := io.ReadAll(io.LimitReader(r, maxJSONBytes+1))
	if err != nil {
		return req, apierr.Wrap(apierr.InvalidArgument, err, "read request body")
	}
	if len(data) > maxJSONBytes {
		return req, apierr.New(apierr.InvalidArgument, "request body exceeds %d bytes", maxJSONBytes)
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return req, apierr.New(apierr.InvalidArgument, "request body must be a JSON object {kube_cluster, kube_namespace, label_selector, container_name, command}")
	}
	if strings.TrimSpace(req.LabelSelector) == "" {
		return req, apierr.InvalidField("label_selector", "label_selector is mandatory")
	}
	labels, err := parseSelector(req.LabelSelector)
	if err != nil {
		return req, err
	}
	rc := labels["rayCluster"]
	if rc == "" {
		return req, apierr.InvalidField("label_selector", "label_selector must select rayCluster=<cluster>-kuberay")
	}
	req.Cluster = strings.TrimSuffix(rc, "-kuberay")
	if req.Cluster == "" {
		return req, apierr.InvalidField("label_selector", "label_selector rayCluster=%q names no cluster", rc)
	}
	switch nt := labels["ray.io/node-type"]; nt {
	case "":
		req.Target = "cluster"
	case "head", "worker":
		req.Target = nt
	default:
		return req, apierr.InvalidField("label_selector", "ray.io/node-type must be head or worker, got %q", nt)
	}
	req.Shell, err = commandText(req.Command)
	if err != nil {
		return req, err
	}
	return req, nil
}

func parseSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "==")
		if !ok {
			k, v, ok = strings.Cut(part, "=")
		}
		if !ok || strings.TrimSpace(k) == "" {
			return nil, apierr.InvalidField("label_selector", "label_selector term %q must be key=value", part)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func commandText(raw json.RawMessage) (string, error) {
	trimmed := strings.TrimSpace(string(raw))
	if trimmed == "" || trimmed == "null" {
		return "", apierr.InvalidField("command", "command is mandatory")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			return "", apierr.InvalidField("command", "command is mandatory")
		}
		return s, nil
	}
	var argv []string
	if err := json.Unmarshal(raw, &argv); err != nil || len(argv) == 0 {
		return "", apierr.InvalidField("command", "command must be a string or a non-empty list of strings")
	}
	switch argv[0] {
	case "sh", "/bin/sh", "bash", "/bin/bash":
		if len(argv) == 3 && argv[1] == "-c" {
			return argv[2], nil
		}
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " "), nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == ',' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
