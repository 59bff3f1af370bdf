package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
)

func TestMiddlewareAndRequire(t *testing.T) {
	t.Parallel()
	tokens := StaticTokens{"t0k": "bot@example.com"}
	tests := []struct {
		name      string
		headers   map[string]string
		wantEmail string
		wantSrc   string
		wantKind  apierr.Kind
		wantField string
	}{
		{"msd-user", map[string]string{"msd-user": `{"email": "a@example.com"}`}, "a@example.com", SourceMSDUser, 0, ""},
		{"extra keys tolerated", map[string]string{"msd-user": `{"email":"b@example.com","name":"B","id":7}`}, "b@example.com", SourceMSDUser, 0, ""},
		{"bearer", map[string]string{"Authorization": "Bearer t0k"}, "bot@example.com", SourceBearer, 0, ""},
		{"bearer wins", map[string]string{"Authorization": "bearer t0k", "msd-user": `{"email":"a@example.com"}`}, "bot@example.com", SourceBearer, 0, ""},
		{"missing", nil, "", "", apierr.InvalidArgument, "msd-user"},
		{"not json", map[string]string{"msd-user": "a@example.com"}, "", "", apierr.InvalidArgument, "msd-user"},
		{"json array", map[string]string{"msd-user": `["x"]`}, "", "", apierr.InvalidArgument, "msd-user"},
		{"empty email", map[string]string{"msd-user": `{"email":"  "}`}, "", "", apierr.InvalidArgument, "msd-user"},
		{"email not string", map[string]string{"msd-user": `{"email":5}`}, "", "", apierr.InvalidArgument, "msd-user"},
		{"unknown token", map[string]string{"Authorization": "Bearer nope"}, "", "", apierr.Unauthenticated, "Authorization"},
		{"basic auth ignored", map[string]string{"Authorization": "Basic eDp5"}, "", "", apierr.InvalidArgument, "msd-user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gotID Identity
			var gotErr error
			var fromCtxOK bool
			h := Middleware(tokens)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotID, gotErr = Require(r.Context())
				_, fromCtxOK = FromContext(r.Context())
			}))
			req := httptest.NewRequest("GET", "/", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if tt.wantKind != 0 {
				e := apierr.From(gotErr)
				if e == nil || e.Kind != tt.wantKind || e.Field != tt.wantField || fromCtxOK {
					t.Fatalf("Require err = %+v, FromContext ok=%v", e, fromCtxOK)
				}
				if e.Kind.HTTPStatus() >= 500 {
					t.Fatal("identity problems must be 4xx")
				}
				return
			}
			if gotErr != nil || gotID.Email != tt.wantEmail || gotID.Source != tt.wantSrc || !fromCtxOK {
				t.Fatalf("identity = %+v, err = %v", gotID, gotErr)
			}
		})
	}
}

func TestRequireWithoutMiddleware(t *testing.T) {
	t.Parallel()
	_, err := Require(t.Context())
	if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Message != "msd-user header is required" {
		t.Fatalf("err = %+v", e)
	}
	ctx := WithIdentity(t.Context(), Identity{Email: "x@example.com", Source: SourceMSDUser})
	if id, err := Require(ctx); err != nil || id.Email != "x@example.com" {
		t.Fatalf("WithIdentity: %v %v", id, err)
	}
}

func FuzzParseUserHeader(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.c"}`, `{}`, `null`, `"x"`, `{"email":null}`, `{"email":"\u0000"}`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseUserHeader(s)
		if err != nil {
			if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field != HeaderUser {
				t.Fatalf("unexpected error %+v", e)
			}
			return
		}
		if id.Email == "" || id.Source != SourceMSDUser {
			t.Fatalf("accepted %q as %+v", s, id)
		}
	})
}
