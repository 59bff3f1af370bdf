package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkComputeAPI measures compute's REST calls through darwin up beside a
// bare loopback HTTP round trip measured in the same run (the floor): compare
// the ns/op of each sub-benchmark with floor-loopback-http.
func BenchmarkComputeAPI(b *testing.B) {
	p := startDarwin(b, "", "-log.level=warn")
	// A stopped cluster (no processes) gives the reads something real to load.
	body := strings.Replace(seedClusterBody, `"start_cluster": true`, `"start_cluster": false`, 1)
	var env envelope
	if code := p.call(http.MethodPost, "/compute/cluster", nil, body, &env); code != http.StatusOK {
		b.Fatalf("create: %d", code)
	}
	var id string
	{
		var d struct {
			ClusterID string `json:"cluster_id"`
		}
		mustUnmarshal(b, env.Data, &d)
		id = d.ClusterID
	}

	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"SUCCESS","message":"OK","data":null}`)
	}))
	defer floor.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

	get := func(b *testing.B, url string) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d", url, resp.StatusCode)
		}
	}
	post := func(b *testing.B, url, body string) {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("POST %s = %d", url, resp.StatusCode)
		}
	}

	b.Run("floor-loopback-http", func(b *testing.B) {
		for b.Loop() {
			get(b, floor.URL)
		}
	})
	b.Run("get-metadata", func(b *testing.B) {
		for b.Loop() {
			get(b, p.base+"/compute/cluster/"+id+"/metadata")
		}
	})
	b.Run("get-cluster", func(b *testing.B) {
		for b.Loop() {
			get(b, p.base+"/compute/cluster/"+id)
		}
	})
	b.Run("search", func(b *testing.B) {
		for b.Loop() {
			post(b, p.base+"/compute/search", `{"query":"","filters":{},"page_size":100,"offset":0,"sort_by":"created_on","sort_order":"desc"}`)
		}
	})
	b.Run("create-cluster-no-start", func(b *testing.B) {
		for b.Loop() {
			post(b, p.base+"/compute/cluster", body)
		}
	})
}

func mustUnmarshal(b *testing.B, raw []byte, v any) {
	b.Helper()
	if err := jsonUnmarshal(raw, v); err != nil {
		b.Fatalf("decode %s: %v", raw, err)
	}
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }
