package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// fsOK is a feature-store success reply {"data": data}.
func fsOK(data string) reply { return reply{status: 200, body: `{"data":` + data + `}`} }

// fsFail is a feature-store error envelope.
func fsFail(status int, message, cause, code string) reply {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": message, "cause": cause, "code": code}})
	return reply{status: status, body: string(b)}
}

// runFSCLI runs `darwin args...` with the feature-store command tree and the given environment.
func runFSCLI(t *testing.T, environ map[string]string, stdin string, args ...string) runResult {
	t.Helper()
	opts := &GlobalOptions{}
	root := &cobra.Command{Use: "darwin", SilenceErrors: true, SilenceUsage: true}
	getenv := func(k string) string { return environ[k] }
	addGlobalFlags(root, opts, getenv)
	root.AddCommand(newFeatureStoreCommand(opts, getenv))
	opts.Clock = newFakeClock()
	opts.PollInterval = 2_000_000_000 // 2 s on the fake clock
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return runResult{stdout: out.String(), stderr: errb.String(), err: err}
}

const (
	fsEntityData = `{"entity":{"tableName":"users","primaryKeys":["user_id"],"ttl":86400,"features":[{"name":"user_id","type":"TEXT","description":"the user","tags":[]},{"name":"country","type":"TEXT","description":"","tags":[]}]}}`
	fsEntityMeta = `{"name":"users","state":"LIVE","owner":"me@example.com","tags":["core"],"description":"app users","createdAt":1767225600000,"updatedAt":1767225600000,"entity":{"tableName":"users","primaryKeys":["user_id"],"features":[{"name":"user_id","type":"TEXT","description":"","tags":[]}]}}`
	fsFGData     = `{"featureGroup":{"featureGroupName":"user_stats","versionEnabled":true,"featureGroupType":"ONLINE","entityName":"users","features":[{"name":"clicks","type":"BIGINT","description":"","tags":[]},{"name":"spend","type":"DOUBLE","description":"","tags":["money"]}]},"version":"v2"}`
	fsFGMeta     = `{"name":"user_stats","version":"v1","versionEnabled":true,"featureGroupType":"ONLINE","featureGroup":{"featureGroupName":"user_stats","entityName":"users","features":[{"name":"clicks","type":"BIGINT","description":"","tags":[]}]},"owner":"team@example.com","state":"LIVE","tags":[],"tenant":{"read":"default-tenant","write":"default-tenant","consume":"default-tenant"},"description":"","createdAt":1767225600000,"updatedAt":1767312000000}`
	fsSchema     = `{"schema":[{"name":"user_id","type":"TEXT","description":"","tags":[]},{"name":"clicks","type":"BIGINT","description":"","tags":[]}],"primaryKeys":["user_id"],"version":"v1","featureGroupType":"ONLINE"}`
	fsVersion    = `{"version":{"name":"user_stats","latestVersion":"v3","updatedAt":1767312000000}}`
	fsReadData   = `{"featureGroupName":"user_stats","featureGroupVersion":"v1","successfulKeys":[{"key":["u1"],"features":[7,1.5]}],"failedKeys":[["u3"]]}`
	fsWriteData  = `{"featureGroupName":"user_stats","featureGroupVersion":"v1","featureColumns":["user_id","clicks","spend"],"successfulRows":[["u1",7,1.5],["u2",12345678901234567890,0.25]],"failedRows":[]}`
	fsTSData     = `{"columns":["user_id","ts","user_stats:v1:clicks","user_stats:v1:spend"],"rows":[["u1",1767225600000,7,1.5],["u2",1767312000000,null,null]]}`
	fsRunData    = `{"runId":"r-1","status":"PENDING","featureGroupName":"user_stats","featureGroupVersion":"v1","source":"s3://b/stats/"}`
)

func TestFeatureStoreCommandsSendRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		method  string
		path    string
		query   string
		headers map[string]string // exact values; "" = must be absent
		body    string            // canonical JSON compared after re-indenting; "" = no body
		reply   reply
		out     string // the -o json output
	}{
		{name: "entity_create_bare", args: []string{"entity", "create", "-f", "testdata/featurestore/entity.yaml", "--user", "me@example.com"},
			method: "POST", path: "/feature-store-admin/entity",
			body:  `{"entity":{"tableName":"users","primaryKeys":["user_id"],"ttl":86400,"features":[{"name":"user_id","type":"TEXT","description":"the user"},{"name":"country","type":"TEXT"}]},"owner":"me@example.com"}`,
			reply: fsOK(fsEntityData), out: fsEntityData},
		{name: "entity_create_request", args: []string{"entity", "create", "--file", "testdata/featurestore/entity_request.json"},
			method: "POST", path: "/feature-store-admin/entity", body: string(mustRead(t, "testdata/featurestore/entity_request.json")),
			reply: fsOK(fsEntityData), out: fsEntityData},
		{name: "entity_get", args: []string{"entity", "get", "users"}, method: "GET", path: "/feature-store-admin/entity/metadata", query: "name=users",
			reply: fsOK(`{"metadata":` + fsEntityMeta + `}`), out: fsEntityMeta},
		{name: "fg_create_upgrade", args: []string{"feature-group", "create", "-f", "testdata/featurestore/feature_group.yaml", "--upgrade"},
			method: "POST", path: "/feature-store-admin/feature-group", headers: map[string]string{"upgrade": "true", "Content-Type": "application/json"},
			body:  `{"featureGroup":{"featureGroupName":"user_stats","entityName":"users","features":[{"name":"clicks","type":"BIGINT"},{"name":"spend","type":"DOUBLE","tags":["money"]}]},"owner":"team@example.com","description":"daily user stats"}`,
			reply: fsOK(fsFGData), out: fsFGData},
		{name: "fg_create", args: []string{"fg", "create", "-f", "testdata/featurestore/feature_group.yaml"},
			method: "POST", path: "/feature-store-admin/feature-group", headers: map[string]string{"upgrade": ""},
			body:  `{"featureGroup":{"featureGroupName":"user_stats","entityName":"users","features":[{"name":"clicks","type":"BIGINT"},{"name":"spend","type":"DOUBLE","tags":["money"]}]},"owner":"team@example.com","description":"daily user stats"}`,
			reply: fsOK(fsFGData), out: fsFGData},
		{name: "fg_get", args: []string{"feature-group", "get", "user_stats", "--version", "v1"}, method: "GET", path: "/feature-store-admin/feature-group/metadata",
			query: "name=user_stats&version=v1", reply: fsOK(`{"metadata":` + fsFGMeta + `}`), out: fsFGMeta},
		{name: "fg_schema", args: []string{"feature-group", "schema", "user_stats"}, method: "GET", path: "/feature-store-admin/feature-group/schema",
			query: "name=user_stats", reply: fsOK(fsSchema), out: fsSchema},
		{name: "fg_version", args: []string{"feature-group", "version", "user_stats"}, method: "GET", path: "/feature-store-admin/feature-group/version",
			query: "name=user_stats", reply: fsOK(fsVersion), out: `{"name":"user_stats","latestVersion":"v3","updatedAt":1767312000000}`},
		{name: "fg_update_state", args: []string{"feature-group", "update-state", "user_stats", "--state", "archived", "--version", "v1"},
			method: "PUT", path: "/feature-store-admin/feature-group", query: "name=user_stats&version=v1", body: `{"state":"ARCHIVED"}`,
			reply: fsOK(`{"metadata":` + fsFGMeta + `}`), out: fsFGMeta},
		{name: "features_read_flags", args: []string{"features", "read", "--feature-group", "user_stats", "--version", "v1", "--columns", "clicks,spend", "--keys", "user_id=u1", "--keys", "user_id=u3"},
			method: "GET", path: "/feature-store/feature-group/read-features", headers: map[string]string{"Content-Type": "application/json"},
			body:  `{"featureGroupName":"user_stats","featureGroupVersion":"v1","featureColumns":["clicks","spend"],"primaryKeys":{"names":["user_id"],"values":[["u1"],["u3"]]}}`,
			reply: fsOK(fsReadData), out: fsReadData},
		{name: "features_read_file", args: []string{"features", "read", "--file", "testdata/featurestore/read.yaml"},
			method: "GET", path: "/feature-store/feature-group/read-features",
			body:  `{"featureGroupName":"user_stats","featureGroupVersion":"v1","featureColumns":["clicks","spend"],"primaryKeys":{"names":["user_id"],"values":[["u1"],["u3"]]}}`,
			reply: fsOK(fsReadData), out: fsReadData},
		{name: "features_write", args: []string{"features", "write", "--file", "testdata/featurestore/write.json", "--run-id", "r9"},
			method: "POST", path: "/feature-store/feature-group/write-features-v2",
			body:  `{"featureGroupName":"user_stats","runId":"r9","features":{"names":["user_id","clicks","spend"],"values":[["u1",7,1.5],["u2",12345678901234567890,0.25]]}}`,
			reply: fsOK(fsWriteData), out: fsWriteData},
		{name: "training_set", args: []string{"training-set", "--file", "testdata/featurestore/training_set.json"},
			method: "POST", path: "/feature-store/feature-group/historical-features", body: string(mustRead(t, "testdata/featurestore/training_set.json")),
			reply: fsOK(fsTSData), out: fsTSData},
		{name: "populate", args: []string{"populate", "--source", "s3://b/stats/", "--feature-group", "user_stats", "--version", "v1", "--run-id", "r-1", "--timestamp-column", "ts"},
			method: "POST", path: "/feature-store-admin/populator/run",
			body:  `{"source":"s3://b/stats/","featureGroupName":"user_stats","featureGroupVersion":"v1","runId":"r-1","timestampColumn":"ts"}`,
			reply: fsOK(fsRunData), out: fsRunData},
		{name: "training_set_ignore_ttl", args: []string{"training-set", "--file", "testdata/featurestore/training_set.json", "--ignore-ttl"},
			method: "POST", path: "/feature-store/feature-group/historical-features",
			body:  `{"entityRows":{"names":["user_id","ts"],"values":[["u1",1767225600000],["u2",1767312000000]]},"timestampColumn":"ts","features":["user_stats:v1:clicks","user_stats:v1:spend"],"ignoreTtl":true}`,
			reply: fsOK(fsTSData), out: fsTSData},
		{name: "populate_kafka", args: []string{"populate", "--source", "s3://b/", "--feature-group", "g", "--mode", "kafka"},
			method: "POST", path: "/feature-store-admin/populator/run", body: `{"source":"s3://b/","featureGroupName":"g","mode":"kafka"}`,
			reply: fsOK(fsRunData), out: fsRunData},
		{name: "populate_minimal", args: []string{"populate", "--source", "/data/x.parquet", "--feature-group", "g"},
			method: "POST", path: "/feature-store-admin/populator/run", body: `{"source":"/data/x.parquet","featureGroupName":"g"}`,
			reply: fsOK(fsRunData), out: fsRunData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, format := range []string{"json", "yaml", "table"} {
				api, srv := newFakeAPI(t)
				api.on(tc.method, tc.path, tc.reply)
				res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", append(append([]string{"feature-store"}, tc.args...), "-o", format)...)
				if res.err != nil {
					t.Fatalf("-o %s: %v\nstderr: %s", format, res.err, res.stderr)
				}
				reqs := api.requests()
				if len(reqs) != 1 {
					t.Fatalf("-o %s: %d requests, want 1: %+v", format, len(reqs), reqs)
				}
				r := reqs[0]
				if r.Method != tc.method || r.Path != tc.path || r.Query != tc.query {
					t.Fatalf("request %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tc.method, tc.path, tc.query)
				}
				for k, v := range tc.headers {
					if got := r.Header.Get(k); got != v {
						t.Errorf("header %s = %q, want %q", k, got, v)
					}
				}
				if got, want := canonicalJSON(t, r.Body), canonicalJSON(t, []byte(tc.body)); got != want {
					t.Errorf("body\n%s\nwant\n%s", got, want)
				}
				switch format {
				case "json":
					if got, want := canonicalJSON(t, []byte(res.stdout)), canonicalJSON(t, []byte(tc.out)); got != want {
						t.Errorf("-o json\n%s\nwant\n%s", got, want)
					}
				case "yaml":
					var y any
					if err := yaml.Unmarshal([]byte(res.stdout), &y); err != nil {
						t.Fatalf("-o yaml is not YAML: %v\n%s", err, res.stdout)
					}
					b, err := json.Marshal(y)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := canonicalJSON(t, b), canonicalJSON(t, []byte(tc.out)); got != want {
						t.Errorf("-o yaml\n%s\nwant\n%s", got, want)
					}
				default:
					golden(t, "fs_"+tc.name+".table", res.stdout)
				}
			}
		})
	}
}

