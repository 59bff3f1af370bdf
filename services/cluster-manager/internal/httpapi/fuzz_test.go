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
