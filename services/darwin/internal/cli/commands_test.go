package cli

import (
	"strings"
	"testing"
)

func TestCommandsSendRequests(t *testing.T) {
	t.Parallel()
	const sdkUser = `{"email": "sdk"}`
	tests := []struct {
		name    string
		args    []string
		method  string
		path    string
		query   string
		msdUser string
		body    string // canonical JSON compared after re-indenting; "" = no body
		reply   reply
	}{
		{name: "start", args: []string{"compute", "start", "id-1"}, method: "POST", path: "/compute/cluster/start-cluster/id-1", msdUser: sdkUser,
			reply: okMsg(202, "Cluster Start Accepted", `{"ClusterName":"id-1"}`)},
		{name: "stop as user", args: []string{"--user", "alice@example.com", "compute", "stop", "id-1"}, method: "POST", path: "/compute/cluster/stop-cluster/id-1",
			msdUser: `{"email": "alice@example.com"}`, reply: okMsg(202, "Cluster stopped successfully", `{"cluster_id":"id-1"}`)},
		{name: "restart", args: []string{"compute", "restart", "id-1"}, method: "POST", path: "/compute/cluster/restart-cluster/id-1", msdUser: sdkUser,
			reply: okMsg(202, "Restart Cluster Accepted", `{}`)},
		{name: "delete", args: []string{"compute", "delete", "id-1"}, method: "DELETE", path: "/compute/cluster/id-1",
			reply: reply{status: 200, body: `{"status":"SUCCESS","data":{"cluster_id":"id-1"}}`}},
		{name: "get", args: []string{"compute", "get", "id-1"}, method: "GET", path: "/compute/cluster/id-1", reply: ok(`{"cluster_id":"id-1"}`)},
		{name: "status", args: []string{"compute", "status", "id-1"}, method: "GET", path: "/compute/cluster/id-1/metadata", reply: ok(`{"status":"active"}`)},
		{name: "info alias", args: []string{"compute", "info", "id-1"}, method: "GET", path: "/compute/cluster/id-1/metadata", reply: ok(`{"status":"active"}`)},
		{name: "dashboards", args: []string{"compute", "dashboards", "id-1"}, method: "GET", path: "/compute/cluster/id-1/dashboards", reply: ok(`{}`)},
		{name: "runtimes", args: []string{"compute", "runtimes"}, method: "GET", path: "/compute/get-runtimes", reply: ok(`{}`)},
		{name: "list defaults", args: []string{"compute", "list"}, method: "POST", path: "/compute/search",
			body:  `{"query":"","filters":{},"page_size":100,"offset":0,"sort_by":"created_on","sort_order":"desc"}`,
			reply: reply{status: 200, body: `{"status":"SUCCESS","result_size":0,"page_size":100,"offset":0,"data":[]}`}},
		{name: "list query", args: []string{"compute", "ls", "--query", "demo", "--page-size", "5", "--offset", "10"}, method: "POST", path: "/compute/search",
			body:  `{"query":"demo","filters":{},"page_size":5,"offset":10,"sort_by":"created_on","sort_order":"desc"}`,
			reply: ok(`[]`)},
		{name: "update", args: []string{"compute", "update", "id-1", "-f", "testdata/rest_request.json"}, method: "PUT", path: "/compute/cluster/id-1", msdUser: sdkUser,
			body:  string(mustRead(t, "testdata/rest_request.json")),
			reply: reply{status: 200, body: `{"status":"SUCCESS","data":{"cluster_id":"id-1"}}`}},
		{name: "packages list", args: []string{"compute", "packages", "list", "id-1"}, method: "GET", path: "/compute/cluster/id-1/library",
			query: "key=&offset=0&page_size=10&sort_by=created_at&sort_order=desc", reply: ok(`{"cluster_id":"id-1","result_size":0,"packages":[]}`)},
		{name: "packages list options", args: []string{"compute", "packages", "list", "id-1", "--key", "pan", "--sort-order", "asc", "--page-size", "3"},
			method: "GET", path: "/compute/cluster/id-1/library",
			query: "key=pan&offset=0&page_size=3&sort_by=created_at&sort_order=asc", reply: ok(`{"packages":[]}`)},
		{name: "packages install pypi", args: []string{"compute", "packages", "install", "id-1", "--source", "pypi", "--name", "pandas", "--version", "2.2.2"},
			method: "POST", path: "/compute/cluster/id-1/library/install",
			body:  `{"source":"pypi","body":{"name":"pandas","version":"2.2.2","path":null,"metadata":null}}`,
			reply: ok(`{"id":7,"name":"pandas"}`)},
		{name: "packages install maven", args: []string{"compute", "packages", "install", "id-1", "--source", "maven", "--name", "g:a", "--version", "1", "--repository", "spark"},
			method: "POST", path: "/compute/cluster/id-1/library/install",
			body:  `{"source":"maven","body":{"name":"g:a","version":"1","path":null,"metadata":{"repository":"spark","exclusions":null}}}`,
			reply: ok(`{"id":8}`)},
		{name: "packages install s3", args: []string{"compute", "packages", "install", "id-1", "--source", "s3", "--path", "s3://b/x.whl"},
			method: "POST", path: "/compute/cluster/id-1/library/install",
			body:  `{"source":"s3","body":{"name":null,"version":null,"path":"s3://b/x.whl","metadata":null}}`,
			reply: ok(`{"id":9}`)},
		{name: "packages uninstall", args: []string{"compute", "packages", "uninstall", "id-1", "7", "8"}, method: "PUT", path: "/compute/cluster/id-1/library/uninstall",
			body: `{"id":[7,8]}`, reply: ok(`{"cluster_id":"id-1","packages":[{"id":7},{"id":8}]}`)},
		{name: "command run argv", args: []string{"compute", "command", "run", "id-1", "--target", "head", "--", "pip", "install", "a b", "it's"},
			method: "POST", path: "/compute/cluster/id-1/command/execute",
			body:  `{"command":["pip install 'a b' 'it'\\''s'"],"target":"head","timeout":300}`,
			reply: reply{status: 202, body: `{"status":"SUCCESS","message":"Accepted","data":{"execution_id":"ex1"}}`}},
		{name: "command run shell line", args: []string{"compute", "command", "run", "id-1", "--timeout", "1m", "--", "echo hi && ls"},
			method: "POST", path: "/compute/cluster/id-1/command/execute",
			body:  `{"command":["echo hi && ls"],"target":"cluster","timeout":60}`,
			reply: ok(`{"execution_id":"ex2"}`)},
		{name: "command status", args: []string{"compute", "command", "status", "id-1", "ex1"}, method: "GET", path: "/compute/cluster/id-1/command/ex1/status",
			reply: ok(`{"status":"success","execution_id":"ex1"}`)},
		{name: "id is path-escaped", args: []string{"compute", "get", "a/b"}, method: "GET", path: "/compute/cluster/a%2Fb", reply: ok(`{}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			api.on(tc.method, tc.path, tc.reply)
			res := runCLI(t, srv.URL, "", tc.args...)
			if res.err != nil {
				t.Fatalf("run: %v", res.err)
			}
			reqs := api.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1: %+v", len(reqs), reqs)
			}
			r := reqs[0]
			if r.Method != tc.method || r.Path != tc.path || r.Query != tc.query {
				t.Errorf("request = %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tc.method, tc.path, tc.query)
			}
			if got := r.Header.Get("msd-user"); got != tc.msdUser {
				t.Errorf("msd-user = %q, want %q", got, tc.msdUser)
			}
			if got, want := canonicalJSON(t, r.Body), canonicalJSON(t, []byte(tc.body)); got != want {
				t.Errorf("body =\n%s\nwant\n%s", got, want)
			}
			if tc.body != "" && r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
			}
		})
	}
}

func TestBaseURLForms(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"", "/", "/compute", "/compute/"} {
		t.Run("suffix "+suffix, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			api.on("GET", "/compute/get-runtimes", ok(`{}`))
			res := runCLIEnv(t, nil, "", "--url", srv.URL+suffix, "compute", "runtimes")
			if res.err != nil {
				t.Fatal(res.err)
			}
			if n := api.count("GET", "/compute/get-runtimes"); n != 1 {
				t.Errorf("GET /compute/get-runtimes seen %d times", n)
			}
		})
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Parallel()
	api, srv := newFakeAPI(t)
	api.on("POST", "/compute/cluster/start-cluster/id-1", okMsg(202, "Cluster Start Accepted", `{}`))
	res := runCLIEnv(t, map[string]string{"DARWIN_URL": srv.URL, "DARWIN_USER": "eve@example.com"}, "", "compute", "start", "id-1")
	if res.err != nil {
		t.Fatal(res.err)
	}
	reqs := api.requests()
	if len(reqs) != 1 || reqs[0].Header.Get("msd-user") != `{"email": "eve@example.com"}` {
		t.Fatalf("requests = %+v", reqs)
	}
	// a flag beats the environment
	res = runCLIEnv(t, map[string]string{"DARWIN_URL": "http://127.0.0.1:1", "DARWIN_USER": "eve@example.com"}, "",
		"--url", srv.URL, "--user", "sam@example.com", "compute", "start", "id-1")
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := api.requests()[1].Header.Get("msd-user"); got != `{"email": "sam@example.com"}` {
		t.Errorf("msd-user = %q", got)
	}
}

func TestAPIErrorsFail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		route [2]string
		reply reply
		want  []string
	}{
		{"400 envelope message", []string{"compute", "create", "-f", "testdata/cluster.yaml"}, [2]string{"POST", "/compute/cluster"},
			fail(400, "cluster_name: must match the k8s label pattern"), []string{"cluster_name: must match the k8s label pattern", "HTTP 400"}},
		{"404 not found", []string{"compute", "get", "id-missing"}, [2]string{"GET", "/compute/cluster/id-missing"},
			fail(404, "Cluster id-missing not found"), []string{"get cluster id-missing", "Cluster id-missing not found", "HTTP 404"}},
		{"409 on delete", []string{"compute", "delete", "id-1"}, [2]string{"DELETE", "/compute/cluster/id-1"},
			fail(409, "Cluster is not in stop state"), []string{"Cluster is not in stop state"}},
		{"500 plain text", []string{"compute", "status", "id-1"}, [2]string{"GET", "/compute/cluster/id-1/metadata"},
			reply{status: 500, body: "upstream exploded"}, []string{"upstream exploded", "HTTP 500"}},
		{"error key instead of message", []string{"compute", "runtimes"}, [2]string{"GET", "/compute/get-runtimes"},
			reply{status: 503, body: `{"error":"cluster manager unavailable"}`}, []string{"cluster manager unavailable"}},
		{"2xx with garbage", []string{"compute", "runtimes"}, [2]string{"GET", "/compute/get-runtimes"},
			reply{status: 200, body: `<html>`}, []string{"list runtimes: decode GET", "/compute/get-runtimes response"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			api.on(tc.route[0], tc.route[1], tc.reply)
			res := runCLI(t, srv.URL, "", tc.args...)
			if res.err == nil {
				t.Fatal("command succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(res.err.Error(), w) {
					t.Errorf("error %q does not contain %q", res.err, w)
				}
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing on error", res.stdout)
			}
			if strings.Contains(res.stdout+res.stderr, "Usage:") {
				t.Error("an API error must not print usage")
			}
		})
	}
	t.Run("server down", func(t *testing.T) {
		t.Parallel()
		_, srv := newFakeAPI(t)
		url := srv.URL
		srv.Close()
		res := runCLI(t, url, "", "compute", "list")
		if res.err == nil || !strings.Contains(res.err.Error(), "list clusters: POST "+url+"/compute/search") {
			t.Errorf("err = %v", res.err)
		}
	})
}

func TestArgumentValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"get without id", []string{"compute", "get"}, "takes 1 argument(s): CLUSTER_ID; got 0"},
		{"get two ids", []string{"compute", "get", "a", "b"}, "got 2"},
		{"blank id", []string{"compute", "start", " "}, "CLUSTER_ID must not be empty"},
		{"create without file", []string{"compute", "create"}, `required flag(s) "file" not set`},
		{"create extra arg", []string{"compute", "create", "x", "-f", "testdata/cluster.yaml"}, `unknown command "x"`},
		{"create missing file", []string{"compute", "create", "-f", "testdata/nope.yaml"}, "read cluster file"},
		{"wait with no-start", []string{"compute", "create", "-f", "testdata/cluster.yaml", "--wait", "--no-start"}, "--wait cannot be combined with --no-start"},
		{"zero timeout", []string{"compute", "start", "id-1", "--wait", "--timeout", "0s"}, "--timeout must be > 0"},
		{"bad output", []string{"-o", "xml", "compute", "list"}, `invalid --output "xml"`},
		{"bad url", []string{"--url", "localhost:8080", "compute", "list"}, `invalid --url`},
		{"page size", []string{"compute", "list", "--page-size", "0"}, "--page-size must be > 0"},
		{"negative offset", []string{"compute", "list", "--offset", "-1"}, "--offset must be >= 0"},
		{"uninstall without ids", []string{"compute", "packages", "uninstall", "id-1"}, "at least one LIBRARY_ID"},
		{"uninstall non-numeric", []string{"compute", "packages", "uninstall", "id-1", "x"}, `library id "x" must be a positive integer`},
		{"install bad source", []string{"compute", "packages", "install", "id-1", "--source", "npm", "--name", "x"}, "--source must be one of"},
		{"install s3 without path", []string{"compute", "packages", "install", "id-1", "--source", "s3"}, "--path is required for --source s3"},
		{"install pypi without name", []string{"compute", "packages", "install", "id-1"}, "--name is required for --source pypi"},
		{"install repository on pypi", []string{"compute", "packages", "install", "id-1", "--name", "x", "--repository", "maven"}, "--source maven only"},
		{"packages sort order", []string{"compute", "packages", "list", "id-1", "--sort-order", "up"}, "--sort-order must be asc or desc"},
		{"command without command", []string{"compute", "command", "run", "id-1"}, "a COMMAND after --"},
		{"command bad target", []string{"compute", "command", "run", "id-1", "--target", "pod", "--", "ls"}, "--target must be head, worker or cluster"},
		{"command zero timeout", []string{"compute", "command", "run", "id-1", "--timeout", "10ms", "--", "ls"}, "--timeout must be at least 1s"},
		{"command status one arg", []string{"compute", "command", "status", "id-1"}, "CLUSTER_ID EXECUTION_ID; got 1"},
		{"runtimes takes no args", []string{"compute", "runtimes", "x"}, `unknown command "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			res := runCLI(t, srv.URL, "", tc.args...)
			if res.err == nil {
				t.Fatal("command succeeded, want an error")
			}
			if !strings.Contains(res.err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", res.err, tc.want)
			}
			if n := len(api.requests()); n != 0 {
				t.Errorf("sent %d requests, want none", n)
			}
		})
	}
}
