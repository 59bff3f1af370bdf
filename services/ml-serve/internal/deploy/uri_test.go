package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/darwinml/darwin/services/ml-serve/internal/deploy"
)

func TestParseModelURI(t *testing.T) {
	good := map[string]deploy.URI{
		"models:/iris/1":                      {Scheme: "models", Name: "iris", Ref: "1"},
		"models:/iris/Production":             {Scheme: "models", Name: "iris", Ref: "Production"},
		"models:/team/iris/2":                 {Scheme: "models", Name: "team/iris", Ref: "2"},
		"models:/iris@champion":               {Scheme: "models", Name: "iris", Alias: "champion"},
		"runs:/abc/model":                     {Scheme: "runs", RunID: "abc", Path: "model"},
		"runs:/abc/a/b/":                      {Scheme: "runs", RunID: "abc", Path: "a/b"},
		"mlflow-artifacts:/1/abc/artifacts/m": {Scheme: "mlflow-artifacts", Path: "1/abc/artifacts/m"},
		"mlflow-artifacts://host:5000/1/x":    {Scheme: "mlflow-artifacts", Path: "1/x"},
		"s3://bucket/k/m":                     {Scheme: "s3", Host: "bucket", Path: "k/m"},
		"gs://bucket/m":                       {Scheme: "gs", Host: "bucket", Path: "m"},
		"file:///models/iris":                 {Scheme: "file", Path: "/models/iris"},
		"https://example.com/m.tar.gz":        {Scheme: "https", Host: "example.com", Path: "m.tar.gz"},
		"http://example.com":                  {Scheme: "http", Host: "example.com"},
	}
	for in, want := range good {
		got, err := deploy.ParseModelURI(in)
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := []string{"", "iris", "models:/", "models:/iris", "models:/iris/", "models://iris/1", "models:/@x", "models:/iris@",
		"runs:/", "runs:/abc", "runs:/abc/", "runs://abc/m", "runs:/abc/../x", "mlflow-artifacts:/", "mlflow-artifacts:/a//b",
		"s3://", "s3://bucket", "s3://bucket/", "gs:///x", "file://host/x", "file:///", "http:///x", "ftp://h/x",
		"models:/iris/1 ", "models:/ir is/1", "runs:/a/\x00", strings.Repeat("s3://b/", 200)}
	for _, in := range bad {
		_, err := deploy.ParseModelURI(in)
		var im *deploy.InvalidModelError
		if !errors.As(err, &im) || im.Hint == "" {
			t.Errorf("%q: want InvalidModelError, got %v", in, err)
		}
	}
}

func TestRecorderContract(t *testing.T) {
	ctx := context.Background()
	r := deploy.NewRecorder()
	if st, err := r.Status(ctx, deploy.Ref{ResourceID: "a"}); err != nil || st.Exists {
		t.Fatalf("status of nothing: %+v %v", st, err)
	}
	if err := r.Stop(ctx, deploy.Ref{ResourceID: "a"}); !errors.Is(err, deploy.ErrNotFound) {
		t.Fatalf("stop of nothing: %v", err)
	}
	if err := r.Apply(ctx, deploy.Resource{ResourceID: "a", Values: map[string]any{"v": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, deploy.Resource{ResourceID: "a", Values: map[string]any{"v": 2}}); err != nil {
		t.Fatal(err)
	}
	if res, ok := r.Running("a"); !ok || res.Values["v"] != 2 || r.RunningIDs() != 1 {
		t.Fatalf("upgrade: %+v", res)
	}
	if st, _ := r.Status(ctx, deploy.Ref{ResourceID: "a"}); !st.Exists || !st.Ready {
		t.Fatalf("status: %+v", st)
	}
	r.FailApply = errors.New("boom")
	if err := r.Apply(ctx, deploy.Resource{ResourceID: "b"}); err == nil {
		t.Fatal("FailApply ignored")
	}
	if _, ok := r.Running("b"); ok {
		t.Fatal("failed apply changed state")
	}
	if err := r.Stop(ctx, deploy.Ref{ResourceID: "a"}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Calls()); n != 7 {
		t.Fatalf("calls = %d", n)
	}
}

func TestSyntaxResolver(t *testing.T) {
	info, err := deploy.SyntaxResolver{}.Resolve(context.Background(), "models:/m/1")
	if err != nil || info.SizeKnown || info.Scheme != "models" {
		t.Fatalf("%+v %v", info, err)
	}
	if _, err := (deploy.SyntaxResolver{}).Resolve(context.Background(), "nope"); err == nil {
		t.Fatal("accepted nope")
	}
}
