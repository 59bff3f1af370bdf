package cli

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// EnvMLflowUser is the darwin_mlflow SDK's identity variable (it sets MLFLOW_TRACKING_USERNAME from it); the
// CLI falls back to it when neither --user nor DARWIN_USER is given.
const EnvMLflowUser = "user"

// NewMLflowCommand returns `mlflow` and its subcommands (experiment, run, model), which call the MLflow app
// layer at <url>/mlflow-app as the darwin_mlflow SDK does. Attach it to the root command that AddGlobalFlags
// was called on.
func NewMLflowCommand(opts *GlobalOptions) *cobra.Command { return newMLflowCommand(opts, os.Getenv) }

func newMLflowCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mlflow",
		Short: "Manage MLflow experiments, runs and registered models",
		Long: `Manage MLflow experiments, runs and registered models through Darwin's MLflow
app layer (<url>/mlflow-app), the calls the darwin_mlflow SDK makes.

Every call is made as --user (env DARWIN_USER, else the SDK's env "user"),
sent as the email header: it must be an email address. The creator of an
experiment owns it (MANAGE); other users may read it and log runs to it, but
only its owner may rename or delete it.

Reads print the response data as a table (default), JSON (-o json) or YAML (-o yaml).`,
		Example: `  darwin mlflow experiment create churn --user me@example.com
  darwin mlflow run create 1 --name baseline --tag team=growth
  darwin mlflow run log RUN_ID --metric rmse=0.25 --param alpha=0.5
  darwin mlflow model list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newMLflowExperimentCommand(opts, getenv), newMLflowRunCommand(opts, getenv), newMLflowModelCommand(opts, getenv))
	return cmd
}

// mlflowRunner is runner with the app-layer client and the caller's email.
func mlflowRunner(opts *GlobalOptions, getenv func(string) string, fn func(ctx context.Context, e *env, c *mlflowClient, args []string) error) func(*cobra.Command, []string) error {
	return runner(opts, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
		email := e.user
		userFlag := cmd.Flag("user")
		explicit := (userFlag != nil && userFlag.Changed) || getenv("DARWIN_USER") != ""
		if !explicit {
			if v := strings.TrimSpace(getenv(EnvMLflowUser)); v != "" {
				email = v
			}
		}
		if !strings.Contains(email, "@") {
			return fmt.Errorf("darwin mlflow calls are made as a user email: pass --user you@example.com or set DARWIN_USER (got %q)", email)
		}
		return fn(ctx, e, newMLflowClient(opts.BaseURL, opts.HTTPClient, email), args)
	})
}

var (
	experimentFields = []string{"experiment_id", "experiment_name", "artifact_location", "created_by", "lifecycle_stage"}
	runFields        = []string{"run_id", "run_name", "experiment_id", "status", "user_id", "lifecycle_stage", "artifact_uri", "metrics", "params", "tags"}
	modelColumns     = []column{
		{header: "NAME", keys: []string{"name"}},
		{header: "LATEST VERSION", keys: []string{"latest_version"}},
		{header: "DESCRIPTION", keys: []string{"description"}},
		{header: "TAGS", keys: []string{"tags"}},
		{header: "UPDATED", keys: []string{"last_updated_timestamp"}},
	}
)

func experimentPath(id string, rest ...string) string {
	p := "/v1/experiment/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// ------------------------------------------------------------------------------------------- experiments

func newMLflowExperimentCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "experiment",
		Short: "Create, get, rename and delete experiments",
		Long:  `Create, get, rename and delete MLflow experiments (POST/GET/PUT/DELETE <url>/mlflow-app/v1/experiment).`,
		Example: `  darwin mlflow experiment create churn
  darwin mlflow experiment get 1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an experiment owned by --user",
		Long:  `Create an experiment; --user becomes its owner (MANAGE). Prints its id.`,
		Example: `  darwin mlflow experiment create churn --user me@example.com
  darwin mlflow experiment create churn -o json`,
		Args: exactArgs("NAME"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			resp, err := c.do(ctx, http.MethodPost, "/v1/experiment", nil, map[string]string{"experiment_name": args[0]})
			if err != nil {
				return fmt.Errorf("create experiment: %w", err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: experimentFields})
		}),
	}
	get := &cobra.Command{
		Use:     "get EXPERIMENT_ID",
		Short:   "Show an experiment (id, name, artifact location, owner)",
		Long:    `Show an experiment: its id, name, artifact location, creator and lifecycle stage.`,
		Example: `  darwin mlflow experiment get 1`,
		Args:    exactArgs("EXPERIMENT_ID"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			resp, err := c.do(ctx, http.MethodGet, experimentPath(args[0]), nil, nil)
			if err != nil {
				return fmt.Errorf("get experiment: %w", err)
			}
			return printResult(e, "", resp.Data, view{fields: experimentFields})
		}),
	}
	var newName string
	update := &cobra.Command{
		Use:     "update EXPERIMENT_ID --name NEW_NAME",
		Short:   "Rename an experiment (owner only)",
		Long:    `Rename an experiment. Only users with MANAGE on it (its owner) may.`,
		Example: `  darwin mlflow experiment update 1 --name churn-v2`,
		Args:    exactArgs("EXPERIMENT_ID"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			if strings.TrimSpace(newName) == "" {
				return fmt.Errorf("--name is required")
			}
			resp, err := c.do(ctx, http.MethodPut, experimentPath(args[0]), nil, map[string]string{"experiment_name": newName})
			if err != nil {
				return fmt.Errorf("update experiment: %w", err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: experimentFields})
		}),
	}
	update.Flags().StringVar(&newName, "name", "", "the experiment's new name")
	del := &cobra.Command{
		Use:     "delete EXPERIMENT_ID",
		Short:   "Delete an experiment and its runs (owner only)",
		Long:    `Delete an experiment (and its runs). Only users with MANAGE on it (its owner) may; others get HTTP 403.`,
		Example: `  darwin mlflow experiment delete 1`,
		Args:    exactArgs("EXPERIMENT_ID"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			resp, err := c.do(ctx, http.MethodDelete, experimentPath(args[0]), nil, nil)
			if err != nil {
				return fmt.Errorf("delete experiment: %w", err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: []string{"experiment_id"}})
		}),
	}
	cmd.AddCommand(create, get, update, del)
	return cmd
}

