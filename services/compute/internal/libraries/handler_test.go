package libraries_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/services/compute/internal/envelope/envelopetest"
	"github.com/darwinml/darwin/services/compute/internal/libraries"
)

func (e *env) router() http.Handler {
	r := chi.NewRouter()
	libraries.NewHandler(e.svc, nil).Routes(r)
	return r
}

func call(t *testing.T, h http.Handler, method, path, body string) (int, envelopetest.Response) {
	t.Helper()
	r := envelopetest.Do(t, h, method, path, body, nil)
	return r.Code, r
}

func keys(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("data %s is not an object: %v", raw, err)
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func TestHandlerBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqliteDB(t))
	e.clusters.set("c1", "inactive", "r1")
	h := e.router()
	cases := []struct {
		name, method, path, body string
		code                     int
		field                    string
	}{
		{"install bad source", "POST", "/cluster/c1/library/install", `{"source":"npm","body":{"name":"x"}}`, 400, "source"},
		{"install source type", "POST", "/cluster/c1/library/install", `{"source":["pypi"],"body":{}}`, 400, "source"},
		{"install name type", "POST", "/cluster/c1/library/install", `{"source":"pypi","body":{"name":3}}`, 400, "body.name"},
		{"install no body", "POST", "/cluster/c1/library/install", `{"source":"pypi"}`, 400, "body"},
		{"install malformed", "POST", "/cluster/c1/library/install", `{"source":`, 400, "body"},
		{"install unknown cluster", "POST", "/cluster/ghost/library/install", `{"source":"pypi","body":{"name":"x"}}`, 404, ""},
		{"batch empty", "POST", "/cluster/c1/library/install/batch", `{"packages":[]}`, 400, "packages"},
		{"batch bad element", "POST", "/cluster/c1/library/install/batch", `{"packages":[{"source":"s3","body":{"path":"s3://b/x.exe"}}]}`, 400, "packages[0].body.path"},
		{"list bad sort", "GET", "/cluster/c1/library?sort_by=password", ``, 400, "sort_by"},
		{"list bad order", "GET", "/cluster/c1/library?sort_order=up", ``, 400, "sort_order"},
		{"list bad page", "GET", "/cluster/c1/library?page_size=0", ``, 400, "page_size"},
		{"list bad offset", "GET", "/cluster/c1/library?offset=-3", ``, 400, "offset"},
		{"list unknown cluster", "GET", "/cluster/ghost/library", ``, 404, ""},
		{"get bad id", "GET", "/cluster/c1/library/abc", ``, 400, "library_id"},
		{"get unknown id", "GET", "/cluster/c1/library/77", ``, 404, ""},
		{"status unknown id", "GET", "/cluster/c1/library/77/status", ``, 404, ""},
		{"retry unknown id", "PATCH", "/cluster/c1/library/77/install/retry", ``, 404, ""},
		{"uninstall wrong type", "PUT", "/cluster/c1/library/uninstall", `{"id":"1"}`, 400, "id"},
		{"uninstall empty", "PUT", "/cluster/c1/library/uninstall", `{"id":[]}`, 400, "id"},
		{"uninstall unknown", "PUT", "/cluster/c1/library/uninstall", `{"id":[5]}`, 404, ""},
		{"command empty", "POST", "/cluster/c1/command", `{"remote_commands":[]}`, 400, "remote_commands"},
		{"command bad target", "POST", "/cluster/c1/command", `{"remote_commands":[{"command":["ls"],"target":"all"}]}`, 400, "remote_commands[0].target"},
		{"command string not list", "POST", "/cluster/c1/command/execute", `{"command":"ls"}`, 400, "command"},
		{"command bad timeout", "POST", "/cluster/c1/command/execute", `{"command":["ls"],"timeout":-1}`, 400, "timeout"},
		{"execute inactive", "POST", "/cluster/c1/command/execute", `{"command":["ls"]}`, 400, ""},
		{"execute unknown cluster", "POST", "/cluster/ghost/command/execute", `{"command":["ls"]}`, 404, ""},
		{"delete unknown exec", "DELETE", "/cluster/c1/command/nope", ``, 404, ""},
		{"status unknown exec", "GET", "/cluster/c1/command/nope/status", ``, 404, ""},
		{"commands unknown cluster", "GET", "/cluster/ghost/commands", ``, 404, ""},
		{"pod status bad status", "POST", "/cluster/command/pod/status", `{"cluster_id":"c1","execution_id":"e","pod_name":"p","status":"ok"}`, 400, "status"},
		{"pod status missing pod", "POST", "/cluster/command/pod/status", `{"cluster_id":"c1","execution_id":"e","status":"success"}`, 400, "pod_name"},
		{"pod status unknown exec", "POST", "/cluster/command/pod/status", `{"cluster_id":"c1","execution_id":"e","pod_name":"p","status":"success"}`, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := envelopetest.Do(t, h, c.method, c.path, c.body, nil)
			if env.Code != c.code || env.Status != "ERROR" || env.Field != c.field || !strings.Contains(env.Message, c.field) {
				t.Errorf("got %d %s %q (field %q), want %d naming %q", env.Code, env.Status, env.Message, env.Field, c.code, c.field)
			}
		})
	}
}

func TestHandlerFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqliteDB(t))
	e.clusters.set("c1", "inactive", "r1")
	h := e.router()

	code, env := call(t, h, "POST", "/cluster/c1/library/install", `{"source":"pypi","body":{"name":"numpy","version":"1.26.4","path":"https://pypi.example.com/simple"}}`)
	if code != 200 || keys(t, env.Data) != "cluster_id,created_at,error,execution_id,id,metadata,name,path,source,status,type,updated_at,version" {
		t.Fatalf("install = %d %s", code, env.Data)
	}
	var lib libraries.Library
	_ = json.Unmarshal(env.Data, &lib)
	if lib.Status != "created" || e.charts.last().Head[0].Command != "pip install numpy==1.26.4 --index-url https://pypi.example.com/simple --trusted-host pypi.example.com" {
		t.Errorf("install = %+v chart %+v", lib, e.charts.last())
	}
	code, env = call(t, h, "POST", "/cluster/c1/library/install/batch", `{"packages":[{"source":"maven","body":{"name":"g:a","version":"1","metadata":{"repository":"spark","exclusions":["x:y"]}}},{"source":"pypi","body":{"name":"numpy","version":"1.26.4","path":"https://pypi.example.com/simple"}}]}`)
	var batch struct {
		ClusterID string              `json:"cluster_id"`
		Packages  []libraries.Library `json:"packages"`
	}
	_ = json.Unmarshal(env.Data, &batch)
	if code != 200 || batch.ClusterID != "c1" || len(batch.Packages) != 2 || batch.Packages[1].ID != lib.ID || batch.Packages[0].Metadata["repository"] != "spark" {
		t.Errorf("batch = %d %s", code, env.Data)
	}
	code, env = call(t, h, "GET", "/cluster/c1/library?sort_by=created_at&sort_order=asc&page_size=1", "")
	var page libraries.LibraryPage
	_ = json.Unmarshal(env.Data, &page)
	if code != 200 || keys(t, env.Data) != "cluster_id,packages,result_size" || page.ResultSize != 2 || len(page.Packages) != 1 || page.Packages[0].ID != lib.ID {
		t.Errorf("list = %d %s", code, env.Data)
	}
	path := "/cluster/c1/library/" + jsonInt(lib.ID)
	code, env = call(t, h, "GET", path, "")
	if code != 200 || keys(t, env.Data) != "cluster_id,content,error,id,name,path,source,status,type,version" {
		t.Errorf("get = %d %s", code, env.Data)
	}
	code, env = call(t, h, "GET", path+"/status", "")
	if code != 200 || string(env.Data) != `{"cluster_id":"c1","library_id":`+jsonInt(lib.ID)+`,"status":"created"}` {
		t.Errorf("status = %d %s", code, env.Data)
	}
	code, env = call(t, h, "PATCH", path+"/install/retry", "")
	if code != 200 || !strings.Contains(string(env.Data), `"status":"created"`) {
		t.Errorf("retry = %d %s", code, env.Data)
	}

	code, env = call(t, h, "POST", "/cluster/c1/command", `{"remote_commands":[{"command":["echo a","echo b"],"target":"head","timeout":30}]}`)
	var added libraries.AddCommandsResult
	_ = json.Unmarshal(env.Data, &added)
	if code != 200 || keys(t, env.Data) != "artifact_name,remote_commands" || len(added.RemoteCommands) != 1 || added.ArtifactName == "" {
		t.Fatalf("add command = %d %s", code, env.Data)
	}
	execID := added.RemoteCommands[0].ExecutionID
	code, env = call(t, h, "GET", "/cluster/c1/command/"+execID+"/status", "")
	if code != 200 || !strings.Contains(string(env.Data), `"status":"created","execution_id":"`+execID+`"`) {
		t.Errorf("command status = %d %s", code, env.Data)
	}
	code, env = call(t, h, "GET", "/cluster/c1/commands", "")
	var cmds []libraries.Command
	_ = json.Unmarshal(env.Data, &cmds)
	if code != 200 || len(cmds) != 3 || cmds[2].Command != "echo a ; echo b" || cmds[2].Target != "head" || cmds[2].Timeout != 30 {
		t.Errorf("commands = %d %s", code, env.Data)
	}

	e.clusters.set("c1", "active", "r1")
	code, env = call(t, h, "POST", "/cluster/c1/command/execute", `{"command":["nvidia-smi"]}`)
	var ex libraries.ExecuteResult
	_ = json.Unmarshal(env.Data, &ex)
	if code != 202 || ex.Status != "running" || len(ex.ExecutionID) == 0 {
		t.Errorf("execute = %d %s", code, env.Data)
	}
	calls := e.exec.execCalls()
	if len(calls) != 1 || calls[0].Target != "cluster" || calls[0].Timeout != 300 || calls[0].Command != "nvidia-smi" {
		t.Errorf("exec calls = %+v", calls)
	}
	code, env = call(t, h, "POST", "/cluster/command/pod/status", `{"cluster_id":"c1","execution_id":"`+ex.ExecutionID+`","pod_name":"c1-head","status":"success"}`)
	if code != 200 {
		t.Errorf("pod status = %d %s", code, env.Message)
	}
	code, env = call(t, h, "DELETE", "/cluster/c1/command/"+execID, "")
	if code != 200 || string(env.Data) != `{"execution_ids":["`+execID+`"]}` {
		t.Errorf("delete = %d %s", code, env.Data)
	}
	code, env = call(t, h, "PUT", "/cluster/c1/library/uninstall", `{"id":[`+jsonInt(lib.ID)+`]}`)
	if code != 200 || string(env.Data) != `{"cluster_id":"c1","packages":[{"id":`+jsonInt(lib.ID)+`}]}` {
		t.Errorf("uninstall = %d %s", code, env.Data)
	}
	if code, env = call(t, h, "GET", path+"/status", ""); !strings.Contains(string(env.Data), `"status":"uninstall_pending"`) {
		t.Errorf("status after uninstall on active = %d %s", code, env.Data)
	}
}

