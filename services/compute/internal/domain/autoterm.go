package domain

import (
	"context"
	"time"
)

// Auto-termination and creation-timeout constants (spec §1.8).
const (
	CreationTimeout     = 40 * time.Minute
	ClusterDiedTimeout  = 30 * time.Minute
	AutoTerminationUser = "Auto Termination Script"
	TimeoutUser         = "Timeout Job"
)

// ClusterURLs are the internal base URLs of a running cluster's head.
type ClusterURLs struct{ Dashboard, Jupyter string }

// ActivityProbe reads activity from a running cluster's head (Ray jobs API, Jupyter API, node summary).
// Implementations must bound every call with a timeout; errors count as "no activity seen".
type ActivityProbe interface {
	// JupyterUp reports whether the Jupyter server answers.
	JupyterUp(ctx context.Context, jupyterURL string) bool
	// RayJobRunning reports whether any Ray job is RUNNING.
	RayJobRunning(ctx context.Context, dashboardURL string) (bool, error)
	// JupyterActive reports a busy kernel, or kernel/terminal activity since `since`.
	JupyterActive(ctx context.Context, jupyterURL string, since time.Time, kernels, terminals bool) (bool, error)
	// CPUUsage returns the head's CPU usage percent and each worker's.
	CPUUsage(ctx context.Context, dashboardURL string) (head float64, workers []float64, err error)
}

func paramFloat(p map[string]any, key string, def float64) float64 {
	switch v := p[key].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	}
	return def
}

func paramBool(p map[string]any, key string, def bool) bool {
	if v, ok := p[key].(bool); ok {
		return v
	}
	return def
}

// PolicyActive evaluates one policy against the cluster. Probe errors count as inactive.
func PolicyActive(ctx context.Context, probe ActivityProbe, p Policy, urls ClusterURLs, now time.Time) bool {
	if !p.Enabled {
		return false
	}
	switch p.PolicyName {
	case PolicyActiveRayJob:
		ok, err := probe.RayJobRunning(ctx, urls.Dashboard)
		return err == nil && ok
	case PolicyJupyterLabActivity:
		expiry := time.Duration(paramFloat(p.Params, "expiry_time", 5) * float64(time.Minute))
		ok, err := probe.JupyterActive(ctx, urls.Jupyter, now.Add(-expiry),
			paramBool(p.Params, "kernel_activity", true), paramBool(p.Params, "terminal_activity", false))
		return err == nil && ok
	case PolicyClusterCPUUsage:
		head, workers, err := probe.CPUUsage(ctx, urls.Dashboard)
		if err != nil {
			return false
		}
		if head >= paramFloat(p.Params, "head_node_cpu_usage_threshold", 100) {
			return true
		}
		wt := paramFloat(p.Params, "worker_node_cpu_usage_threshold", 10)
		for _, w := range workers {
			if w >= wt {
				return true
			}
		}
	}
	return false
}

// AnyPolicyActive reports whether any enabled policy sees activity.
func AnyPolicyActive(ctx context.Context, probe ActivityProbe, policies []Policy, urls ClusterURLs, now time.Time) bool {
	for _, p := range policies {
		if PolicyActive(ctx, probe, p, urls, now) {
			return true
		}
	}
	return false
}

// IdleExpired reports whether a cluster idle since lastUsed must be terminated at now.
func IdleExpired(lastUsed, now time.Time, terminateAfterMinutes int) bool {
	if terminateAfterMinutes < 0 || lastUsed.IsZero() {
		return false
	}
	return now.Sub(lastUsed) >= time.Duration(terminateAfterMinutes)*time.Minute
}
