// Package libraries owns cluster libraries (the /cluster/{cluster_id}/library API), remote commands
// (/cluster/{cluster_id}/command*), per-pod command reports and the remote-command status job.
//
// Every library install is a remote command. A command is always part of the cluster's chart
// (values.remoteCommand.commands) so it runs again on every start; when the cluster is active it is also
// executed right away through the cluster manager (Executor). The status job (Service.PollOnce) leases
// running commands, reads per-pod progress and settles them as success or failed; libraries follow the
// status of their command.
package libraries

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Library sources.
const (
	SourcePyPI      = "pypi"
	SourceMaven     = "maven"
	SourceS3        = "s3"
	SourceWorkspace = "workspace"
)

// Library types.
const (
	TypePyPI     = "pypi"
	TypeWhl      = "whl"
	TypeMavenJar = "maven_jar"
	TypeJar      = "jar"
	TypeZip      = "zip"
	TypeTar      = "tar"
	TypeGz       = "gz"
	TypeTxt      = "txt"
)

// Library statuses.
const (
	LibCreated          = "created"
	LibRunning          = "running"
	LibSuccess          = "success"
	LibFailed           = "failed"
	LibUninstallPending = "uninstall_pending"
)

// Remote command statuses and targets.
const (
	CmdCreated = "created"
	CmdRunning = "running"
	CmdSuccess = "success"
	CmdFailed  = "failed"

	TargetHead    = "head"
	TargetWorker  = "worker"
	TargetCluster = "cluster"
)

// Error codes recorded on failed commands.
const (
	ErrCodeFailed          = "REMOTE_COMMAND_FAILED"
	ErrCodeTimeout         = "REMOTE_COMMAND_TIMEOUT"
	ErrCodeExecUnavailable = "REMOTE_COMMAND_EXEC_FAILED"
)

// Where install commands put downloaded packages on the pods.
const (
	PkgRoot   = "/home/ray/darwin_pkgs"
	PyDir     = PkgRoot + "/python"
	JarDir    = PkgRoot + "/jars"
	ExtractTo = PkgRoot + "/s3"
)

// DefaultTimeoutSeconds is the timeout of commands that do not set one (and of install commands).
const DefaultTimeoutSeconds = 300

// Request limits.
const (
	MaxCommandBytes    = 60 << 10 // joined command; fits MySQL TEXT (65535 bytes)
	MaxMetadataBytes   = 16 << 10
	MaxCommandsPerCall = 100
	MaxTimeoutSeconds  = 24 * 60 * 60
	MaxBatch           = 100
	MaxPageSize        = 1000
	maxNameLen         = 512
	maxVersionLen      = 128
	maxPathLen         = 2048
)

