package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
)

func TestStorageFor(t *testing.T) {
	cases := []struct {
		strategy string
		size     int64
		known    bool
		want     string
	}{
		{"auto", 0, false, "emptydir"},
		{"auto", domain.PVCThresholdBytes - 1, true, "emptydir"},
		{"auto", domain.PVCThresholdBytes, true, "pvc"},
		{"auto", 50 << 30, false, "emptydir"},
		{"pvc", 1, true, "pvc"},
		{"emptydir", 50 << 30, true, "emptydir"},
	}
	for _, c := range cases {
		if got := domain.StorageFor(c.strategy, c.size, c.known); got != c.want {
			t.Errorf("%+v: got %s", c, got)
		}
	}
}

func TestLaxScalars(t *testing.T) {
	var v struct {
		I  domain.Int      `json:"i"`
		N  domain.Number   `json:"n"`
		L  domain.StrList  `json:"l"`
		L2 domain.StrList  `json:"l2"`
		E  domain.EnvValue `json:"e"`
		B  domain.EnvValue `json:"b"`
	}
	if err := json.Unmarshal([]byte(`{"i":"4","n":"0.5","l":"a, b,,c","l2":["x"],"e":12.5,"b":true}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.I != 4 || v.N != 0.5 || len(v.L) != 3 || v.L[2] != "c" || v.L2[0] != "x" || v.E != "12.5" || v.B != "true" {
		t.Fatalf("%+v", v)
	}
	if err := json.Unmarshal([]byte(`{"i":4.0}`), &v); err != nil || v.I != 4 {
		t.Fatalf("4.0: %v", err)
	}
	for _, bad := range []string{`{"i":4.5}`, `{"i":"x"}`, `{"i":true}`, `{"i":1e300}`, `{"n":"nan"}`, `{"n":[]}`, `{"l":3}`, `{"e":{}}`} {
		err := json.Unmarshal([]byte(bad), &v)
		te, ok := err.(*json.UnmarshalTypeError)
		if !ok || te.Field == "" {
			t.Errorf("%s: want a field type error, got %v", bad, err)
		}
	}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"a", "iris-classifier", "My.Model2"} {
		if err := domain.ValidateServeName("name", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a_b", "-a", "a-", "a b", "a/b", "deploy-model", "UNDEPLOY-MODEL", "é"} {
		if err := domain.ValidateServeName("name", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := domain.SanitizeSpace("Jane.Doe@Example.com"); got != "jane-doe-example-com" {
		t.Errorf("space %q", got)
	}
	if got := domain.SanitizeSpace("__"); got != "default" {
		t.Errorf("space %q", got)
	}
	for in, want := range map[string]string{"spot": "spot", "SPOT": "spot", "ondemand": "on-demand", "on-demand": "on-demand", "on_demand": "on-demand"} {
		if got, ok := domain.NormalizeCapacity(in); !ok || got != want {
			t.Errorf("%s → %s", in, got)
		}
	}
	if _, ok := domain.NormalizeCapacity("reserved"); ok {
		t.Error("reserved accepted")
	}
}

func TestDeployModelDefaults(t *testing.T) {
	var r domain.DeployModelRequest
	if err := json.Unmarshal([]byte(`{"serve_name":"Iris","model_uri":"models:/m/1","env":"local"}`), &r); err != nil {
		t.Fatal(err)
	}
	d, err := r.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := domain.DeployModel{ServeName: "iris", ArtifactVersion: "v1", ModelURI: "models:/m/1", Env: "local", StorageStrategy: "auto", Cores: 4, Memory: 8, MinReplicas: 1, MaxReplicas: 1, NodeCapacity: "spot"}
	if d != want {
		t.Fatalf("%+v", d)
	}
}
