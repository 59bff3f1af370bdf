package online

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Pebble is the embedded store: one Pebble key per row (<table> NUL <key>), the value holding the row's expiry
// and its cells, each with its own expiry. Writes read-modify-write rows under a mutex and commit one batch.
type Pebble struct {
	db  *pebble.DB
	mu  sync.Mutex
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
	opts := &pebble.Options{Logger: quietLogger{}, Cache: cache}
	if o.InMemory {
		opts.FS = vfs.NewMem()
		dir = ""
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble store: %w", err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
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

// scanRow walks an encoded row, calling fn for every cell (values alias b).
func scanRow(b []byte, fn func(name []byte, expiry int64, value []byte)) (int64, error) {
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

func decodeRow(b []byte, now int64) (*row, error) {
	r := &row{cells: map[string]cellVal{}}
	exp, err := scanRow(b, func(name []byte, e int64, v []byte) {
		if e == 0 || e > now {
			r.cells[string(name)] = cellVal{expiry: e, value: append([]byte(nil), v...)}
		}
	})
	r.expiry = exp
	return r, err
}

// Write implements Store.
func (p *Pebble) Write(ctx context.Context, ops []WriteOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now().UnixNano()
	batch := p.db.NewIndexedBatch()
	defer batch.Close()
	for _, op := range ops {
		var exp int64
		if op.TTL > 0 {
			exp = now + op.TTL.Nanoseconds()
		}
		for _, rw := range op.Rows {
			k := rowKey(op.Table, rw.Key)
			r := &row{cells: map[string]cellVal{}}
			if v, closer, err := batch.Get(k); err == nil {
				r, err = decodeRow(v, now)
				closer.Close()
				if err != nil {
					return err
				}
			} else if !errors.Is(err, pebble.ErrNotFound) {
				return err
			}
			// Like a CQL INSERT's row marker, the row's own liveness is that of its latest write.
			r.expiry = exp
			for _, c := range rw.Cells {
				if c.Value == nil {
					delete(r.cells, c.Column)
				} else {
					r.cells[c.Column] = cellVal{expiry: exp, value: c.Value}
				}
			}
			if err := batch.Set(k, encodeRow(r), nil); err != nil {
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
