package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/artifact-builder/internal/httpapi"
	"github.com/darwinml/darwin/services/artifact-builder/internal/store"
	"github.com/darwinml/darwin/services/artifact-builder/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

func newServer(t *testing.T, d *db.DB) (*httptest.Server, *store.Store) {
	t.Helper()
	st := store.New(d, nil)
	h := httpapi.New(st, httpapi.Options{PublicURL: "http://localhost/artifact-builder/", CheckModel: func(r domain.ModelRequest) error {
		if r.BaseImage == "forbidden" {
			return apierr.InvalidField("base_image", "forbidden base")
		}
		return nil
	}})
	r := chi.NewRouter()
	h.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, st
}

type resp struct {
	code int
	body map[string]any
	raw  string
}

func do(t *testing.T, req *http.Request) resp {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{code: res.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func get(t *testing.T, u string) resp {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(t, req)
}

func postForm(t *testing.T, u string, v url.Values) resp {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func postJSON(t *testing.T, u, body string) resp {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func TestAPI(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		srv, st := newServer(t, d)
		if r := get(t, srv.URL+"/healthcheck"); r.code != 200 || r.body["status"] != "SUCCESS" || r.body["message"] != "OK" {
			t.Fatalf("health %+v", r)
		}
		// Submit a Dockerfile build the way ml-serve does (form; branch defaults to main).
		r := postForm(t, srv.URL+"/build_with_dockerfile", url.Values{"app_name": {"iris"}, "image_tag": {"iris_v1"}, "git_repo": {"https://github.com/o/r.git"}})
		id, _ := r.body["task_id"].(string)
		if r.code != 200 || r.body["status"] != "SUCCESS" || !domain.ValidTaskID(id) || r.body["message"] != "task has been added to queue" ||
			r.body["logs_url"] != "http://localhost/artifact-builder/static/"+id+".log" {
			t.Fatalf("submit %+v", r)
		}
		task, err := st.Task(t.Context(), id)
		if err != nil || task.Kind != domain.KindDockerfile || task.Params.Branch != "main" || task.Params.GitRepo != "https://github.com/o/r.git" {
			t.Fatalf("stored %+v %v", task, err)
		}
		// Multipart with an uploaded Dockerfile.
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range map[string]string{"app_name": "iris", "image_tag": "iris_v2", "git_repo": "git@github.com:o/r.git", "branch": "release/1.0", "app_dir": "serve/app"} {
			_ = mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("dockerfile", "Dockerfile")
		_, _ = fw.Write([]byte("FROM scratch\n"))
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/build_with_dockerfile", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		r = do(t, req)
		id2, _ := r.body["task_id"].(string)
		if r.code != 200 {
			t.Fatalf("multipart %+v", r)
		}
		task2, _ := st.Task(t.Context(), id2)
		if task2.Params.Dockerfile != "FROM scratch\n" || task2.Params.AppDir != "serve/app" || task2.Params.Branch != "release/1.0" {
			t.Fatalf("multipart stored %+v", task2.Params)
		}
		// Model build.
		r = postJSON(t, srv.URL+"/build_model_image", `{"app_name":"iris","image_tag":"v3","model_uri":"https://m.example/iris.tgz","entrypoint":["/serve"]}`)
		id3, _ := r.body["task_id"].(string)
		if r.code != 200 || !domain.ValidTaskID(id3) {
			t.Fatalf("model %+v", r)
		}
		if task3, _ := st.Task(t.Context(), id3); task3.Kind != domain.KindModel || task3.Params.ModelURI != "https://m.example/iris.tgz" {
			t.Fatalf("model stored %+v", task3)
		}

		// Status, logs, list.
		if r := get(t, srv.URL+"/task/status?task_id="+id); r.code != 200 || r.body["status"] != "SUCCESS" || r.body["build_status"] != "waiting" || r.body["message"] != "" {
			t.Fatalf("status %+v", r)
		}
		if r := get(t, srv.URL+"/task/logs?task_id="+id); r.code != 200 || r.body["logs_url"] != task.LogsURL {
			t.Fatalf("logs %+v", r)
		}
		_ = st.AppendLog(t.Context(), id, "cloning\n")
		if r := get(t, srv.URL+"/static/"+id+".log"); r.code != 200 || r.raw != "cloning\n" {
			t.Fatalf("static %+v", r)
		}
		r = get(t, srv.URL+"/task")
		data, _ := r.body["data"].([]any)
		if r.code != 200 || len(data) != 3 {
			t.Fatalf("list %+v", r)
		}
		// Tasks created within one millisecond tie on created_at, so find the first one by id.
		var item map[string]any
		for _, d := range data {
			if m := d.(map[string]any); m["task_id"] == id {
				item = m
			}
		}
		if item == nil || item["app_name"] != "iris" || item["image_tag"] != "iris_v1" || item["status"] != "waiting" || item["logs_url"] != task.LogsURL {
			t.Fatalf("item %+v in %+v", item, data)
		}
		// A page is the same slice of the same order.
		second := data[1].(map[string]any)["task_id"]
		if r := get(t, srv.URL+"/task?limit=1&offset=1"); len(r.body["data"].([]any)) != 1 || r.body["data"].([]any)[0].(map[string]any)["task_id"] != second {
			t.Fatalf("page %+v, want task %v", r, second)
		}
	})
}

func TestBadInput(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		srv, st := newServer(t, d)
		ok := url.Values{"app_name": {"iris"}, "image_tag": {"v1"}, "git_repo": {"https://github.com/o/r"}}
		with := func(k, v string) url.Values {
			c := url.Values{}
			for kk, vv := range ok {
				c[kk] = vv
			}
			if v == "<del>" {
				c.Del(k)
			} else {
				c.Set(k, v)
			}
			return c
		}
		forms := []struct {
			v     url.Values
			field string
		}{
			{with("app_name", "<del>"), "app_name"},
			{with("app_name", "Iris"), "app_name"},
			{with("app_name", "a/b"), "app_name"},
			{with("image_tag", "<del>"), "image_tag"},
			{with("image_tag", "v 1"), "image_tag"},
			{with("git_repo", "<del>"), "git_repo"},
			{with("git_repo", "--upload-pack=touch /tmp/x"), "git_repo"},
			{with("git_repo", "file:///etc"), "git_repo"},
			{with("branch", "-b"), "branch"},
			{with("branch", "a..b"), "branch"},
			{with("branch", "a b"), "branch"},
			{with("app_dir", "../x"), "app_dir"},
			{with("app_dir", "/abs"), "app_dir"},
		}
		for _, f := range forms {
			r := postForm(t, srv.URL+"/build_with_dockerfile", f.v)
			if r.code != 400 || r.body["status"] != "FAILED" || r.body["field"] != f.field || r.body["message"] == "" {
				t.Errorf("%v: %d %s", f.v, r.code, r.raw)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/build_with_dockerfile", strings.NewReader(`{"app_name":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		if r := do(t, req); r.code != 400 || r.body["field"] != "body" {
			t.Errorf("json to form endpoint: %d %s", r.code, r.raw)
		}
		big := url.Values{"app_name": {"iris"}, "image_tag": {"v1"}, "git_repo": {"https://g/r"}, "x": {strings.Repeat("a", httpapi.MaxBodyBytes)}}
		if r := postForm(t, srv.URL+"/build_with_dockerfile", big); r.code != 400 || r.body["field"] != "body" {
			t.Errorf("big form: %d %s", r.code, r.raw)
		}

		models := []struct {
			body, field string
		}{
			{``, "body"},
			{`[]`, "body"},
			{`{`, "body"},
			{`{} {}`, "body"},
			{`{"app_name":"iris","image_tag":"v1"}`, "model_uri"},
			{`{"app_name":"iris","image_tag":"v1","model_uri":"http://h/m","model_dir":"/m"}`, "model_dir"},
			{`{"app_name":"iris","image_tag":"v1","model_uri":"models:/iris/1"}`, "model_uri"},
			{`{"app_name":"iris","image_tag":"v1","model_uri":"file:///etc/passwd"}`, "model_uri"},
			{`{"app_name":"iris","image_tag":"v1","model_dir":"rel/dir"}`, "model_dir"},
			{`{"app_name":"iris","image_tag":"v1","model_dir":"/a/../b"}`, "model_dir"},
			{`{"app_name":1,"image_tag":"v1"}`, "app_name"},
			{`{"app_name":"iris","image_tag":"v1","model_uri":"http://h/m","bogus":1}`, "bogus"},
			{`{"app_name":"iris","image_tag":"v1","model_uri":"http://h/m","entrypoint":[""]}`, "entrypoint"},
			{`{"app_name":"iris","image_tag":"v1","model_uri":"http://h/m","base_image":"forbidden"}`, "base_image"},
			{`{"app_name":"iris","image_tag":"v1","model_uri":"http://h/m","base_image":"a b"}`, "base_image"},
		}
		for _, m := range models {
			r := postJSON(t, srv.URL+"/build_model_image", m.body)
			if r.code != 400 || r.body["status"] != "FAILED" || r.body["field"] != m.field {
				t.Errorf("%s: %d %s", m.body, r.code, r.raw)
			}
		}
		if r := postJSON(t, srv.URL+"/build_model_image", `{"app_name":"`+strings.Repeat("a", httpapi.MaxBodyBytes)+`"}`); r.code != 400 {
			t.Errorf("big json: %d", r.code)
		}
		for _, c := range []struct {
			path string
			code int
		}{
			{"/task/status", 400}, {"/task/status?task_id=", 400}, {"/task/logs", 400},
			{"/task/status?task_id=id-00000000000000000000000000000000", 404},
			{"/task/status?task_id=%27%20OR%201%3D1", 404}, {"/task/logs?task_id=nope", 404},
			{"/static/nope.log", 404}, {"/static/id-00000000000000000000000000000000.log", 404}, {"/static/x", 404},
			{"/task?limit=0", 400}, {"/task?limit=abc", 400}, {"/task?limit=1001", 400}, {"/task?offset=-1", 400},
			{"/nope", 404},
		} {
			r := get(t, srv.URL+c.path)
			if r.code != c.code || r.body["status"] != "FAILED" || r.body["message"] == "" {
				t.Errorf("%s: %d %s", c.path, r.code, r.raw)
			}
		}
		req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/task", nil)
		if r := do(t, req); r.code != 405 || r.body["status"] != "FAILED" {
			t.Errorf("DELETE /task: %d %s", r.code, r.raw)
		}
		// Nothing was written.
		if tasks, _ := st.Tasks(t.Context(), 100, 0); len(tasks) != 0 {
			t.Fatalf("%d tasks created by bad requests", len(tasks))
		}
	})
}
