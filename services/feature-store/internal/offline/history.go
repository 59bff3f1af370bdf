// Package offline is the feature store's offline history: every row the populator ingests is appended, with its
// event timestamp, to an embedded Pebble store, and historical retrieval (Feast's get_historical_features) answers
// "the feature values of entity K as of time T" for a set of entity rows, point-in-time correct.
//
// Key layout (all integers big-endian):
//
//	'h' uvarint(len fg) fg uvarint(len version) version uvarint(len key) key  ^(uint64(ts) XOR 1<<63)
//
// key is domain.EncodeKey of the row's canonical primary-key values and ts the event time in unix milliseconds.
// The inverted timestamp sorts an entity's history newest first, so the latest row at or before T is the first key
// at or after prefix+enc(T): one SeekGE. The value is an 8-byte layout id (the row's column names, stored once under
// 'l' id) followed by one length-prefixed canonical JSON value per column (length 0 = null).
package offline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// DirName is the default directory name of the history store under the service's data directory.
const DirName = "feature-store-offline"

// Schema is what the offline store (and the populator) need to know of one feature group version.
type Schema struct {
	Name    string
	Version string
	// PrimaryKeys are the entity's primary key columns in key order, with their types.
	PrimaryKeys []domain.FeatureColumn
	// Features are the group's feature columns with their types (domain.ColumnTypes).
	Features []domain.FeatureColumn
	// TTL is the entity's TTL (0 = none). Retrieval treats values older than the entity row's time minus TTL as
	// absent.
	TTL time.Duration
}

// Feature returns the feature column called name.
func (s *Schema) Feature(name string) (domain.FeatureColumn, bool) {
	for _, c := range s.Features {
		if c.Name == name {
			return c, true
		}
	}
	return domain.FeatureColumn{}, false
}

// Column returns the feature or primary key column called name.
func (s *Schema) Column(name string) (domain.FeatureColumn, bool) {
	for _, c := range s.Features {
		if c.Name == name {
			return c, true
		}
	}
	for _, c := range s.PrimaryKeys {
		if c.Name == name {
			return c, true
		}
	}
	return domain.FeatureColumn{}, false
}

// SchemaFrom builds a Schema from the metadata store's records (the Resolver the lead wires can use it).
func SchemaFrom(e domain.EntityMetadata, g domain.FeatureGroupMetadata) Schema {
	s := Schema{Name: g.Name, Version: g.Version, Features: g.FeatureGroup.Features}
	for _, k := range e.Entity.PrimaryKeys {
		c, ok := e.Entity.Column(k)
		if !ok {
			c = domain.FeatureColumn{Name: k, Type: "TEXT"}
		}
		s.PrimaryKeys = append(s.PrimaryKeys, c)
	}
	if e.Entity.TTL != nil && *e.Entity.TTL > 0 {
		s.TTL = time.Duration(*e.Entity.TTL) * time.Second
	}
	return s
}

// Resolver answers a feature group version's schema (the lead backs it with the metadata store). An empty version
// means the latest. Unknown groups or versions are domain errors (ErrFGNotFound, ErrFGVersionNotFound).
type Resolver interface {
	Resolve(ctx context.Context, featureGroup, version string) (Schema, error)
}

// Batch is rows of one feature group version to append to the history.
type Batch struct {
	FeatureGroup string
	Version      string
	// Names are the rows' column names; KeyIdx[i] is the position in Names of the i-th primary key column.
	Names  []string
	KeyIdx []int
	// Rows hold one JSON value per name; primary-key values must be canonical (domain.Coerce).
	Rows [][]json.RawMessage
	// EventTimes hold each row's event time in unix milliseconds.
	EventTimes []int64
}

// Appender appends rows to the history. Appends need not be durable until Sync returns.
type Appender interface {
	Append(ctx context.Context, b Batch) error
	// Sync makes every earlier Append durable (the populator calls it before each checkpoint).
	Sync(ctx context.Context) error
}

