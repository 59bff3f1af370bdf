package online

import (
	"bytes"
	"context"
	"errors"
	"sort"

	"github.com/cockroachdb/pebble/v2"
	"github.com/redis/go-redis/v9"
)

// PartitionRow is one row of a partition: its full key and the requested columns' values (nil when absent).
type PartitionRow struct {
	Key    []byte
	Values [][]byte
}

// PartitionReader is the optional capability behind read-partition: every live row of table whose key equals
// prefix or starts with prefix followed by NUL (row keys join canonical JSON key parts with NUL, which no canonical
// value contains, so prefix = the encoded leading key parts selects exactly the rows sharing them). Rows come in
// key byte order; at most limit rows are returned (limit <= 0: no limit), so asking for limit+1 detects overflow.
//
// A Cassandra implementation answers it natively: SELECT <key cols>, <cols> FROM ofs.<table> WHERE <partition key>
// = ? LIMIT <limit>, re-encoding each row's primary key values into the key.
type PartitionReader interface {
	ReadPartition(ctx context.Context, table string, prefix []byte, columns []string, limit int) ([]PartitionRow, error)
}

// inPartition reports whether row key belongs to the partition prefix.
func inPartition(key, prefix []byte) bool {
	return bytes.HasPrefix(key, prefix) && (len(key) == len(prefix) || key[len(prefix)] == 0)
}

// ReadPartition implements PartitionReader with one bounded iterator over [table NUL prefix, table NUL prefix 0x01).
func (p *Pebble) ReadPartition(ctx context.Context, table string, prefix []byte, columns []string, limit int) ([]PartitionRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lower := rowKey(table, prefix)
	upper := append(append([]byte(nil), lower...), 1)
	it, err := p.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	now := p.now().UnixNano()
	idx := columnIndex(columns)
	out := []PartitionRow{}
	skip := len(table) + 1
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()[skip:]
		if !inPartition(key, prefix) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		vals := make([][]byte, len(columns))
		live := false
		row := append([]byte(nil), v...) // one copy per row; the values alias it
		exp, err := scanRow(row, func(name []byte, e int64, val []byte) {
			if e != 0 && e <= now {
				return
			}
			live = true
			if c, ok := idx[string(name)]; ok {
				vals[c] = val[:len(val):len(val)]
			}
		})
		if err != nil {
			return nil, err
		}
		if !(exp == 0 || exp > now || live) {
			continue
		}
		fillDuplicates(vals, columns, idx)
		out = append(out, PartitionRow{Key: append([]byte(nil), key...), Values: vals})
		if limit > 0 && len(out) >= limit {
			break
		}
		if len(out)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, it.Error()
}

// columnIndex maps each column to its first position in columns.
func columnIndex(columns []string) map[string]int {
	idx := make(map[string]int, len(columns))
	for c, col := range columns {
		if _, dup := idx[col]; !dup {
			idx[col] = c
		}
	}
	return idx
}

// fillDuplicates copies the value of a repeated column to its later positions.
func fillDuplicates(vals [][]byte, columns []string, idx map[string]int) {
	for c, col := range columns {
		if first := idx[col]; first != c {
			vals[c] = vals[first]
		}
	}
}

// partitionOf is the partition (first key part) of row key: the bytes before the first NUL.
func partitionOf(key []byte) []byte {
	if i := bytes.IndexByte(key, 0); i >= 0 {
		return key[:i]
	}
	return key
}

// indexKey is the Redis set listing the row keys of partition part of table. Its "#" cannot start a table name (an
// identifier), so it never collides with a row hash.
func (r *Redis) indexKey(table string, part []byte) string {
	return r.prefix + "#p:" + table + ":" + string(part)
}

// ReadPartition implements PartitionReader: the partition index set (SMEMBERS of the first key part's set, kept by
// Write) then one pipelined HMGET per member. Members whose row has expired are removed from the set. Prefixes of
// more than one key part filter the members.
func (r *Redis) ReadPartition(ctx context.Context, table string, prefix []byte, columns []string, limit int) ([]PartitionRow, error) {
	ik := r.indexKey(table, partitionOf(prefix))
	members, err := r.c.SMembers(ctx, ik).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	keys := make([]string, 0, len(members))
	for _, m := range members {
		if inPartition([]byte(m), prefix) {
			keys = append(keys, m)
		}
	}
	sort.Strings(keys)
	fields := append([]string{rowMarker}, columns...)
	out := []PartitionRow{}
	var stale []string
	const chunk = 512
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(len(keys), start+chunk)]
		cmds := make([]*redis.SliceCmd, len(part))
		_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range part {
				cmds[i] = p.HMGet(ctx, r.key(table, []byte(k)), fields...)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, cmd := range cmds {
			vals, err := cmd.Result()
			if err != nil {
				return nil, err
			}
			if len(vals) != len(fields) || vals[0] == nil {
				stale = append(stale, part[i])
				continue
			}
			row := PartitionRow{Key: []byte(part[i]), Values: make([][]byte, len(columns))}
			for c, v := range vals[1:] {
				if s, ok := v.(string); ok {
					row.Values[c] = []byte(s)
				}
			}
			out = append(out, row)
			if limit > 0 && len(out) >= limit {
				return out, r.prune(ctx, table, ik, stale)
			}
		}
	}
	return out, r.prune(ctx, table, ik, stale)
}

// pruneScript removes index members (ARGV odd positions) whose row hash (the following ARGV) no longer exists,
// atomically, so a row re-written since the read keeps its entry.
var pruneScript = redis.NewScript(`for i = 1, #ARGV, 2 do
  if redis.call('EXISTS', ARGV[i + 1]) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end
end
return 0`)

func (r *Redis) prune(ctx context.Context, table, ik string, stale []string) error {
	if len(stale) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(stale))
	for _, m := range stale {
		args = append(args, m, r.key(table, []byte(m)))
	}
	err := pruneScript.Run(ctx, r.c, []string{ik}, args...).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
