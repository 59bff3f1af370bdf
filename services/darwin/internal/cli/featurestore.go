package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// NewFeatureStoreCommand returns `feature-store` and its subcommands (entity, feature-group, features,
// training-set, populate), which call the feature store's app (<url>/feature-store) and admin
// (<url>/feature-store-admin) REST APIs as the darwin_fs SDK does. Attach it to the root command that
// AddGlobalFlags was called on.
func NewFeatureStoreCommand(opts *GlobalOptions) *cobra.Command {
	return newFeatureStoreCommand(opts, os.Getenv)
}

func newFeatureStoreCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "feature-store",
		Aliases: []string{"fs"},
		Short:   "Manage entities and feature groups, read and write features",
		Long: `Manage the feature store through its REST APIs, the calls the darwin_fs SDK makes:
entities and feature groups on the admin API (<url>/feature-store-admin), online
feature reads and writes and training sets on the app API (<url>/feature-store),
and offline-to-online population runs.

` + EnvFeatureStoreURL + ` and ` + EnvFeatureStoreAdminURL + ` point at app and admin
hosts of their own (e.g. http://darwin-ofs-v2:8080) instead of <url>/feature-store[-admin].
Errors print the server's message and code, e.g. [FEATURE-GROUP-NOT-FOUND-EXCEPTION],
and exit 1. Reads print a table (default), JSON (-o json) or YAML (-o yaml).`,
		Example: `  darwin feature-store entity create -f entity.yaml --user me@example.com
  darwin feature-store feature-group create -f fg.yaml --upgrade
  darwin feature-store features write --file rows.json
  darwin feature-store features read --feature-group user_stats --columns clicks,spend --keys user_id=u1
  darwin feature-store training-set --file spine.json -o json
  darwin feature-store populate --source s3://bucket/stats/ --feature-group user_stats --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newFSEntityCommand(opts, getenv),
		newFSFeatureGroupCommand(opts, getenv),
		newFSFeaturesCommand(opts, getenv),
		newFSTrainingSetCommand(opts, getenv),
		newFSPopulateCommand(opts, getenv),
	)
	return cmd
}

// fsRunner is runner with the feature-store client.
func fsRunner(opts *GlobalOptions, getenv func(string) string, fn func(ctx context.Context, cmd *cobra.Command, e *env, c *fsClient, args []string) error) func(*cobra.Command, []string) error {
	return runner(opts, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
		base := opts.BaseURL
		if strings.TrimSpace(base) == "" {
			base = DefaultBaseURL
		}
		c := newFSClient(base, getenv(EnvFeatureStoreURL), getenv(EnvFeatureStoreAdminURL), opts.HTTPClient)
		for _, u := range []string{c.app, c.admin} {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return fmt.Errorf("invalid feature store URL %q: want http:// or https://", u)
			}
		}
		return fn(ctx, cmd, e, c, args)
	})
}

// ------------------------------------------------------------------------------------------------- input

// readDocument reads a JSON or YAML object from path ("-" = stdin). JSON keeps its numbers exact.
func readDocument(cmd *cobra.Command, flag, path string) (map[string]any, error) {
	if strings.TrimSpace(path) == "" {
		return nil, fmt.Errorf("--%s is required", flag)
	}
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
		return nil, fmt.Errorf("read --%s: %w", flag, err)
	}
	return parseDocument(b, path)
}

func parseDocument(b []byte, name string) (map[string]any, error) {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s is empty", name)
	}
	var v any
	if trimmed[0] == '{' || trimmed[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", name, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s: invalid JSON: more than one value", name)
		}
	} else if err := yaml.Unmarshal(trimmed, &v); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", name, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a JSON or YAML object, got %T", name, v)
	}
	// A YAML mapping with non-string keys cannot become JSON; say so here rather than as an encoding error.
	if _, err := json.Marshal(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return obj, nil
}

// wrapRequest turns a bare definition (an entity with tableName, a feature group with featureGroupName) into
// the create request {key: def, owner}, and fills a missing owner from --user when that is an email.
func wrapRequest(doc map[string]any, key, marker, user string) (map[string]any, error) {
	if _, bare := doc[marker]; bare {
		doc = map[string]any{key: doc}
	}
	if _, ok := doc[key].(map[string]any); !ok {
		return nil, fmt.Errorf("the file must hold the %s itself (with %s) or a create request {%s: ..., owner: ...}", key, marker, key)
	}
	if o, _ := doc["owner"].(string); strings.TrimSpace(o) == "" {
		if !strings.Contains(user, "@") {
			return nil, fmt.Errorf("owner is required: set owner in the file or pass --user you@example.com (got %q)", user)
		}
		doc["owner"] = user
	}
	return doc, nil
}

func splitList(items []string) []string {
	var out []string
	for _, it := range items {
		for _, p := range strings.Split(it, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// parseKeys parses --keys NAME=VALUE[,NAME=VALUE...] (one primary key per flag) into primaryKeys {names,
// values}. Every key must name the same columns in the same order; values go as strings (numeric columns
// accept numeric strings).
func parseKeys(items []string) (map[string]any, error) {
	var names []string
	values := make([][]any, 0, len(items))
	for i, it := range items {
		var rowNames []string
		var row []any
		for _, part := range strings.Split(it, ",") {
			k, v, ok := strings.Cut(part, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("invalid --keys %q: want NAME=VALUE[,NAME=VALUE...]", it)
			}
			rowNames = append(rowNames, strings.TrimSpace(k))
			row = append(row, v)
		}
		if i == 0 {
			names = rowNames
		} else if strings.Join(rowNames, ",") != strings.Join(names, ",") {
			return nil, fmt.Errorf("invalid --keys %q: every key must name %s in that order", it, strings.Join(names, ","))
		}
		values = append(values, row)
	}
	return map[string]any{"names": names, "values": values}, nil
}

// ------------------------------------------------------------------------------------------------ output

// printFS prints data as JSON or YAML, or calls table.
func printFS(e *env, data any, table func(w io.Writer) error) error {
	switch e.output {
	case outputJSON:
		return writeJSON(e.out, data)
	case outputYAML:
		return writeYAML(e.out, data)
	}
	tw := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	if err := table(tw); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func asMapAny(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// fsCell renders a table cell; epoch-millisecond timestamps (createdAt, updatedAt) as RFC 3339.
func fsCell(key string, v any) string {
	if n, ok := v.(int64); ok && n > 0 && (strings.HasSuffix(key, "At") || key == "timestamp") {
		return time.UnixMilli(n).UTC().Format(time.RFC3339)
	}
	return cell(v)
}

// writeFields prints key: value lines for keys present in obj (dotted keys look into nested objects).
func writeFields(w io.Writer, obj map[string]any, keys ...string) {
	for _, k := range keys {
		v := lookup(obj, k)
		if v == nil {
			continue
		}
		label := k[strings.LastIndex(k, ".")+1:]
		fmt.Fprintf(w, "%s:\t%s\n", label, fsCell(label, v))
	}
}

// writeColumns prints a blank line and a COLUMN/TYPE table of feature columns; pks marks key columns.
func writeColumns(w io.Writer, cols any, pks any) {
	list, _ := cols.([]any)
	if len(list) == 0 {
		return
	}
	isKey := map[string]bool{}
	if l, ok := pks.([]any); ok {
		for _, p := range l {
			isKey[fmt.Sprint(p)] = true
		}
	}
	fmt.Fprintln(w)
	if pks != nil {
		fmt.Fprintln(w, "COLUMN\tTYPE\tKEY\tDESCRIPTION\tTAGS")
	} else {
		fmt.Fprintln(w, "COLUMN\tTYPE\tDESCRIPTION\tTAGS")
	}
	for _, c := range list {
		m := asMapAny(c)
		name := cell(m["name"])
		if pks != nil {
			key := ""
			if isKey[name] {
				key = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", name, cell(m["type"]), key, cell(m["description"]), cell(m["tags"]))
		} else {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, cell(m["type"]), cell(m["description"]), cell(m["tags"]))
		}
	}
}

// writeRows prints a header and rows of values.
func writeRows(w io.Writer, header []string, rows [][]any) {
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = cell(v)
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
}

func stringsOf(v any) []string {
	if s, ok := v.([]string); ok {
		return s
	}
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// --------------------------------------------------------------------------------------------- entities

func newFSEntityCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "entity",
		Short: "Create and show entities (online tables and their primary keys)",
		Long:  `Create and show entities on the admin API (<url>/feature-store-admin/entity).`,
		Example: `  darwin feature-store entity create -f entity.yaml
  darwin feature-store entity get users -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var file string
	create := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create an entity from a JSON or YAML file",
		Long: `Create an entity (POST /feature-store-admin/entity). FILE ("-" = stdin) holds the
create request {entity: {tableName, features: [{name, type, description, tags}],
primaryKeys, ttl}, owner, tags, description} or just the entity; a missing owner
is --user (which must then be an email).`,
		Example: `  darwin feature-store entity create -f entity.yaml --user me@example.com
  cat entity.json | darwin feature-store entity create -f - -o json`,
		Args: cobra.NoArgs,
		RunE: fsRunner(opts, getenv, func(ctx context.Context, cmd *cobra.Command, e *env, c *fsClient, _ []string) error {
			doc, err := readDocument(cmd, "file", file)
			if err != nil {
				return err
			}
			body, err := wrapRequest(doc, "entity", "tableName", e.user)
			if err != nil {
				return err
			}
			resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodPost, path: "/entity", body: body})
			if err != nil {
				return fmt.Errorf("create entity: %w", err)
			}
			return printFS(e, resp.Data, func(w io.Writer) error {
				ent := asMapAny(asMapAny(resp.Data)["entity"])
				writeFields(w, ent, "tableName", "primaryKeys", "ttl")
				writeColumns(w, ent["features"], ent["primaryKeys"])
				return nil
			})
		}),
	}
	create.Flags().StringVarP(&file, "file", "f", "", `entity definition, JSON or YAML ("-" = stdin)`)
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show an entity with its metadata",
		Long:  `Show an entity's metadata: state, owner, tags, primary keys and columns (GET /feature-store-admin/entity/metadata?name=).`,
		Example: `  darwin feature-store entity get users
  darwin feature-store entity get users -o yaml`,
		Args: exactArgs("NAME"),
		RunE: fsRunner(opts, getenv, func(ctx context.Context, _ *cobra.Command, e *env, c *fsClient, args []string) error {
			resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodGet, path: "/entity/metadata", query: url.Values{"name": {args[0]}}})
			if err != nil {
				return fmt.Errorf("get entity: %w", err)
			}
			md := asMapAny(resp.Data)["metadata"]
			if md == nil {
				md = resp.Data
			}
			return printFS(e, md, func(w io.Writer) error {
				m := asMapAny(md)
				writeFields(w, m, "name", "state", "owner", "description", "tags", "entity.primaryKeys", "entity.ttl", "createdAt", "updatedAt")
				ent := asMapAny(m["entity"])
				writeColumns(w, ent["features"], ent["primaryKeys"])
				return nil
			})
		}),
	}
	cmd.AddCommand(create, get)
	return cmd
}

