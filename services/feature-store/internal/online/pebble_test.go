package online

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// cellsOf decodes an encoded row into column → value ("" for a deletion) and returns its expiry.
func cellsOf(t testing.TB, b []byte) (map[string]string, int64) {
	t.Helper()
	out := map[string]string{}
	exp, err := scanCells(b, func(name []byte, _ int64, v []byte) { out[string(name)] = string(v) })
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return out, exp
}

func TestRowCodecRoundTripAndCorruption(t *testing.T) {
	r := &row{expiry: 42, cells: map[string]cellVal{"a": {expiry: 7, value: []byte(`"x"`)}, "bb": {value: []byte("1")}, "gone": {}}}
	b := encodeRow(r)
	got, exp := cellsOf(t, b)
	if exp != 42 || got["a"] != `"x"` || got["bb"] != "1" || got["gone"] != "" || len(got) != 3 {
		t.Fatalf("round trip: %v %d", got, exp)
	}
	stored := 0
	if _, err := scanRow(b, func([]byte, int64, []byte) { stored++ }); err != nil || stored != 2 {
		t.Fatalf("scanRow must skip the deletion: %d cells, %v", stored, err)
	}
	for i := 0; i < len(b); i++ {
		if _, err := scanCells(b[:i], func([]byte, int64, []byte) {}); err == nil {
			t.Fatalf("truncated row of %d bytes decoded", i)
		}
	}
}

func operand(exp int64, cells map[string]string) []byte {
	r := &row{expiry: exp, cells: map[string]cellVal{}}
	for k, v := range cells {
		c := cellVal{expiry: exp}
		if v != "" {
			c.value = []byte(v)
		}
		r.cells[k] = c
	}
	return encodeRow(r)
}

func TestRowMergerFoldsOperands(t *testing.T) {
	now := time.Unix(0, 1000)
	m := rowMergerFor(func() time.Time { return now })
	// Pebble may start from any operand: here the middle one, then a newer and an older.
	vm, err := m.Merge(nil, operand(0, map[string]string{"a": "2", "b": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.MergeNewer(operand(5000, map[string]string{"c": "3", "a": "4"})); err != nil {
		t.Fatal(err)
	}
	if err := vm.MergeOlder(operand(0, map[string]string{"a": "1", "b": "1", "d": "1"})); err != nil {
		t.Fatal(err)
	}
	out, _, err := vm.Finish(false)
	if err != nil {
		t.Fatal(err)
	}
	got, exp := cellsOf(t, out)
	// Without the base, b's deletion is kept so an even older b stays hidden.
	if exp != 5000 || got["a"] != "4" || got["b"] != "" || got["c"] != "3" || got["d"] != "1" || len(got) != 4 {
		t.Fatalf("partial merge: %v exp %d", got, exp)
	}
	vm, _ = m.Merge(nil, operand(0, map[string]string{"b": ""}))
	_ = vm.MergeOlder(operand(0, map[string]string{"b": "old", "e": "5"}))
	out, _, _ = vm.Finish(true)
	if got, _ := cellsOf(t, out); got["b"] != "" || len(got) != 1 || got["e"] != "5" {
		t.Fatalf("full merge keeps deletions: %v", got)
	}
	// An expired newer cell hides an older, never-expiring one; with the base it is dropped.
	vm, _ = m.Merge(nil, operand(900, map[string]string{"x": "new"}))
	_ = vm.MergeOlder(operand(0, map[string]string{"x": "old"}))
	out, _, _ = vm.Finish(false)
	if got, _ := cellsOf(t, out); got["x"] != "" {
		t.Fatalf("expired cell must become a deletion: %v", got)
	}
	vm, _ = m.Merge(nil, out)
	_ = vm.MergeOlder(operand(0, map[string]string{"x": "older"}))
	out, _, _ = vm.Finish(true)
	if got, _ := cellsOf(t, out); len(got) != 0 {
		t.Fatalf("with the base the expired column is gone: %v", got)
	}
}

// TestPebbleMergesAcrossFlushes checks folding through Pebble itself: values written, flushed to an sstable,
// overwritten in the memtable and compacted read back as the latest writes.
func TestPebbleMergesAcrossFlushes(t *testing.T) {
	p, err := OpenPebble(t.TempDir(), PebbleOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	w := func(cells ...Cell) {
		if err := p.Write(ctx, []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("k"), Cells: cells}}}}); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []string {
		res, err := p.Read(ctx, []ReadOp{{Table: "t", Keys: [][]byte{[]byte("k")}, Columns: []string{"a", "b", "c"}}})
		if err != nil || !res[0].Found[0] {
			t.Fatalf("read: %+v %v", res, err)
		}
		out := make([]string, 3)
		for i, v := range res[0].Values[0] {
			out[i] = string(v)
		}
		return out
	}
	w(Cell{"a", []byte("1")}, Cell{"b", []byte("1")})
	if err := p.db.Flush(); err != nil {
		t.Fatal(err)
	}
	w(Cell{"b", nil}, Cell{"c", []byte("3")})
	if got := read(); got[0] != "1" || got[1] != "" || got[2] != "3" {
		t.Fatalf("memtable over sstable: %v", got)
	}
	if err := p.db.Flush(); err != nil {
		t.Fatal(err)
	}
	w(Cell{"a", []byte("2")})
	if err := p.db.Compact(ctx, []byte("t"), []byte("u"), true); err != nil {
		t.Fatal(err)
	}
	if got := read(); got[0] != "2" || got[1] != "" || got[2] != "3" {
		t.Fatalf("after compaction: %v", got)
	}
}

func FuzzDecodeRow(f *testing.F) {
	f.Add(encodeRow(&row{cells: map[string]cellVal{"a": {value: []byte("1")}}}), encodeRow(&row{expiry: 3, cells: map[string]cellVal{"a": {}}}))
	f.Add([]byte{0, 5, 1, 'a'}, []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		vm, err := rowMergerFor(time.Now).Merge(nil, a)
		if err != nil {
			return
		}
		if err := vm.MergeOlder(b); err != nil {
			return
		}
		out, _, err := vm.Finish(true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scanCells(out, func([]byte, int64, []byte) {}); err != nil {
			t.Fatalf("merged row does not decode: %v", err)
		}
	})
}

// TestPebbleOpensStoreOfSetWrites opens a store written before writes became merges (Pebble's default merge
// operator in its OPTIONS, rows stored with Set) and updates a row in it.
func TestPebbleOpensStoreOfSetWrites(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("t\x00k"), encodeRow(&row{cells: map[string]cellVal{"a": {value: []byte("1")}, "b": {value: []byte("2")}}}), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second open reads the OPTIONS the first one wrote
		p, err := OpenPebble(dir, PebbleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(t.Context(), []WriteOp{{Table: "t", Rows: []Row{{Key: []byte("k"), Cells: []Cell{{"b", []byte("3")}}}}}}); err != nil {
			t.Fatal(err)
		}
		res, err := p.Read(t.Context(), []ReadOp{{Table: "t", Keys: [][]byte{[]byte("k")}, Columns: []string{"a", "b"}}})
		if err != nil || !res[0].Found[0] || string(res[0].Values[0][0]) != "1" || string(res[0].Values[0][1]) != "3" {
			t.Fatalf("read %+v %v", res, err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
