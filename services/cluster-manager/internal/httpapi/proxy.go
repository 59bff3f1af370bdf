package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// DashboardProxy reverse-proxies the public dashboard URLs of spec §1.2 to
// the cluster's head: /<cloud_env>/<id>-dashboard/... → head /...,
// /<cloud_env>/<id>-jupyter/... → head /jupyter/.... Other dashboards
// (sparkui, metrics, vscode) do not exist for local clusters (404).
type DashboardProxy struct {
	drv    driver.Driver
	logger *slog.Logger
}

// NewDashboardProxy returns the proxy handler.
func NewDashboardProxy(drv driver.Driver, logger *slog.Logger) *DashboardProxy {
	return &DashboardProxy{drv: drv, logger: logger}
}

var dashboardKinds = map[string]string{"dashboard": "/", "jupyter": "/jupyter/", "sparkui": "", "metrics": "", "vscode": ""}

// parseDashboardPath splits /<env>/<id>-<kind>[/rest].
func parseDashboardPath(p string) (env, cluster, kind, rest string, trailing, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 3)
	if len(parts) < 2 || parts[0] == "" {
		return "", "", "", "", false, false
	}
	env = parts[0]
	seg := parts[1]
	i := strings.LastIndexByte(seg, '-')
	if i <= 0 {
		return "", "", "", "", false, false
	}
	cluster, kind = seg[:i], seg[i+1:]
	if _, known := dashboardKinds[kind]; !known {
		return "", "", "", "", false, false
	}
	if len(parts) == 3 {
		rest, trailing = parts[2], true
	}
	return env, cluster, kind, rest, trailing, true
}

func (p *DashboardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, cluster, kind, rest, trailing, ok := parseDashboardPath(r.URL.Path)
	if !ok {
		writeStatusError(w, http.StatusNotFound, "not found")
		return
	}
	base := dashboardKinds[kind]
	if base == "" {
		writeStatusError(w, http.StatusNotFound, kind+" is not available for local clusters")
		return
	}
	if !trailing {
		// Relative redirect so links inside the page resolve under the prefix.
		seg := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		target := seg + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusFound)
		return
	}
	head, err := p.drv.HeadURL(r.Context(), cluster)
	if err != nil {
		if apierr.KindOf(err) == apierr.FailedPrecondition {
			writeStatusError(w, http.StatusServiceUnavailable, "cluster "+cluster+" is not running")
			return
		}
		writeError(w, r, p.logger, err)
		return
	}
	target, err := url.Parse(head)
	if err != nil {
		writeError(w, r, p.logger, apierr.Wrap(apierr.Internal, err, "bad head URL"))
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.URL.Path = base + rest
			pr.Out.URL.RawPath = ""
			pr.Out.Host = target.Host
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.logger.WarnContext(r.Context(), "dashboard proxy", "cluster_id", cluster, "err", err)
			writeStatusError(w, http.StatusBadGateway, "head of cluster "+cluster+" is not answering")
		},
	}
	rp.ServeHTTP(w, r)
}