// ---------------------------------------------------------------------------------------- feature groups

func versionQuery(name, version string) url.Values {
	q := url.Values{"name": {name}}
	if version != "" {
		q.Set("version", version)
	}
	return q
}

func newFSFeatureGroupCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "feature-group",
		Aliases: []string{"fg"},
		Short:   "Create, show, version and archive feature groups",
		Long:    `Create feature groups (and new versions of them), show them, their schema and latest version, and change their state, on the admin API (<url>/feature-store-admin/feature-group).`,
		Example: `  darwin feature-store feature-group create -f fg.yaml
  darwin feature-store feature-group create -f fg.yaml --upgrade
  darwin feature-store feature-group schema user_stats --version v2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var (
		file    string
		upgrade bool
	)
	create := &cobra.Command{
		Use:   "create -f FILE [--upgrade]",
		Short: "Create a feature group (or, with --upgrade, its next version)",
		Long: `Create a feature group (POST /feature-store-admin/feature-group). FILE ("-" = stdin)
holds the create request {featureGroup: {featureGroupName, entityName, features,
versionEnabled, featureGroupType}, owner, tags, description} or just the feature
group; a missing owner is --user. The first registration is v1; --upgrade (header
upgrade: true) registers v(N+1) of an existing group.`,
		Example: `  darwin feature-store feature-group create -f fg.yaml
  darwin feature-store feature-group create -f fg.yaml --upgrade -o json`,
		Args: cobra.NoArgs,
		RunE: fsRunner(opts, getenv, func(ctx context.Context, cmd *cobra.Command, e *env, c *fsClient, _ []string) error {
			doc, err := readDocument(cmd, "file", file)
			if err != nil {
				return err
			}
			body, err := wrapRequest(doc, "featureGroup", "featureGroupName", e.user)
			if err != nil {
				return err
			}
			call := fsCall{admin: true, method: http.MethodPost, path: "/feature-group", body: body}
			if upgrade {
				call.headers = map[string]string{"upgrade": "true"}
			}
			resp, err := c.do(ctx, call)
			if err != nil {
				return fmt.Errorf("create feature group: %w", err)
			}
			return printFS(e, resp.Data, func(w io.Writer) error {
				d := asMapAny(resp.Data)
				writeFields(w, d, "featureGroup.featureGroupName", "version", "featureGroup.entityName", "featureGroup.featureGroupType", "featureGroup.versionEnabled")
				writeColumns(w, lookup(d, "featureGroup.features"), nil)
				return nil
			})
		}),
	}
	create.Flags().StringVarP(&file, "file", "f", "", `feature group definition, JSON or YAML ("-" = stdin)`)
	create.Flags().BoolVar(&upgrade, "upgrade", false, "register the next version of an existing feature group")

	var getVersion string
	get := &cobra.Command{
		Use:   "get NAME [--version vN]",
		Short: "Show a feature group version with its metadata",
		Long:  `Show a feature group version's metadata: state, owner, entity, type, tenant and features (GET /feature-store-admin/feature-group/metadata). Without --version, the latest.`,
		Example: `  darwin feature-store feature-group get user_stats
  darwin feature-store feature-group get user_stats --version v1 -o json`,
		Args: exactArgs("NAME"),
		RunE: fsRunner(opts, getenv, func(ctx context.Context, _ *cobra.Command, e *env, c *fsClient, args []string) error {
			resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodGet, path: "/feature-group/metadata", query: versionQuery(args[0], getVersion)})
			if err != nil {
				return fmt.Errorf("get feature group: %w", err)
			}
			md := asMapAny(resp.Data)["metadata"]
			if md == nil {
				md = resp.Data
			}
			return printFS(e, md, func(w io.Writer) error {
				m := asMapAny(md)
				writeFields(w, m, "name", "version", "state", "owner", "featureGroup.entityName", "featureGroupType", "versionEnabled", "description", "tags", "tenant", "createdAt", "updatedAt")
				writeColumns(w, lookup(m, "featureGroup.features"), nil)
				return nil
			})
		}),
	}
	get.Flags().StringVar(&getVersion, "version", "", "feature group version (vN); default the latest")

	var schemaVersion string
	schema := &cobra.Command{
		Use:   "schema NAME [--version vN]",
		Short: "Show the columns a feature group version reads and writes",
		Long:  `Show a feature group version's schema: the entity's columns and the group's features, with the primary keys marked (GET /feature-store-admin/feature-group/schema).`,
		Example: `  darwin feature-store feature-group schema user_stats
  darwin feature-store feature-group schema user_stats --version v2 -o yaml`,
		Args: exactArgs("NAME"),
		RunE: fsRunner(opts, getenv, func(ctx context.Context, _ *cobra.Command, e *env, c *fsClient, args []string) error {
			resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodGet, path: "/feature-group/schema", query: versionQuery(args[0], schemaVersion)})
			if err != nil {
				return fmt.Errorf("get feature group schema: %w", err)
			}
			return printFS(e, resp.Data, func(w io.Writer) error {
				d := asMapAny(resp.Data)
				writeFields(w, d, "version", "featureGroupType", "primaryKeys")
				pks := d["primaryKeys"]
				if pks == nil {
					pks = []any{}
				}
				writeColumns(w, d["schema"], pks)
				return nil
			})
		}),
	}
	schema.Flags().StringVar(&schemaVersion, "version", "", "feature group version (vN); default the latest")

	version := &cobra.Command{
		Use:     "version NAME",
		Short:   "Show a feature group's latest version",
		Long:    `Show a feature group's latest version (GET /feature-store-admin/feature-group/version?name=).`,
		Example: `  darwin feature-store feature-group version user_stats`,
		Args:    exactArgs("NAME"),
		RunE: fsRunner(opts, getenv, func(ctx context.Context, _ *cobra.Command, e *env, c *fsClient, args []string) error {
			resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodGet, path: "/feature-group/version", query: url.Values{"name": {args[0]}}})
			if err != nil {
				return fmt.Errorf("get feature group version: %w", err)
			}
			v := asMapAny(resp.Data)["version"]
			if v == nil {
				v = resp.Data
			}
			return printFS(e, v, func(w io.Writer) error {
				writeFields(w, asMapAny(v), "name", "latestVersion", "updatedAt")
				return nil
			})
		}),
	}

	var (
		state        string
		stateVersion string
	)
	updateState := &cobra.Command{
		Use:   "update-state NAME --state LIVE|ARCHIVED [--version vN]",
		Short: "Archive a feature group version or make it live again",
		Long: `Set a feature group version's state (PUT /feature-store-admin/feature-group?name=&version=).
Reads and writes of an ARCHIVED version fail with FEATURE-GROUP-STATE-EXCEPTION.`,
		Example: `  darwin feature-store feature-group update-state user_stats --state ARCHIVED --version v1
  darwin feature-store feature-group update-state user_stats --state LIVE`,
		Args: exactArgs("NAME"),
		RunE: fsRunner(opts, getenv, func(ctx context.Context, _ *cobra.Command, e *env, c *fsClient, args []string) error {
			st := strings.ToUpper(strings.TrimSpace(state))
			if st != "LIVE" && st != "ARCHIVED" {
				return fmt.Errorf("--state must be LIVE or ARCHIVED (got %q)", state)
			}
			resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodPut, path: "/feature-group", query: versionQuery(args[0], stateVersion), body: map[string]string{"state": st}})
			if err != nil {
				return fmt.Errorf("update feature group state: %w", err)
			}
			md := asMapAny(resp.Data)["metadata"]
			if md == nil {
				md = resp.Data
			}
			return printFS(e, md, func(w io.Writer) error {
				writeFields(w, asMapAny(md), "name", "version", "state", "updatedAt")
				return nil
			})
		}),
	}
	updateState.Flags().StringVar(&state, "state", "", "LIVE or ARCHIVED")
	updateState.Flags().StringVar(&stateVersion, "version", "", "feature group version (vN); default the latest")
	cmd.AddCommand(create, get, schema, version, updateState)
	return cmd
}

