// Package domain holds artifact-builder's build tasks and the validation of build requests.
package domain

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Status is a task's state: waiting → running → completed | failed (the original's four values, nothing else).
type Status string

// The task statuses.
const (
	Waiting   Status = "waiting"
	Running   Status = "running"
	Completed Status = "completed"
	Failed    Status = "failed"
)

// Kind selects the builder of a task.
type Kind string

// The task kinds.
const (
	// KindDockerfile builds a git repository's Dockerfile (POST /build_with_dockerfile).
	KindDockerfile Kind = "dockerfile"
	// KindModel packages a model directory onto a base image (POST /build_model_image).
	KindModel Kind = "model"
)

// BuildParams are a task's builder inputs (the build_params JSON column). Dockerfile builds use GitRepo,
// Branch, AppDir and Dockerfile; model builds use ModelURI or ModelDir, BaseImage and Entrypoint.
type BuildParams struct {
	GitRepo    string   `json:"git_repo,omitempty"`
	Branch     string   `json:"branch,omitempty"`
	AppDir     string   `json:"app_dir,omitempty"`
	Dockerfile string   `json:"dockerfile,omitempty"`
	ModelURI   string   `json:"model_uri,omitempty"`
	ModelDir   string   `json:"model_dir,omitempty"`
	BaseImage  string   `json:"base_image,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
}

// Task is one build.
type Task struct {
	TaskID         string
	Kind           Kind
	AppName        string
	ImageTag       string
	LogsURL        string
	Params         BuildParams
	Status         Status
	ImageURL       string // the pushed image (completed model builds)
	Message        string // why a task failed
	Attempts       int
	LeaseOwner     string
	LeaseExpiresAt time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// NewTaskID returns "id-<32 hex digits>", the original's task id format.
func NewTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "id-" + hex.EncodeToString(b[:])
}

var (
	// appNameRe is one lowercase OCI repository path component (the image is <registry>/<app_name>:<tag>).
	appNameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// tagRe is an OCI tag.
	tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// branchRe is a conservative git ref name.
	branchRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$`)
	taskIDRe = regexp.MustCompile(`^id-[0-9a-f]{32}$`)
)

// MaxDockerfileBytes bounds an uploaded Dockerfile.
const MaxDockerfileBytes = 64 << 10

func checkText(field, v string, maxLen int) error {
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return apierr.InvalidField(field, "%s must be valid UTF-8 text", field)
	}
	if len(v) > maxLen {
		return apierr.InvalidField(field, "%s is longer than %d bytes", field, maxLen)
	}
	return nil
}

// ValidateAppName checks app_name: required, a lowercase image repository component of at most 128 bytes.
func ValidateAppName(v string) error {
	if v == "" {
		return apierr.InvalidField("app_name", "app_name is required")
	}
	if len(v) > 128 || !appNameRe.MatchString(v) {
		return apierr.InvalidField("app_name", "app_name %q must be lowercase letters, digits and single separators (. _ -), at most 128 characters", clip(v))
	}
	return nil
}

// ValidateImageTag checks image_tag: required, an OCI tag.
func ValidateImageTag(v string) error {
	if v == "" {
		return apierr.InvalidField("image_tag", "image_tag is required")
	}
	if !tagRe.MatchString(v) {
		return apierr.InvalidField("image_tag", "image_tag %q must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", clip(v))
	}
	return nil
}

// ValidTaskID reports whether id has the task id format.
func ValidTaskID(id string) bool { return taskIDRe.MatchString(id) }

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// DockerfileRequest is the form of POST /build_with_dockerfile.
type DockerfileRequest struct {
	AppName    string
	ImageTag   string
	GitRepo    string
	Branch     string
	AppDir     string
	Dockerfile string
}

// Validate checks the request and fills the branch default ("main"). Unlike the original, which passed the
// values to a shell script, every value is checked so none can be read as an option or a second argument.
func (r *DockerfileRequest) Validate() error {
	if err := ValidateAppName(r.AppName); err != nil {
		return err
	}
	if err := ValidateImageTag(r.ImageTag); err != nil {
		return err
	}
	if err := validateGitRepo(r.GitRepo); err != nil {
		return err
	}
	if r.Branch == "" {
		r.Branch = "main"
	}
	if !branchRe.MatchString(r.Branch) || strings.Contains(r.Branch, "..") || strings.HasSuffix(r.Branch, "/") ||
		strings.HasSuffix(r.Branch, ".lock") || strings.Contains(r.Branch, "//") {
		return apierr.InvalidField("branch", "branch %q is not a valid git branch name", clip(r.Branch))
	}
	if r.AppDir != "" {
		if err := checkText("app_dir", r.AppDir, 1024); err != nil {
			return err
		}
		if path.IsAbs(r.AppDir) || path.Clean(r.AppDir) != r.AppDir || r.AppDir == ".." || strings.HasPrefix(r.AppDir, "../") ||
			strings.HasPrefix(r.AppDir, "-") || strings.ContainsAny(r.AppDir, "\\\n\r\t") {
			return apierr.InvalidField("app_dir", "app_dir %q must be a clean relative path inside the repository", clip(r.AppDir))
		}
	}
	if len(r.Dockerfile) > MaxDockerfileBytes {
		return apierr.InvalidField("dockerfile", "dockerfile is larger than %d bytes", MaxDockerfileBytes)
	}
	if err := checkText("dockerfile", r.Dockerfile, MaxDockerfileBytes); err != nil {
		return err
	}
	return nil
}

func validateGitRepo(v string) error {
	if v == "" {
		return apierr.InvalidField("git_repo", "git_repo is required")
	}
	if err := checkText("git_repo", v, 2048); err != nil {
		return err
	}
	if strings.HasPrefix(v, "-") || strings.ContainsAny(v, " \t\r\n\\") {
		return apierr.InvalidField("git_repo", "git_repo %q is not a repository URL", clip(v))
	}
	if strings.HasPrefix(v, "git@") { // scp-like ssh syntax: git@host:owner/repo.git
		if host, rest, ok := strings.Cut(strings.TrimPrefix(v, "git@"), ":"); ok && host != "" && rest != "" {
			return nil
		}
		return apierr.InvalidField("git_repo", "git_repo %q is not a repository URL", clip(v))
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh" && u.Scheme != "git") {
		return apierr.InvalidField("git_repo", "git_repo %q must be an https, http, ssh or git URL", clip(v))
	}
	return nil
}

// ModelRequest is the JSON body of POST /build_model_image: package a model (downloaded from model_uri, an
// http(s) URL of a file or a .tar/.tar.gz/.tgz archive, or the server-side directory model_dir) onto
// base_image ("" or "scratch": an empty base) as <registry>/<app_name>:<image_tag>.
type ModelRequest struct {
	AppName    string   `json:"app_name"`
	ImageTag   string   `json:"image_tag"`
	ModelURI   string   `json:"model_uri"`
	ModelDir   string   `json:"model_dir"`
	BaseImage  string   `json:"base_image"`
	Entrypoint []string `json:"entrypoint"`
}

// Validate checks the request: exactly one of model_uri and model_dir; model_dir must be absolute (whether it
// is allowed is the builder's decision, made when the request is accepted).
func (r *ModelRequest) Validate() error {
	if err := ValidateAppName(r.AppName); err != nil {
		return err
	}
	if err := ValidateImageTag(r.ImageTag); err != nil {
		return err
	}
	switch {
	case r.ModelURI == "" && r.ModelDir == "":
		return apierr.InvalidField("model_uri", "one of model_uri and model_dir is required")
	case r.ModelURI != "" && r.ModelDir != "":
		return apierr.InvalidField("model_dir", "give model_uri or model_dir, not both")
	case r.ModelURI != "":
		if err := checkText("model_uri", r.ModelURI, 4096); err != nil {
			return err
		}
		u, err := url.Parse(r.ModelURI)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return apierr.InvalidField("model_uri", "model_uri %q must be an http(s) URL of a model file or archive", clip(r.ModelURI))
		}
	default:
		if err := checkText("model_dir", r.ModelDir, 4096); err != nil {
			return err
		}
		if !path.IsAbs(r.ModelDir) || path.Clean(r.ModelDir) != r.ModelDir {
			return apierr.InvalidField("model_dir", "model_dir %q must be a clean absolute path", clip(r.ModelDir))
		}
	}
	if err := checkText("base_image", r.BaseImage, 1024); err != nil {
		return err
	}
	if strings.ContainsAny(r.BaseImage, " \t\r\n") {
		return apierr.InvalidField("base_image", "base_image %q is not an image reference", clip(r.BaseImage))
	}
	if len(r.Entrypoint) > 64 {
		return apierr.InvalidField("entrypoint", "entrypoint has more than 64 elements")
	}
	for _, e := range r.Entrypoint {
		if err := checkText("entrypoint", e, 4096); err != nil {
			return err
		}
	}
	if len(r.Entrypoint) > 0 && r.Entrypoint[0] == "" {
		return apierr.InvalidField("entrypoint", "entrypoint[0] must not be empty")
	}
	return nil
}
