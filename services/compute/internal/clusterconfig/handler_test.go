package clusterconfig_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/compute/internal/clusterconfig"
	"github.com/darwinml/darwin/services/compute/internal/envelope/envelopetest"
	"github.com/darwinml/darwin/services/compute/migrations"
)

func newServer(t *testing.T) http.Handler {
	t.Helper()
	d := dbtest.Open(t, db.SQLite)
	if err := db.Migrate(t.Context(), d, migrations.Component, migrations.FS); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	clusterconfig.NewHandler(clusterconfig.NewStore(d), nil).Routes(r)
	return r
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h := newServer(t)
	steps := []struct {
		name, method, path, body string
		wantCode                 int
		wantStatus               string
		wantMessage              string // substring
		wantData                 string // exact JSON when set
	}{
		{"get seeded", "GET", "/cluster-config/cloud_env", "", 200, "SUCCESS", "", `{"value":"kind-0"}`},
		{"get missing", "GET", "/cluster-config/nope", "", 404, "ERROR", "not found", ""},
		{"list page", "GET", "/cluster-config?offset=0&limit=2", "", 200, "SUCCESS", "", `[{"key":"RSS_PER_FSX_CLAIM_NUM","value":"1"},{"key":"RSS_TOTAL_FSX_NUM","value":"1"}]`},
		{"list past end is 404", "GET", "/cluster-config?offset=50&limit=10", "", 404, "ERROR", "", ""},
		{"list bad offset", "GET", "/cluster-config?offset=x", "", 400, "ERROR", "offset", ""},
		{"list bad limit", "GET", "/cluster-config?limit=0", "", 400, "ERROR", "limit", ""},
		{"create", "POST", "/cluster-config", `{"key":"k1","value":"v1"}`, 201, "SUCCESS", "Cluster config created successfully", `{"key":"k1","value":"v1"}`},
		{"create duplicate", "POST", "/cluster-config", `{"key":"k1","value":"v2"}`, 409, "ERROR", "already exists", ""},
		{"create without key", "POST", "/cluster-config", `{"value":"v"}`, 400, "ERROR", "key", ""},
		{"create without value", "POST", "/cluster-config", `{"key":"k2"}`, 400, "ERROR", "value", ""},
		{"create with numeric value", "POST", "/cluster-config", `{"key":"k2","value":1}`, 400, "ERROR", "value", ""},
		{"create malformed", "POST", "/cluster-config", `{"key":`, 400, "ERROR", "body", ""},
		{"create empty body", "POST", "/cluster-config", ``, 400, "ERROR", "body", ""},
		{"update", "PUT", "/cluster-config/k1", `{"value":"v3"}`, 201, "SUCCESS", "updated", `{"key":"k1","value":"v3"}`},
		{"get updated", "GET", "/cluster-config/k1", "", 200, "SUCCESS", "", `{"value":"v3"}`},
		{"update missing", "PUT", "/cluster-config/zzz", `{"value":"v"}`, 404, "ERROR", "", ""},
		{"update without value", "PUT", "/cluster-config/k1", `{}`, 400, "ERROR", "value", ""},
	}
	for _, st := range steps { // sequential: steps build on each other
		env := envelopetest.Do(t, h, st.method, st.path, st.body, nil)
		if env.Code != st.wantCode || env.Status != st.wantStatus {
			t.Errorf("%s: got %d %s (%s), want %d %s", st.name, env.Code, env.Status, env.Message, st.wantCode, st.wantStatus)
			continue
		}
		if !strings.Contains(env.Message, st.wantMessage) {
			t.Errorf("%s: message %q does not contain %q", st.name, env.Message, st.wantMessage)
		}
		if st.wantData != "" && string(env.Data) != st.wantData {
			t.Errorf("%s: data = %s, want %s", st.name, env.Data, st.wantData)
		}
	}
}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{`{"key":"a","value":"b"}`, `{"key":1}`, `{"key":"a","value":null}`, `[]`, `{"key":"\u0000","value":""}`, `{} {}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/cluster-config", strings.NewReader(body))
		e, err := clusterconfig.DecodeCreate(req)
		if err == nil && (clusterconfig.ValidateKey(e.Key) != nil || clusterconfig.ValidateValue(e.Value) != nil) {
			t.Fatalf("accepted invalid entry %+v from %q", e, body)
		}
	})
}
