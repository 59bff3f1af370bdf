package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegistryAndHandler(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	c := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "darwin_test_things_total", Help: "x"}, []string{"k"}))
	again := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "darwin_test_things_total", Help: "x"}, []string{"k"}))
	if c != again {
		t.Fatal("Register did not return the existing collector")
	}
	again.WithLabelValues("a").Inc()
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`darwin_test_things_total{k="a"} 1`, "go_goroutines", "process_"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
	_ = Register[prometheus.Collector](nil, c)
}
