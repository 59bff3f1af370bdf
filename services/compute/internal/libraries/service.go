package libraries

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/compute/internal/domain"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// UI statuses of clusters that matter here.
const (
	clusterActive   = "active"
	clusterInactive = "inactive"
)

// Config tunes the remote-command status job.
type Config struct {
	// PollInterval is how often Run calls PollOnce (5 s).
	PollInterval time.Duration
	// Lease is how long a picked command is reserved for the replica that picked it (10 s).
	Lease time.Duration
	// BatchSize is how many running commands one PollOnce settles at most (2).
	BatchSize int
	// TimeoutGrace is added to a command's timeout before a command without a verdict is failed (60 s).
	TimeoutGrace time.Duration
	// LogsPrefix is where pods upload command logs: error_logs_path = <prefix>/<execution_id>/<pod>/remote-command.log.
	LogsPrefix string
}

// DefaultConfig returns the original's settings.
func DefaultConfig() Config {
	return Config{
		PollInterval: 5 * time.Second,
		Lease:        10 * time.Second,
		BatchSize:    2,
		TimeoutGrace: time.Minute,
		LogsPrefix:   "s3://darwin/mlp/logs/remote-command",
	}
}

// Deps are the collaborators of the Service.
type Deps struct {
	Store     *Store
	Clusters  domain.ClusterLookup
	Artifacts domain.ArtifactUpdater
	Executor  Executor
	Clock     clock.Clock
	Logger    *slog.Logger
	// NewID generates execution ids; nil means random UUIDs in hex (32 characters, no dashes).
	NewID func() string
}

// Service implements the library and remote-command use cases, the status job and domain.StartHook.
type Service struct {
	cfg       Config
	store     *Store
	clusters  domain.ClusterLookup
	artifacts domain.ArtifactUpdater
	exec      Executor
	clock     clock.Clock
	logger    *slog.Logger
	newID     func() string
}

var _ domain.StartHook = (*Service)(nil)

// NewService wires the Service. Zero Config fields take DefaultConfig values.
func NewService(cfg Config, deps Deps) (*Service, error) {
	def := DefaultConfig()
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = def.PollInterval
	}
	if cfg.Lease <= 0 {
		cfg.Lease = def.Lease
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.TimeoutGrace <= 0 {
		cfg.TimeoutGrace = def.TimeoutGrace
	}
	if cfg.LogsPrefix == "" {
		cfg.LogsPrefix = def.LogsPrefix
	}
	switch {
	case deps.Store == nil:
		return nil, errors.New("libraries: Store is required")
	case deps.Clusters == nil:
		return nil, errors.New("libraries: Clusters is required")
	case deps.Artifacts == nil:
		return nil, errors.New("libraries: Artifacts is required")
	case deps.Executor == nil:
		return nil, errors.New("libraries: Executor is required")
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real()
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.NewID == nil {
		deps.NewID = NewExecutionID
	}
	return &Service{cfg: cfg, store: deps.Store, clusters: deps.Clusters, artifacts: deps.Artifacts, exec: deps.Executor,
		clock: deps.Clock, logger: deps.Logger, newID: deps.NewID}, nil
}

// NewExecutionID returns a random UUID (version 4) as 32 hex characters, like Python's uuid4().hex.
func NewExecutionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) cluster(ctx context.Context, clusterID string) (domain.ClusterInfo, error) {
	info, err := s.clusters.ClusterInfo(ctx, clusterID)
	if err != nil {
		return info, fmt.Errorf("look up cluster %s: %w", clusterID, err)
	}
	return info, nil
}

func (s *Service) newCommand(clusterID string, spec CommandSpec, now time.Time) Command {
	return Command{ExecutionID: s.newID(), ClusterID: clusterID, Command: spec.Command, Status: CmdCreated,
		Target: spec.Target, Timeout: spec.TimeoutSeconds, CreatedAt: now, UpdatedAt: now}
}

// ---- chart and execution ----

