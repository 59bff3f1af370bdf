package online

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/darwinml/darwin/pkg/testutil"
)

// fakeClock is a settable clock for the embedded store's TTLs.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is one backend under the contract suite; advance makes d pass for its TTLs.
type harness struct {
	st      Store
	advance func(d time.Duration)
	ttlUnit time.Duration
}

func pebbleHarness(t *testing.T) harness {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	p, err := OpenPebble("", PebbleOptions{InMemory: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return harness{st: p, advance: clk.Add, ttlUnit: time.Second}
}

// redisAddr is the test Redis (scripts start it at the default port).
const redisAddr = "127.0.0.1:6379"

func redisHarness(t *testing.T) harness {
	conn, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		testutil.NeedServer(t, "Redis at "+redisAddr, "redis-server --port 6379")
		return harness{}
	}
	_ = conn.Close()
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	prefix := "darwin-fs-test-" + randHex() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return harness{st: NewRedis(c, prefix), advance: time.Sleep, ttlUnit: 150 * time.Millisecond}
}

func randHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestContractPebble(t *testing.T) { runContract(t, pebbleHarness) }
func TestContractRedis(t *testing.T)  { runContract(t, redisHarness) }

func cells(kv ...string) []Cell {
	var out []Cell
	for i := 0; i < len(kv); i += 2 {
		out = append(out, Cell{Column: kv[i], Value: []byte(kv[i+1])})
	}
	return out
}

func read1(t *testing.T, st Store, table string, cols []string, keys ...string) ReadResult {
	t.Helper()
	op := ReadOp{Table: table, Columns: cols}
	for _, k := range keys {
		op.Keys = append(op.Keys, []byte(k))
	}
	res, err := st.Read(context.Background(), []ReadOp{op})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Found) != len(keys) || len(res[0].Values) != len(keys) {
		t.Fatalf("result shape %+v", res)
	}
	return res[0]
}

func vals(r ReadResult, k int) []string {
	var out []string
	for _, v := range r.Values[k] {
		if v == nil {
			out = append(out, "<nil>")
		} else {
			out = append(out, string(v))
		}
	}
	return out
}

