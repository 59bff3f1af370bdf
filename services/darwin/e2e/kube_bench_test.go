package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkKubernetesScale creates and starts DARWIN_SCALE_CLUSTERS (default
// 1,000) clusters through compute's REST API onto the real API server (Helm
// install of a RayCluster each), makes their pods Running, and lets compute's
// poller reconcile every status to active. It reports create throughput, the
// time to reconcile all statuses and the CPU the poller path (compute +
// cluster-manager) spent per cluster, beside a floor measured in the same
// run: raw ConfigMap creates against the same API server at the same
// concurrency. Run it alone: go test -run '^$' -bench KubernetesScale -benchtime 1x.
func BenchmarkKubernetesScale(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("DARWIN_SCALE_CLUSTERS")); err == nil && v > 0 {
		n = v
	}
	const workers = 8
	p := startKubePlatform(b, "")
	ctx := context.Background()

	parallel := func(total int, fn func(i int) error) time.Duration {
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		var once sync.Once
		var firstErr error
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= total {
						return
					}
					if err := fn(i); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		return time.Since(start)
	}

	// Floor: bare object creates against the same API server.
	floor := parallel(n, func(i int) error {
		_, err := p.kc.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%d", i)}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
		return err
	})

	ids := make([]string, n)
	create := parallel(n, func(i int) error {
		body := strings.Replace(seedClusterBody, `"my-first-cluster"`, fmt.Sprintf(`"scale-%d"`, i), 1)
		var env envelope
		if code := doJSON(b, http.MethodPost, p.base+"/compute/cluster", nil, body, &env); code != http.StatusOK {
			return fmt.Errorf("create %d: %d %s", i, code, env.Message)
		}
		var d struct {
			ClusterID string `json:"cluster_id"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return err
		}
		ids[i] = d.ClusterID
		return nil
	})
	pods := parallel(n, func(i int) error { p.runPods(b, ids[i], 1); return nil })

	cmCPU := func() time.Duration { return procCPU(b, p.cm.cmd.Process.Pid) }
	selfCPU := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	cm0, self0 := cmCPU(), selfCPU()
	start := time.Now()
	passes := 0
	for {
		if _, err := p.comp.PollOnce(ctx); err != nil {
			b.Fatal(err)
		}
		passes++
		if passes%20 == 0 && allActive(b, p, n) {
			break
		}
		if time.Since(start) > 15*time.Minute {
			b.Fatalf("statuses not reconciled after %d passes", passes)
		}
	}
	reconcile := time.Since(start)
	cpu := cmCPU() - cm0 + selfCPU() - self0

	b.ReportMetric(float64(n)/floor.Seconds(), "floor_configmap_creates/s")
	b.ReportMetric(float64(n)/create.Seconds(), "cluster_creates/s")
	b.ReportMetric(pods.Seconds(), "pods_made_running_s")
	b.ReportMetric(reconcile.Seconds(), "reconcile_all_s")
	b.ReportMetric(float64(passes), "poll_passes")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(n), "poller_cpu_ms/cluster")
	b.Logf("%d clusters: floor %v, create+start %v, pods %v, reconcile %v in %d passes, poller CPU %v", n, floor, create, pods, reconcile, passes, cpu)
}

// allActive reports whether the UI status of every one of the n clusters is active.
func allActive(b *testing.B, p *kubePlatform, n int) bool {
	var search map[string]any
	body := fmt.Sprintf(`{"query": "", "filters": {}, "page_size": %d, "offset": 0}`, n)
	doJSON(b, http.MethodPost, p.base+"/compute/search", nil, body, &search)
	data, _ := search["data"].([]any)
	if len(data) < n {
		return false
	}
	for _, d := range data {
		if d.(map[string]any)["status"] != "active" {
			return false
		}
	}
	return true
}

// procCPU is the user+system CPU time of a process from /proc/<pid>/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
}