// ChartCommands returns the head and worker commands that belong in the cluster's values document
// (remoteCommand.commands). compute-core may call it when it regenerates a chart for other reasons.
func (s *Service) ChartCommands(ctx context.Context, clusterID string) (head, worker []domain.RemoteCommand, err error) {
	cmds, err := s.store.ChartCommands(ctx, clusterID)
	if err != nil {
		return nil, nil, err
	}
	head, worker = []domain.RemoteCommand{}, []domain.RemoteCommand{}
	for _, c := range cmds {
		rc := domain.RemoteCommand{ExecutionID: c.ExecutionID, Command: c.Command, Target: c.Target, TimeoutSeconds: c.Timeout}
		if c.Target == TargetHead || c.Target == TargetCluster {
			head = append(head, rc)
		}
		if c.Target == TargetWorker || c.Target == TargetCluster {
			worker = append(worker, rc)
		}
	}
	return head, worker, nil
}

// syncChart re-applies the cluster's chart with its complete command list and returns the artifact name.
func (s *Service) syncChart(ctx context.Context, clusterID string) (string, error) {
	head, worker, err := s.ChartCommands(ctx, clusterID)
	if err != nil {
		return "", err
	}
	artifact, err := s.artifacts.AddRemoteCommands(ctx, clusterID, head, worker)
	if err != nil {
		return "", fmt.Errorf("update chart of cluster %s: %w", clusterID, err)
	}
	return artifact, nil
}

// execute runs commands now on an active cluster: they become running, or failed when the cluster manager
// refuses them. It returns the first execution error.
func (s *Service) execute(ctx context.Context, cmds []Command) error {
	if len(cmds) == 0 {
		return nil
	}
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.ExecutionID
	}
	now := s.now()
	if err := s.store.MarkStarted(ctx, ids, now); err != nil {
		return err
	}
	var firstErr error
	placed := map[string]domain.ClusterInfo{}
	for _, c := range cmds {
		info, ok := placed[c.ClusterID]
		if !ok {
			var err error
			if info, err = s.cluster(ctx, c.ClusterID); err != nil {
				return err
			}
			placed[c.ClusterID] = info
		}
		req := ExecRequest{ClusterID: c.ClusterID, ExecutionID: c.ExecutionID, Target: c.Target, Command: c.Command,
			TimeoutSeconds: c.Timeout, KubeCluster: info.KubeCluster, Namespace: info.Namespace}
		if _, err := s.exec.Exec(ctx, req); err != nil {
			s.logger.WarnContext(ctx, "remote command exec failed", "cluster_id", c.ClusterID, "execution_id", c.ExecutionID, "err", err)
			if _, serr := s.store.Settle(ctx, c.ExecutionID, CmdFailed, ErrCodeExecUnavailable, "", now); serr != nil {
				return serr
			}
			if firstErr == nil {
				firstErr = apierr.Wrap(apierr.Unavailable, err, "cluster manager could not execute command %s", c.ExecutionID)
			}
		}
	}
	return firstErr
}

// ---- libraries ----

func dedupKey(s Spec) string {
	return strings.Join([]string{s.Source, s.Name, s.Version, s.Path}, "\x00")
}

// Install installs libraries on a cluster. A library already present (same source, name, version and path,
// not being uninstalled) is returned as is. New libraries are added to the chart; on an active cluster they
// are installed right away (status running), otherwise on the next start (status created).
func (s *Service) Install(ctx context.Context, clusterID string, specs []Spec) ([]Library, error) {
	info, err := s.cluster(ctx, clusterID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Library, len(specs))
	var fresh []NewLibrary
	slot := map[string]int{} // dedup key → index in fresh
	pos := make([]int, len(specs))
	for i, spec := range specs {
		pos[i] = -1
		if j, ok := slot[dedupKey(spec)]; ok {
			pos[i] = j
			continue
		}
		dup, found, err := s.store.FindDuplicate(ctx, clusterID, spec)
		if err != nil {
			return nil, err
		}
		if found {
			out[i] = dup
			continue
		}
		cmd := s.newCommand(clusterID, CommandSpec{Command: spec.Command, Target: TargetCluster, TimeoutSeconds: DefaultTimeoutSeconds}, now)
		slot[dedupKey(spec)] = len(fresh)
		pos[i] = len(fresh)
		fresh = append(fresh, NewLibrary{Spec: spec, Command: cmd})
	}
	if len(fresh) == 0 {
		return out, nil
	}
	ids, err := s.store.CreateLibraries(ctx, clusterID, fresh, now)
	if err != nil {
		return nil, err
	}
	if _, err := s.syncChart(ctx, clusterID); err != nil {
		s.rollbackLibraries(ctx, clusterID, ids)
		return nil, err
	}
	if info.UIStatus == clusterActive {
		cmds := make([]Command, len(fresh))
		for i, nl := range fresh {
			cmds[i] = nl.Command
		}
		if err := s.execute(ctx, cmds); err != nil {
			s.logger.WarnContext(ctx, "library install could not start", "cluster_id", clusterID, "err", err)
		}
	}
	for i := range specs {
		if pos[i] < 0 {
			continue
		}
		l, err := s.store.GetLibrary(ctx, clusterID, ids[pos[i]])
		if err != nil {
			return nil, err
		}
		out[i] = l
	}
	return out, nil
}

