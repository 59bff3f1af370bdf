package hermes

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const (
	groupMain = "main"
	groupFlat = "flat"
)

// addNested adds the original hermes-cli command tree.
func addNested(root *cobra.Command, g *globals) {
	root.AddGroup(&cobra.Group{ID: groupMain, Title: "Commands:"}, &cobra.Group{ID: groupFlat, Title: "README / CLI.md names (same commands, flat):"})

	env := group("environment", "Environment operations (create, get, update, delete)", "  hermes environment create --name local --domain-suffix .local --cluster-name kind\n  hermes environment get --name local")
	env.AddCommand(envCreateCmd(g, "create"), envGetCmd(g), envUpdateCmd(g), envDeleteCmd(g))

	cfg := group("config", "Serve infra config operations (create, get, update)", "  hermes config create --serve-name my-model --env local --cores 2 --memory 4 --min-replicas 1 --max-replicas 2\n  hermes config update --serve-name my-model --env local --max-replicas 4")
	cfg.AddCommand(configSaveCmd(g, "create", false), configGetCmd(g), configSaveCmd(g, "update", true))

	art := group("artifact", "Artifact operations (create, list, status, jobs)", "  hermes artifact create --serve-name my-model --version v1 --github-repo-url https://github.com/me/my-model\n  hermes artifact list --serve-name my-model")
	art.AddCommand(artifactCreateCmd(g, "create"), artifactListCmd(g), artifactStatusCmd(g, "status"), artifactJobsCmd(g))

	repo := group("repo", "Serve repository templates", "  hermes repo create --name my-model")
	repo.AddCommand(repoCreateCmd(g, "create"))

	for _, c := range []*cobra.Command{
		configureCmd(g), env, serveListCmd(g), serveCreateCmd(g, "create"), serveGetCmd(g), serveStatusCmd(g, "status"),
		serveUndeployCmd(g), cfg, art, deployCmd(g, "deploy"), deployModelCmd(g), undeployModelCmd(g),
		deploymentsCmd(g), repo,
	} {
		c.GroupID = groupMain
		root.AddCommand(c)
	}
}

// addFlat adds the flat command names of the seed README and CLI.md.
func addFlat(root *cobra.Command, g *globals) {
	for _, c := range []*cobra.Command{
		envCreateCmd(g, "create-environment"), serveCreateCmd(g, "create-serve"),
		configSaveCmd(g, "create-serve-config", false), configSaveCmd(g, "update-serve-config", true),
		artifactCreateCmd(g, "create-artifact"), deployCmd(g, "deploy-artifact"),
		serveStatusCmd(g, "get-serve-status"), artifactStatusCmd(g, "get-artifact-status"),
		repoCreateCmd(g, "create-serve-repo"),
	} {
		c.GroupID = groupFlat
		root.AddCommand(c)
	}
}

// need fails with a usage error naming the required flags that were not given.
func need(cmd *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		f := cmd.Flags().Lookup(n)
		if f == nil || f.Value.String() == "" || (!f.Changed && f.DefValue == "0") {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usagef("required flag(s) %s not set", strings.Join(missing, ", "))
	}
	return nil
}

func changed(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Changed
}

func cmdPath(cmd *cobra.Command) string { return cmd.CommandPath() }

// ---------------------------------------------------------------- environment

func envCreateCmd(g *globals, use string) *cobra.Command {
	var name, domain, cluster, ns, sg, redis, wf, subnets string
	c := &cobra.Command{
		Use:   use,
		Short: "Create an environment (POST /api/v1/environment)",
		Example: `  hermes ` + map[bool]string{true: "environment create", false: use}[use == "create"] +
			` --name local --domain-suffix .local --cluster-name kind --namespace serve`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "name"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			if redis == "" {
				redis = "redis://localhost:6379"
			}
			if wf == "" {
				wf = "http://workflow-service:8080"
			}
			cfg := map[string]any{
				"domain_suffix": domain, "cluster_name": cluster, "namespace": ns,
				"ft_redis_url": redis, "workflow_url": wf, "security_group": sg,
			}
			if changed(cmd, "subnets") {
				cfg["subnets"] = splitList(subnets)
			}
			r, err := s.api.do(cmd.Context(), http.MethodPost, "/environment", nil, map[string]any{"name": name, "environment_configs": cfg})
			if err != nil {
				return err
			}
			return s.print(orMsg(r.Message, fmt.Sprintf("Environment %q created", name)), r.Data, table{first: []string{"id", "name"}})
		},
	}
	f := c.Flags()
	f.StringVar(&name, "name", "", "environment name (required), e.g. local")
	f.StringVar(&domain, "domain-suffix", ".local", "domain suffix of service hosts")
	f.StringVar(&cluster, "cluster-name", "kind", "Kubernetes cluster name")
	f.StringVar(&ns, "namespace", "serve", "Kubernetes namespace")
	f.StringVar(&sg, "security-group", "", "security group id(s)")
	f.StringVar(&redis, "ft-redis-url", "", "feature-store Redis URL (default redis://localhost:6379)")
	f.StringVar(&wf, "workflow-url", "", "workflow service URL (default http://workflow-service:8080)")
	f.StringVar(&subnets, "subnets", "", "subnet ids, comma separated")
	return c
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func orMsg(msg, def string) string {
	if msg == "" || strings.EqualFold(msg, "success") {
		return def
	}
	return msg
}

