package online

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkPebbleRead reads 50 columns of one row (the read-features hot path's store call).
func BenchmarkPebbleRead(b *testing.B) {
	p, err := OpenPebble("", PebbleOptions{InMemory: true, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var cols []string
	var cs []Cell
	for i := range 50 {
		c := fmt.Sprintf("bench__v1__f%02d", i)
		cols = append(cols, c)
		cs = append(cs, Cell{Column: c, Value: []byte(fmt.Sprintf("%d.25", i))})
	}
	ctx := context.Background()
	if err := p.Write(ctx, []WriteOp{{Table: "users", Rows: []Row{{Key: []byte("1"), Cells: cs}}}}); err != nil {
		b.Fatal(err)
	}
	op := []ReadOp{{Table: "users", Keys: [][]byte{[]byte("1")}, Columns: cols}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Read(ctx, op); err != nil {
			b.Fatal(err)
		}
	}
}
