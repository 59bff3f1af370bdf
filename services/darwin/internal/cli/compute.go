package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const defaultWaitTimeout = 10 * time.Minute

// NewComputeCommand returns `compute` and its subcommands. Attach it to the
// root command that AddGlobalFlags was called on; opts is read when a
// command runs, after flags are parsed.
func NewComputeCommand(opts *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compute",
		Short: "Create and manage Ray compute clusters",
		Long: `Create and manage Ray compute clusters through the compute REST API
(<url>/compute), the same calls the darwin_compute Python SDK makes.

Reads print the response data as a table (default), JSON (-o json) or YAML (-o yaml).`,
		Example: `  darwin compute create -f cluster.yaml --wait
  darwin compute list
  darwin compute status id-abc123
  darwin compute dashboards id-abc123
  darwin compute stop id-abc123 --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCreateCommand(opts),
		newUpdateCommand(opts),
		newActionCommand(opts, "start", "start-cluster", statusActive),
		newActionCommand(opts, "stop", "stop-cluster", statusInactive),
		newActionCommand(opts, "restart", "restart-cluster", statusActive),
		newDeleteCommand(opts),
		newGetCommand(opts),
		newStatusCommand(opts),
		newListCommand(opts),
		newDashboardsCommand(opts),
		newRuntimesCommand(opts),
		newPackagesCommand(opts),
		newRemoteCommand(opts),
	)
	return cmd
}

// runner wraps a command body: it resolves the options, and silences cobra's
// usage dump for failures past argument validation (an API error is not a
// usage error).
func runner(opts *GlobalOptions, fn func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SilenceUsage = true
		e, err := opts.resolve(cmd)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		return fn(ctx, cmd, e, args)
	}
}

func clusterPath(id string, rest ...string) string {
	p := "/cluster/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// exactArgs is cobra.ExactArgs with the argument names in the message and a
// check that none is blank.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("%s takes %d argument(s): %s; got %d", cmd.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		return noBlank(names, args)
	}
}

func noBlank(names []string, args []string) error {
	for i, a := range args {
		if strings.TrimSpace(a) == "" {
			name := names[min(i, len(names)-1)]
			return fmt.Errorf("%s must not be empty", name)
		}
	}
	return nil
}

// readClusterFile reads path ("-" = stdin) and converts it with
// loadClusterRequest.
func readClusterFile(cmd *cobra.Command, path, user string) (any, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(cmd.InOrStdin())
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster file: %w", err)
	}
	return loadClusterRequest(b, user)
}

func addWaitFlags(cmd *cobra.Command, wait *bool, timeout *time.Duration, what string) {
	cmd.Flags().BoolVar(wait, "wait", false, "wait until the cluster is "+what+", printing each status change on stderr")
	cmd.Flags().DurationVar(timeout, "timeout", defaultWaitTimeout, "how long --wait waits before failing")
}

func checkTimeout(wait bool, timeout time.Duration) error {
	if wait && timeout <= 0 {
		return fmt.Errorf("--timeout must be > 0, got %s", timeout)
	}
	return nil
}

var clusterFields = []string{"cluster_id", "name", "cluster_name", "status"}

func newCreateCommand(opts *GlobalOptions) *cobra.Command {
	var (
		file    string
		noStart bool
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create a cluster from a YAML definition (and start it)",
		Long: `Create a cluster from a YAML file and, unless --no-start, start it.

The file is the darwin_compute SDK's cluster definition (what create_with_yaml
reads): name, tags, runtime, terminate_after_minutes, labels,
head_node.node{cores,memory,node_capacity_type}, worker_group[]{node, min_pods,
max_pods}, auto_termination_policies, advance_config{env_variables, log_path,
init_script[], instance_role, ray_start_params{object_store_memory_perc,
num_cpus_on_head}} and packages[]{source, body}. It is converted to the REST
ClusterRequest the SDK sends. A file whose top level has cluster_name is taken
as a REST ClusterRequest already and sent as is. Use -f - to read stdin.