// History is the Pebble-backed history store.
type History struct {
	db      *pebble.DB
	mu      sync.Mutex
	layouts map[string]uint64 // joined names → id (written ones)
	byID    sync.Map          // id → []string
}

// HistoryOptions configure OpenHistory.
type HistoryOptions struct {
	// InMemory keeps everything in memory (tests); the directory is ignored.
	InMemory bool
	// MemTableSize is Pebble's memtable size (default 64 MiB; resident memory grows to about twice it during bulk
	// loads, outside the Go heap). Smaller values save memory and cost write throughput.
	MemTableSize uint64
}

// OpenHistory opens (creating) the history store in dir, e.g. <data-dir>/feature-store-offline.
func OpenHistory(dir string, o HistoryOptions) (*History, error) {
	// Bulk appends: a larger memtable means fewer flushes and less L0 compaction work per row.
	mt := o.MemTableSize
	if mt == 0 {
		mt = 64 << 20
	}
	opts := &pebble.Options{Logger: quietLogger{}, MemTableSize: mt, L0CompactionThreshold: 4, L0StopWritesThreshold: 24}
	if o.InMemory {
		opts.FS = vfs.NewMem()
		dir = ""
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open offline history store: %w", err)
	}
	return &History{db: db, layouts: map[string]uint64{}}, nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Close closes the store.
func (h *History) Close() error { return h.db.Close() }

// entityPrefix returns the key prefix of one entity's history in one feature group version.
func entityPrefix(dst []byte, fg, version string, key []byte) []byte {
	dst = append(dst, 'h')
	dst = binary.AppendUvarint(dst, uint64(len(fg)))
	dst = append(dst, fg...)
	dst = binary.AppendUvarint(dst, uint64(len(version)))
	dst = append(dst, version...)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// appendTime appends ts so that later times sort first.
func appendTime(dst []byte, ts int64) []byte {
	return binary.BigEndian.AppendUint64(dst, ^(uint64(ts) ^ (1 << 63)))
}

func decodeTime(b []byte) int64 {
	return int64(^binary.BigEndian.Uint64(b) ^ (1 << 63))
}

func layoutKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'l'}, id)
}

// layout returns the id of names (registering it in wb when new).
func (h *History) layout(wb *pebble.Batch, names []string) (uint64, error) {
	joined := strings.Join(names, "\x00")
	h.mu.Lock()
	id, ok := h.layouts[joined]
	h.mu.Unlock()
	if ok {
		return id, nil
	}
	f := fnv.New64a()
	f.Write([]byte(joined))
	id = f.Sum64()
	if prev, ok := h.byID.Load(id); ok && strings.Join(prev.([]string), "\x00") != joined {
		return 0, fmt.Errorf("offline history: layout hash collision for %q", joined)
	}
	if err := wb.Set(layoutKey(id), []byte(joined), nil); err != nil {
		return 0, err
	}
	h.byID.Store(id, append([]string(nil), names...))
	h.mu.Lock()
	h.layouts[joined] = id
	h.mu.Unlock()
	return id, nil
}

// Sync implements Appender: it syncs Pebble's write-ahead log.
func (h *History) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.db.LogData(nil, pebble.Sync)
}