func TestFeatureStoreReadReportsMissingKeys(t *testing.T) {
	t.Parallel()
	api, srv := newFakeAPI(t)
	api.on("GET", "/feature-store/feature-group/read-features", fsOK(fsReadData))
	res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "features", "read", "--feature-group", "user_stats", "--columns", "clicks", "--columns", "spend", "--keys", "user_id=u1,day=3")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.stderr != "1 key(s) not found: u3\n" {
		t.Fatalf("stderr = %q", res.stderr)
	}
	if b := canonicalJSON(t, api.requests()[0].Body); !strings.Contains(b, `"day"`) || !strings.Contains(b, `"3"`) || strings.Contains(b, "featureGroupVersion") {
		t.Fatalf("composite key / no version body: %s", b)
	}
}

func TestFeatureStoreErrorsFail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		args  []string
		route [2]string
		reply reply
		want  []string
	}{
		{"not found", []string{"feature-group", "get", "nope"}, [2]string{"GET", "/feature-store-admin/feature-group/metadata"},
			fsFail(404, "feature group not found", "feature group nope not found", "FEATURE-GROUP-NOT-FOUND-EXCEPTION"),
			[]string{"get feature group: feature group not found: feature group nope not found [FEATURE-GROUP-NOT-FOUND-EXCEPTION] (HTTP 404 from GET /feature-store-admin/feature-group/metadata)"}},
		{"already exists", []string{"feature-group", "create", "-f", "testdata/featurestore/feature_group.yaml"}, [2]string{"POST", "/feature-store-admin/feature-group"},
			fsFail(400, "feature group already exists", "", "FEATURE-GROUP-ALREADY-EXISTS-EXCEPTION"), []string{"FEATURE-GROUP-ALREADY-EXISTS-EXCEPTION", "HTTP 400"}},
		{"app rewraps", []string{"features", "write", "-f", "testdata/featurestore/write.json"}, [2]string{"POST", "/feature-store/feature-group/write-features-v2"},
			fsFail(400, "feature group not found", "", "OFS-V2-ADMIN-SERVICE-EXCEPTION"), []string{"write features: feature group not found [OFS-V2-ADMIN-SERVICE-EXCEPTION]"}},
		{"not an envelope", []string{"entity", "get", "users"}, [2]string{"GET", "/feature-store-admin/entity/metadata"},
			reply{status: 502, body: "<html>bad gateway</html>"}, []string{"<html>bad gateway</html>", "HTTP 502"}},
		{"failed rows", []string{"features", "write", "-f", "testdata/featurestore/write.json"}, [2]string{"POST", "/feature-store/feature-group/write-features-v2"},
			fsOK(`{"successfulRows":[["u1"]],"failedRows":[["u2"]]}`), []string{"write features: 1 of 2 row(s) failed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			api.on(tc.route[0], tc.route[1], tc.reply)
			res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", append([]string{"feature-store"}, tc.args...)...)
			if res.err == nil {
				t.Fatalf("succeeded: %s", res.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.err.Error(), w) {
					t.Errorf("error %q lacks %q", res.err, w)
				}
			}
		})
	}
	// The structured error keeps the code for callers.
	api, srv := newFakeAPI(t)
	api.on("GET", "/feature-store-admin/feature-group/version", fsFail(404, "feature group not found", "", "FEATURE-GROUP-NOT-FOUND-EXCEPTION"))
	res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "feature-group", "version", "x")
	var fe *FeatureStoreError
	if !errors.As(res.err, &fe) || fe.Code != "FEATURE-GROUP-NOT-FOUND-EXCEPTION" || fe.StatusCode != 404 {
		t.Fatalf("error %#v", res.err)
	}
}

func TestFeatureStoreArgumentValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"entity", "create"}, "--file is required"},
		{[]string{"entity", "create", "-f", "testdata/featurestore/entity.yaml"}, `owner is required: set owner in the file or pass --user you@example.com (got "sdk")`},
		{[]string{"entity", "create", "-f", "testdata/featurestore/nope.yaml"}, "read --file"},
		{[]string{"entity", "create", "-f", "testdata/featurestore/feature_group.yaml"}, "the file must hold the entity itself (with tableName)"},
		{[]string{"entity", "get"}, "takes 1 argument(s): NAME"},
		{[]string{"entity", "get", " "}, "NAME must not be empty"},
		{[]string{"feature-group", "update-state", "g", "--state", "DELETED"}, "--state must be LIVE or ARCHIVED"},
		{[]string{"features", "read", "--file", "x.json", "--feature-group", "g"}, "give either --file or"},
		{[]string{"features", "read", "--columns", "a", "--keys", "id=1"}, "--feature-group (or --file) is required"},
		{[]string{"features", "read", "--feature-group", "g", "--keys", "id=1"}, "--columns is required"},
		{[]string{"features", "read", "--feature-group", "g", "--columns", "a"}, "--keys is required"},
		{[]string{"features", "read", "--feature-group", "g", "--columns", "a", "--keys", "u1"}, `invalid --keys "u1": want NAME=VALUE`},
		{[]string{"features", "read", "--feature-group", "g", "--columns", "a", "--keys", "id=1", "--keys", "uid=2"}, "every key must name id in that order"},
		{[]string{"features", "write"}, "--file is required"},
		{[]string{"training-set", "-f", "testdata/featurestore/write.json"}, "the file needs entityRows"},
		{[]string{"populate", "--source", "s3://b/"}, "--source and --feature-group are required"},
		{[]string{"populate", "--source", "s3://b/", "--feature-group", "g", "--timeout", "-1s"}, "--timeout must be >= 0"},
		{[]string{"entity", "get", "users", "-o", "xml"}, "invalid --output"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", append([]string{"feature-store"}, tc.args...)...)
			if res.err == nil || !strings.Contains(res.err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", res.err, tc.want)
			}
			if n := len(api.requests()); n != 0 {
				t.Fatalf("invalid input made %d requests", n)
			}
		})
	}
}

