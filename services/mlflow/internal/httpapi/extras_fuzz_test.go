package httpapi

import (
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
)

// FuzzDecodeExtras feeds arbitrary bodies to the log-inputs and log-model decoders and their validation, and
// arbitrary strings to the artifact path, artifact URI, model_json and experiment-search parsers: every error
// must be a client error (BAD_REQUEST or INVALID_PARAMETER_VALUE), never a panic or an internal error.
func FuzzDecodeExtras(f *testing.F) {
	for _, s := range []string{
		`{}`, ``, `{"run_id":"r","datasets":[{"tags":[{"key":"mlflow.data.context","value":"training"}],"dataset":{"name":"d","digest":"x","source_type":"local","source":"s","schema":"{}","profile":"{}"}}]}`,
		`{"run_id":"r","datasets":[{"dataset":null}]}`, `{"datasets":[{"tags":[{"key":"k"}]}]}`, `{"datasets":"x"}`, `{"datasets":[1]}`,
		`{"run_id":"r","model_json":"{\"artifact_path\":\"m\",\"flavors\":{},\"run_id\":\"r\",\"utc_time_created\":\"t\"}"}`,
		`{"model_json":"[1]"}`, `{"model_json":"null"}`, `{"model_json":{}}`, `{"run_id":1}`, `[`,
		"a/../b", "..", "/etc/passwd", "C:\\x", "a\x00b", "model/", "mlflow-artifacts:/0/r/artifacts", "mlflow-artifacts://host:5000/1/r",
		"s3://b/k", "name LIKE '%x%' AND tags.`a b` = 'v'", "creation_time > 12 AND last_update_time <= 5", "name = 'unterminated",
		"attribute.name ILIKE 'A_%'", "tags.k IN ('a')",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var li logInputsReq
		err := decodeJSON(body, &li)
		checkDecodeErr(t, err)
		if err == nil {
			inputs, err := li.toDatasetInputs()
			checkDecodeErr(t, err)
			if err == nil {
				checkDecodeErr(t, domain.ValidateDatasetInputs(inputs))
			}
		}
		var lm logModelReq
		err = decodeJSON(body, &lm)
		checkDecodeErr(t, err)
		if err == nil && lm.ModelJSON != nil {
			if raw, err := parseModelJSON(*lm.ModelJSON); err != nil {
				checkDecodeErr(t, err)
			} else if len(raw) == 0 || raw[0] != '{' && !strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
				t.Fatalf("accepted model_json that is not an object: %q", raw)
			}
		}

		s := string(body)
		checkDecodeErr(t, func() error { _, err := parseModelJSON(s); return err }())
		for _, dir := range []bool{false, true} {
			p, err := cleanArtifactPath(s, dir)
			checkDecodeErr(t, err)
			if err == nil && p != "" {
				// An accepted path is a valid object key with no ".." segment.
				if blob.ValidateKey(p) != nil || strings.Contains("/"+p+"/", "/../") {
					t.Fatalf("cleanArtifactPath(%q) accepted %q", s, p)
				}
			}
			if err == nil && p == "" && !dir {
				t.Fatalf("cleanArtifactPath(%q, false) accepted the empty path", s)
			}
		}
		if key, err := proxiedKey("r", s); err == nil {
			if key != "" && blob.ValidateKey(key) != nil {
				t.Fatalf("proxiedKey(%q) = %q, not a valid key", s, key)
			}
		} else if !apierr.Is(err, apierr.InvalidArgument) {
			t.Fatalf("proxiedKey error kind %v", apierr.KindOf(err))
		}
		f, err := search.ParseExperimentFilter(s)
		checkDecodeErr(t, err)
		if err == nil {
			for _, c := range f.Comparisons {
				if c.Entity != search.Attribute && c.Entity != search.Tag {
					t.Fatalf("experiment filter %q yielded entity %s", s, c.Entity)
				}
			}
		}
		_, err = search.ParseExperimentOrderBy(strings.Split(s, ","))
		checkDecodeErr(t, err)
	})
}
