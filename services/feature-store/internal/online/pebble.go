package online

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Pebble is the embedded store: one Pebble key per row (<table> NUL <key>), the value holding the row's expiry
// and its cells, each with its own expiry. A write is blind: each row becomes a merge operand (its cells, deletions
// as empty values, and the write's expiry) in one batch, and rowMerger folds operands when the row is read or
// compacted, so writes never read.
type Pebble struct {
	db  *pebble.DB
	now func() time.Time
	// Sync makes every write durable before it returns (default true).
	sync bool
}

// PebbleOptions configure OpenPebble.
type PebbleOptions struct {
	// InMemory keeps everything in memory (tests); Dir is ignored.
	InMemory bool
	// NoSync skips the fsync on each write batch.
	NoSync bool
	// Now is the clock TTLs are measured with (default time.Now).
	Now func() time.Time
	// CacheBytes is the block cache size (default 128 MiB). Writes read the row they update, so bulk loads that
	// revisit keys decompress far fewer blocks with a cache that holds the working set.
	CacheBytes int64
}

// OpenPebble opens (creating) a Pebble store in dir.
func OpenPebble(dir string, o PebbleOptions) (*Pebble, error) {
	size := o.CacheBytes
	if size <= 0 {
		size = 128 << 20
	}
	cache := pebble.NewCache(size)
	defer cache.Unref()
	now := o.Now
	if now == nil {
		now = time.Now
	}
	opts := &pebble.Options{Logger: quietLogger{}, Cache: cache, Merger: rowMergerFor(now)}
	if o.InMemory {
		opts.FS = vfs.NewMem()
		dir = ""
	}
	db, err := pebble.Open(dir, opts)
	if err != nil && strings.Contains(err.Error(), `merger name from file "pebble.concatenate"`) {
		// A store made before writes became merges records Pebble's default operator. It holds no merge operands
		// (nothing merged then), so the row merger under the recorded name reads it correctly.
		legacy := *opts.Merger
		legacy.Name = "pebble.concatenate"
		opts.Merger = &legacy
		db, err = pebble.Open(dir, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("open pebble store: %w", err)
	}
	return &Pebble{db: db, now: now, sync: !o.NoSync}, nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Close closes the database.
func (p *Pebble) Close() error { return p.db.Close() }

func rowKey(table string, key []byte) []byte {
	b := make([]byte, 0, len(table)+1+len(key))
	b = append(b, table...)
	b = append(b, 0)
	return append(b, key...)
}

// row is a decoded row value: expiry (unix ns, 0 = never) and cells.
type row struct {
	expiry int64
	cells  map[string]cellVal
}

type cellVal struct {
	expiry int64
	value  []byte
}

// Layout: uvarint expiry, uvarint n, then n × (uvarint len name, name, uvarint expiry, uvarint len value, value).
// A cell with an empty value is a deletion (stored values are never empty): it hides older values of the column in
// merge operands that have not yet been folded into the row.
func encodeRow(r *row) []byte {
	b := binary.AppendUvarint(nil, uint64(r.expiry))
	b = binary.AppendUvarint(b, uint64(len(r.cells)))
	for name, c := range r.cells {
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(c.expiry))
		b = binary.AppendUvarint(b, uint64(len(c.value)))
		b = append(b, c.value...)
	}
	return b
}

var errCorrupt = errors.New("online store: corrupt row")

// scanRow walks an encoded row, calling fn for every stored cell (values alias b); deletions are skipped.
func scanRow(b []byte, fn func(name []byte, expiry int64, value []byte)) (int64, error) {
	return scanCells(b, func(name []byte, expiry int64, value []byte) {
		if len(value) > 0 {
			fn(name, expiry, value)
		}
	})
}

// scanCells walks every cell of an encoded row or merge operand, deletions (empty values) included.
func scanCells(b []byte, fn func(name []byte, expiry int64, value []byte)) (int64, error) {
	exp, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, errCorrupt
	}
	b = b[n:]
	cnt, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, errCorrupt
	}
	b = b[n:]
	for i := uint64(0); i < cnt; i++ {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return 0, errCorrupt
		}
		name := b[n : n+int(l)]
		b = b[n+int(l):]
		ce, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errCorrupt
		}
		b = b[n:]
		l, n = binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return 0, errCorrupt
		}
		fn(name, int64(ce), b[n:n+int(l)])
		b = b[n+int(l):]
	}
	return int64(exp), nil
}