func TestFeatureStoreStdinAndBadDocuments(t *testing.T) {
	t.Parallel()
	api, srv := newFakeAPI(t)
	api.on("POST", "/feature-store/feature-group/write-features-v2", fsOK(`{"successfulRows":[],"failedRows":[]}`))
	res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "featureGroupName: g\nfeatures: {names: [id], values: [[a]]}\n", "feature-store", "features", "write", "-f", "-")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := canonicalJSON(t, api.requests()[0].Body); got != canonicalJSON(t, []byte(`{"featureGroupName":"g","features":{"names":["id"],"values":[["a"]]}}`)) {
		t.Fatalf("stdin body %s", got)
	}
	for _, in := range []string{"", "[1,2]", "{\"a\":1} {\"b\":2}", "{1: 2}", "- a\n- b\n", "{bad json"} {
		if _, err := parseDocument([]byte(in), "x"); err == nil {
			t.Errorf("parseDocument(%q) accepted", in)
		}
	}
}

func TestFeatureStoreURLs(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"", "/", "/compute", "/feature-store", "/feature-store-admin/"} {
		api, srv := newFakeAPI(t)
		api.on("GET", "/feature-store-admin/feature-group/version", fsOK(fsVersion))
		res := runFSCLI(t, nil, "", "--url", srv.URL+suffix, "feature-store", "feature-group", "version", "g")
		if res.err != nil || api.count("GET", "/feature-store-admin/feature-group/version") != 1 {
			t.Errorf("--url with %q: %v", suffix, res.err)
		}
	}
	// Separate app and admin hosts (the original's darwin-ofs-v2 and darwin-ofs-v2-admin).
	appAPI, appSrv := newFakeAPI(t)
	adminAPI, adminSrv := newFakeAPI(t)
	appAPI.on("GET", "/read-features-host/feature-group/read-features", fsOK(fsReadData))
	adminAPI.on("GET", "/feature-group/version", fsOK(fsVersion))
	env := map[string]string{EnvFeatureStoreURL: appSrv.URL + "/read-features-host/", EnvFeatureStoreAdminURL: adminSrv.URL, "DARWIN_URL": "http://127.0.0.1:1"}
	if res := runFSCLI(t, env, "", "feature-store", "feature-group", "version", "g"); res.err != nil {
		t.Fatal(res.err)
	}
	if res := runFSCLI(t, env, "", "feature-store", "features", "read", "--feature-group", "g", "--columns", "a", "--keys", "id=1"); res.err != nil {
		t.Fatal(res.err)
	}
	if res := runFSCLI(t, map[string]string{EnvFeatureStoreAdminURL: "ftp://x"}, "", "feature-store", "feature-group", "version", "g"); res.err == nil || !strings.Contains(res.err.Error(), "want http://") {
		t.Fatalf("ftp admin URL: %v", res.err)
	}
}