Memory is in GB. The file's user (default: --user) owns the cluster.`,
		Example: `  # create and start, then wait until active
  darwin compute create -f cluster.yaml --wait

  # create without starting
  darwin compute create -f cluster.yaml --no-start -o json`,
		Args: cobra.NoArgs,
		RunE: runner(opts, func(ctx context.Context, cmd *cobra.Command, e *env, _ []string) error {
			if wait && noStart {
				return fmt.Errorf("--wait cannot be combined with --no-start")
			}
			if err := checkTimeout(wait, timeout); err != nil {
				return err
			}
			body, err := readClusterFile(cmd, file, e.user)
			if err != nil {
				return err
			}
			switch b := body.(type) {
			case *clusterRequest:
				b.StartCluster = !noStart
			case map[string]any:
				if noStart {
					b["start_cluster"] = false
				}
			}
			resp, err := e.api.do(ctx, request{method: http.MethodPost, path: "/cluster", body: body})
			if err != nil {
				return fmt.Errorf("create cluster: %w", err)
			}
			if err := printResult(e, resp.Message, resp.Data, view{fields: []string{"cluster_id"}}); err != nil {
				return err
			}
			if !wait {
				return nil
			}
			id, _ := lookup(asMap(resp.Data), "cluster_id").(string)
			if id == "" {
				return fmt.Errorf("create cluster: response has no cluster_id to wait for")
			}
			return waitFor(ctx, e, waitSpec{clusterID: id, target: statusActive, timeout: timeout})
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "cluster definition YAML (- for stdin)")
	_ = cmd.MarkFlagRequired("file")
	cmd.Flags().BoolVar(&noStart, "no-start", false, "create the cluster without starting it")
	addWaitFlags(cmd, &wait, &timeout, "active")
	return cmd
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func newUpdateCommand(opts *GlobalOptions) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "update CLUSTER_ID -f FILE",
		Short: "Replace a cluster's definition from a YAML file",
		Long: `Replace a cluster's definition (PUT /cluster/{id}) with the one in FILE, in the
same format as create. Changing the runtime, head node, worker groups or
advance_config restarts a running cluster; other changes only start it.`,
		Example: `  darwin compute update id-abc123 -f cluster.yaml`,
		Args:    exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			body, err := readClusterFile(cmd, file, e.user)
			if err != nil {
				return err
			}
			resp, err := e.api.do(ctx, request{method: http.MethodPut, path: clusterPath(args[0]), body: body, user: e.user})
			if err != nil {
				return fmt.Errorf("update cluster %s: %w", args[0], err)
			}
			msg := resp.Message
			if msg == "" {
				msg = "Cluster " + args[0] + " updated"
			}
			return printResult(e, msg, resp.Data, view{fields: clusterFields})
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "cluster definition YAML (- for stdin)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// newActionCommand builds start, stop and restart.
func newActionCommand(opts *GlobalOptions, name, endpoint, target string) *cobra.Command {
	var (
		wait    bool
		timeout time.Duration
	)
	verb := map[string]string{"start": "Start", "stop": "Stop", "restart": "Restart"}[name]
	cmd := &cobra.Command{
		Use:   name + " CLUSTER_ID",
		Short: verb + " a cluster",
		Long: fmt.Sprintf(`%s a cluster (POST /cluster/%s/{id}, sent as --user). With --wait, poll
its status until it is %s.`, verb, endpoint, target),
		Example: fmt.Sprintf(`  darwin compute %s id-abc123
  darwin compute %s id-abc123 --wait --timeout 5m`, name, name),
		Args: exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			if err := checkTimeout(wait, timeout); err != nil {
				return err
			}
			id := args[0]
			spec := waitSpec{clusterID: id, target: target, timeout: timeout}
			if wait && name == "restart" {
				// The cluster may still read active right after the request;
				// remember the run so the wait sees the new one.
				spec.needChange = true
				if st, err := getState(ctx, e, id); err == nil {
					spec.prevRunID = st.runID
				}
			}
			resp, err := e.api.do(ctx, request{method: http.MethodPost, path: "/cluster/" + endpoint + "/" + url.PathEscape(id), user: e.user})
			if err != nil {
				return fmt.Errorf("%s cluster %s: %w", name, id, err)
			}
			if err := printResult(e, resp.Message, resp.Data, view{}); err != nil {
				return err
			}
			if !wait {
				return nil
			}
			return waitFor(ctx, e, spec)
		}),
	}
	addWaitFlags(cmd, &wait, &timeout, target)
	return cmd
}

