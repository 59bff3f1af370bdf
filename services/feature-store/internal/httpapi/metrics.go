package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/metrics"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

// handlerMetrics are the feature store's Prometheus metrics: requests per API, route pattern and status, their
// latency, online-store call latency and metadata cache hits/misses (read from the cache's counters at scrape).
type handlerMetrics struct {
	gatherer prometheus.Gatherer
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	store    *prometheus.HistogramVec
	storeObs map[string]prometheus.Observer // op NUL result
	// routes caches the per-(api, route) observer so the hot path skips the label hashing.
	routes sync.Map // routeKey → *routeMetrics
}

type routeMetrics struct {
	latency prometheus.Observer
	mu      sync.RWMutex
	byCode  map[int]prometheus.Counter
}

// latencyBuckets resolve the sub-millisecond read path.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

func newHandlerMetrics(reg *prometheus.Registry, c *metaCache) *handlerMetrics {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	m := &handlerMetrics{
		gatherer: reg,
		requests: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "darwin_feature_store_requests_total",
			Help: "Feature store HTTP requests by API (app, admin), route pattern and status code.",
		}, []string{"api", "route", "code"})),
		latency: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "darwin_feature_store_request_duration_seconds",
			Help:    "Feature store HTTP request latency by API and route pattern.",
			Buckets: latencyBuckets,
		}, []string{"api", "route"})),
		store: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "darwin_feature_store_online_store_duration_seconds",
			Help:    "Online store call latency by operation (read, write, read_partition) and result (ok, error).",
			Buckets: latencyBuckets,
		}, []string{"op", "result"})),
	}
	m.storeObs = map[string]prometheus.Observer{}
	for _, op := range []string{"read", "write", "read_partition"} {
		for _, res := range []string{"ok", "error"} {
			m.storeObs[op+"\x00"+res] = m.store.WithLabelValues(op, res)
		}
	}
	for _, res := range []string{"hit", "miss"} {
		hit := res == "hit"
		metrics.Register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "darwin_feature_store_metadata_cache_requests_total",
			Help:        "App metadata cache lookups by result (hit, miss).",
			ConstLabels: prometheus.Labels{"result": res},
		}, func() float64 {
			if hit {
				return float64(c.hits.Load())
			}
			return float64(c.misses.Load())
		}))
	}
	return m
}

type routeKey struct{ api, route string }

func (m *handlerMetrics) route(api, route string) *routeMetrics {
	key := routeKey{api, route}
	if v, ok := m.routes.Load(key); ok {
		return v.(*routeMetrics)
	}
	rm := &routeMetrics{latency: m.latency.WithLabelValues(api, route), byCode: map[int]prometheus.Counter{}}
	v, _ := m.routes.LoadOrStore(key, rm)
	return v.(*routeMetrics)
}

func (m *handlerMetrics) observe(api, route string, status int, d time.Duration) {
	rm := m.route(api, route)
	rm.latency.Observe(d.Seconds())
	rm.mu.RLock()
	c := rm.byCode[status]
	rm.mu.RUnlock()
	if c == nil {
		c = m.requests.WithLabelValues(api, route, strconv.Itoa(status))
		rm.mu.Lock()
		rm.byCode[status] = c
		rm.mu.Unlock()
	}
	c.Inc()
}

// statusWriter records the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument is the per-route middleware (installed with chi's With, so the route pattern is known): it counts
// the request by status and observes its latency.
func (h *Handler) instrument(api string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && len(rc.RoutePatterns) > 0 {
				route = rc.RoutePatterns[len(rc.RoutePatterns)-1]
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			h.obs.observe(api, route, status, time.Since(start))
		})
	}
}

// serveMetrics answers GET /metrics in the Prometheus exposition format.
func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	metrics.GathererHandler(h.obs.gatherer).ServeHTTP(w, r)
}

func (h *Handler) timeStore(op string, start time.Time, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	h.obs.storeObs[op+"\x00"+res].Observe(time.Since(start).Seconds())
}

// storeRead is h.online.Read, timed.
func (h *Handler) storeRead(ctx context.Context, ops []online.ReadOp) ([]online.ReadResult, error) {
	start := time.Now()
	rr, err := h.online.Read(ctx, ops)
	h.timeStore("read", start, err)
	return rr, err
}

// storeWrite is h.online.Write, timed.
func (h *Handler) storeWrite(ctx context.Context, ops []online.WriteOp) error {
	start := time.Now()
	err := h.online.Write(ctx, ops)
	h.timeStore("write", start, err)
	return err
}