func TestFeatureStorePopulateWait(t *testing.T) {
	t.Parallel()
	api, srv := newFakeAPI(t)
	api.on("POST", "/feature-store-admin/populator/run", fsOK(`{"runId":"r-7","status":"PENDING"}`))
	api.on("GET", "/feature-store-admin/populator/run",
		fsOK(`{"runId":"r-7","status":"RUNNING","rowsDone":0,"rowsTotal":1000}`),
		reply{status: 503, body: `{"error":{"message":"busy","code":"OFS-V2-SERVICE-EXCEPTION"}}`},
		fsOK(`{"runId":"r-7","status":"RUNNING","rowsDone":400,"rowsTotal":1000}`),
		fsOK(`{"runId":"r-7","status":"RUNNING","rowsDone":400,"rowsTotal":1000}`),
		fsOK(`{"runId":"r-7","status":"SUCCESS","rowsDone":1000,"rowsTotal":1000,"failedRows":2,"rowsPerSecond":123.4}`))
	res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "populate", "--source", "s3://b/", "--feature-group", "g", "--wait", "-o", "json")
	if res.err != nil {
		t.Fatalf("%v\n%s", res.err, res.stderr)
	}
	wantErr := `waiting for populator run r-7 (timeout 1h0m0s)
[   0.0s] PENDING
[   2.0s] RUNNING 0/1000 rows (0%), 0 rows/s
[   4.0s] poll error (retrying): busy [OFS-V2-SERVICE-EXCEPTION] (HTTP 503 from GET /feature-store-admin/populator/run)
[   6.0s] RUNNING 400/1000 rows (40%), 67 rows/s
[   8.0s] RUNNING 400/1000 rows (40%), 50 rows/s
[  10.0s] SUCCESS 1000/1000 rows (100%), 123 rows/s, 2 failed
`
	if res.stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", res.stderr, wantErr)
	}
	if got := decodeOut(t, res.stdout); got["status"] != "SUCCESS" || got["rowsDone"] != 1000.0 {
		t.Errorf("final run %v", got)
	}
	for _, r := range api.requests()[1:] {
		if r.Query != "runId=r-7" {
			t.Errorf("poll query %q", r.Query)
		}
	}
	if n := api.count("GET", "/feature-store-admin/populator/run"); n != 5 {
		t.Errorf("%d polls, want 5", n)
	}

	// FAILED exits non-zero with the run's error; a 404 on the poll stops at once; --timeout ends the wait.
	api, srv = newFakeAPI(t)
	api.on("POST", "/feature-store-admin/populator/run", fsOK(`{"runId":"r-8","status":"RUNNING"}`))
	api.on("GET", "/feature-store-admin/populator/run", fsOK(`{"runId":"r-8","status":"FAILED","error":"column clicks: expected an integer"}`))
	res = runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "populate", "--source", "s3://b/", "--feature-group", "g", "--wait")
	if res.err == nil || res.err.Error() != "populator run r-8 failed: column clicks: expected an integer" || !strings.Contains(res.stdout, "FAILED") {
		t.Fatalf("failed run: %v\n%s", res.err, res.stdout)
	}
	api, srv = newFakeAPI(t)
	api.on("POST", "/feature-store-admin/populator/run", fsOK(`{"runId":"r-9","status":"RUNNING"}`))
	api.on("GET", "/feature-store-admin/populator/run", fsFail(404, "run not found", "", "METASTORE-RUN-EXCEPTION"))
	res = runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "populate", "--source", "s3://b/", "--feature-group", "g", "--wait")
	if res.err == nil || !strings.Contains(res.err.Error(), "wait for populator run r-9: run not found [METASTORE-RUN-EXCEPTION]") || api.count("GET", "/feature-store-admin/populator/run") != 1 {
		t.Fatalf("404 poll: %v", res.err)
	}
	api, srv = newFakeAPI(t)
	api.on("POST", "/feature-store-admin/populator/run", fsOK(`{"runId":"r-10","status":"RUNNING"}`))
	api.on("GET", "/feature-store-admin/populator/run", fsOK(`{"runId":"r-10","status":"RUNNING","rowsDone":1}`))
	res = runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "populate", "--source", "s3://b/", "--feature-group", "g", "--wait", "--timeout", "5s")
	if res.err == nil || !strings.Contains(res.err.Error(), "timed out after 5s (last status RUNNING)") {
		t.Fatalf("timeout: %v", res.err)
	}
	// Without --wait nothing is polled.
	api, srv = newFakeAPI(t)
	api.on("POST", "/feature-store-admin/populator/run", fsOK(`{"runId":"r-11","status":"PENDING"}`))
	if res = runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "populate", "--source", "s3://b/", "--feature-group", "g"); res.err != nil || api.count("GET", "/feature-store-admin/populator/run") != 0 {
		t.Fatalf("no wait: %v", res.err)
	}
}