func (s *Service) rollbackLibraries(ctx context.Context, clusterID string, ids []int64) {
	libs, err := s.store.LibrariesByIDs(ctx, clusterID, ids)
	if err == nil {
		err = s.store.DeleteLibraries(ctx, libs)
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "roll back libraries", "cluster_id", clusterID, "err", err)
	}
}

// InstallPackages installs the packages of a cluster request (ClusterRequest.packages: JSON values of
// InstallRequest shape); errors name the field as packages[i]....
func (s *Service) InstallPackages(ctx context.Context, clusterID string, packages []any) ([]Library, error) {
	specs, err := ParsePackages(packages)
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return []Library{}, nil
	}
	return s.Install(ctx, clusterID, specs)
}

// CheckPackages validates ClusterRequest.packages and that the packages_clone_from cluster (when not empty)
// exists, writing nothing.
func (s *Service) CheckPackages(ctx context.Context, packages []any, cloneFrom string) error {
	if _, err := ParsePackages(packages); err != nil {
		return err
	}
	if cloneFrom == "" {
		return nil
	}
	_, err := s.cluster(ctx, cloneFrom)
	return err
}

// ParsePackages validates ClusterRequest.packages without touching storage, naming the offending field
// (packages[i].…), so a create can reject bad packages before it stores anything.
func ParsePackages(packages []any) ([]Spec, error) {
	specs := make([]Spec, 0, len(packages))
	for i, p := range packages {
		buf, err := json.Marshal(p)
		if err != nil {
			return nil, apierr.InvalidField(fmt.Sprintf("packages[%d]", i), "packages[%d] is not a JSON object", i)
		}
		var req InstallRequest
		if err := envelope.DecodeBytes(buf, &req); err != nil {
			e := apierr.From(err)
			field := fmt.Sprintf("packages[%d]", i)
			if e.Field != "" && e.Field != "body" {
				field += "." + e.Field
			}
			return nil, apierr.InvalidField(field, "%s: %s", field, e.Message)
		}
		spec, err := req.validate(fmt.Sprintf("packages[%d].", i))
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// CloneLibraries installs on toClusterID every library of fromClusterID that is not being uninstalled
// (ClusterRequest.packages_clone_from).
func (s *Service) CloneLibraries(ctx context.Context, fromClusterID, toClusterID string) ([]Library, error) {
	if _, err := s.cluster(ctx, fromClusterID); err != nil {
		return nil, err
	}
	libs, err := s.store.AllLibraries(ctx, fromClusterID)
	if err != nil {
		return nil, err
	}
	var specs []Spec
	for _, l := range libs {
		if l.Status == LibUninstallPending {
			continue
		}
		spec, err := specOf(l)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		return []Library{}, nil
	}
	return s.Install(ctx, toClusterID, specs)
}

// specOf rebuilds the install spec of a stored library.
func specOf(l Library) (Spec, error) {
	src := l.Source
	body := InstallBody{Name: &l.Name, Version: l.Version, Path: l.Path, Metadata: l.Metadata}
	spec, err := InstallRequest{Source: &src, Body: &body}.Validate()
	if err != nil {
		return spec, fmt.Errorf("rebuild install command of library %d: %w", l.ID, err)
	}
	return spec, nil
}

// LibraryPage is the answer of the library list.
type LibraryPage struct {
	ClusterID  string    `json:"cluster_id"`
	ResultSize int       `json:"result_size"`
	Packages   []Library `json:"packages"`
}

// ListLibraries returns a page of a cluster's libraries.
func (s *Service) ListLibraries(ctx context.Context, clusterID string, p ListParams) (LibraryPage, error) {
	if _, err := s.cluster(ctx, clusterID); err != nil {
		return LibraryPage{}, err
	}
	libs, total, err := s.store.ListLibraries(ctx, clusterID, p)
	if err != nil {
		return LibraryPage{}, err
	}
	return LibraryPage{ClusterID: clusterID, ResultSize: total, Packages: libs}, nil
}

// GetLibrary returns one library with its error (content is not fetched: see the README).
func (s *Service) GetLibrary(ctx context.Context, clusterID string, id int64) (LibraryDetail, error) {
	if _, err := s.cluster(ctx, clusterID); err != nil {
		return LibraryDetail{}, err
	}
	l, err := s.store.GetLibrary(ctx, clusterID, id)
	if err != nil {
		return LibraryDetail{}, err
	}
	return LibraryDetail{ClusterID: l.ClusterID, ID: l.ID, Name: l.Name, Version: l.Version, Type: l.Type, Source: l.Source,
		Path: l.Path, Error: l.Error, Status: l.Status}, nil
}

// Uninstall removes libraries: deleted right away (with their commands) on an inactive cluster, otherwise
// marked uninstall_pending and deleted at the next stop. Either way they leave the chart now.
func (s *Service) Uninstall(ctx context.Context, clusterID string, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, apierr.InvalidField("id", "id must be a non-empty list of library ids")
	}
	if len(ids) > MaxPageSize {
		return nil, apierr.InvalidField("id", "id must have at most %d entries", MaxPageSize)
	}
	info, err := s.cluster(ctx, clusterID)
	if err != nil {
		return nil, err
	}
	libs, err := s.store.LibrariesByIDs(ctx, clusterID, ids)
	if err != nil {
		return nil, err
	}
	if info.UIStatus == clusterInactive {
		err = s.store.DeleteLibraries(ctx, libs)
	} else {
		err = s.store.MarkUninstallPending(ctx, libs, s.now())
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.syncChart(ctx, clusterID); err != nil {
		return nil, err
	}
	return ids, nil
}

// Retry re-runs a library's install with a new command. Running and uninstall_pending libraries are refused.
func (s *Service) Retry(ctx context.Context, clusterID string, id int64) (Library, error) {
	info, err := s.cluster(ctx, clusterID)
	if err != nil {
		return Library{}, err
	}
	l, err := s.store.GetLibrary(ctx, clusterID, id)
	if err != nil {
		return Library{}, err
	}
	if l.Status == LibRunning || l.Status == LibUninstallPending {
		return Library{}, apierr.New(apierr.FailedPrecondition, "library %d is %s and cannot be retried", id, l.Status)
	}
	spec, err := specOf(l)
	if err != nil {
		return Library{}, err
	}
	now := s.now()
	cmd := s.newCommand(clusterID, CommandSpec{Command: spec.Command, Target: TargetCluster, TimeoutSeconds: DefaultTimeoutSeconds}, now)
	if err := s.store.ReplaceCommand(ctx, l, cmd, now); err != nil {
		return Library{}, err
	}
	if _, err := s.syncChart(ctx, clusterID); err != nil {
		return Library{}, err
	}
	if info.UIStatus == clusterActive {
		if err := s.execute(ctx, []Command{cmd}); err != nil {
			s.logger.WarnContext(ctx, "library retry could not start", "cluster_id", clusterID, "library_id", id, "err", err)
		}
	}
	return s.store.GetLibrary(ctx, clusterID, id)
}

// ---- remote commands ----

// AddCommandsResult is the answer of POST /cluster/{id}/command.
type AddCommandsResult struct {
	RemoteCommands []ExecutionRef `json:"remote_commands"`
	ArtifactName   string         `json:"artifact_name"`
}

// ExecutionRef names one command.
type ExecutionRef struct {
	ExecutionID string `json:"execution_id"`
}

// AddCommands adds commands to the cluster's chart; they run on the next start (status created).
func (s *Service) AddCommands(ctx context.Context, clusterID string, specs []CommandSpec) (AddCommandsResult, error) {
	if _, err := s.cluster(ctx, clusterID); err != nil {
		return AddCommandsResult{}, err
	}
	now := s.now()
	cmds := make([]Command, len(specs))
	refs := make([]ExecutionRef, len(specs))
	ids := make([]string, len(specs))
	for i, spec := range specs {
		cmds[i] = s.newCommand(clusterID, spec, now)
		refs[i] = ExecutionRef{ExecutionID: cmds[i].ExecutionID}
		ids[i] = cmds[i].ExecutionID
	}
	if err := s.store.InsertCommands(ctx, cmds); err != nil {
		return AddCommandsResult{}, err
	}
	artifact, err := s.syncChart(ctx, clusterID)
	if err != nil {
		if _, derr := s.store.DeleteCommands(ctx, clusterID, ids); derr != nil {
			s.logger.ErrorContext(ctx, "roll back remote commands", "cluster_id", clusterID, "err", derr)
		}
		return AddCommandsResult{}, err
	}
	return AddCommandsResult{RemoteCommands: refs, ArtifactName: artifact}, nil
}

// ExecuteResult is the answer of POST /cluster/{id}/command/execute.
type ExecuteResult struct {
	ExecutionID  string `json:"execution_id"`
	Status       string `json:"status"`
	ArtifactName string `json:"artifact_name"`
}

// Execute adds a command to the chart and runs it now on the active cluster's pods.
func (s *Service) Execute(ctx context.Context, clusterID string, spec CommandSpec) (ExecuteResult, error) {
	info, err := s.cluster(ctx, clusterID)
	if err != nil {
		return ExecuteResult{}, err
	}
	if info.UIStatus != clusterActive {
		return ExecuteResult{}, apierr.New(apierr.FailedPrecondition, "cluster %s is not active (status %s)", clusterID, info.UIStatus)
	}
	cmd := s.newCommand(clusterID, spec, s.now())
	if err := s.store.InsertCommands(ctx, []Command{cmd}); err != nil {
		return ExecuteResult{}, err
	}
	artifact, err := s.syncChart(ctx, clusterID)
	if err != nil {
		if _, derr := s.store.DeleteCommands(ctx, clusterID, []string{cmd.ExecutionID}); derr != nil {
			s.logger.ErrorContext(ctx, "roll back remote command", "cluster_id", clusterID, "err", derr)
		}
		return ExecuteResult{}, err
	}
	if err := s.execute(ctx, []Command{cmd}); err != nil {
		return ExecuteResult{}, err
	}
	return ExecuteResult{ExecutionID: cmd.ExecutionID, Status: CmdRunning, ArtifactName: artifact}, nil
}

// DeleteCommand removes a command from the cluster and its chart. Library install commands are refused
// (uninstall the library instead).
func (s *Service) DeleteCommand(ctx context.Context, clusterID, executionID string) ([]string, error) {
	if _, err := s.cluster(ctx, clusterID); err != nil {
		return nil, err
	}
	if _, err := s.store.GetCommand(ctx, clusterID, executionID); err != nil {
		return nil, err
	}
	libID, found, err := s.store.LibraryForExecution(ctx, clusterID, executionID)
	if err != nil {
		return nil, err
	}
	if found {
		return nil, apierr.New(apierr.FailedPrecondition, "execution %s installs library %d; uninstall the library instead", executionID, libID)
	}
	deleted, err := s.store.DeleteCommands(ctx, clusterID, []string{executionID})
	if err != nil {
		return nil, err
	}
	if _, err := s.syncChart(ctx, clusterID); err != nil {
		return nil, err
	}
	return deleted, nil
}

// CommandStatus returns one command.
func (s *Service) CommandStatus(ctx context.Context, clusterID, executionID string) (Command, error) {
	if _, err := s.cluster(ctx, clusterID); err != nil {
		return Command{}, err
	}
	return s.store.GetCommand(ctx, clusterID, executionID)
}

// ListCommands returns every command of a cluster.
func (s *Service) ListCommands(ctx context.Context, clusterID string) ([]Command, error) {
	if _, err := s.cluster(ctx, clusterID); err != nil {
		return nil, err
	}
	return s.store.ListCommands(ctx, clusterID)
}

// ReportPodStatus records a pod's progress report for the cluster's current run.
func (s *Service) ReportPodStatus(ctx context.Context, r PodReport) error {
	info, err := s.cluster(ctx, r.ClusterID)
	if err != nil {
		return err
	}
	if _, err := s.store.GetCommand(ctx, r.ClusterID, r.ExecutionID); err != nil {
		return err
	}
	return s.store.UpsertPodStatus(ctx, info.RunID, r.ExecutionID, r.PodName, r.Status, s.now())
}

// ---- start hook ----

// OnClusterStart implements domain.StartHook: every command and library of the cluster becomes running,
// since the chart runs all of them again as the pods start; the status job settles them.
func (s *Service) OnClusterStart(ctx context.Context, clusterID string) error {
	return s.store.OnStart(ctx, clusterID, s.now())
}

// OnClusterStop implements domain.StartHook: libraries waiting for uninstall are deleted, running libraries
// and commands go back to created.
func (s *Service) OnClusterStop(ctx context.Context, clusterID string) error {
	return s.store.OnStop(ctx, clusterID, s.now())
}

// DeleteCluster removes every library and command of a deleted cluster.
func (s *Service) DeleteCluster(ctx context.Context, clusterID string) error {
	return s.store.DeleteCluster(ctx, clusterID)
}

// ---- status job ----

// Run calls PollOnce every PollInterval until ctx is done.
func (s *Service) Run(ctx context.Context) {
	clock.Every(ctx, s.clock, s.cfg.PollInterval, false, func(ctx context.Context) {
		if err := s.PollOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "remote command status poll failed", "err", err)
		}
	})
}