func newDeleteCommand(opts *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLUSTER_ID",
		Short: "Delete a stopped cluster",
		Long:  `Delete a cluster (DELETE /cluster/{id}). The cluster must be stopped (inactive).`,
		Example: `  darwin compute stop id-abc123 --wait
  darwin compute delete id-abc123`,
		Args: exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			resp, err := e.api.do(ctx, request{method: http.MethodDelete, path: clusterPath(args[0])})
			if err != nil {
				return fmt.Errorf("delete cluster %s: %w", args[0], err)
			}
			msg := resp.Message
			if msg == "" {
				msg = "Cluster " + args[0] + " deleted"
			}
			return printResult(e, msg, resp.Data, view{})
		}),
	}
}

func newGetCommand(opts *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get CLUSTER_ID",
		Short: "Show a cluster's definition",
		Long:  `Show a cluster's full definition and UI status (GET /cluster/{id}).`,
		Example: `  darwin compute get id-abc123
  darwin compute get id-abc123 -o yaml`,
		Args: exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			resp, err := e.api.do(ctx, request{method: http.MethodGet, path: clusterPath(args[0])})
			if err != nil {
				return fmt.Errorf("get cluster %s: %w", args[0], err)
			}
			if e.output != outputTable {
				return printResult(e, "", resp.Data, view{})
			}
			return printResult(e, "", summarizeCluster(asMap(resp.Data)), view{fields: []string{
				"cluster_id", "name", "status", "runtime", "user", "tags", "labels", "inactive_time",
				"head_node", "worker_groups", "init_script", "created_on", "is_job_cluster",
			}, only: true})
		}),
	}
}

// summarizeCluster flattens GET /cluster/{id} for the table view.
func summarizeCluster(c map[string]any) map[string]any {
	if c == nil {
		return nil
	}
	out := map[string]any{}
	for _, k := range []string{"cluster_id", "name", "status", "runtime", "user", "tags", "labels", "inactive_time", "created_on", "is_job_cluster"} {
		if v, ok := c[k]; ok {
			out[k] = v
		}
	}
	if h := asMap(c["head_node_config"]); h != nil {
		out["head_node"] = fmt.Sprintf("%s cores, %s GB, %s",
			cell(lookup(h, "head_node_cores", "cores")), cell(lookup(h, "head_node_memory", "memory")), cell(h["node_capacity_type"]))
	}
	if ws, ok := c["worker_node_configs"].([]any); ok {
		parts := make([]string, 0, len(ws))
		for _, w := range ws {
			m := asMap(w)
			parts = append(parts, fmt.Sprintf("%s cores, %s GB x %s..%s",
				cell(lookup(m, "cores", "cores_per_pods")), cell(lookup(m, "memory", "memory_per_pods")),
				cell(m["min_pods"]), cell(m["max_pods"])))
		}
		out["worker_groups"] = strings.Join(parts, "; ")
		if len(parts) == 0 {
			out["worker_groups"] = "none"
		}
	}
	if a := asMap(c["advance_config"]); a != nil {
		if s, ok := a["init_script"].(string); ok && s != "" {
			out["init_script"] = s
		}
	}
	return out
}

func newStatusCommand(opts *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "status CLUSTER_ID",
		Aliases: []string{"info"},
		Short:   "Show a cluster's runtime status",
		Long: `Show a cluster's status row (GET /cluster/{id}/metadata): the internal status
(inactive, creating, head_node_up, jupyter_up, active, ...), active pods and run id.`,
		Example: `  darwin compute status id-abc123`,
		Args:    exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			resp, err := e.api.do(ctx, request{method: http.MethodGet, path: clusterPath(args[0], "metadata")})
			if err != nil {
				return fmt.Errorf("get status of cluster %s: %w", args[0], err)
			}
			return printResult(e, "", resp.Data, view{fields: []string{
				"cluster_id", "cluster_name", "status", "active_pods", "available_memory", "active_cluster_runid", "artifact_id",
			}})
		}),
	}
}