func envGetCmd(g *globals) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "get",
		Short:   "Show an environment (GET /api/v1/environment/{name})",
		Example: `  hermes environment get --name local`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "name"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/environment/"+seg(name), nil, nil)
			if err != nil {
				return err
			}
			if r.Data == nil { // the server answers a bare null for an unknown environment
				return fmt.Errorf("environment %q not found", name)
			}
			return s.print("", r.Data, table{first: []string{"id", "name", "is_protected", "env_configs"}})
		},
	}
	c.Flags().StringVar(&name, "name", "", "environment name (required)")
	return c
}

func envUpdateCmd(g *globals) *cobra.Command {
	var name string
	fields := []struct{ flag, key, help string }{
		{"domain-suffix", "domain_suffix", "domain suffix"},
		{"cluster-name", "cluster_name", "Kubernetes cluster name"},
		{"namespace", "namespace", "Kubernetes namespace"},
		{"security-group", "security_group", "security group id(s)"},
		{"subnets", "subnets", "subnet ids, comma separated"},
		{"ft-redis-url", "ft_redis_url", "feature-store Redis URL"},
		{"workflow-url", "workflow_url", "workflow service URL"},
	}
	vals := make([]string, len(fields))
	c := &cobra.Command{
		Use:     "update",
		Short:   "Update an environment; only the given fields change (PATCH /api/v1/environment/{name})",
		Example: `  hermes environment update --name local --namespace serving`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "name"); err != nil {
				return err
			}
			body := map[string]any{}
			for i, f := range fields {
				if changed(cmd, f.flag) {
					if f.key == "subnets" {
						body[f.key] = splitList(vals[i])
					} else {
						body[f.key] = vals[i]
					}
				}
			}
			if len(body) == 0 {
				return usagef("nothing to update: give at least one of --domain-suffix, --cluster-name, --namespace, --security-group, --subnets, --ft-redis-url, --workflow-url")
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodPatch, "/environment/"+seg(name), nil, body)
			if err != nil {
				return err
			}
			return s.print(orMsg(r.Message, "Environment updated"), r.Data, table{})
		},
	}
	c.Flags().StringVar(&name, "name", "", "environment name (required)")
	for i, f := range fields {
		c.Flags().StringVar(&vals[i], f.flag, "", f.help)
	}
	return c
}

func envDeleteCmd(g *globals) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "delete",
		Short:   "Delete an environment; fails while it is referenced (DELETE /api/v1/environment/{name})",
		Example: `  hermes environment delete --name uat`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "name"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodDelete, "/environment/"+seg(name), nil, nil)
			if err != nil {
				return err
			}
			return s.print(orMsg(r.Message, fmt.Sprintf("Environment %q deleted", name)), r.Data, table{})
		},
	}
	c.Flags().StringVar(&name, "name", "", "environment name (required)")
	return c
}

// ---------------------------------------------------------------- serves

var serveColumns = []string{"id", "name", "type", "space", "description", "created_at"}

func serveListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List serves (GET /api/v1/serve)",
		Example: `  hermes list -o json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/serve", nil, nil)
			if err != nil {
				return err
			}
			return s.print("", r.Data, table{list: listAt("data"), columns: serveColumns, empty: "No serves."})
		},
	}
}

func serveCreateCmd(g *globals, use string) *cobra.Command {
	var name, typ, space, desc, file string
	c := &cobra.Command{
		Use:   use,
		Short: "Create a serve (POST /api/v1/serve)",
		Long: `Creates a serve. Values not given as flags come from --file (YAML/JSON with name, type, space,
description) or, without --file, from .hermes/serve_config.json of a generated serve repository.`,
		Example: `  hermes ` + use + ` --name my-model --type api --space serve --description "My ML model"`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var fileCfg map[string]any
			var err error
			if file != "" {
				if fileCfg, err = readStructured(file); err != nil {
					return err
				}
			} else if fileCfg, err = readProjectServeConfig(); err != nil {
				return err
			}
			pick := func(v, key string) string {
				if v != "" {
					return v
				}
				return str(fileCfg, key)
			}
			name, typ, space, desc = pick(name, "name"), pick(typ, "type"), pick(space, "space"), pick(desc, "description")
			var missing []string
			if name == "" {
				missing = append(missing, "--name")
			}
			if typ == "" {
				missing = append(missing, "--type")
			}
			if len(missing) > 0 {
				return usagef("required flag(s) %s not set", strings.Join(missing, ", "))
			}
			if typ != "api" && typ != "workflow" {
				return usagef("invalid --type %q: want api or workflow", typ)
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodPost, "/serve", nil, map[string]any{"name": name, "type": typ, "space": space, "description": desc})
			if err != nil {
				return err
			}
			return s.print(orMsg(r.Message, fmt.Sprintf("Serve %q created", name)), r.Data, table{first: serveColumns})
		},
	}
	f := c.Flags()
	f.StringVar(&name, "name", "", "serve name (letters, digits, '-'; no '_')")
	f.StringVar(&typ, "type", "", "serve type: api or workflow")
	f.StringVar(&space, "space", "", "serve space (team)")
	f.StringVar(&desc, "description", "", "serve description")
	f.StringVar(&file, "file", "", "serve config YAML/JSON (default .hermes/serve_config.json when present)")
	return c
}

func serveGetCmd(g *globals) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:     "get",
		Short:   "Show a serve and its infra configs (GET /api/v1/serve/{name})",
		Example: `  hermes get --name my-model`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "name"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/serve/"+seg(name), nil, nil)
			if err != nil {
				return err
			}
			if s.output != "table" {
				return s.print("", r.Data, table{})
			}
			obj, _ := r.Data.(map[string]any)
			if err := writeTable(s.out, mapAt(obj, "serve"), table{first: serveColumns}); err != nil {
				return err
			}
			fmt.Fprintln(s.out, "\nInfra configs:")
			return writeTable(s.out, obj, table{list: listAt("infra_configs"),
				columns: []string{"env", "type", "backend_type", "fast_api_config", "additional_hosts", "schedule"}, empty: "  none"})
		},
	}
	c.Flags().StringVar(&name, "name", "", "serve name (required)")
	return c
}

func serveStatusCmd(g *globals, use string) *cobra.Command {
	var name, env string
	c := &cobra.Command{
		Use:     use,
		Short:   "Show whether a serve is READY in an environment (GET /api/v1/serve/{name}/status/{env})",
		Example: `  hermes ` + use + ` --name my-model --env local`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "name", "env"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/serve/"+seg(name)+"/status/"+seg(env), nil, nil)
			if err != nil {
				return err
			}
			return s.print("", r.Data, table{first: []string{"status"}})
		},
	}
	c.Flags().StringVar(&name, "name", "", "serve name (required)")
	c.Flags().StringVar(&name, "serve-name", "", "alias of --name")
	c.Flags().StringVar(&env, "env", "", "environment (required)")
	_ = c.Flags().MarkHidden("serve-name")
	return c
}

func serveUndeployCmd(g *globals) *cobra.Command {
	var name, env string
	c := &cobra.Command{
		Use:     "undeploy",
		Short:   "Stop a serve's deployment in an environment (POST /api/v1/serve/{name}/undeploy/{env})",
		Example: `  hermes undeploy --name my-model --env local`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "name", "env"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodPost, "/serve/"+seg(name)+"/undeploy/"+seg(env), nil, nil)
			if err != nil {
				return err
			}
			return s.print(orMsg(r.Message, fmt.Sprintf("Serve %q undeployed from %q", name, env)), r.Data, table{})
		},
	}
	c.Flags().StringVar(&name, "name", "", "serve name (required)")
	c.Flags().StringVar(&env, "env", "", "environment (required)")
	return c
}

func deploymentsCmd(g *globals) *cobra.Command {
	var name, status string
	var page, limit int
	c := &cobra.Command{
		Use:     "deployments",
		Short:   "List a serve's deployments, newest first (GET /api/v1/serve/{name}/deployments)",
		Example: `  hermes deployments --serve-name my-model --status ACTIVE`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "serve-name"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(limit)}}
			if status != "" {
				q.Set("status", status)
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/serve/"+seg(name)+"/deployments", q, nil)
			if err != nil {
				return err
			}
			return s.print("", r.Data, table{list: listAt("data"), columns: []string{"artifact_version", "env", "status", "created_by", "created_at", "ended_at"}, empty: "No deployments."})
		},
	}
	c.Flags().StringVar(&name, "serve-name", "", "serve name (required)")
	c.Flags().StringVar(&status, "status", "", "only ACTIVE or ENDED deployments")
	c.Flags().IntVar(&page, "page", 1, "page number")
	c.Flags().IntVar(&limit, "limit", 50, "page size (at most 200)")
	return c
}

// ---------------------------------------------------------------- infra config

type apiConfigFlags struct {
	backend, capacity         string
	cores, memory, minR, maxR int
	hosts                     []string
	file                      string
}

var apiConfigFlagNames = []string{"backend-type", "cores", "memory", "node-capacity", "min-replicas", "max-replicas", "additional-hosts"}

func configSaveCmd(g *globals, use string, update bool) *cobra.Command {
	var serve, env string
	var a apiConfigFlags
	method, verb := http.MethodPost, "Create"
	if update {
		method, verb = http.MethodPatch, "Update"
	}
	nested := use == "create" || use == "update"
	example := "hermes " + use
	if nested {
		example = "hermes config " + use
	}
	c := &cobra.Command{
		Use:   use,
		Short: verb + " a serve's infra config for an environment (" + method + " /api/v1/serve/{name}/infra-config/{env})",
		Long: verb + ` a serve's API infra config. Values come from the flags, or from --file: a YAML/JSON request body