// Library is LibraryDTO.
type Library struct {
	ID          int64          `json:"id"`
	ClusterID   string         `json:"cluster_id"`
	Name        string         `json:"name"`
	Version     *string        `json:"version"`
	Type        string         `json:"type"`
	Source      string         `json:"source"`
	Path        *string        `json:"path"`
	Metadata    map[string]any `json:"metadata"`
	Status      string         `json:"status"`
	ExecutionID *string        `json:"execution_id"`
	Error       *LibraryError  `json:"error"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
}

// LibraryError explains a failed install.
type LibraryError struct {
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
}

// LibraryDetail is the answer of GET /cluster/{id}/library/{library_id}.
type LibraryDetail struct {
	ClusterID string        `json:"cluster_id"`
	ID        int64         `json:"id"`
	Name      string        `json:"name"`
	Version   *string       `json:"version"`
	Type      string        `json:"type"`
	Source    string        `json:"source"`
	Path      *string       `json:"path"`
	Content   *string       `json:"content"`
	Error     *LibraryError `json:"error"`
	Status    string        `json:"status"`
}

// Command is a row of remote_command_status.
type Command struct {
	ExecutionID   string     `json:"execution_id"`
	ClusterID     string     `json:"cluster_id"`
	Command       string     `json:"command"`
	Status        string     `json:"status"`
	Target        string     `json:"target"`
	Timeout       int        `json:"timeout"`
	ErrorLogsPath *string    `json:"error_logs_path"`
	ErrorCode     *string    `json:"error_code"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// InstallRequest is the body of POST /cluster/{id}/library/install.
type InstallRequest struct {
	Source *string      `json:"source"`
	Body   *InstallBody `json:"body"`
}

// InstallBody is InstallRequest.body.
type InstallBody struct {
	Name     *string        `json:"name"`
	Path     *string        `json:"path"`
	Version  *string        `json:"version"`
	Metadata map[string]any `json:"metadata"`
}

// BatchInstallRequest is the body of POST /cluster/{id}/library/install/batch.
type BatchInstallRequest struct {
	Packages []InstallRequest `json:"packages"`
}

// UninstallRequest is the body of PUT /cluster/{id}/library/uninstall.
type UninstallRequest struct {
	ID []int64 `json:"id"`
}

// CommandRequest is RemoteCommandRequest.
type CommandRequest struct {
	Command []string `json:"command"`
	Target  *string  `json:"target"`
	Timeout *int     `json:"timeout"`
}

// AddCommandsRequest is the body of POST /cluster/{id}/command.
type AddCommandsRequest struct {
	RemoteCommands []CommandRequest `json:"remote_commands"`
}

// PodStatusReport is the body of POST /cluster/command/pod/status.
type PodStatusReport struct {
	ClusterID   *string `json:"cluster_id"`
	ExecutionID *string `json:"execution_id"`
	PodName     *string `json:"pod_name"`
	Status      *string `json:"status"`
}

// Pod report statuses.
var podStatuses = []string{"started", "running", CmdSuccess, CmdFailed}

// Spec is a validated library install.
type Spec struct {
	Source   string
	Name     string
	Version  string // "" when unset
	Path     string // "" when unset
	Type     string
	Metadata map[string]any
	Command  string
}

// CommandSpec is a validated remote command.
type CommandSpec struct {
	Command        string
	Target         string
	TimeoutSeconds int
}

var (
	// safeToken admits package names, versions, URLs and object paths but no whitespace or shell syntax,
	// since they are spliced into shell commands.
	safeToken   = regexp.MustCompile(`^[A-Za-z0-9._/:@+=~%,\[\]-]+$`)
	versionRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	pypiNameRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._\-\[\],]*$`)
	mavenNameRe = regexp.MustCompile(`^[A-Za-z0-9_.\-]+:[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*$`)
)

func fieldText(field, v string, maxLen int) error {
	if strings.TrimSpace(v) == "" {
		return apierr.InvalidField(field, "%s is required", field)
	}
	if len(v) > maxLen {
		return apierr.InvalidField(field, "%s must be at most %d bytes", field, maxLen)
	}
	if !utf8.ValidString(v) || !safeToken.MatchString(v) {
		return apierr.InvalidField(field, "%s contains characters that are not allowed (whitespace, quotes or shell syntax)", field)
	}
	return nil
}

// Validate checks an install request and builds its install command.
func (r InstallRequest) Validate() (Spec, error) { return r.validate("") }

func (r InstallRequest) validate(prefix string) (Spec, error) {
	f := func(name string) string { return prefix + name }
	var s Spec
	if r.Source == nil {
		return s, apierr.InvalidField(f("source"), "%s is required", f("source"))
	}
	s.Source = *r.Source
	if r.Body == nil {
		return s, apierr.InvalidField(f("body"), "%s is required", f("body"))
	}
	b := *r.Body
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSpace(*p)
	}
	s.Name, s.Version, s.Path = str(b.Name), str(b.Version), str(b.Path)
	if s.Version != "" {
		if len(s.Version) > maxVersionLen || !versionRe.MatchString(s.Version) {
			return s, apierr.InvalidField(f("body.version"), "%s must be a plain version such as 1.2.3", f("body.version"))
		}
	}
	s.Metadata = b.Metadata
	if b.Metadata != nil {
		buf, err := json.Marshal(b.Metadata)
		if err != nil || len(buf) > MaxMetadataBytes {
			return s, apierr.InvalidField(f("body.metadata"), "%s must be a JSON object of at most %d bytes", f("body.metadata"), MaxMetadataBytes)
		}
	}
	if repo, ok := b.Metadata["repository"]; ok && repo != nil {
		rs, isStr := repo.(string)
		if !isStr || (rs != "maven" && rs != "spark") {
			return s, apierr.InvalidField(f("body.metadata.repository"), "%s must be \"maven\" or \"spark\"", f("body.metadata.repository"))
		}
	}
	switch s.Source {
	case SourcePyPI:
		if err := fieldText(f("body.name"), s.Name, maxNameLen); err != nil {
			return s, err
		}
		s.Type = TypePyPI
		if strings.HasSuffix(strings.ToLower(s.Name), ".whl") {
			s.Type = TypeWhl
			if s.Version != "" {
				return s, apierr.InvalidField(f("body.version"), "%s cannot be set for a wheel file", f("body.version"))
			}
		} else if !pypiNameRe.MatchString(s.Name) {
			return s, apierr.InvalidField(f("body.name"), "%s is not a valid PyPI package name", f("body.name"))
		}
		cmd := "pip install " + s.Name
		if s.Version != "" {
			cmd += "==" + s.Version
		}
		if s.Path != "" {
			host, err := indexHost(f("body.path"), s.Path)
			if err != nil {
				return s, err
			}
			cmd += " --index-url " + s.Path + " --trusted-host " + host
		}
		s.Command = cmd
	case SourceMaven:
		if err := fieldText(f("body.name"), s.Name, maxNameLen); err != nil {
			return s, err
		}
		if !mavenNameRe.MatchString(s.Name) {
			return s, apierr.InvalidField(f("body.name"), "%s must be maven coordinates group:artifact", f("body.name"))
		}
		if s.Version == "" {
			return s, apierr.InvalidField(f("body.version"), "%s is required for maven packages", f("body.version"))
		}
		s.Type = TypeMavenJar
		s.Command = "mkdir -p " + JarDir + "; mvn dependency:copy -Dartifact=" + s.Name + ":" + s.Version + " -DoutputDirectory=" + JarDir
	case SourceS3, SourceWorkspace:
		if err := fieldText(f("body.path"), s.Path, maxPathLen); err != nil {
			return s, err
		}
		copyCmd := "cp"
		if s.Source == SourceS3 {
			if !strings.HasPrefix(s.Path, "s3://") || len(s.Path) <= len("s3://") {
				return s, apierr.InvalidField(f("body.path"), "%s must be an s3:// URL", f("body.path"))
			}
			copyCmd = "aws s3 cp"
		} else if !strings.HasPrefix(s.Path, "/") {
			return s, apierr.InvalidField(f("body.path"), "%s must be an absolute workspace path", f("body.path"))
		}
		if strings.Contains(s.Path, "/../") || strings.HasSuffix(s.Path, "/..") {
			return s, apierr.InvalidField(f("body.path"), "%s must not contain '..'", f("body.path"))
		}
		base := path.Base(s.Path)
		typ, ok := typeByExtension(base)
		if !ok {
			return s, apierr.InvalidField(f("body.path"), "%s must end in .whl, .txt, .jar, .zip, .tar or .tar.gz", f("body.path"))
		}
		s.Type = typ
		if s.Name == "" {
			s.Name = base
		} else if err := fieldText(f("body.name"), s.Name, maxNameLen); err != nil {
			return s, err
		}
		s.Command = fileInstallCommand(copyCmd, s.Path, base, typ)
	default:
		return s, apierr.InvalidField(f("source"), "%s must be one of pypi, maven, s3, workspace", f("source"))
	}
	return s, nil
}

func indexHost(field, raw string) (string, error) {
	if err := fieldText(field, raw, maxPathLen); err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "", apierr.InvalidField(field, "%s must be an http(s) package index URL", field)
	}
	return u.Hostname(), nil
}

func typeByExtension(base string) (string, bool) {
	lower := strings.ToLower(base)
	for _, e := range []struct{ ext, typ string }{
		{".tar.gz", TypeGz}, {".whl", TypeWhl}, {".txt", TypeTxt}, {".jar", TypeJar}, {".zip", TypeZip}, {".tar", TypeTar},
	} {
		if strings.HasSuffix(lower, e.ext) && len(lower) > len(e.ext) {
			return e.typ, true
		}
	}
	return "", false
}

func fileInstallCommand(copyCmd, src, base, typ string) string {
	switch typ {
	case TypeWhl:
		dst := PyDir + "/" + base
		return fmt.Sprintf("mkdir -p %s; %s %s %s; pip install %s", PyDir, copyCmd, src, dst, dst)
	case TypeTxt:
		dst := PyDir + "/" + base
		return fmt.Sprintf("mkdir -p %s; %s %s %s; pip install -r %s", PyDir, copyCmd, src, dst, dst)
	case TypeJar:
		return fmt.Sprintf("mkdir -p %s; %s %s %s/%s", JarDir, copyCmd, src, JarDir, base)
	case TypeZip:
		dst := ExtractTo + "/" + base
		return fmt.Sprintf("mkdir -p %s; %s %s %s; unzip -o %s -d %s", ExtractTo, copyCmd, src, dst, dst, ExtractTo)
	case TypeTar:
		dst := ExtractTo + "/" + base
		return fmt.Sprintf("mkdir -p %s; %s %s %s; tar -xf %s -C %s", ExtractTo, copyCmd, src, dst, dst, ExtractTo)
	default: // TypeGz
		dst := ExtractTo + "/" + base
		return fmt.Sprintf("mkdir -p %s; %s %s %s; tar -xzf %s -C %s", ExtractTo, copyCmd, src, dst, dst, ExtractTo)
	}
}

// Validate checks a remote command request: the command lines are joined with " ; ", target defaults to
// "cluster" and timeout to 300 seconds.
func (r CommandRequest) Validate() (CommandSpec, error) { return r.validate("") }

func (r CommandRequest) validate(prefix string) (CommandSpec, error) {
	f := func(name string) string { return prefix + name }
	spec := CommandSpec{Target: TargetCluster, TimeoutSeconds: DefaultTimeoutSeconds}
	if len(r.Command) == 0 {
		return spec, apierr.InvalidField(f("command"), "%s must be a non-empty list of strings", f("command"))
	}
	size := 0
	for i, line := range r.Command {
		if strings.TrimSpace(line) == "" {
			return spec, apierr.InvalidField(fmt.Sprintf("%s[%d]", f("command"), i), "%s[%d] must not be empty", f("command"), i)
		}
		if !utf8.ValidString(line) || strings.ContainsRune(line, 0) {
			return spec, apierr.InvalidField(fmt.Sprintf("%s[%d]", f("command"), i), "%s[%d] contains invalid characters", f("command"), i)
		}
		size += len(line)
	}
	spec.Command = strings.Join(r.Command, " ; ")
	if size > MaxCommandBytes || len(spec.Command) > MaxCommandBytes {
		return spec, apierr.InvalidField(f("command"), "%s must be at most %d bytes", f("command"), MaxCommandBytes)
	}
	if r.Target != nil {
		switch *r.Target {
		case TargetHead, TargetWorker, TargetCluster:
			spec.Target = *r.Target
		default:
			return spec, apierr.InvalidField(f("target"), "%s must be one of head, worker, cluster", f("target"))
		}
	}
	if r.Timeout != nil {
		if *r.Timeout < 1 || *r.Timeout > MaxTimeoutSeconds {
			return spec, apierr.InvalidField(f("timeout"), "%s must be between 1 and %d seconds", f("timeout"), MaxTimeoutSeconds)
		}
		spec.TimeoutSeconds = *r.Timeout
	}
	return spec, nil
}

// Validate checks an add-commands request.
func (r AddCommandsRequest) Validate() ([]CommandSpec, error) {
	if len(r.RemoteCommands) == 0 {
		return nil, apierr.InvalidField("remote_commands", "remote_commands must be a non-empty list")
	}
	if len(r.RemoteCommands) > MaxCommandsPerCall {
		return nil, apierr.InvalidField("remote_commands", "remote_commands must have at most %d entries", MaxCommandsPerCall)
	}
	out := make([]CommandSpec, 0, len(r.RemoteCommands))
	for i, c := range r.RemoteCommands {
		spec, err := c.validate(fmt.Sprintf("remote_commands[%d].", i))
		if err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	return out, nil
}

// Validate checks a batch install request.
func (r BatchInstallRequest) Validate() ([]Spec, error) {
	if len(r.Packages) == 0 {
		return nil, apierr.InvalidField("packages", "packages must be a non-empty list")
	}
	if len(r.Packages) > MaxBatch {
		return nil, apierr.InvalidField("packages", "packages must have at most %d entries", MaxBatch)
	}
	out := make([]Spec, 0, len(r.Packages))
	for i, p := range r.Packages {
		spec, err := p.validate(fmt.Sprintf("packages[%d].", i))
		if err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	return out, nil
}

// PodReport is a validated pod status report.
type PodReport struct {
	ClusterID   string `json:"cluster_id"`
	ExecutionID string `json:"execution_id"`
	PodName     string `json:"pod_name"`
	Status      string `json:"status"`
}

// Validate checks a pod status report.
func (r PodStatusReport) Validate() (PodReport, error) {
	var out PodReport
	for _, fv := range []struct {
		name string
		v    *string
		dst  *string
	}{{"cluster_id", r.ClusterID, &out.ClusterID}, {"execution_id", r.ExecutionID, &out.ExecutionID}, {"pod_name", r.PodName, &out.PodName}, {"status", r.Status, &out.Status}} {
		if fv.v == nil || strings.TrimSpace(*fv.v) == "" {
			return out, apierr.InvalidField(fv.name, "%s is required", fv.name)
		}
		if len(*fv.v) > 255 || !utf8.ValidString(*fv.v) || strings.ContainsAny(*fv.v, "\x00\r\n") {
			return out, apierr.InvalidField(fv.name, "%s is invalid", fv.name)
		}
		*fv.dst = *fv.v
	}
	valid := false
	for _, s := range podStatuses {
		if out.Status == s {
			valid = true
		}
	}
	if !valid {
		return out, apierr.InvalidField("status", "status must be one of %s", strings.Join(podStatuses, ", "))
	}
	return out, nil
}
