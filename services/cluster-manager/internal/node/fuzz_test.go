package node_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/node"
)

func FuzzDecodeSubmit(f *testing.F) {
	base := f.TempDir()
	for _, s := range []string{
		`{"entrypoint":"python x.py"}`,
		`{"entrypoint":"echo","submission_id":"raysubmit_1","runtime_env":{"env_vars":{"A":"b"},"working_dir":"."},"metadata":{"k":"v"}}`,
		`{"entrypoint":"x","entrypoint_num_cpus":1.5,"entrypoint_resources":{"GPU":1}}`,
		`{"entrypoint":"x","runtime_env":{"working_dir":"s3://b/k"}}`,
		`{"entrypoint":5}`, `[]`, ``, `{"runtime_env":null,"entrypoint":"a"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := node.DecodeSubmit(bytes.NewReader(data), base)
		if err != nil {
			if apierr.KindOf(err) != apierr.InvalidArgument {
				t.Fatalf("decode error of kind %v: %v", apierr.KindOf(err), err)
			}
			return
		}
		if strings.TrimSpace(req.Entrypoint) == "" {
			t.Fatalf("accepted an empty entrypoint from %q", data)
		}
	})
}

func FuzzDecodeExec(f *testing.F) {
	for _, s := range []string{`{"execution_id":"e1","command":"true","timeout_seconds":5}`, `{"execution_id":"../x"}`, `{}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := node.DecodeExec(bytes.NewReader(data))
		if err != nil {
			if apierr.KindOf(err) != apierr.InvalidArgument {
				t.Fatalf("decode error of kind %v: %v", apierr.KindOf(err), err)
			}
			return
		}
		if req.Command == "" || strings.ContainsAny(req.ExecutionID, "/\\") || req.TimeoutSeconds < 0 {
			t.Fatalf("accepted %+v", req)
		}
	})
}