({api_serve_config: {...}} or {workflow_serve_config: {...}}), a flat {backend_type, cores, memory,
node_capacity_type, min_replicas, max_replicas}, or a .hermes/deployment_<env>.json; flags override the file.` +
			map[bool]string{true: `
update reads the current config first, so only the given values change; it re-applies an active deployment.`, false: ""}[update],
		Example: "  " + example + " --serve-name my-model --env local --backend-type fastapi --cores 2 --memory 4 --node-capacity spot --min-replicas 1 --max-replicas 2",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "serve-name", "env"); err != nil {
				return err
			}
			base := map[string]any{}
			if a.file != "" {
				m, err := readStructured(a.file)
				if err != nil {
					return err
				}
				if wf := mapAt(m, "workflow_serve_config"); wf != nil {
					for _, n := range apiConfigFlagNames {
						if changed(cmd, n) {
							return usagef("--%s does not apply to a workflow_serve_config file", n)
						}
					}
					return sendConfig(cmd, g, method, serve, env, map[string]any{"workflow_serve_config": wf})
				}
				base = flattenAPIConfig(m)
			} else if !update {
				if err := need(cmd, "cores", "memory", "min-replicas", "max-replicas"); err != nil {
					return fmt.Errorf("%w (or give --file)", err)
				}
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			if update && a.file == "" {
				r, err := s.api.do(cmd.Context(), http.MethodGet, "/serve/"+seg(serve)+"/infra-config/"+seg(env), nil, nil)
				if err != nil {
					return err
				}
				cur, _ := r.Data.(map[string]any)
				if strings.EqualFold(str(cur, "type"), "WORKFLOW") {
					return fmt.Errorf("serve %q has a workflow config in %q: update it with --file", serve, env)
				}
				base = flattenAPIConfig(map[string]any{"api_serve_config": cur})
			}
			overlay := map[string]any{}
			if changed(cmd, "backend-type") || base["backend_type"] == nil {
				overlay["backend_type"] = a.backend
			}
			if changed(cmd, "node-capacity") || base["node_capacity_type"] == nil {
				overlay["node_capacity_type"] = a.capacity
			}
			for flag, key := range map[string]string{"cores": "cores", "memory": "memory", "min-replicas": "min_replicas", "max-replicas": "max_replicas"} {
				if changed(cmd, flag) {
					v := map[string]int{"cores": a.cores, "memory": a.memory, "min-replicas": a.minR, "max-replicas": a.maxR}[flag]
					overlay[key] = int64(v)
				}
			}
			if changed(cmd, "additional-hosts") {
				overlay["additional_hosts"] = a.hosts
			}
			for k, v := range overlay {
				base[k] = v
			}
			return sendConfigWith(cmd, s, method, serve, env, nestAPIConfig(base))
		},
	}
	f := c.Flags()
	f.StringVar(&serve, "serve-name", "", "serve name (required)")
	f.StringVar(&env, "env", "", "environment (required)")
	f.StringVar(&a.backend, "backend-type", "fastapi", "backend type: fastapi or ray")
	f.IntVar(&a.cores, "cores", 0, "CPU cores per replica")
	f.IntVar(&a.memory, "memory", 0, "memory per replica in GB")
	f.StringVar(&a.capacity, "node-capacity", "spot", "node capacity type: spot or on-demand")
	f.IntVar(&a.minR, "min-replicas", 0, "minimum replicas")
	f.IntVar(&a.maxR, "max-replicas", 0, "maximum replicas")
	f.StringSliceVar(&a.hosts, "additional-hosts", nil, "extra ingress hosts, comma separated")
	f.StringVar(&a.file, "file", "", "infra config YAML/JSON")
	return c
}

// flattenAPIConfig reduces the accepted file shapes to the flat keys backend_type, cores, memory,
// node_capacity_type, min_replicas, max_replicas, additional_hosts.
func flattenAPIConfig(m map[string]any) map[string]any {
	if inf := mapAt(m, "infrastructure_config"); inf != nil {
		m = inf
	}
	if api := mapAt(m, "api_serve_config"); api != nil {
		m = api
	}
	out := map[string]any{}
	src := m
	if fc := mapAt(m, "fast_api_config"); fc != nil {
		src = fc
	}
	for _, k := range []string{"cores", "memory", "node_capacity_type", "min_replicas", "max_replicas"} {
		if v, ok := src[k]; ok {
			out[k] = v
		}
	}
	if v, ok := m["node_capacity"]; ok && out["node_capacity_type"] == nil {
		out["node_capacity_type"] = v
	}
	for _, k := range []string{"backend_type", "additional_hosts"} {
		if v, ok := m[k]; ok && v != nil {
			out[k] = v
		}
	}
	return out
}

func nestAPIConfig(flat map[string]any) map[string]any {
	fc := map[string]any{}
	for _, k := range []string{"cores", "memory", "node_capacity_type", "min_replicas", "max_replicas"} {
		if v, ok := flat[k]; ok {
			if n, ok := toInt(v); ok && k != "node_capacity_type" {
				v = n
			}
			fc[k] = v
		}
	}
	api := map[string]any{"backend_type": flat["backend_type"], "fast_api_config": fc}
	hosts := flat["additional_hosts"]
	if hosts == nil {
		hosts = []string{}
	}
	api["additional_hosts"] = hosts
	return map[string]any{"api_serve_config": api}
}

func sendConfig(cmd *cobra.Command, g *globals, method, serve, env string, body map[string]any) error {
	s, err := g.session(cmd)
	if err != nil {
		return err
	}
	return sendConfigWith(cmd, s, method, serve, env, body)
}

func sendConfigWith(cmd *cobra.Command, s *session, method, serve, env string, body map[string]any) error {
	r, err := s.api.do(cmd.Context(), method, "/serve/"+seg(serve)+"/infra-config/"+seg(env), nil, body)
	if err != nil {
		return err
	}
	def := fmt.Sprintf("Infra config of %q in %q saved", serve, env)
	return s.print(orMsg(r.Message, def), r.Data, table{first: []string{"env", "type", "backend_type", "fast_api_config"}})
}

func configGetCmd(g *globals) *cobra.Command {
	var serve, env string
	c := &cobra.Command{
		Use:     "get",
		Short:   "Show a serve's infra config for an environment (GET /api/v1/serve/{name}/infra-config/{env})",
		Example: `  hermes config get --serve-name my-model --env local`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "serve-name", "env"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/serve/"+seg(serve)+"/infra-config/"+seg(env), nil, nil)
			if err != nil {
				return err
			}
			return s.print("", r.Data, table{first: []string{"env", "type", "backend_type", "fast_api_config"}})
		},
	}
	c.Flags().StringVar(&serve, "serve-name", "", "serve name (required)")
	c.Flags().StringVar(&env, "env", "", "environment (required)")
	return c
}

// ---------------------------------------------------------------- artifacts

func artifactCreateCmd(g *globals, use string) *cobra.Command {
	var serve, version, repo, branch, filePath string
	ex := "hermes " + use
	if use == "create" {
		ex = "hermes artifact create"
	}
	c := &cobra.Command{
		Use:   use,
		Short: "Build an artifact (image) of a serve from git (POST /api/v1/artifact)",
		Long: `Starts an artifact build (api serves) or registers a workflow artifact. --serve-name and