// Append implements Appender: one Pebble batch per call, committed without fsync (see Sync).
func (h *History) Append(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.EventTimes) != len(b.Rows) {
		return fmt.Errorf("offline history: %d event times for %d rows", len(b.EventTimes), len(b.Rows))
	}
	isKey := make([]bool, len(b.Names))
	for _, i := range b.KeyIdx {
		if i < 0 || i >= len(b.Names) {
			return fmt.Errorf("offline history: key index %d out of range", i)
		}
		isKey[i] = true
	}
	var valNames []string
	for i, n := range b.Names {
		if !isKey[i] {
			valNames = append(valNames, n)
		}
	}
	wb := h.db.NewBatch()
	defer wb.Close()
	id, err := h.layout(wb, valNames)
	if err != nil {
		return err
	}
	var kb, vb []byte
	parts := make([]json.RawMessage, len(b.KeyIdx))
	for r, row := range b.Rows {
		if len(row) != len(b.Names) {
			return fmt.Errorf("offline history: row %d has %d values for %d names", r, len(row), len(b.Names))
		}
		for i, ki := range b.KeyIdx {
			parts[i] = row[ki]
		}
		kb = entityPrefix(kb[:0], b.FeatureGroup, b.Version, domain.EncodeKey(parts))
		kb = appendTime(kb, b.EventTimes[r])
		vb = binary.BigEndian.AppendUint64(vb[:0], id)
		for i, v := range row {
			if isKey[i] {
				continue
			}
			v = bytes.TrimSpace(v)
			if len(v) == 0 || bytes.Equal(v, []byte("null")) {
				vb = binary.AppendUvarint(vb, 0)
				continue
			}
			vb = binary.AppendUvarint(vb, uint64(len(v)))
			vb = append(vb, v...)
		}
		if err := wb.Set(kb, vb, nil); err != nil {
			return err
		}
	}
	return wb.Commit(pebble.NoSync)
}

// names returns the column names of layout id.
func (h *History) names(id uint64) ([]string, error) {
	if v, ok := h.byID.Load(id); ok {
		return v.([]string), nil
	}
	v, closer, err := h.db.Get(layoutKey(id))
	if err != nil {
		return nil, fmt.Errorf("offline history: layout %x: %w", id, err)
	}
	names := strings.Split(string(v), "\x00")
	closer.Close()
	h.byID.Store(id, names)
	return names, nil
}

// decodeValue calls fn for every column of an encoded row value.
func (h *History) decodeValue(v []byte, fn func(name string, val json.RawMessage)) error {
	if len(v) < 8 {
		return errors.New("offline history: short value")
	}
	names, err := h.names(binary.BigEndian.Uint64(v))
	if err != nil {
		return err
	}
	v = v[8:]
	for _, n := range names {
		l, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < l {
			return errors.New("offline history: corrupt value")
		}
		v = v[k:]
		var val json.RawMessage
		if l > 0 {
			val = json.RawMessage(bytes.Clone(v[:l]))
		}
		fn(n, val)
		v = v[l:]
	}
	return nil
}

// reader answers as-of lookups with one iterator.
type reader struct {
	h  *History
	it *pebble.Iterator
	kb []byte
}

func (h *History) newReader(ctx context.Context) (*reader, error) {
	it, err := h.db.NewIterWithContext(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &reader{h: h, it: it}, nil
}

func (r *reader) close() error { return r.it.Close() }

// asOf fills out[i] with the value of cols[i] in the latest row of entity key at or before at whose event time is
// not before notBefore. A row that does not carry a column (written with a different set of columns) does not end
// the search for it, as an online upsert of other columns would leave it in place; a stored null does. Columns
// without such a row are left nil.
func (r *reader) asOf(fg, version string, key []byte, at, notBefore int64, cols []string, out []json.RawMessage) error {
	for i := range out {
		out[i] = nil
	}
	r.kb = entityPrefix(r.kb[:0], fg, version, key)
	plen := len(r.kb)
	r.kb = appendTime(r.kb, at)
	missing := len(cols)
	done := make([]bool, len(cols))
	for ok := r.it.SeekGE(r.kb); ok && missing > 0; ok = r.it.Next() {
		k := r.it.Key()
		if len(k) != plen+8 || !bytes.Equal(k[:plen], r.kb[:plen]) {
			break
		}
		if decodeTime(k[plen:]) < notBefore {
			break
		}
		v, err := r.it.ValueAndErr()
		if err != nil {
			return err
		}
		err = r.h.decodeValue(v, func(name string, val json.RawMessage) {
			for i, c := range cols {
				if !done[i] && c == name {
					done[i] = true
					out[i] = val
					missing--
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return r.it.Error()
}
