package clock

import (
	"context"
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeAfter(t *testing.T) {
	t.Parallel()
	f := NewFake(epoch)
	ch := f.After(10 * time.Second)
	f.Advance(9 * time.Second)
	if _, ok := fired(ch); ok {
		t.Fatal("fired early")
	}
	f.Advance(time.Second)
	v, ok := fired(ch)
	if !ok || !v.Equal(epoch.Add(10*time.Second)) {
		t.Fatalf("fired=%v at %v", ok, v)
	}
	if f.Waiters() != 0 {
		t.Fatalf("one-shot still pending: %d", f.Waiters())
	}
	if _, ok := fired(f.After(0)); !ok {
		t.Fatal("After(0) must fire immediately")
	}
}

func TestFakeTicker(t *testing.T) {
	t.Parallel()
	f := NewFake(epoch)
	tk := f.NewTicker(time.Minute)
	f.Advance(30 * time.Second)
	if _, ok := fired(tk.C()); ok {
		t.Fatal("ticked early")
	}
	f.Advance(30 * time.Second)
	if v, ok := fired(tk.C()); !ok || !v.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("tick 1: %v %v", ok, v)
	}
	f.Advance(time.Minute)
	if _, ok := fired(tk.C()); !ok {
		t.Fatal("tick 2 missing")
	}
	tk.Stop()
	f.Advance(time.Hour)
	if _, ok := fired(tk.C()); ok {
		t.Fatal("ticked after Stop")
	}
	if !f.Now().Equal(epoch.Add(time.Hour + 2*time.Minute)) {
		t.Fatalf("Now = %v", f.Now())
	}
}

func TestFakeSetDoesNotGoBackwards(t *testing.T) {
	t.Parallel()
	f := NewFake(epoch)
	f.Set(epoch.Add(-time.Hour))
	if !f.Now().Equal(epoch) {
		t.Fatalf("Now = %v", f.Now())
	}
	ch := f.After(time.Hour)
	f.Set(epoch.Add(2 * time.Hour))
	if _, ok := fired(ch); !ok {
		t.Fatal("Set past deadline did not fire")
	}
}

func TestFakeConcurrent(t *testing.T) {
	t.Parallel()
	f := NewFake(epoch)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				<-f.After(0)
				ch := f.After(time.Millisecond)
				f.Advance(time.Millisecond)
				<-ch
				_ = f.Now()
			}
		})
	}
	wg.Wait()
}

func TestReal(t *testing.T) {
	t.Parallel()
	c := Real()
	before := time.Now()
	if c.Now().Before(before) {
		t.Fatal("Real().Now went backwards")
	}
	tk := c.NewTicker(time.Millisecond)
	defer tk.Stop()
	select {
	case <-tk.C():
	case <-time.After(5 * time.Second):
		t.Fatal("real ticker never ticked")
	}
	<-c.After(time.Millisecond)
}

func TestEvery(t *testing.T) {
	t.Parallel()
	f := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan time.Time, 10)
	done := make(chan struct{})
	go func() {
		Every(ctx, f, time.Second, true, func(context.Context) { calls <- f.Now() })
		close(done)
	}()
	if got := <-calls; !got.Equal(time.Unix(0, 0)) {
		t.Fatalf("immediate call at %v", got)
	}
	f.Advance(time.Second)
	if got := <-calls; !got.Equal(time.Unix(1, 0)) {
		t.Fatalf("tick call at %v", got)
	}
	cancel()
	<-done
	select {
	case c := <-calls:
		t.Fatalf("call after cancel at %v", c)
	default:
	}
}