--github-repo-url default to .hermes/serve_config.json of a generated serve repository.`,
		Example: "  " + ex + " --serve-name my-model --version v1 --github-repo-url https://github.com/me/my-model --branch main",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serve == "" || repo == "" {
				pc, err := readProjectServeConfig()
				if err != nil {
					return err
				}
				if serve == "" {
					serve = str(pc, "name")
				}
				if repo == "" {
					repo = str(pc, "github_repo_url")
				}
			}
			if serve == "" {
				return usagef("required flag(s) --serve-name not set (and no .hermes/serve_config.json)")
			}
			if err := need(cmd, "version"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			body := map[string]any{"serve_name": serve, "version": version}
			for k, v := range map[string]string{"github_repo_url": repo, "branch": branch, "file_path": filePath} {
				if v != "" {
					body[k] = v
				}
			}
			r, err := s.api.do(cmd.Context(), http.MethodPost, "/artifact", nil, body)
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("Artifact %s of %q created", version, serve)
			if obj, ok := r.Data.(map[string]any); ok && obj["job_id"] != nil {
				msg = fmt.Sprintf("Artifact build job %s started for %q version %s; follow it with: hermes artifact status --job-id %s", cell(obj["job_id"]), serve, version, cell(obj["job_id"]))
			}
			return s.print(orMsg(r.Message, msg), r.Data, table{})
		},
	}
	f := c.Flags()
	f.StringVar(&serve, "serve-name", "", "serve name (default: name in .hermes/serve_config.json)")
	f.StringVar(&version, "version", "", "artifact version (required)")
	f.StringVar(&repo, "github-repo-url", "", "git repository URL (default: .hermes/serve_config.json; later versions reuse the previous URL)")
	f.StringVar(&branch, "branch", "", "git branch (default main)")
	f.StringVar(&filePath, "file-path", "", "workflow file path (workflow serves)")
	return c
}

func artifactListCmd(g *globals) *cobra.Command {
	var serve string
	c := &cobra.Command{
		Use:     "list",
		Short:   "List a serve's artifacts (GET /api/v1/artifact/{serve})",
		Example: `  hermes artifact list --serve-name my-model`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "serve-name"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/artifact/"+seg(serve), nil, nil)
			if err != nil {
				return err
			}
			return s.print("", r.Data, table{list: listAt("data"), columns: []string{"version", "github_repo_url", "branch", "image_url", "created_at"}, empty: "No artifacts."})
		},
	}
	c.Flags().StringVar(&serve, "serve-name", "", "serve name (required)")
	return c
}

func artifactJobsCmd(g *globals) *cobra.Command {
	var serve, status string
	c := &cobra.Command{
		Use:     "jobs",
		Short:   "List artifact builder jobs (GET /api/v1/artifact_builder_job)",
		Example: `  hermes artifact jobs --serve-name my-model --status PENDING`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			if serve != "" {
				q.Set("serve_name", serve)
			}
			if status != "" {
				q.Set("status", status)
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/artifact_builder_job", q, nil)
			if err != nil {
				return err
			}
			return s.print("", r.Data, table{list: listAt("data"), columns: []string{"id", "serve__name", "version", "status", "task_id", "created_at"}, empty: "No artifact builder jobs."})
		},
	}
	c.Flags().StringVar(&serve, "serve-name", "", "only jobs of this serve")
	c.Flags().StringVar(&status, "status", "", "only jobs in this status: PENDING, SUCCESSFUL or FAILED")
	return c
}

func artifactStatusCmd(g *globals, use string) *cobra.Command {
	var job string
	ex := "hermes " + use
	if use == "status" {
		ex = "hermes artifact status"
	}
	c := &cobra.Command{
		Use:     use,
		Short:   "Show an artifact build job's status (GET /api/v1/artifact_builder_job/{id}/status)",
		Example: "  " + ex + " --job-id 3",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "job-id"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodGet, "/artifact_builder_job/"+seg(job)+"/status", nil, nil)
			if err != nil {
				return err
			}
			return s.print("", r.Data, table{first: []string{"version", "status", "logs_url"}})
		},
	}
	c.Flags().StringVar(&job, "job-id", "", "artifact builder job id (required)")
	return c
}

// ---------------------------------------------------------------- deployments

type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (w *waitFlags) register(c *cobra.Command, def bool) {
	help := "wait until the serve is READY, printing progress on stderr (--wait=false to return at once)"
	if !def {
		help = "wait until the serve is READY, printing progress on stderr"
	}
	c.Flags().BoolVar(&w.wait, "wait", def, help)
	c.Flags().DurationVar(&w.timeout, "timeout", DefaultWaitTimeout, "how long --wait waits")
}

func deployCmd(g *globals, use string) *cobra.Command {
	var serve, file, env, version string
	var w waitFlags
	c := &cobra.Command{
		Use:   use,
		Short: "Deploy an artifact version of a serve to an environment (POST /api/v1/serve/{name}/deploy)",
		Long: `Deploys an artifact. --file is a YAML/JSON deployment request {env, artifact_version,
api_serve_deployment_config: {deployment_strategy, deployment_strategy_config, environment_variables},
workflow_serve_deployment_config} or a .hermes/deployment_<env>.json ({deployment_config: {...}});
--env and --artifact-version override it. With --wait it then waits until the serve is READY (the original
returned at once, so that stays the default; deploy-model waits by default).`,
		Example: "  hermes " + use + " --serve-name my-model --file deploy.yaml\n  hermes " + use + " --serve-name my-model --env local --artifact-version v2 --wait",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "serve-name"); err != nil {
				return err
			}
			req := map[string]any{}
			if file != "" {
				m, err := readStructured(file)
				if err != nil {
					return err
				}
				if dc := mapAt(m, "deployment_config"); dc != nil {
					if e, ok := m["env"]; ok {
						dc["env"] = e
					}
					m = dc
				}
				for _, k := range []string{"env", "artifact_version", "api_serve_deployment_config", "workflow_serve_deployment_config"} {
					if v, ok := m[k]; ok && v != nil {
						req[k] = v
					}
				}
			}
			if env != "" {
				req["env"] = env
			}
			if version != "" {
				req["artifact_version"] = version
			}
			var missing []string
			for k, flag := range map[string]string{"env": "--env", "artifact_version": "--artifact-version"} {
				if str(req, k) == "" {
					missing = append(missing, flag)
				}
			}
			if len(missing) > 0 {
				return usagef("required flag(s) %s not set (or give them in --file)", strings.Join(missing, ", "))
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodPost, "/serve/"+seg(serve)+"/deploy", nil, req)
			if err != nil {
				return err
			}
			url := str(mapOf(r.Data), "service_url")
			fmt.Fprintf(s.err, "deployment of %q version %s to %q accepted: %s\n", serve, str(req, "artifact_version"), str(req, "env"), url)
			if w.wait {
				if err := s.waitReady(cmd.Context(), serve, str(req, "env"), w.timeout); err != nil {
					return err
				}
			}
			return s.print("", r.Data, table{first: []string{"service_url"}})
		},
	}
	f := c.Flags()
	f.StringVar(&serve, "serve-name", "", "serve name (required)")
	f.StringVar(&file, "file", "", "deployment request YAML/JSON")
	f.StringVar(&env, "env", "", "environment (overrides the file)")
	f.StringVar(&version, "artifact-version", "", "artifact version (overrides the file)")
	w.register(c, false)
	return c
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func deployModelCmd(g *globals) *cobra.Command {
	var serve, version, uri, env, storage, capacity string
	var cores, memory, minR, maxR int
	var w waitFlags
	c := &cobra.Command{
		Use:   "deploy-model",
		Short: "One-click deploy of an MLflow model: serve, config, artifact and deployment (POST /api/v1/serve/deploy-model)",
		Long: `Deploys an MLflow model with the platform's model runtime: creates the serve when missing, upserts