func newListCommand(opts *GlobalOptions) *cobra.Command {
	var (
		query            string
		pageSize, offset int
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List clusters, newest first",
		Long:    `List clusters (POST /search, sorted by created_on descending like the SDK's get_all). --query matches names and tags.`,
		Example: `  darwin compute list
  darwin compute list --query demo --page-size 20 -o json`,
		Args: cobra.NoArgs,
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, _ []string) error {
			if pageSize <= 0 {
				return fmt.Errorf("--page-size must be > 0, got %d", pageSize)
			}
			if offset < 0 {
				return fmt.Errorf("--offset must be >= 0, got %d", offset)
			}
			body := map[string]any{
				"query":      query,
				"filters":    map[string]any{},
				"page_size":  pageSize,
				"offset":     offset,
				"sort_by":    "created_on",
				"sort_order": "desc",
			}
			resp, err := e.api.do(ctx, request{method: http.MethodPost, path: "/search", body: body})
			if err != nil {
				return fmt.Errorf("list clusters: %w", err)
			}
			return printResult(e, "", resp.Data, view{
				rows: listOf("data"),
				columns: []column{
					{header: "ID", keys: []string{"cluster_id"}},
					{header: "NAME", keys: []string{"name", "cluster_name"}},
					{header: "STATUS", keys: []string{"status"}},
					{header: "RUNTIME", keys: []string{"runtime"}},
					{header: "CORES", keys: []string{"total_cores", "cpu"}},
					{header: "MEMORY", keys: []string{"total_memory", "memory"}},
					{header: "USER", keys: []string{"create_by", "created_by", "user"}},
					{header: "CREATED", keys: []string{"created_on"}},
				},
				empty: "No clusters found.",
			})
		}),
	}
	cmd.Flags().StringVar(&query, "query", "", "search text matched against names and tags")
	cmd.Flags().IntVar(&pageSize, "page-size", 100, "clusters per page")
	cmd.Flags().IntVar(&offset, "offset", 0, "clusters to skip")
	return cmd
}

func newDashboardsCommand(opts *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "dashboards CLUSTER_ID",
		Short: "Show a cluster's Jupyter, Ray dashboard and other URLs",
		Long:  `Show a cluster's dashboard links (GET /cluster/{id}/dashboards): Jupyter Lab, Ray dashboard, Spark UI, Grafana, code server.`,
		Example: `  darwin compute dashboards id-abc123
  darwin compute dashboards id-abc123 -o json`,
		Args: exactArgs("CLUSTER_ID"),
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, args []string) error {
			resp, err := e.api.do(ctx, request{method: http.MethodGet, path: clusterPath(args[0], "dashboards")})
			if err != nil {
				return fmt.Errorf("get dashboards of cluster %s: %w", args[0], err)
			}
			return printResult(e, "", resp.Data, view{fields: []string{
				"jupyter_lab_url", "ray_dashboard_url", "spark_ui_url", "grafana_dashboard_url", "code_server_url", "resource_utilization_dashboard_url",
			}})
		}),
	}
}

func newRuntimesCommand(opts *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "runtimes",
		Short:   "List the runtimes a cluster can use",
		Long:    `List cluster runtimes (GET /get-runtimes), grouped by type (cpu, gpu, custom). Use a NAME as a cluster's runtime.`,
		Example: `  darwin compute runtimes`,
		Args:    cobra.NoArgs,
		RunE: runner(opts, func(ctx context.Context, _ *cobra.Command, e *env, _ []string) error {
			resp, err := e.api.do(ctx, request{method: http.MethodGet, path: "/get-runtimes"})
			if err != nil {
				return fmt.Errorf("list runtimes: %w", err)
			}
			return printResult(e, "", resp.Data, view{
				rows: flattenRuntimes,
				columns: []column{
					{header: "TYPE", keys: []string{"type"}},
					{header: "NAME", keys: []string{"name", "runtime"}},
					{header: "IMAGE", keys: []string{"image"}},
					{header: "CREATED BY", keys: []string{"created_by"}},
				},
				empty: "No runtimes found.",
			})
		}),
	}
}

// flattenRuntimes turns {cpu: [..], gpu: [..]} into rows with a type column:
// cpu, gpu, custom first, then any other type by name.
func flattenRuntimes(data any) []any {
	m := asMap(data)
	if m == nil {
		return listOf("")(data)
	}
	known := []string{"cpu", "gpu", "custom"}
	var types, others []string
	for _, t := range known {
		if _, ok := m[t]; ok {
			types = append(types, t)
		}
	}
	for t := range m {
		if !oneOf(t, known) {
			others = append(others, t)
		}
	}
	sort.Strings(others)
	var rows []any
	for _, t := range append(types, others...) {
		l, _ := m[t].([]any)
		for _, r := range l {
			row := map[string]any{"type": t}
			for k, v := range asMap(r) {
				row[k] = v
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("library id %q must be a positive integer", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