// ---------------------------------------------------------------------------------------------------- runs

// parsePairs parses KEY=VALUE flags (the value may contain '=').
func parsePairs(flag string, items []string) ([][2]string, error) {
	out := make([][2]string, 0, len(items))
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("invalid --%s %q: want KEY=VALUE", flag, it)
		}
		out = append(out, [2]string{strings.TrimSpace(k), v})
	}
	return out, nil
}

func newMLflowRunCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Create, get, log to and delete runs",
		Long:  `Create runs in an experiment, log metrics and params to them, show and delete them.`,
		Example: `  darwin mlflow run create 1 --name baseline
  darwin mlflow run log RUN_ID --metric rmse=0.25 --param alpha=0.5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var (
		runName string
		tags    []string
	)
	create := &cobra.Command{
		Use:   "create EXPERIMENT_ID [--name NAME] [--tag KEY=VALUE ...]",
		Short: "Create a run in an experiment",
		Long:  `Create a run (status RUNNING) in an experiment as --user. A name is generated when --name is not given.`,
		Example: `  darwin mlflow run create 1 --name baseline --tag team=growth --tag model=ridge
  darwin mlflow run create 1 -o json`,
		Args: exactArgs("EXPERIMENT_ID"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			pairs, err := parsePairs("tag", tags)
			if err != nil {
				return err
			}
			body := map[string]any{}
			if runName != "" {
				body["run_name"] = runName
			}
			tagList := make([]map[string]string, 0, len(pairs))
			for _, p := range pairs {
				tagList = append(tagList, map[string]string{p[0]: p[1]})
			}
			body["tags"] = tagList
			resp, err := c.do(ctx, http.MethodPost, experimentPath(args[0], "run"), nil, body)
			if err != nil {
				return fmt.Errorf("create run: %w", err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: runFields, only: true})
		}),
	}
	create.Flags().StringVar(&runName, "name", "", "run name")
	create.Flags().StringArrayVar(&tags, "tag", nil, "run tag KEY=VALUE (repeatable)")
	get := &cobra.Command{
		Use:     "get EXPERIMENT_ID RUN_ID",
		Short:   "Show a run with its latest metrics, params and tags",
		Long:    `Show a run of an experiment: its status, owner, artifact URI, latest metric values, params and tags.`,
		Example: `  darwin mlflow run get 1 0123456789abcdef0123456789abcdef -o yaml`,
		Args:    exactArgs("EXPERIMENT_ID", "RUN_ID"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			resp, err := c.do(ctx, http.MethodGet, experimentPath(args[0], "run", args[1]), nil, nil)
			if err != nil {
				return fmt.Errorf("get run: %w", err)
			}
			return printResult(e, "", resp.Data, view{fields: runFields})
		}),
	}
	var (
		metrics, params []string
		step            int64
	)
	logCmd := &cobra.Command{
		Use:   "log RUN_ID [--metric KEY=VALUE ...] [--param KEY=VALUE ...]",
		Short: "Log metrics and params to a run",
		Long: `Log metrics (numbers, at --step) and params (immutable strings: key ≤ 255 bytes,
value ≤ 6000 bytes) to a run in one call; nothing is written when any is rejected.`,
		Example: `  darwin mlflow run log RUN_ID --metric rmse=0.25 --metric mae=0.1 --step 3
  darwin mlflow run log RUN_ID --param alpha=0.5`,
		Args: exactArgs("RUN_ID"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			mp, err := parsePairs("metric", metrics)
			if err != nil {
				return err
			}
			pp, err := parsePairs("param", params)
			if err != nil {
				return err
			}
			if len(mp)+len(pp) == 0 {
				return fmt.Errorf("nothing to log: give at least one --metric or --param")
			}
			body := map[string]any{}
			if len(mp) > 0 {
				list := make([]map[string]any, 0, len(mp))
				for _, p := range mp {
					f, err := strconv.ParseFloat(strings.TrimSpace(p[1]), 64)
					if err != nil {
						return fmt.Errorf("invalid --metric %s=%s: the value must be a number", p[0], p[1])
					}
					var v any = f
					if math.IsNaN(f) || math.IsInf(f, 0) {
						v = strconv.FormatFloat(f, 'g', -1, 64) // JSON has no NaN/Inf numbers; the server parses these strings
					}
					list = append(list, map[string]any{"key": p[0], "value": v, "step": step})
				}
				body["metrics"] = list
			}
			if len(pp) > 0 {
				list := make([]map[string]string, 0, len(pp))
				for _, p := range pp {
					list = append(list, map[string]string{"key": p[0], "value": p[1]})
				}
				body["params"] = list
			}
			resp, err := c.do(ctx, http.MethodPost, "/v1/run/"+url.PathEscape(args[0])+"/log-data", nil, body)
			if err != nil {
				return fmt.Errorf("log to run: %w", err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: []string{"run_id", "metrics", "params"}})
		}),
	}
	logCmd.Flags().StringArrayVar(&metrics, "metric", nil, "metric KEY=VALUE (repeatable)")
	logCmd.Flags().StringArrayVar(&params, "param", nil, "param KEY=VALUE (repeatable)")
	logCmd.Flags().Int64Var(&step, "step", 0, "step of the logged metrics")
	del := &cobra.Command{
		Use:     "delete EXPERIMENT_ID RUN_ID",
		Short:   "Delete a run (its creator or the experiment's owner)",
		Long:    `Delete a run. Its creator and users with MANAGE on the experiment may; others get HTTP 403.`,
		Example: `  darwin mlflow run delete 1 0123456789abcdef0123456789abcdef`,
		Args:    exactArgs("EXPERIMENT_ID", "RUN_ID"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			resp, err := c.do(ctx, http.MethodDelete, experimentPath(args[0], "run", args[1]), nil, nil)
			if err != nil {
				return fmt.Errorf("delete run: %w", err)
			}
			return printResult(e, resp.Message, resp.Data, view{fields: []string{"run_id"}})
		}),
	}
	cmd.AddCommand(create, get, logCmd, del)
	return cmd
}

// -------------------------------------------------------------------------------------------------- models

func newMLflowModelCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "List, search and show registered models",
		Long:  `List, search and show models of the MLflow model registry (GET <url>/mlflow-app/v1/models).`,
		Example: `  darwin mlflow model list
  darwin mlflow model search churn --tag team=growth
  darwin mlflow model get churn-model`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var maxResults int
	list := &cobra.Command{
		Use:     "list",
		Short:   "List registered models",
		Long:    `List registered models by name with their latest version, description and tags.`,
		Example: `  darwin mlflow model list -o json`,
		Args:    cobra.NoArgs,
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, _ []string) error {
			return listModels(ctx, e, c, url.Values{}, maxResults)
		}),
	}
	list.Flags().IntVar(&maxResults, "max-results", 0, "stop after this many models (default: all)")
	var (
		tags      []string
		searchMax int
	)
	search := &cobra.Command{
		Use:   "search [NAME] [--tag KEY=VALUE ...]",
		Short: "Search registered models by name and tags",
		Long: `Search registered models whose name contains NAME (case-insensitive; % and _
are wildcards) and that carry every --tag KEY=VALUE.`,
		Example: `  darwin mlflow model search churn
  darwin mlflow model search --tag team=growth`,
		Args: cobra.MaximumNArgs(1),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			pairs, err := parsePairs("tag", tags)
			if err != nil {
				return err
			}
			if len(args) == 0 && len(pairs) == 0 {
				return fmt.Errorf("give a NAME or at least one --tag (use 'model list' to list every model)")
			}
			q := url.Values{}
			if len(args) == 1 {
				if strings.TrimSpace(args[0]) == "" {
					return fmt.Errorf("NAME must not be empty")
				}
				q.Set("name", args[0])
			}
			for _, p := range pairs {
				q.Add("tags", p[0]+":"+p[1])
			}
			return listModels(ctx, e, c, q, searchMax)
		}),
	}
	search.Flags().StringArrayVar(&tags, "tag", nil, "required model tag KEY=VALUE (repeatable)")
	search.Flags().IntVar(&searchMax, "max-results", 0, "stop after this many models (default: all)")
	get := &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a registered model and its latest versions",
		Long:    `Show a registered model: description, tags, aliases and its latest version per stage.`,
		Example: `  darwin mlflow model get churn-model -o yaml`,
		Args:    exactArgs("NAME"),
		RunE: mlflowRunner(opts, getenv, func(ctx context.Context, e *env, c *mlflowClient, args []string) error {
			resp, err := c.do(ctx, http.MethodGet, "/v1/models/"+url.PathEscape(args[0]), nil, nil)
			if err != nil {
				return fmt.Errorf("get model: %w", err)
			}
			return printResult(e, "", resp.Data, view{fields: []string{"name", "latest_version", "description", "user_id", "tags", "aliases"}})
		}),
	}
	cmd.AddCommand(list, search, get)
	return cmd
}

// listModels pages through GET /v1/models and prints every model (up to limit when > 0).
func listModels(ctx context.Context, e *env, c *mlflowClient, q url.Values, limit int) error {
	if limit < 0 {
		return fmt.Errorf("--max-results must be >= 0")
	}
	var all []any
	for page := 0; ; page++ {
		if page > 10000 {
			return fmt.Errorf("list models: too many pages")
		}
		resp, err := c.do(ctx, http.MethodGet, "/v1/models", q, nil)
		if err != nil {
			return fmt.Errorf("list models: %w", err)
		}
		data := asMap(resp.Data)
		models, _ := data["models"].([]any)
		all = append(all, models...)
		tok, _ := data["next_page_token"].(string)
		if tok == "" || (limit > 0 && len(all) >= limit) {
			break
		}
		q.Set("page_token", tok)
	}
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	sort.SliceStable(all, func(i, j int) bool {
		return fmt.Sprint(asMap(all[i])["name"]) < fmt.Sprint(asMap(all[j])["name"])
	})
	if all == nil {
		all = []any{}
	}
	return printResult(e, "", map[string]any{"models": all}, view{rows: listOf("models"), columns: modelColumns, empty: "No registered models."})
}