// ---------------------------------------------------------------------------------------------- features

func newFSFeaturesCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "features",
		Short: "Read and write online features",
		Long:  `Read features by primary key from the online store and write rows to it (<url>/feature-store/feature-group/read-features, write-features-v2).`,
		Example: `  darwin feature-store features read --feature-group user_stats --columns clicks,spend --keys user_id=u1 --keys user_id=u2
  darwin feature-store features write --file rows.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var (
		readFile    string
		readFG      string
		readVersion string
		readCols    []string
		readKeys    []string
	)
	read := &cobra.Command{
		Use:   "read (--file FILE | --feature-group NAME --columns C1,C2 --keys K=V ...)",
		Short: "Read features of some primary keys",
		Long: `Read features of primary keys (GET /feature-store/feature-group/read-features with a
JSON body, as the SDK sends it). Either --file FILE ("-" = stdin) with the request
{featureGroupName, featureGroupVersion, featureColumns, primaryKeys: {names, values}},
or flags: --feature-group, --version (default latest), --columns (comma-separated or
repeated) and one --keys NAME=VALUE[,NAME=VALUE...] per key (values are sent as
strings; numeric columns accept them). Keys without a row are listed on stderr.`,
		Example: `  darwin feature-store features read --feature-group user_stats --columns clicks,spend --keys user_id=u1 --keys user_id=u2
  darwin feature-store features read --feature-group txn --version v2 --columns amount --keys user_id=u1,day=20260101
  darwin feature-store features read --file read.json -o json`,
		Args: cobra.NoArgs,
		RunE: fsRunner(opts, getenv, func(ctx context.Context, cmd *cobra.Command, e *env, c *fsClient, _ []string) error {
			var body map[string]any
			flagsUsed := readFG != "" || readVersion != "" || len(readCols) > 0 || len(readKeys) > 0
			switch {
			case readFile != "" && flagsUsed:
				return fmt.Errorf("give either --file or --feature-group/--version/--columns/--keys, not both")
			case readFile != "":
				doc, err := readDocument(cmd, "file", readFile)
				if err != nil {
					return err
				}
				body = doc
			default:
				if strings.TrimSpace(readFG) == "" {
					return fmt.Errorf("--feature-group (or --file) is required")
				}
				cols := splitList(readCols)
				if len(cols) == 0 {
					return fmt.Errorf("--columns is required: the features to read")
				}
				if len(readKeys) == 0 {
					return fmt.Errorf("--keys is required: at least one NAME=VALUE primary key")
				}
				keys, err := parseKeys(readKeys)
				if err != nil {
					return err
				}
				body = map[string]any{"featureGroupName": readFG, "featureColumns": cols, "primaryKeys": keys}
				if readVersion != "" {
					body["featureGroupVersion"] = readVersion
				}
			}
			resp, err := c.do(ctx, fsCall{method: http.MethodGet, path: "/feature-group/read-features", body: body})
			if err != nil {
				return fmt.Errorf("read features: %w", err)
			}
			d := asMapAny(resp.Data)
			if failed, _ := d["failedKeys"].([]any); len(failed) > 0 {
				parts := make([]string, len(failed))
				for i, k := range failed {
					parts[i] = cell(k)
				}
				fmt.Fprintf(e.err, "%d key(s) not found: %s\n", len(failed), strings.Join(parts, " "))
			}
			return printFS(e, resp.Data, func(w io.Writer) error {
				keyNames := stringsOf(lookup(body, "primaryKeys.names"))
				header := append(append([]string{}, keyNames...), stringsOf(body["featureColumns"])...)
				var rows [][]any
				found, _ := d["successfulKeys"].([]any)
				for _, sk := range found {
					m := asMapAny(sk)
					key, _ := m["key"].([]any)
					feats, _ := m["features"].([]any)
					rows = append(rows, append(append([]any{}, key...), feats...))
				}
				if len(rows) == 0 {
					fmt.Fprintln(w, "No rows found.")
					return nil
				}
				writeRows(w, header, rows)
				return nil
			})
		}),
	}
	read.Flags().StringVarP(&readFile, "file", "f", "", `read request, JSON or YAML ("-" = stdin)`)
	read.Flags().StringVar(&readFG, "feature-group", "", "feature group name")
	read.Flags().StringVar(&readVersion, "version", "", "feature group version (vN); default the latest")
	read.Flags().StringArrayVar(&readCols, "columns", nil, "features to read, comma-separated (repeatable)")
	read.Flags().StringArrayVar(&readKeys, "keys", nil, "one primary key NAME=VALUE[,NAME=VALUE...] (repeatable)")

	var (
		writeFile    string
		writeFG      string
		writeVersion string
		writeRunID   string
	)
	write := &cobra.Command{
		Use:   "write --file FILE",
		Short: "Write feature rows to the online store",
		Long: `Write rows (POST /feature-store/feature-group/write-features-v2). FILE ("-" = stdin)
