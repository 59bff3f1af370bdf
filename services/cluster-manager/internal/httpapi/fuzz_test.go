package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/httpapi"
)

func FuzzDecodeClusterUpload(f *testing.F) {
	ct, body := multipartBody(&testing.T{}, part{name: "cluster_name", value: "id-1"}, part{name: "artifact_name", value: "a"}, part{name: "file", value: values, file: true})
	f.Add(ct, body.Bytes())
	f.Add("multipart/form-data; boundary=xyz", []byte("--xyz\r\nContent-Disposition: form-data; name=\"cluster_name\"\r\n\r\nx\r\n--xyz--\r\n"))
	f.Add("application/x-www-form-urlencoded", []byte("cluster_name=a"))
	f.Add("multipart/form-data", []byte(""))
	f.Fuzz(func(t *testing.T, contentType string, data []byte) {
		req := httptest.NewRequest(http.MethodPost, "/compute/v2/cluster", bytes.NewReader(data))
		req.Header.Set("Content-Type", contentType)
		up, err := httpapi.DecodeClusterUpload(httptest.NewRecorder(), req)
		if err != nil {
			if k := apierr.KindOf(err); k != apierr.InvalidArgument {
				t.Fatalf("error kind %v: %v", k, err)
			}
			return
		}
		if up.ClusterName == "" || up.ArtifactName == "" || len(up.Values) == 0 || strings.Contains(up.ClusterName, "_") {
			t.Fatalf("accepted %+v", up)
		}
	})
}

func FuzzDecodeExecute(f *testing.F) {
	for _, s := range []string{
		`{"kube_cluster":"kind","kube_namespace":"ray","label_selector":"rayCluster=id-1-kuberay,ray.io/node-type=head","container_name":"ray-head","command":"ls"}`,
		`{"label_selector":"rayCluster=x-kuberay","command":["sh","-c","echo"]}`,
		`{"label_selector":",,=","command":[""]}`, `{}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := httpapi.DecodeExecute(bytes.NewReader(data))
		if err != nil {
			if k := apierr.KindOf(err); k != apierr.InvalidArgument {
				t.Fatalf("error kind %v: %v", k, err)
			}
			return
		}
		if req.Cluster == "" || req.Shell == "" {
			t.Fatalf("accepted without cluster: %+v", req)
		}
		switch req.Target {
		case "head", "worker", "cluster":
		default:
			t.Fatalf("target %q", req.Target)
		}
	})
}

func FuzzDecodeResourceRequest(f *testing.F) {
	for _, s := range []string{
		`{"artifact_id":"local-iris-1","darwin_resource":"darwin-fastapi-serve","version":"1.0.0","values":{"replicas":{"min":2},"env":{"A":"b"}}}`,
		`{"resource_id":"local-iris","artifact_id":"local-iris-1","kube_cluster":"kind-0","kube_namespace":"serve","darwin_resource":"darwin-fastapi-serve"}`,
		`{"resource_id":"x","values":null}`, `{"values":[]}`, `{"artifact_id":1}`, `{}`, `null`, `[]`, `{"values":{"a":1e999}}`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mandatory := range [][]string{nil, {"artifact_id", "darwin_resource"}, {"artifact_id", "darwin_resource", "values"}, {"resource_id"}} {
			req, err := httpapi.DecodeResourceRequest(bytes.NewReader(data), mandatory...)
			if err != nil {
				if k := apierr.KindOf(err); k != apierr.InvalidArgument {
					t.Fatalf("error kind %v: %v", k, err)
				}
				continue
			}
			for _, m := range mandatory {
				switch m {
				case "values":
					if req.Values == nil {
						t.Fatalf("accepted without values: %+v", req)
					}
				case "artifact_id":
					if req.ArtifactID == "" {
						t.Fatalf("accepted without artifact_id")
					}
				case "resource_id":
					if req.ResourceID == "" {
						t.Fatalf("accepted without resource_id")
					}
				}
			}
		}
	})
}
