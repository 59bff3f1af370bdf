// Package httpapi serves the feature store's REST APIs: ofs-admin (metadata; RegisterAdmin) and ofs-app (online
// reads and writes; RegisterApp), with the original's envelope: {"data": ...} on success (always HTTP 200) and
// {"error": {"message", "cause", "code"}} with the catalogue's status on failure.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/envelope"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
)

// Body limits.
const (
	MaxAdminBodyBytes = 1 << 20
	MaxAppBodyBytes   = 16 << 20
)

// Options configure the handler.
type Options struct {
	// CacheTTL bounds how long the app trusts cached metadata (changes made through this process's admin routes
	// invalidate at once; the bound covers admin running elsewhere). 0 means 30 s; negative caches forever.
	CacheTTL time.Duration
	Logger   *slog.Logger
	// Registry receives the feature store's metrics (metrics.go); nil uses a private registry. GET /metrics on the
	// app routes serves it.
	Registry *prometheus.Registry
}

// Handler serves both APIs over one metadata store and one online store.
type Handler struct {
	meta   *store.Store
	online online.Store
	log    *slog.Logger
	cache  *metaCache
	obs    *handlerMetrics
}

// New returns a handler.
func New(meta *store.Store, on online.Store, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ttl := opts.CacheTTL
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	c := newMetaCache(ttl)
	return &Handler{meta: meta, online: on, log: opts.Logger, cache: c, obs: newHandlerMetrics(opts.Registry, c)}
}

// InvalidateCache drops every cached feature group (after a metadata change made outside this handler).
func (h *Handler) InvalidateCache() { h.cache.clear() }

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, &domain.Error{Code: domain.Code{Name: "NOT-FOUND", Status: http.StatusNotFound}, Message: "route not found", Cause: "route not found"})
}

func methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	writeError(w, &domain.Error{Code: domain.Code{Name: "METHOD-NOT-ALLOWED", Status: http.StatusMethodNotAllowed}, Message: "method not allowed", Cause: "method not allowed"})
}

func health(w http.ResponseWriter, _ *http.Request) {
	writeData(w, map[string]string{"status": "UP"})
}

type errorBody = envelope.ErrorBody

func writeJSON(w http.ResponseWriter, status int, v any) { envelope.JSON(w, status, v) }

func writeData(w http.ResponseWriter, data any) { envelope.Data(w, data) }

func writeError(w http.ResponseWriter, err error) { envelope.Error(w, err) }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := domain.As(err)
	if e.Code.Status >= 500 {
		h.log.Error("feature store request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code.Name, "err", err)
	}
	writeError(w, e)
}