its artifact and infra config, and starts it; then waits until it is READY (see --wait).
Accepted model URIs: models:/<name>/<version|stage>, runs:/<run_id>/<path>, mlflow-artifacts:/<path>,
s3://, gs://, file://, http(s)://.`,
		Example: `  hermes deploy-model \
    --serve-name iris-classifier \
    --artifact-version v1 \
    --model-uri mlflow-artifacts:/1/2b2b1b5727a14c5ca81b44e899979745/artifacts/model \
    --cores 2 --memory 4 --node-capacity spot --min-replicas 1 --max-replicas 2`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "serve-name", "model-uri", "env", "artifact-version"); err != nil {
				return err
			}
			switch storage {
			case "auto", "emptydir", "pvc":
			default:
				return usagef("invalid --storage-strategy %q: want auto, emptydir or pvc", storage)
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			body := map[string]any{
				"env": env, "serve_name": serve, "artifact_version": version, "model_uri": uri,
				"storage_strategy": storage, "cores": cores, "memory": memory, "node_capacity": capacity,
				"min_replicas": minR, "max_replicas": maxR,
			}
			r, err := s.api.do(cmd.Context(), http.MethodPost, "/serve/deploy-model", nil, body)
			if err != nil {
				return err
			}
			name := strings.ToLower(serve)
			url := str(mapOf(r.Data), "service_url")
			fmt.Fprintf(s.err, "model %s deployed as %q version %s in %q: %s\n", uri, name, version, env, url)
			if w.wait {
				if err := s.waitReady(cmd.Context(), name, env, w.timeout); err != nil {
					return err
				}
			}
			return s.print("", r.Data, table{first: []string{"service_url"}})
		},
	}
	f := c.Flags()
	f.StringVar(&serve, "serve-name", "", "serve name (required; lower-cased, no '_')")
	f.StringVar(&version, "artifact-version", "v1", "version label of the one-click artifact")
	f.StringVar(&uri, "model-uri", "", "MLflow model URI (required)")
	f.StringVar(&env, "env", "local", "environment")
	f.StringVar(&storage, "storage-strategy", "auto", "model download storage: auto, emptydir or pvc")
	f.IntVar(&cores, "cores", 4, "CPU cores per replica (1-64)")
	f.IntVar(&memory, "memory", 8, "memory per replica in GB (1-512)")
	f.StringVar(&capacity, "node-capacity", "spot", "node capacity: spot or ondemand")
	f.IntVar(&minR, "min-replicas", 1, "minimum replicas (1-100)")
	f.IntVar(&maxR, "max-replicas", 1, "maximum replicas (1-100)")
	w.register(c, true)
	return c
}

