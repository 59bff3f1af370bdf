package testutil

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNeedServer(t *testing.T) {
	t.Setenv(EnvRequireAll, "1")
	f := &RecordingTB{TB: t}
	NeedServer(f, "redis", "scripts/test-redis.sh")
	if f.FatalMsg == "" || f.SkipMsg != "" {
		t.Fatalf("with RequireAll: fatal=%q skip=%q", f.FatalMsg, f.SkipMsg)
	}
	t.Setenv(EnvRequireAll, "")
	f = &RecordingTB{TB: t}
	NeedServer(f, "redis", "scripts/test-redis.sh")
	if f.SkipMsg == "" || f.FatalMsg != "" {
		t.Fatalf("without RequireAll: fatal=%q skip=%q", f.FatalMsg, f.SkipMsg)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	p := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("port %d not free: %v", p, err)
	}
	l.Close()
}

func TestEventually(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	Eventually(t, time.Second, func() bool { return n.Add(1) >= 3 })
	f := &RecordingTB{TB: t}
	Eventually(f, 30*time.Millisecond, func() bool { return false }, "cluster %s running", "c1")
	if f.FatalMsg != "eventually: cluster c1 running within 30ms" {
		t.Fatalf("fatal = %q", f.FatalMsg)
	}
}

func TestToFloat64(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"a", "b"})
	reg.MustRegister(c)
	c.WithLabelValues("1", "p").Add(2)
	c.WithLabelValues("1", "q").Add(3)
	c.WithLabelValues("2", "p").Add(5)
	if got := ToFloat64(t, reg, "x_total", "a", "1"); got != 5 {
		t.Fatalf("a=1 → %v", got)
	}
	if got := ToFloat64(t, reg, "x_total", "a", "2", "b", "p"); got != 5 {
		t.Fatalf("a=2,b=p → %v", got)
	}
	f := &RecordingTB{TB: t}
	ToFloat64(f, reg, "missing_total")
	if f.FatalMsg == "" {
		t.Fatal("missing metric not reported")
	}
}
