package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
)

// checkDecodeErr requires decode errors to be BAD_REQUEST or INVALID_PARAMETER_VALUE, never internal.
func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var br *badRequest
	if errors.As(err, &br) {
		return
	}
	if !apierr.Is(err, apierr.InvalidArgument) {
		t.Fatalf("decode error of kind %v: %v", apierr.KindOf(err), err)
	}
	if code, status := ErrorCode(err); code != "INVALID_PARAMETER_VALUE" || status != 400 {
		t.Fatalf("decode error maps to %s %d", code, status)
	}
}

func FuzzDecodeRequests(f *testing.F) {
	for _, s := range []string{
		`{}`, ``, `{"run_id":"abc","metrics":[{"key":"m","value":"NaN","timestamp":"12","step":1}],"params":[{"key":"p","value":"v"}]}`,
		`{"name":"e","tags":[{"key":"k","value":"v"}]}`, `{"value":1e400}`, `{"timestamp":1.5}`, `{"step":"-Infinity"}`,
		`{"experiment_ids":["0"],"max_results":"10","page_token":"eyJvZmZzZXQiOjJ9"}`, `[1]`, `{"a":1} {}`, `{"value":"Infinity"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		targets := []any{&logBatchReq{}, &logMetricReq{}, &createRunReq{}, &updateRunReq{}, &runReq{}, &createExperimentReq{},
			&experimentReq{}, &searchRunsReq{}, &searchExperimentsReq{}}
		for _, dst := range targets {
			checkDecodeErr(t, decodeJSON(body, dst))
		}
		var lb logBatchReq
		if err := decodeJSON(body, &lb); err == nil {
			// A decoded request re-encodes and decodes to the same values (NaN compared as NaN).
			b, err := json.Marshal(lb)
			if err != nil {
				return // Double fields in requests marshal through Double.MarshalJSON; errors are impossible
			}
			var again logBatchReq
			if err := decodeJSON(b, &again); err != nil {
				t.Fatalf("re-decode %s: %v", b, err)
			}
			if len(again.Metrics) != len(lb.Metrics) || len(again.Params) != len(lb.Params) || len(again.Tags) != len(lb.Tags) {
				t.Fatalf("round trip changed lengths: %s", b)
			}
			for i, m := range lb.Metrics {
				a := again.Metrics[i]
				if (m.Value == nil) != (a.Value == nil) || (m.Value != nil && !sameFloat(float64(*m.Value), float64(*a.Value))) {
					t.Fatalf("metric %d value changed: %s", i, b)
				}
			}
		}
		if off, err := decodeToken(string(body)); err == nil {
			if off < 0 {
				t.Fatalf("negative offset %d", off)
			}
		} else {
			checkDecodeErr(t, err)
		}
	})
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func FuzzScalars(f *testing.F) {
	for _, s := range []string{`1`, `"1"`, `-9223372036854775808`, `"NaN"`, `1e3`, `"x"`, `null`, `1.5`, `9.3e18`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var i Int64
		_ = i.UnmarshalJSON([]byte(s))
		var d Double
		if err := d.UnmarshalJSON([]byte(s)); err == nil {
			b, err := d.MarshalJSON()
			if err != nil {
				t.Fatalf("marshal %v: %v", float64(d), err)
			}
			var d2 Double
			if err := d2.UnmarshalJSON(b); err != nil || !sameFloat(float64(d), float64(d2)) {
				t.Fatalf("double round trip %s -> %s -> %v (%v)", s, b, float64(d2), err)
			}
		}
	})
}

func TestScalars(t *testing.T) {
	for in, want := range map[string]int64{`12`: 12, `"12"`: 12, `1e3`: 1000, `5.0`: 5, `"-7"`: -7} {
		var v Int64
		if err := v.UnmarshalJSON([]byte(in)); err != nil || int64(v) != want {
			t.Errorf("Int64(%s) = %d, %v", in, v, err)
		}
	}
	for _, bad := range []string{`1.5`, `"x"`, `true`, `1e30`} {
		var v Int64
		if err := v.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("Int64(%s) accepted", bad)
		}
	}
	for in, want := range map[string]float64{`"Infinity"`: math.Inf(1), `"-Infinity"`: math.Inf(-1), `0.5`: 0.5, `"2.5"`: 2.5} {
		var v Double
		if err := v.UnmarshalJSON([]byte(in)); err != nil || float64(v) != want {
			t.Errorf("Double(%s) = %v, %v", in, v, err)
		}
	}
	var req logMetricReq
	if err := decodeJSON([]byte(`{"step": null, "value": null, "timestamp": "5"}`), &req); err != nil || req.Step != 0 || req.Value != nil || *req.Timestamp != 5 {
		t.Errorf("null fields: %+v, %v", req, err)
	}
	var v Double
	if err := v.UnmarshalJSON([]byte(`"NaN"`)); err != nil || !math.IsNaN(float64(v)) {
		t.Errorf("Double(NaN) = %v, %v", v, err)
	}
	if err := v.UnmarshalJSON([]byte(`"nan?"`)); err == nil {
		t.Error("Double accepted garbage")
	}
	if _, err := decodeToken(encodeToken(42)); err != nil {
		t.Fatal(err)
	}
	if off, _ := decodeToken(encodeToken(42)); off != 42 {
		t.Fatalf("token offset = %d", off)
	}
}