var podRank = map[string]int{"started": 0, CmdRunning: 1, CmdSuccess: 2, CmdFailed: 3}

// PollOnce leases up to BatchSize running commands and settles those whose pods have all succeeded
// (success) or of which one failed (failed, REMOTE_COMMAND_FAILED, error_logs_path of the failed pod).
// Commands without a verdict TimeoutGrace after their timeout fail with REMOTE_COMMAND_TIMEOUT.
// Safe to run on several replicas at once: a lease on last_picked_at keeps them apart.
func (s *Service) PollOnce(ctx context.Context) error {
	now := s.now()
	cmds, err := s.store.LeaseRunning(ctx, now, s.cfg.Lease, s.cfg.BatchSize)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cmds {
		if err := s.pollCommand(ctx, c, now); err != nil {
			errs = append(errs, fmt.Errorf("poll remote command %s: %w", c.ExecutionID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) pollCommand(ctx context.Context, c Command, now time.Time) error {
	info, err := s.clusters.ClusterInfo(ctx, c.ClusterID)
	if apierr.Is(err, apierr.NotFound) {
		_, err = s.store.Settle(ctx, c.ExecutionID, CmdFailed, ErrCodeFailed, "", now)
		return err
	}
	if err != nil {
		return fmt.Errorf("look up cluster %s: %w", c.ClusterID, err)
	}
	pods, err := s.store.PodStatuses(ctx, info.RunID, c.ExecutionID)
	if err != nil {
		return err
	}
	reported, err := s.exec.ExecStatus(ctx, c.ClusterID, c.ExecutionID)
	switch {
	case err == nil:
		for _, p := range reported {
			if podRank[p.Status] >= podRank[pods[p.PodName]] {
				pods[p.PodName] = p.Status
			}
		}
	case apierr.Is(err, apierr.NotFound):
		// the cluster manager has no record (e.g. the chart ran it before a restart): pod reports decide
	default:
		s.logger.WarnContext(ctx, "read remote command status", "cluster_id", c.ClusterID, "execution_id", c.ExecutionID, "err", err)
	}
	names := make([]string, 0, len(pods))
	for name := range pods {
		names = append(names, name)
	}
	sort.Strings(names)
	allSuccess := len(names) > 0
	for _, name := range names {
		switch pods[name] {
		case CmdFailed:
			logs := fmt.Sprintf("%s/%s/%s/remote-command.log", strings.TrimSuffix(s.cfg.LogsPrefix, "/"), c.ExecutionID, name)
			_, err := s.store.Settle(ctx, c.ExecutionID, CmdFailed, ErrCodeFailed, logs, now)
			return err
		case CmdSuccess:
		default:
			allSuccess = false
		}
	}
	if allSuccess {
		_, err := s.store.Settle(ctx, c.ExecutionID, CmdSuccess, "", "", now)
		return err
	}
	if c.StartedAt != nil && now.After(c.StartedAt.Add(time.Duration(c.Timeout)*time.Second+s.cfg.TimeoutGrace)) {
		_, err := s.store.Settle(ctx, c.ExecutionID, CmdFailed, ErrCodeTimeout, "", now)
		return err
	}
	return nil
}