// Write implements Store.
func (p *Pebble) Write(ctx context.Context, ops []WriteOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := p.now().UnixNano()
	batch := p.db.NewBatch()
	defer batch.Close()
	var kb []byte
	for _, op := range ops {
		var exp int64
		if op.TTL > 0 {
			exp = now + op.TTL.Nanoseconds()
		}
		for _, rw := range op.Rows {
			// Like a CQL INSERT's row marker, the row's own liveness is that of its latest write.
			r := row{expiry: exp, cells: make(map[string]cellVal, len(rw.Cells))}
			for _, c := range rw.Cells {
				r.cells[c.Column] = cellVal{expiry: exp, value: c.Value} // nil: a deletion
			}
			kb = append(append(append(kb[:0], op.Table...), 0), rw.Key...)
			if err := batch.Merge(kb, encodeRow(&r), nil); err != nil {
				return err
			}
		}
	}
	opt := pebble.NoSync
	if p.sync {
		opt = pebble.Sync
	}
	return batch.Commit(opt)
}

// rowMergerName names the merge operator in the store's OPTIONS file; a store written with another operator does
// not open.
const rowMergerName = "darwin.online.row.v1"

// rowMergerFor folds a row's merge operands (and its base value): newer cells replace older ones (a deletion too),
// the newest operand's expiry is the row's. Once the oldest value is included, deletions and cells expired by now()
// are dropped; before that, an expired cell stays as a deletion so an older value of the column cannot reappear.
func rowMergerFor(now func() time.Time) *pebble.Merger {
	return &pebble.Merger{Name: rowMergerName, Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &rowMerger{now: now, first: append([]byte(nil), value...)}, nil
	}}
}

// rowMerger keeps a lone operand as it is (a read of a row written once folds nothing) and decodes operands into
// cells only when a second one arrives.
type rowMerger struct {
	now    func() time.Time
	first  []byte // the only operand so far; nil once folded into cells
	expiry int64
	cells  map[string]cellVal
}

// fold decodes the lone operand into cells.
func (m *rowMerger) fold() error {
	if m.first == nil {
		return nil
	}
	m.cells = map[string]cellVal{}
	exp, err := m.add(m.first, true)
	m.expiry, m.first = exp, nil
	return err
}

// add folds one operand in; older operands only fill columns no newer operand set.
func (m *rowMerger) add(v []byte, newer bool) (int64, error) {
	return scanCells(v, func(name []byte, e int64, val []byte) {
		if !newer {
			if _, seen := m.cells[string(name)]; seen {
				return
			}
		}
		var cp []byte
		if len(val) > 0 {
			cp = append([]byte(nil), val...)
		}
		m.cells[string(name)] = cellVal{expiry: e, value: cp}
	})
}

func (m *rowMerger) MergeNewer(v []byte) error {
	if err := m.fold(); err != nil {
		return err
	}
	exp, err := m.add(v, true)
	m.expiry = exp
	return err
}

func (m *rowMerger) MergeOlder(v []byte) error {
	if err := m.fold(); err != nil {
		return err
	}
	_, err := m.add(v, false)
	return err
}

func (m *rowMerger) Finish(includesBase bool) ([]byte, io.Closer, error) {
	if m.first != nil {
		// A lone operand is already a row. Its deletions and expired cells (if any) are skipped by every reader, and
		// the next merge of the row drops them.
		return m.first, nil, nil
	}
	now := m.now().UnixNano()
	for name, c := range m.cells {
		expired := c.expiry != 0 && c.expiry <= now
		switch {
		case includesBase && (c.value == nil || expired):
			delete(m.cells, name)
		case expired:
			m.cells[name] = cellVal{expiry: c.expiry}
		}
	}
	return encodeRow(&row{expiry: m.expiry, cells: m.cells}), nil, nil
}

// Read implements Store.
func (p *Pebble) Read(ctx context.Context, ops []ReadOp) ([]ReadResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := p.now().UnixNano()
	out := make([]ReadResult, len(ops))
	var kb []byte
	for i, op := range ops {
		res := newResult(op)
		idx := make(map[string]int, len(op.Columns))
		for c, col := range op.Columns {
			if _, dup := idx[col]; !dup {
				idx[col] = c
			}
		}
		for k, key := range op.Keys {
			kb = append(append(append(kb[:0], op.Table...), 0), key...)
			v, closer, err := p.db.Get(kb)
			if errors.Is(err, pebble.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			vals := res.Values[k]
			liveCell := false
			row := append([]byte(nil), v...) // one copy per row; the values alias it
			exp, err := scanRow(row, func(name []byte, e int64, val []byte) {
				if e != 0 && e <= now {
					return
				}
				liveCell = true
				if c, ok := idx[string(name)]; ok {
					vals[c] = val[:len(val):len(val)]
				}
			})
			closer.Close()
			if err != nil {
				return nil, err
			}
			for c, col := range op.Columns {
				if first := idx[col]; first != c {
					vals[c] = vals[first]
				}
			}
			// A row exists while its marker or any of its cells is live (CQL row liveness).
			res.Found[k] = exp == 0 || exp > now || liveCell
		}
		out[i] = res
	}
	return out, nil
}