func runContract(t *testing.T, mk func(t *testing.T) harness) {
	ctx := context.Background()
	t.Run("upsert-and-read", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		err := h.st.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{
			{Key: []byte(`1`), Cells: cells("a", `1`, "b", `"x"`)},
			{Key: []byte(`2`), Cells: cells("a", `2`)},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		// Upsert keeps b, replaces a, adds c.
		if err := h.st.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{{Key: []byte(`1`), Cells: cells("a", `10`, "c", `true`)}}}}); err != nil {
			t.Fatal(err)
		}
		r := read1(t, h.st, "users", []string{"c", "a", "b", "zz"}, `1`, `3`, `2`)
		if !r.Found[0] || r.Found[1] || !r.Found[2] {
			t.Fatalf("found = %v", r.Found)
		}
		if got := fmt.Sprint(vals(r, 0)); got != `[true 10 "x" <nil>]` {
			t.Fatalf("row 1 = %s", got)
		}
		if got := fmt.Sprint(vals(r, 1)); got != `[<nil> <nil> <nil> <nil>]` {
			t.Fatalf("missing row = %s", got)
		}
		if got := fmt.Sprint(vals(r, 2)); got != `[<nil> 2 <nil> <nil>]` {
			t.Fatalf("row 2 = %s", got)
		}
	})
	t.Run("null-deletes-and-empty-row-exists", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		must(t, h.st.Write(ctx, []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("k"), Cells: cells("a", "1", "b", "2")}, {Key: []byte("e")}}}}))
		must(t, h.st.Write(ctx, []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("k"), Cells: []Cell{{Column: "a"}}}}}}))
		r := read1(t, h.st, "t", []string{"a", "b"}, "k", "e")
		if !r.Found[0] || !r.Found[1] {
			t.Fatalf("found = %v", r.Found)
		}
		if got := fmt.Sprint(vals(r, 0), vals(r, 1)); got != "[<nil> 2] [<nil> <nil>]" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("tables-are-separate-and-multi-op", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		must(t, h.st.Write(ctx, []WriteOp{
			{Table: "t1", Rows: []Row{{Key: []byte("k"), Cells: cells("a", "1")}}},
			{Table: "t2", Rows: []Row{{Key: []byte("k"), Cells: cells("a", "2")}}},
		}))
		res, err := h.st.Read(ctx, []ReadOp{
			{Table: "t2", Keys: [][]byte{[]byte("k")}, Columns: []string{"a"}},
			{Table: "t1", Keys: [][]byte{[]byte("k"), []byte("x")}, Columns: []string{"a"}},
			{Table: "nope", Keys: [][]byte{[]byte("k")}, Columns: []string{"a"}},
		})
		must(t, err)
		if string(res[0].Values[0][0]) != "2" || string(res[1].Values[0][0]) != "1" || res[1].Found[1] || res[2].Found[0] {
			t.Fatalf("res = %+v", res)
		}
	})
	t.Run("repeated-columns", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		must(t, h.st.Write(ctx, []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("k"), Cells: cells("a", "1", "b", "2")}}}}))
		r := read1(t, h.st, "t", []string{"a", "b", "a"}, "k")
		if fmt.Sprint(vals(r, 0)) != "[1 2 1]" {
			t.Fatalf("got %v", vals(r, 0))
		}
	})
	t.Run("binary-keys", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		k1, k2 := []byte("a\x00b"), []byte("a\x00c")
		must(t, h.st.Write(ctx, []WriteOp{{Table: "t", Rows: []Row{{Key: k1, Cells: cells("v", "1")}, {Key: k2, Cells: cells("v", "2")}}}}))
		r := read1(t, h.st, "t", []string{"v"}, string(k2), string(k1), "a")
		if fmt.Sprint(vals(r, 0), vals(r, 1), r.Found) != "[2] [1] [true true false]" {
			t.Fatalf("got %v %v %v", vals(r, 0), vals(r, 1), r.Found)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		u := h.ttlUnit
		must(t, h.st.Write(ctx, []WriteOp{{Table: "t", TTL: 2 * u, Rows: []Row{{Key: []byte("short"), Cells: cells("a", "1")}}}}))
		must(t, h.st.Write(ctx, []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("forever"), Cells: cells("a", "2")}}}}))
		r := read1(t, h.st, "t", []string{"a"}, "short", "forever")
		if !r.Found[0] || string(r.Values[0][0]) != "1" {
			t.Fatalf("before expiry: %v %v", r.Found, vals(r, 0))
		}
		h.advance(3 * u)
		r = read1(t, h.st, "t", []string{"a"}, "short", "forever")
		if r.Found[0] || r.Values[0][0] != nil || !r.Found[1] || string(r.Values[1][0]) != "2" {
			t.Fatalf("after expiry: %v %v %v", r.Found, vals(r, 0), vals(r, 1))
		}
		// Rewriting an expired row starts afresh.
		must(t, h.st.Write(ctx, []WriteOp{{Table: "t", TTL: 2 * u, Rows: []Row{{Key: []byte("short"), Cells: cells("b", "3")}}}}))
		r = read1(t, h.st, "t", []string{"a", "b"}, "short")
		if !r.Found[0] || fmt.Sprint(vals(r, 0)) != "[<nil> 3]" {
			t.Fatalf("rewrite: %v %v", r.Found, vals(r, 0))
		}
	})
	t.Run("concurrent-writers", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					col := fmt.Sprintf("c%d", g)
					if err := h.st.Write(ctx, []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("k"), Cells: cells(col, fmt.Sprint(i))}}}}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		cols := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"}
		r := read1(t, h.st, "t", cols, "k")
		for c := range cols {
			if string(r.Values[0][c]) != "19" {
				t.Fatalf("lost update: %v", vals(r, 0))
			}
		}
	})
	t.Run("cancelled-context", func(t *testing.T) {
		h := mk(t)
		if h.st == nil {
			return
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := h.st.Write(cctx, []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("k"), Cells: cells("a", "1")}}}}); err == nil {
			t.Fatal("write with a cancelled context succeeded")
		}
		r := read1(t, h.st, "t", []string{"a"}, "k")
		if r.Found[0] {
			t.Fatal("cancelled write was applied")
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
