package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/artifact-builder/internal/httpapi"
)

// checkErr enforces the error contract of the decoders: nil, or an InvalidArgument naming a field.
func checkErr(t *testing.T, input any, err error) {
	t.Helper()
	if err == nil {
		return
	}
	e := apierr.From(err)
	if e.Kind != apierr.InvalidArgument || e.Field == "" || e.Message == "" {
		t.Fatalf("%q: %v (kind %v, field %q) is not a field InvalidArgument", input, err, e.Kind, e.Field)
	}
}

func FuzzDecodeModelRequest(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"a":1} {}`, `{`, strings.Repeat(`{"a":`, 50),
		`{"app_name":"iris","image_tag":"v1","model_uri":"https://h/iris.tar.gz","base_image":"python:3.11","entrypoint":["/serve","--port","8000"]}`,
		`{"app_name":"iris","image_tag":"v1","model_dir":"/models/iris"}`,
		`{"app_name":"iris","image_tag":"v1","model_dir":"/models/../etc"}`,
		`{"app_name":"Iris","image_tag":"-v","model_uri":"ftp://x"}`,
		`{"app_name":null,"image_tag":1,"entrypoint":"x"}`, "{\"app_name\":\"\xff\x00\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := httpapi.DecodeModelRequest(data)
		checkErr(t, data, err)
		if err == nil {
			if domain.ValidateAppName(req.AppName) != nil || domain.ValidateImageTag(req.ImageTag) != nil || (req.ModelURI == "") == (req.ModelDir == "") {
				t.Fatalf("%q accepted as %+v", data, req)
			}
		}
	})
}

func FuzzDecodeDockerfileRequest(f *testing.F) {
	for _, s := range []string{
		"", "app_name=iris&image_tag=v1&git_repo=https%3A%2F%2Fgithub.com%2Fo%2Fr",
		"app_name=iris&image_tag=v1&git_repo=git%40github.com%3Ao%2Fr.git&branch=feature%2Fx&app_dir=a%2Fb",
		"app_name=iris&image_tag=v1&git_repo=-oProxyCommand%3Dx", "app_name=%ff&image_tag=%00", "a=%zz", "&&&=&",
		"app_name=iris&image_tag=v1&git_repo=https%3A%2F%2Fh%2Fr&branch=..&app_dir=..%2F..",
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, multi bool, body string) {
		var req *http.Request
		if multi {
			// body is "k=v&k=v" turned into multipart fields plus, for the key "dockerfile", a file part.
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for _, kv := range strings.Split(body, "&") {
				k, v, _ := strings.Cut(kv, "=")
				if k == "dockerfile" {
					fw, _ := mw.CreateFormFile(k, "Dockerfile")
					_, _ = fw.Write([]byte(v))
					continue
				}
				_ = mw.WriteField(k, v)
			}
			_ = mw.Close()
			req, _ = http.NewRequest(http.MethodPost, "/build_with_dockerfile", &buf)
			req.Header.Set("Content-Type", mw.FormDataContentType())
		} else {
			req, _ = http.NewRequest(http.MethodPost, "/build_with_dockerfile", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		got, err := httpapi.DecodeDockerfileRequest(req)
		checkErr(t, body, err)
		if err == nil && (got.Branch == "" || strings.HasPrefix(got.GitRepo, "-") || strings.HasPrefix(got.Branch, "-") || slices.Contains(strings.Split(got.AppDir, "/"), "..")) {
			t.Fatalf("%q accepted as %+v", body, got)
		}
	})
}

func FuzzParsePage(f *testing.F) {
	for _, s := range [][2]string{{"", ""}, {"10", "20"}, {"0", "-1"}, {"1001", "0"}, {"1e3", "x"}, {"99999999999999999999", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, limit, offset string) {
		l, o, err := httpapi.ParsePage(limit, offset)
		checkErr(t, limit+"&"+offset, err)
		if err == nil && (l < 1 || l > httpapi.MaxPageSize || o < 0) {
			t.Fatalf("%q %q → %d %d", limit, offset, l, o)
		}
	})
}
