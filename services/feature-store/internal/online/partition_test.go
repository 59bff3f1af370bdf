package online

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestPartitionPebble(t *testing.T) { runPartition(t, pebbleHarness) }
func TestPartitionRedis(t *testing.T)  { runPartition(t, redisHarness) }

func partKeys(rows []PartitionRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%q", r.Key))
	}
	return out
}

func runPartition(t *testing.T, mk func(t *testing.T) harness) {
	h := mk(t)
	if h.st == nil {
		return
	}
	ctx := context.Background()
	pr, ok := h.st.(PartitionReader)
	if !ok {
		t.Fatal("store does not implement PartitionReader")
	}
	write := func(table string, ttl time.Duration, rows ...Row) {
		t.Helper()
		if err := h.st.Write(ctx, []WriteOp{{Table: table, TTL: ttl, Rows: rows}}); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 1 holds two rows; 12 and 2 are other partitions whose keys share bytes with it; table u is another table.
	write("t", 0,
		Row{Key: []byte("1\x00\"b\""), Cells: cells("x", "1b", "y", "y1b")},
		Row{Key: []byte("1\x00\"a\""), Cells: cells("x", "1a")},
		Row{Key: []byte("12\x00\"a\""), Cells: cells("x", "12a")},
		Row{Key: []byte("2\x00\"a\""), Cells: cells("x", "2a")},
	)
	write("u", 0, Row{Key: []byte("1\x00\"c\""), Cells: cells("x", "u1c")})

	rows, err := pr.ReadPartition(ctx, "t", []byte("1"), []string{"x", "y", "x", "nope"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := partKeys(rows); fmt.Sprint(got) != fmt.Sprint([]string{`"1\x00\"a\""`, `"1\x00\"b\""`}) {
		t.Fatalf("partition 1 keys = %v", got)
	}
	want := [][]string{{"1a", "<nil>", "1a", "<nil>"}, {"1b", "y1b", "1b", "<nil>"}}
	for i, r := range rows {
		var got []string
		for _, v := range r.Values {
			if v == nil {
				got = append(got, "<nil>")
			} else {
				got = append(got, string(v))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("row %d values = %v, want %v", i, got, want[i])
		}
	}
	// A two-part prefix selects one row; the limit bounds the answer; unknown tables and partitions are empty.
	if rows, err = pr.ReadPartition(ctx, "t", []byte("1\x00\"b\""), []string{"x"}, 0); err != nil || len(rows) != 1 || string(rows[0].Values[0]) != "1b" {
		t.Fatalf("two-part prefix = %+v, %v", rows, err)
	}
	if rows, err = pr.ReadPartition(ctx, "t", []byte("1"), []string{"x"}, 1); err != nil || len(rows) != 1 {
		t.Fatalf("limit 1 = %+v, %v", rows, err)
	}
	for _, c := range []struct{ table, prefix string }{{"nope", "1"}, {"t", "3"}, {"t", "\"1\""}} {
		if rows, err = pr.ReadPartition(ctx, c.table, []byte(c.prefix), []string{"x"}, 0); err != nil || len(rows) != 0 {
			t.Fatalf("%s/%s = %+v, %v", c.table, c.prefix, rows, err)
		}
	}
	// A deleted cell reads as nil; an expired row disappears from the partition.
	write("t", 0, Row{Key: []byte("1\x00\"b\""), Cells: []Cell{{Column: "y"}}})
	write("t", 2*h.ttlUnit, Row{Key: []byte("2\x00\"b\""), Cells: cells("x", "2b")})
	if rows, _ = pr.ReadPartition(ctx, "t", []byte("2"), []string{"x"}, 0); len(rows) != 2 {
		t.Fatalf("partition 2 before expiry = %v", partKeys(rows))
	}
	h.advance(3 * h.ttlUnit)
	if rows, err = pr.ReadPartition(ctx, "t", []byte("2"), []string{"x"}, 0); err != nil || len(rows) != 1 || string(rows[0].Key) != "2\x00\"a\"" {
		t.Fatalf("partition 2 after expiry = %v, %v", partKeys(rows), err)
	}
	if rows, _ = pr.ReadPartition(ctx, "t", []byte("1"), []string{"y"}, 0); len(rows) != 2 || rows[1].Values[0] != nil {
		t.Fatalf("deleted cell = %+v", rows)
	}
	// Re-writing an expired row brings it back (Redis re-adds the pruned index entry).
	write("t", 0, Row{Key: []byte("2\x00\"b\""), Cells: cells("x", "again")})
	if rows, _ = pr.ReadPartition(ctx, "t", []byte("2"), []string{"x"}, 0); len(rows) != 2 || string(rows[1].Values[0]) != "again" {
		t.Fatalf("rewritten row = %v", partKeys(rows))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := pr.ReadPartition(cctx, "t", []byte("1"), []string{"x"}, 0); err == nil {
		t.Error("cancelled context: no error")
	}
}
