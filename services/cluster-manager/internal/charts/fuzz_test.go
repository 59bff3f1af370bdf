package charts

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// FuzzRenderRayCluster feeds arbitrary values documents to the ray-cluster
// chart: rendering must either succeed or fail with a *ValuesError, never
// panic or fail otherwise.
func FuzzRenderRayCluster(f *testing.F) {
	for _, name := range []string{"quickstart.values.json", "gpu.values.json", "multigroup.values.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"worker":{"replicas":"x"}}`))
	f.Add([]byte(`{"additionalWorkerGroups":{"wg1":null,"wg2":{"disabled":"true"}},"commands":"a\nb"}`))
	f.Add([]byte(`{"head":{"containerEnv":[{"name":"A","value":null}]},"labels":{"a/b":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var vals map[string]any
		if json.Unmarshal(data, &vals) != nil {
			return
		}
		_, err := Render(RayCluster, "id-fuzz", "ray", vals)
		var ve *ValuesError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("Render error is not a *ValuesError: %v", err)
		}
	})
}