holds {featureGroupName, featureGroupVersion, features: {names, values: [[...], ...]},
runId}; --feature-group, --version and --run-id override those fields. Names must
include every primary-key column. One bad value rejects the whole request; rows
the store failed to write make the command exit 1.`,
		Example: `  darwin feature-store features write --file rows.json
  darwin feature-store features write --file rows.yaml --feature-group user_stats --version v2 -o json`,
		Args: cobra.NoArgs,
		RunE: fsRunner(opts, getenv, func(ctx context.Context, cmd *cobra.Command, e *env, c *fsClient, _ []string) error {
			body, err := readDocument(cmd, "file", writeFile)
			if err != nil {
				return err
			}
			for k, v := range map[string]string{"featureGroupName": writeFG, "featureGroupVersion": writeVersion, "runId": writeRunID} {
				if v != "" {
					body[k] = v
				}
			}
			resp, err := c.do(ctx, fsCall{method: http.MethodPost, path: "/feature-group/write-features-v2", body: body})
			if err != nil {
				return fmt.Errorf("write features: %w", err)
			}
			d := asMapAny(resp.Data)
			ok, _ := d["successfulRows"].([]any)
			failed, _ := d["failedRows"].([]any)
			if err := printFS(e, resp.Data, func(w io.Writer) error {
				fmt.Fprintf(w, "featureGroupName:\t%s\n", cell(d["featureGroupName"]))
				fmt.Fprintf(w, "featureGroupVersion:\t%s\n", cell(d["featureGroupVersion"]))
				fmt.Fprintf(w, "successfulRows:\t%d\n", len(ok))
				fmt.Fprintf(w, "failedRows:\t%d\n", len(failed))
				return nil
			}); err != nil {
				return err
			}
			if len(failed) > 0 {
				return fmt.Errorf("write features: %d of %d row(s) failed", len(failed), len(ok)+len(failed))
			}
			return nil
		}),
	}
	write.Flags().StringVarP(&writeFile, "file", "f", "", `write request, JSON or YAML ("-" = stdin)`)
	write.Flags().StringVar(&writeFG, "feature-group", "", "feature group name (overrides the file)")
	write.Flags().StringVar(&writeVersion, "version", "", "feature group version (overrides the file)")
	write.Flags().StringVar(&writeRunID, "run-id", "", "run id recorded with the write (overrides the file)")
	cmd.AddCommand(read, write)
	return cmd
}

// ----------------------------------------------------------------------------------------- training set

func newFSTrainingSetCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	var (
		file, parquetOut string
		ignoreTTL        bool
	)
	cmd := &cobra.Command{
		Use:   "training-set --file FILE [--parquet OUT] [--ignore-ttl]",
		Short: "Build a point-in-time correct training set from historical features",
		Long: `Join historical feature values onto entity rows as of each row's timestamp