func TestFeatureStoreCommandsHaveHelp(t *testing.T) {
	t.Parallel()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newFeatureStoreCommand(&GlobalOptions{}, func(string) string { return "" }), []string{"feature-store"})
	if len(paths) != 15 {
		t.Fatalf("found %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		api, srv := newFakeAPI(t)
		res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", append(p, "--help")...)
		if res.err != nil {
			t.Fatal(res.err)
		}
		for _, want := range []string{"Usage:", "Examples:", "darwin " + strings.Join(p, " "), "--url", "--output"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("%v help lacks %q", p, want)
			}
		}
		if len(api.requests()) != 0 {
			t.Errorf("%v --help called the API", p)
		}
	}
	res := runFSCLI(t, nil, "", "feature-store")
	if res.err != nil || !strings.Contains(res.stdout, "Available Commands:") {
		t.Fatalf("group command: %v %q", res.err, res.stdout)
	}
	golden(t, "help_feature-store.txt", runFSCLI(t, nil, "", "feature-store", "--help").stdout)
}

func FuzzFeatureStoreInputs(f *testing.F) {
	f.Add([]byte(`{"featureGroupName":"g","features":{"names":["id"],"values":[["a",1e400]]}}`), "user_id=u1,day=3")
	f.Add([]byte("tableName: users\nprimaryKeys: [id]\n"), "a=b=c")
	f.Add([]byte("{1: 2}"), ",=")
	f.Add([]byte("- x"), "")
	f.Fuzz(func(t *testing.T, doc []byte, keys string) {
		if obj, err := parseDocument(doc, "fuzz"); err == nil {
			if _, err := json.Marshal(obj); err != nil {
				t.Fatalf("accepted a document that does not encode: %v", err)
			}
		}
		if pk, err := parseKeys([]string{keys, keys}); err == nil {
			if len(pk["values"].([][]any)) != 2 {
				t.Fatal("lost a key")
			}
		}
	})
}

func TestFeatureStoreTrainingSetParquet(t *testing.T) {
	t.Parallel()
	api, srv := newFakeAPI(t)
	api.on("POST", "/feature-store/feature-group/historical-features", reply{status: 200, body: "PAR1\x00binary\x00PAR1"})
	out := t.TempDir() + "/ts.parquet"
	res := runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "training-set", "-f", "testdata/featurestore/training_set.json", "--parquet", out)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if b := mustRead(t, out); string(b) != "PAR1\x00binary\x00PAR1" {
		t.Fatalf("parquet file %q", b)
	}
	if !strings.Contains(canonicalJSON(t, api.requests()[0].Body), `"format": "parquet"`) || res.stderr != "wrote 16 bytes of Parquet to "+out+"\n" {
		t.Fatalf("body %s stderr %q", api.requests()[0].Body, res.stderr)
	}
	res = runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "training-set", "-f", "testdata/featurestore/training_set.json", "--parquet", "-")
	if res.err != nil || res.stdout != "PAR1\x00binary\x00PAR1" {
		t.Fatalf("--parquet -: %v %q", res.err, res.stdout)
	}
	// An error envelope still fails with the code, not a file of JSON.
	api.on("POST", "/feature-store/feature-group/historical-features", fsFail(400, "unknown feature", "", "HISTORICAL-FEATURES-REQUEST-EXCEPTION"))
	res = runFSCLI(t, map[string]string{"DARWIN_URL": srv.URL}, "", "feature-store", "training-set", "-f", "testdata/featurestore/training_set.json", "--parquet", out+"2")
	if res.err == nil || !strings.Contains(res.err.Error(), "[HISTORICAL-FEATURES-REQUEST-EXCEPTION]") {
		t.Fatalf("error reply: %v", res.err)
	}
}