func jsonInt(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func fuzzDecoder[T any](f *testing.F, seeds []string, decode func(*http.Request) (T, error), check func(*testing.T, T)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := decode(httptest.NewRequest("POST", "/", strings.NewReader(body)))
		if err == nil {
			check(t, v)
		}
	})
}

func FuzzDecodeInstall(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"source":"pypi","body":{"name":"numpy","version":"1.0","path":"https://x/simple"}}`,
		`{"source":"maven","body":{"name":"g:a","version":"1","metadata":{"repository":"maven"}}}`,
		`{"source":"s3","body":{"path":"s3://b/a.tar.gz"}}`, `{"source":"workspace","body":{"path":"/a/../b.txt"}}`,
		`{"source":"pypi","body":{"name":"a;b"}}`,
	}, libraries.DecodeInstall, func(t *testing.T, s libraries.Spec) {
		if s.Command == "" || s.Type == "" || s.Name == "" {
			t.Fatalf("incomplete spec %+v", s)
		}
		if strings.ContainsAny(s.Name+s.Version+s.Path, " \t\n;&|$`'\"<>()\\") {
			t.Fatalf("shell syntax reached the command: %q", s.Command)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	fuzzDecoder(f, []string{`{"packages":[{"source":"pypi","body":{"name":"a"}}]}`, `{"packages":[null]}`},
		libraries.DecodeBatch, func(t *testing.T, s []libraries.Spec) {
			if len(s) == 0 || len(s) > libraries.MaxBatch {
				t.Fatalf("accepted %d packages", len(s))
			}
		})
}

func FuzzDecodeCommand(f *testing.F) {
	fuzzDecoder(f, []string{`{"command":["ls","pwd"],"target":"head","timeout":10}`, `{"command":[""]}`, `{"command":["a"],"timeout":1e9}`},
		libraries.DecodeCommand, func(t *testing.T, s libraries.CommandSpec) {
			if s.Command == "" || s.TimeoutSeconds < 1 || s.TimeoutSeconds > libraries.MaxTimeoutSeconds || (s.Target != "head" && s.Target != "worker" && s.Target != "cluster") {
				t.Fatalf("accepted %+v", s)
			}
		})
}

func FuzzDecodeAddCommands(f *testing.F) {
	fuzzDecoder(f, []string{`{"remote_commands":[{"command":["ls"]}]}`, `{"remote_commands":[{}]}`},
		libraries.DecodeAddCommands, func(t *testing.T, s []libraries.CommandSpec) {
			if len(s) == 0 {
				t.Fatal("accepted no commands")
			}
		})
}

func FuzzDecodePodStatus(f *testing.F) {
	fuzzDecoder(f, []string{`{"cluster_id":"c","execution_id":"e","pod_name":"p","status":"failed"}`, `{"status":"x"}`},
		libraries.DecodePodStatus, func(t *testing.T, r libraries.PodReport) {
			if r.ClusterID == "" || r.ExecutionID == "" || r.PodName == "" || r.Status == "" {
				t.Fatalf("accepted %+v", r)
			}
		})
}

// The library routes share the router with the cluster API, which names the same path segment {id}.
func TestRoutesCoexistWithClusterAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqliteDB(t))
	e.clusters.set("c9", "inactive", "r")
	r := chi.NewRouter()
	r.Get("/cluster/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"SUCCESS","data":"cluster"}`))
	})
	r.Get("/cluster/{id}/metadata", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"SUCCESS","data":"` + chi.URLParam(r, "id") + `"}`))
	})
	libraries.NewHandler(e.svc, nil).Routes(r)
	if code, env := call(t, r, "GET", "/cluster/c9/library", ""); code != 200 || !strings.Contains(string(env.Data), `"cluster_id":"c9"`) {
		t.Errorf("library list = %d %s", code, env.Data)
	}
	if code, env := call(t, r, "GET", "/cluster/c9/metadata", ""); code != 200 || string(env.Data) != `"c9"` {
		t.Errorf("metadata = %d %s", code, env.Data)
	}
	if code, env := call(t, r, "GET", "/cluster/c9/commands", ""); code != 200 || string(env.Data) != `[]` {
		t.Errorf("commands = %d %s", code, env.Data)
	}
}