(POST /feature-store/feature-group/historical-features). FILE ("-" = stdin) holds
{entityRows: {names, values: [[...], ...]}, timestampColumn, features:
["<feature-group>:<version>:<column>" or "<feature-group>:<column>", ...]}; the reply
{columns, rows} prints as a table, or whole with -o json / -o yaml. --parquet OUT asks
for the training set as a Parquet file and writes it to OUT ("-" = stdout);
--ignore-ttl also returns values older than the entity's TTL.`,
		Example: `  darwin feature-store training-set --file spine.json
  darwin feature-store training-set --file spine.yaml -o json > training.json
  darwin feature-store training-set --file spine.json --parquet training.parquet`,
		Args: cobra.NoArgs,
		RunE: fsRunner(opts, getenv, func(ctx context.Context, cmd *cobra.Command, e *env, c *fsClient, _ []string) error {
			body, err := readDocument(cmd, "file", file)
			if err != nil {
				return err
			}
			if _, ok := body["entityRows"].(map[string]any); !ok {
				return fmt.Errorf("the file needs entityRows: {names, values}")
			}
			if fs, _ := body["features"].([]any); len(fs) == 0 {
				return fmt.Errorf(`the file needs features: ["<feature-group>:<version>:<column>", ...]`)
			}
			if ignoreTTL {
				body["ignoreTtl"] = true
			}
			if parquetOut != "" {
				body["format"] = "parquet"
			}
			resp, err := c.do(ctx, fsCall{method: http.MethodPost, path: "/feature-group/historical-features", body: body, raw: parquetOut != ""})
			if err != nil {
				return fmt.Errorf("build training set: %w", err)
			}
			if parquetOut != "" {
				if parquetOut == "-" {
					_, err = e.out.Write(resp.Raw)
				} else {
					err = os.WriteFile(parquetOut, resp.Raw, 0o644)
				}
				if err != nil {
					return fmt.Errorf("write training set: %w", err)
				}
				if parquetOut != "-" {
					fmt.Fprintf(e.err, "wrote %d bytes of Parquet to %s\n", len(resp.Raw), parquetOut)
				}
				return nil
			}
			return printFS(e, resp.Data, func(w io.Writer) error {
				d := asMapAny(resp.Data)
				list, _ := d["rows"].([]any)
				rows := make([][]any, 0, len(list))
				for _, r := range list {
					row, _ := r.([]any)
					rows = append(rows, row)
				}
				writeRows(w, stringsOf(d["columns"]), rows)
				return nil
			})
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `training-set request, JSON or YAML ("-" = stdin)`)
	cmd.Flags().StringVar(&parquetOut, "parquet", "", `write the training set as a Parquet file to this path ("-" = stdout)`)
	cmd.Flags().BoolVar(&ignoreTTL, "ignore-ttl", false, "include feature values older than the entity's TTL")
	return cmd
}