func decodeBytes(body []byte, limit int64, c domain.Code, v any) error {
	if int64(len(body)) > limit {
		return domain.E(c, "request body exceeds %d bytes", limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return domain.E(c, "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return domain.E(c, "invalid value for %s: expected %s", te.Field, te.Type)
		}
		return domain.E(c, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return domain.E(c, "invalid JSON body: trailing data")
	}
	return nil
}

func isTrue(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

// metaCache holds resolved feature group versions for the app routes.
type metaCache struct {
	ttl    time.Duration
	mu     sync.RWMutex
	byKey  map[string]*resolved // name NUL version
	latest map[string]cachedLatest
	// hits and misses count get's answers (metrics.go).
	hits, misses atomic.Uint64
}

type cachedLatest struct {
	version string
	at      time.Time
}

func newMetaCache(ttl time.Duration) *metaCache {
	return &metaCache{ttl: ttl, byKey: map[string]*resolved{}, latest: map[string]cachedLatest{}}
}

func (c *metaCache) fresh(at time.Time) bool { return c.ttl < 0 || time.Since(at) < c.ttl }

func (c *metaCache) get(name, version string) *resolved {
	r := c.lookup(name, version)
	if r == nil {
		c.misses.Add(1)
	} else {
		c.hits.Add(1)
	}
	return r
}

func (c *metaCache) lookup(name, version string) *resolved {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if version == "" {
		l, ok := c.latest[name]
		if !ok || !c.fresh(l.at) {
			return nil
		}
		version = l.version
	}
	r := c.byKey[name+"\x00"+version]
	if r == nil || !c.fresh(r.at) {
		return nil
	}
	return r
}

func (c *metaCache) put(r *resolved, latest bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKey[r.fg.Name+"\x00"+r.fg.Version] = r
	if latest {
		c.latest[r.fg.Name] = cachedLatest{r.fg.Version, r.at}
	}
}

// invalidate drops feature group name (every version).
func (c *metaCache) invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.latest, name)
	for k, r := range c.byKey {
		if r.fg.Name == name {
			delete(c.byKey, k)
		}
	}
}

// invalidateEntity drops every feature group of entity name.
func (c *metaCache) invalidateEntity(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, r := range c.byKey {
		if r.ent.Name == name {
			delete(c.byKey, k)
			delete(c.latest, r.fg.Name)
		}
	}
}

func (c *metaCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKey, c.latest = map[string]*resolved{}, map[string]cachedLatest{}
}

// RegisterAdmin registers the ofs-admin routes (served under /feature-store-admin).
func (h *Handler) RegisterAdmin(r chi.Router) {
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed)
	r = r.With(h.instrument("admin"))
	r.Get("/healthcheck", health)
	for _, p := range []string{"/entity", "/entity/"} {
		r.Post(p, h.createEntity)
		r.Get(p, h.getEntity)
		r.Put(p, h.updateEntityState)
	}
	r.Post("/entity/register", h.createEntity)
	r.Get("/entity/metadata", h.getEntityMetadata)
	r.Get("/entity/all", h.allEntities)
	r.Get("/entity/all-updated", h.allEntities)
	for _, p := range []string{"/feature-group", "/feature-group/"} {
		r.Post(p, h.createFeatureGroup)
		r.Get(p, h.getFeatureGroup)
		r.Put(p, h.updateFeatureGroupState)
	}
	r.Post("/feature-group/register", h.createFeatureGroup)
	r.Get("/feature-group/schema", h.featureGroupSchema)
	r.Get("/feature-group/metadata", h.featureGroupMetadata)
	r.Get("/feature-group/version", h.featureGroupVersion)
	r.Get("/feature-group/all", h.allFeatureGroups)
	r.Get("/feature-group/all-updated", h.allFeatureGroups)
	r.Get("/feature-group/version/all", h.allVersions)
	r.Get("/feature-group/version/all-updated", h.allVersions)
	r.Put("/feature-group/ttl", h.updateTTL)
	r.Get("/search/all-feature-group-owners", h.distinct(false, true))
	r.Get("/search/all-entity-owners", h.distinct(true, true))
	r.Get("/search/all-feature-group-tags", h.distinct(false, false))
	r.Get("/search/all-entity-tags", h.distinct(true, false))
	r.Get("/search/feature-groups", h.searchFeatureGroups)
	r.Post("/search/feature-groups", h.searchFeatureGroups)
	r.Get("/search/entities", h.searchEntities)
	r.Post("/search/entities", h.searchEntities)
	h.registerAdminExt(r)
}

// RegisterApp registers the ofs-app routes (served under /feature-store).
func (h *Handler) RegisterApp(r chi.Router) {
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed)
	r.Get("/metrics", h.serveMetrics)
	r = r.With(h.instrument("app"))
	r.Get("/healthcheck", health)
	r.Post("/feature-group/write-features-v2", h.writeV2)
	r.Post("/feature-group/write-features-v1", h.writeV1)
	r.Get("/feature-group/read-features", h.readFeatures)
	r.Post("/feature-group/read-features", h.readFeatures)
	r.Get("/feature-group/multi-read-features", h.multiRead)
	r.Post("/feature-group/multi-read-features", h.multiRead)
	r.Get("/feature-group/read-partition", h.readPartition)
	r.Post("/feature-group/read-partition", h.readPartition)
}