func undeployModelCmd(g *globals) *cobra.Command {
	var serve, env string
	c := &cobra.Command{
		Use:     "undeploy-model",
		Short:   "Stop a one-click model deployment (POST /api/v1/serve/undeploy-model)",
		Example: `  hermes undeploy-model --serve-name iris-classifier --env local`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := need(cmd, "serve-name", "env"); err != nil {
				return err
			}
			s, err := g.session(cmd)
			if err != nil {
				return err
			}
			r, err := s.api.do(cmd.Context(), http.MethodPost, "/serve/undeploy-model", nil, map[string]any{"serve_name": serve, "env": env})
			if err != nil {
				return err
			}
			return s.print(orMsg(r.Message, fmt.Sprintf("Model serve %q undeployed from %q", serve, env)), r.Data, table{first: []string{"serve_name", "environment"}})
		},
	}
	c.Flags().StringVar(&serve, "serve-name", "", "serve name (required)")
	c.Flags().StringVar(&env, "env", "local", "environment")
	return c
}

// ---------------------------------------------------------------- configure

func configureCmd(g *globals) *cobra.Command {
	var token string
	c := &cobra.Command{
		Use:   "configure",
		Short: "Save the hermes token to ~/.hermes/credential.txt (and --url to ~/.hermes/config.yaml)",
		Long: `Writes HERMES_USER_TOKEN=<token> to ~/.hermes/credential.txt (mode 0600). The token is --token, else
$HERMES_USER_TOKEN, else it is asked for on stdin (an empty answer takes the local platform's default admin
token ` + DefaultToken + `). With --url the platform address is saved too.`,
		Example: `  export HERMES_USER_TOKEN=` + DefaultToken + `
  hermes configure
  hermes configure --token my-token --url http://localhost:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := g.opts.Out
			if out == nil {
				out = cmd.OutOrStdout()
			}
			tok := strings.TrimSpace(token)
			if tok == "" && !changed(cmd, "token") {
				tok = strings.TrimSpace(g.getenv(tokenEnv))
			}
			if tok == "" {
				if changed(cmd, "token") {
					return usagef("--token must not be empty")
				}
				in := g.opts.In
				if in == nil {
					in = cmd.InOrStdin()
				}
				fmt.Fprintf(out, "Hermes token [%s]: ", DefaultToken)
				line, err := readLine(in)
				if err != nil {
					return usagef("no token given: pass --token or set %s (reading stdin: %v)", tokenEnv, err)
				}
				fmt.Fprintln(out)
				if tok = strings.TrimSpace(line); tok == "" {
					tok = DefaultToken
				}
			}
			if strings.ContainsAny(tok, " \t\r\n") {
				return usagef("the token must not contain whitespace")
			}
			dir, err := g.hermesDir()
			if err != nil {
				return err
			}
			if changed(cmd, "url") {
				u := strings.TrimSpace(g.url)
				if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
					return usagef("invalid --url %q: want http:// or https://", u)
				}
				cfgPath := filepath.Join(dir, configFile)
				if err := writeFileAtomic(cfgPath, []byte("url: "+strconv.Quote(u)+"\n"), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(out, "Platform URL %s saved to %s\n", u, cfgPath)
			}
			p := filepath.Join(dir, credentialFile)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			if err := writeFileAtomic(p, []byte(tokenEnv+"="+tok+"\n"), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(out, "Token saved to %s\n", p)
			return nil
		},
	}
	c.Flags().StringVar(&token, "token", "", "token of an existing ml-serve user (default: $HERMES_USER_TOKEN, else asked)")
	return c
}
