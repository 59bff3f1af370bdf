package libraries_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/libraries"
	"github.com/darwinml/darwin/services/compute/migrations"
)

// FuzzDecodeListParams covers the query of GET /cluster/{id}/library: a value within bounds or an
// InvalidArgument naming the parameter.
func FuzzDecodeListParams(f *testing.F) {
	for _, s := range []string{"", "key=numpy&sort_by=name&sort_order=asc&offset=0&page_size=10", "sort_by=size", "sort_order=up",
		"offset=-1", "page_size=0", "page_size=abc", "key=%00", "offset=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/cluster/id-x/library", RawQuery: query}}
		p, err := libraries.DecodeListParams(r)
		if err != nil {
			if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field == "" {
				t.Fatalf("%q: error is not an InvalidArgument naming a field: %v", query, err)
			}
			return
		}
		if p.Offset < 0 || p.PageSize < 1 || p.PageSize > libraries.MaxPageSize || !slices.Contains(libraries.SortColumns, p.SortBy) ||
			(p.SortOrder != "asc" && p.SortOrder != "desc") {
			t.Fatalf("%q: accepted %+v", query, p)
		}
	})
}

// FuzzUninstallBody sends arbitrary bodies to PUT /cluster/{id}/library/uninstall (which has no public
// decoder): the answer is always the envelope, never a 5xx, and a 400 names a field.
func FuzzUninstallBody(f *testing.F) {
	for _, s := range []string{`{"id":[1,2]}`, `{"id":[]}`, `{"id":"1"}`, `{"id":[1.5]}`, `{"id":[-1]}`, `{}`, `[]`, ``, `{"id":[1]} x`} {
		f.Add(s)
	}
	d := dbtest.Open(f, db.SQLite)
	if err := db.Migrate(f.Context(), d, migrations.Component, migrations.FS); err != nil {
		f.Fatal(err)
	}
	clusters := newFakeClusters()
	clusters.set("id-fuzz", "inactive", "")
	svc, err := libraries.NewService(libraries.Config{}, libraries.Deps{Store: libraries.NewStore(d), Clusters: clusters,
		Artifacts: &fakeArtifacts{}, Executor: newFakeExec(), Clock: clock.NewFake(t0)})
	if err != nil {
		f.Fatal(err)
	}
	r := chi.NewRouter()
	libraries.NewHandler(svc, nil).Routes(r)
	h := http.Handler(r)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/cluster/id-fuzz/library/uninstall", strings.NewReader(body)))
		var env struct {
			Status string          `json:"status"`
			Data   json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%q: answer is not an envelope: %s", body, rec.Body.String())
		}
		switch {
		case rec.Code >= 500:
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body.String())
		case rec.Code == http.StatusBadRequest && !strings.Contains(string(env.Data), `"field"`):
			t.Fatalf("%q: 400 without a field: %s", body, rec.Body.String())
		case rec.Code < 300 && env.Status != "SUCCESS":
			t.Fatalf("%q: %d with status %s", body, rec.Code, env.Status)
		}
	})
}

// FuzzDecoderErrors feeds one body to every public body decoder of this package: each gives a value or an
// InvalidArgument naming a field (the targets in handler_test.go check the decoded values).
func FuzzDecoderErrors(f *testing.F) {
	for _, s := range []string{`{"source":"pypi","body":{"name":"numpy"}}`, `{"packages":[{"source":"maven","body":{}}]}`,
		`{"command":["ls"],"target":"pod"}`, `{"remote_commands":[{"command":[]}]}`, `{"cluster_id":"c","status":"done"}`,
		`{"source":1}`, `[]`, `null`, ``, `{"a":1} {}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := func() *http.Request { return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)) }
		for name, decode := range map[string]func() error{
			"DecodeInstall":     func() error { _, err := libraries.DecodeInstall(req()); return err },
			"DecodeBatch":       func() error { _, err := libraries.DecodeBatch(req()); return err },
			"DecodeCommand":     func() error { _, err := libraries.DecodeCommand(req()); return err },
			"DecodeAddCommands": func() error { _, err := libraries.DecodeAddCommands(req()); return err },
			"DecodePodStatus":   func() error { _, err := libraries.DecodePodStatus(req()); return err },
		} {
			if err := decode(); err != nil {
				if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field == "" {
					t.Fatalf("%s(%q): error is not an InvalidArgument naming a field: %v", name, body, err)
				}
			}
		}
	})
}