// ---------------------------------------------------------------------------------------------- populate

// populateDone are the terminal populator run states.
var populateDone = map[string]bool{"SUCCESS": true, "FAILED": true}

func newFSPopulateCommand(opts *GlobalOptions, getenv func(string) string) *cobra.Command {
	var (
		source, fg, version, runID, tsCol, mode string
		wait                                    bool
		timeout                                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "populate --source URI --feature-group NAME [--version vN] [--run-id ID] [--timestamp-column COL] [--wait]",
		Short: "Load a Parquet source into a feature group's online store",
		Long: `Start a populator run (POST /feature-store-admin/populator/run) that loads the
Parquet files at --source into the feature group version's online store. With
--wait, poll the run (GET /feature-store-admin/populator/run?runId=) every second,
printing progress (rows done/total, rows/s) to stderr, until it is SUCCESS
(exit 0) or FAILED (exit 1), or --timeout passes.`,
		Example: `  darwin feature-store populate --source s3://features/user_stats/ --feature-group user_stats
  darwin feature-store populate --source /data/stats.parquet --feature-group user_stats --version v2 --timestamp-column ts --wait`,
		Args: cobra.NoArgs,
		RunE: fsRunner(opts, getenv, func(ctx context.Context, _ *cobra.Command, e *env, c *fsClient, _ []string) error {
			if strings.TrimSpace(source) == "" || strings.TrimSpace(fg) == "" {
				return fmt.Errorf("--source and --feature-group are required")
			}
			if timeout < 0 {
				return fmt.Errorf("--timeout must be >= 0")
			}
			body := map[string]any{"source": source, "featureGroupName": fg}
			for k, v := range map[string]string{"featureGroupVersion": version, "runId": runID, "timestampColumn": tsCol, "mode": mode} {
				if v != "" {
					body[k] = v
				}
			}
			resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodPost, path: "/populator/run", body: body})
			if err != nil {
				return fmt.Errorf("start populator run: %w", err)
			}
			run := asMapAny(resp.Data)
			if !wait {
				return printRun(e, resp.Data)
			}
			id, _ := run["runId"].(string)
			if id == "" {
				return fmt.Errorf("start populator run: the reply has no runId")
			}
			final, err := waitPopulate(ctx, e, c, id, run, timeout)
			if err != nil {
				return err
			}
			if err := printRun(e, final); err != nil {
				return err
			}
			if st, _ := asMapAny(final)["status"].(string); st == "FAILED" {
				msg, _ := lookup(asMapAny(final), "error", "errorMessage", "message").(string)
				if msg == "" {
					msg = "no error message"
				}
				return fmt.Errorf("populator run %s failed: %s", id, msg)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "Parquet file or directory (local path, file://, s3://)")
	f.StringVar(&fg, "feature-group", "", "feature group name")
	f.StringVar(&version, "version", "", "feature group version (vN); default the latest")
	f.StringVar(&runID, "run-id", "", "run id; default generated by the server")
	f.StringVar(&tsCol, "timestamp-column", "", "event-time column kept for historical (training-set) reads")
	f.StringVar(&mode, "mode", "", "write path: direct (online store) or kafka (through the consumer); default the server's")
	f.BoolVar(&wait, "wait", false, "wait for the run to finish, printing progress to stderr")
	f.DurationVar(&timeout, "timeout", time.Hour, "with --wait, give up after this long (0 = never)")
	return cmd
}

func printRun(e *env, data any) error {
	return printFS(e, data, func(w io.Writer) error {
		m := asMapAny(data)
		first := []string{"runId", "status", "featureGroupName", "featureGroupVersion", "source", "mode", "rowsDone", "rowsTotal", "failedRows", "rowsPerSecond", "error"}
		writeFields(w, m, first...)
		seen := map[string]bool{}
		for _, k := range first {
			seen[k] = true
		}
		rest := make([]string, 0, len(m))
		for k := range m {
			if !seen[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		writeFields(w, m, rest...)
		return nil
	})
}

func int64Of(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case float64:
		return int64(t), true
	}
	return 0, false
}

// waitPopulate polls the run until a terminal status, printing a progress line whenever status or rows change.
func waitPopulate(ctx context.Context, e *env, c *fsClient, id string, run map[string]any, timeout time.Duration) (any, error) {
	start := e.clock.Now()
	elapsed := func() time.Duration { return e.clock.Now().Sub(start) }
	fmt.Fprintf(e.err, "waiting for populator run %s", id)
	if timeout > 0 {
		fmt.Fprintf(e.err, " (timeout %s)", timeout)
	}
	fmt.Fprintln(e.err)
	var (
		lastLine, lastErr string
		current           any = run
	)
	for {
		m := asMapAny(current)
		status, _ := m["status"].(string)
		line := status
		if done, ok := int64Of(m["rowsDone"]); ok {
			line += fmt.Sprintf(" %d", done)
			if total, ok := int64Of(m["rowsTotal"]); ok && total > 0 {
				line += fmt.Sprintf("/%d rows (%.0f%%)", total, 100*float64(done)/float64(total))
			} else {
				line += " rows"
			}
			if rate, ok := m["rowsPerSecond"].(float64); ok && rate > 0 {
				line += fmt.Sprintf(", %.0f rows/s", rate)
			} else if rate, ok := int64Of(m["rowsPerSecond"]); ok && rate > 0 {
				line += fmt.Sprintf(", %d rows/s", rate)
			} else if secs := elapsed().Seconds(); secs > 0 {
				line += fmt.Sprintf(", %.0f rows/s", float64(done)/secs)
			}
			if failed, ok := int64Of(m["failedRows"]); ok && failed > 0 {
				line += fmt.Sprintf(", %d failed", failed)
			}
		}
		if line != lastLine && status != "" {
			fmt.Fprintf(e.err, "[%6.1fs] %s\n", elapsed().Seconds(), line)
			lastLine = line
		}
		if populateDone[status] {
			return current, nil
		}
		if timeout > 0 && elapsed() >= timeout {
			return nil, fmt.Errorf("wait for populator run %s: timed out after %s (last status %s)", id, timeout, orDash(status))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for populator run %s: %w", id, ctx.Err())
		case <-e.clock.After(e.interval):
		}
		resp, err := c.do(ctx, fsCall{admin: true, method: http.MethodGet, path: "/populator/run", query: url.Values{"runId": {id}}})
		if err != nil {
			if fe, ok := err.(*FeatureStoreError); ok && fe.StatusCode >= 400 && fe.StatusCode < 500 {
				return nil, fmt.Errorf("wait for populator run %s: %w", id, err)
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("wait for populator run %s: %w", id, ctx.Err())
			}
			if msg := err.Error(); msg != lastErr {
				fmt.Fprintf(e.err, "[%6.1fs] poll error (retrying): %s\n", elapsed().Seconds(), msg)
				lastErr = msg
			}
			continue
		}
		lastErr = ""
		current = resp.Data
	}
}

func orDash(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
