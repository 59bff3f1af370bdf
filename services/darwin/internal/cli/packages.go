package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newPackagesCommand(opts *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "packages",
		Aliases: []string{"package", "libraries"},
		Short:   "List, install and uninstall a cluster's packages",
		Long: `Manage the libraries installed on a cluster (/cluster/{id}/library). On an
active cluster an install runs now; on a stopped one it runs at the next start.`,
		Example: `  darwin compute packages list id-abc123
  darwin compute packages install id-abc123 --source pypi --name pandas --version 2.2.2
  darwin compute packages uninstall id-abc123 7 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPackagesListCommand(opts), newPackagesInstallCommand(opts), newPackagesUninstallCommand(opts))
	return cmd
}

var packageColumns = []column{
	{header: "ID", keys: []string{"id"}},
	{header: "NAME", keys: []string{"name"}},
	{header: "VERSION", keys: []string{"version"}},
	{header: "SOURCE", keys: []string{"source"}},
	{header: "TYPE", keys: []string{"type"}},
	{header: "STATUS", keys: []string{"status"}},
	{header: "PATH", keys: []string{"path"}},
}

func newPackagesListCommand(opts *GlobalOptions) *cobra.Command {
	var (
		key, sortBy, sortOrder string
		offset, pageSize       int
	)
	cmd := &cobra.Command{
		Use:     "list CLUSTER_ID",
		Aliases: []string{"ls"},
		Short:   "List a cluster's packages",
		Long:    `List the packages of a cluster (GET /cluster/{id}/library) with their install status.`,
		Example: `  darwin compute packages list id-abc123
  darwin compute packages list id-abc123 --key pandas -o json`,
		Args: exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			if pageSize <= 0 {
				return fmt.Errorf("--page-size must be > 0, got %d", pageSize)
			}
			if offset < 0 {
				return fmt.Errorf("--offset must be >= 0, got %d", offset)
			}
			if sortOrder != "asc" && sortOrder != "desc" {
				return fmt.Errorf("--sort-order must be asc or desc, got %q", sortOrder)
			}
			q := url.Values{}
			q.Set("key", key)
			q.Set("sort_by", sortBy)
			q.Set("sort_order", sortOrder)
			q.Set("offset", strconv.Itoa(offset))
			q.Set("page_size", strconv.Itoa(pageSize))
			resp, err := e.api.do(ctx, request{method: http.MethodGet, path: clusterPath(args[0], "library"), query: q})
			if err != nil {
				return fmt.Errorf("list packages of cluster %s: %w", args[0], err)
			}
			return printResult(e, "", resp.Data, view{rows: listOf("packages"), columns: packageColumns, empty: "No packages."})
		}),
	}
	cmd.Flags().StringVar(&key, "key", "", "only packages whose name matches")
	cmd.Flags().StringVar(&sortBy, "sort-by", "created_at", "field to sort by")
	cmd.Flags().StringVar(&sortOrder, "sort-order", "desc", "asc or desc")
	cmd.Flags().IntVar(&offset, "offset", 0, "packages to skip")
	cmd.Flags().IntVar(&pageSize, "page-size", 10, "packages per page")
	return cmd
}

func newPackagesInstallCommand(opts *GlobalOptions) *cobra.Command {
	var source, name, version, path, repository, exclusions string
	cmd := &cobra.Command{
		Use:   "install CLUSTER_ID --source SOURCE (--name NAME | --path PATH)",
		Short: "Install a package on a cluster",
		Long: `Install a package on a cluster (POST /cluster/{id}/library/install).

Sources: pypi and maven need --name (maven: group:artifact, with --version and
--repository maven|spark); s3 and workspace need --path to a .whl, .txt, .jar,
.zip, .tar or .tar.gz file.`,
		Example: `  darwin compute packages install id-abc123 --source pypi --name pandas --version 2.2.2
  darwin compute packages install id-abc123 --source maven --name org.apache.commons:commons-csv --version 1.14.0
  darwin compute packages install id-abc123 --source s3 --path s3://bucket/wheels/mylib-1.0-py3-none-any.whl`,
		Args: exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if !oneOf(source, pkgSources) {
				return fmt.Errorf("--source must be one of %s, got %q", strings.Join(pkgSources, ", "), source)
			}
			opt := func(flag, v string) *string {
				if !cmd.Flags().Changed(flag) {
					return nil
				}
				return &v
			}
			w := pkgSpec{Source: source, Body: pkgBody{Name: opt("name", name), Version: opt("version", version), Path: opt("path", path)}}
			if repository != "" || exclusions != "" {
				if source != "maven" {
					return fmt.Errorf("--repository and --exclusions apply to --source maven only")
				}
				repo := repository
				if repo == "" {
					repo = "maven"
				}
				if repo != "maven" && repo != "spark" {
					return fmt.Errorf("--repository must be maven or spark, got %q", repository)
				}
				w.Body.Metadata = &pkgMetadata{Repository: repo, Exclusions: opt("exclusions", exclusions)}
			}
			if err := validatePackage("package", w); err != nil {
				flag := "--name"
				if source == "s3" || source == "workspace" {
					flag = "--path"
				}
				return fmt.Errorf("%s is required for --source %s", flag, source)
			}
			resp, err := e.api.do(ctx, request{method: http.MethodPost, path: clusterPath(args[0], "library", "install"), body: w})
			if err != nil {
				return fmt.Errorf("install package on cluster %s: %w", args[0], err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: []string{"id", "name", "version", "source", "type", "status", "path"}})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "pypi", "pypi, maven, s3 or workspace")
	f.StringVar(&name, "name", "", "package name (pypi, maven group:artifact)")
	f.StringVar(&version, "version", "", "package version")
	f.StringVar(&path, "path", "", "file path (s3, workspace) or index URL (pypi)")
	f.StringVar(&repository, "repository", "", "maven repository: maven or spark")
	f.StringVar(&exclusions, "exclusions", "", "maven exclusions (group:artifact,...)")
	return cmd
}

func newPackagesUninstallCommand(opts *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall CLUSTER_ID LIBRARY_ID...",
		Short: "Uninstall packages from a cluster",
		Long: `Uninstall packages by library id (PUT /cluster/{id}/library/uninstall); ids
are shown by 'packages list'. On a running cluster they are removed at the next
restart.`,
		Example: `  darwin compute packages uninstall id-abc123 7 8`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("%s takes CLUSTER_ID and at least one LIBRARY_ID; got %d argument(s)", cmd.CommandPath(), len(args))
			}
			return noBlank([]string{"CLUSTER_ID", "LIBRARY_ID"}, args)
		},
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			ids, err := parseIDs(args[1:])
			if err != nil {
				return err
			}
			resp, err := e.api.do(ctx, request{method: http.MethodPut, path: clusterPath(args[0], "library", "uninstall"), body: map[string]any{"id": ids}})
			if err != nil {
				return fmt.Errorf("uninstall packages from cluster %s: %w", args[0], err)
			}
			return printResult(e, resp.Message, resp.Data, view{rows: listOf("packages"), columns: packageColumns[:1], empty: "No packages uninstalled."})
		}),
	}
}

func newRemoteCommand(opts *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "command",
		Short: "Run shell commands on a cluster's nodes",
		Long:  `Run a shell command on a running cluster's head and/or worker nodes and follow its status.`,
		Example: `  darwin compute command run id-abc123 --target cluster -- pip install pandas
  darwin compute command status id-abc123 3f2a9c0e`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCommandRunCommand(opts), newCommandStatusCommand(opts))
	return cmd
}

var targets = []string{"head", "worker", "cluster"}

func newCommandRunCommand(opts *GlobalOptions) *cobra.Command {
	var (
		target  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run CLUSTER_ID [--target head|worker|cluster] -- COMMAND [ARG...]",
		Short: "Run a shell command on a cluster's nodes",
		Long: `Run a shell command on the cluster's head, workers or both
(POST /cluster/{id}/command/execute). Prints the execution id to follow with
'command status'.

A single COMMAND argument is sent as is, so it may use shell syntax
('pip install a && pip install b'); several arguments are quoted and joined.`,
		Example: `  darwin compute command run id-abc123 -- pip install pandas==2.2.2
  darwin compute command run id-abc123 --target head -- 'nvidia-smi > /tmp/gpu.txt'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("%s takes CLUSTER_ID and a COMMAND after --; got %d argument(s)", cmd.CommandPath(), len(args))
			}
			return noBlank([]string{"CLUSTER_ID", "COMMAND"}, args[:2])
		},
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			if !oneOf(target, targets) {
				return fmt.Errorf("--target must be head, worker or cluster, got %q", target)
			}
			secs := int(timeout / time.Second)
			if secs <= 0 {
				return fmt.Errorf("--timeout must be at least 1s, got %s", timeout)
			}
			body := map[string]any{
				"command": []string{joinCommand(args[1:])},
				"target":  target,
				"timeout": secs,
			}
			resp, err := e.api.do(ctx, request{method: http.MethodPost, path: clusterPath(args[0], "command", "execute"), body: body})
			if err != nil {
				return fmt.Errorf("run command on cluster %s: %w", args[0], err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: []string{"execution_id", "status"}})
		}),
	}
	cmd.Flags().StringVar(&target, "target", "cluster", "nodes to run on: head, worker or cluster (both)")
	cmd.Flags().DurationVar(&timeout, "timeout", 300*time.Second, "how long the command may run on the nodes")
	return cmd
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// joinCommand keeps a single argument verbatim (it may be a shell line) and
// single-quotes arguments of a multi-word command where needed.
func joinCommand(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	parts := make([]string, len(args))
	for i, a := range args {
		if shellSafe.MatchString(a) {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}

func newCommandStatusCommand(opts *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "status CLUSTER_ID EXECUTION_ID",
		Short:   "Show the status of a remote command",
		Long:    `Show a remote command's status (GET /cluster/{id}/command/{execution_id}/status): created, running, success or failed.`,
		Example: `  darwin compute command status id-abc123 3f2a9c0e`,
		Args:    exactArgs("CLUSTER_ID", "EXECUTION_ID"),
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			resp, err := e.api.do(ctx, request{method: http.MethodGet, path: clusterPath(args[0], "command", url.PathEscape(args[1]), "status")})
			if err != nil {
				return fmt.Errorf("get status of command %s on cluster %s: %w", args[1], args[0], err)
			}
			return printResult(e, "", resp.Data, view{fields: []string{"execution_id", "status"}})
		}),
	}
}
