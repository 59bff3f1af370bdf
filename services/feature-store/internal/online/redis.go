package online

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// rowMarker is the hash field every written row carries, so existence is one HMGET field.
const rowMarker = "\x00"

// Redis stores one hash per row at <prefix><table>:<key>; fields are columns plus a row marker. TTLs apply to
// the whole row (PEXPIRE after each write). Writes run in one MULTI/EXEC pipeline, reads in one pipeline.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a store over client c whose keys start with prefix.
func NewRedis(c redis.UniversalClient, prefix string) *Redis { return &Redis{c: c, prefix: prefix} }

// OpenRedis connects to the Redis URL (redis://host:port/db).
func OpenRedis(ctx context.Context, url, prefix string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis ping: %w", err)
	}
	return &Redis{c: c, prefix: prefix}, nil
}

// Close closes the client.
func (r *Redis) Close() error { return r.c.Close() }

func (r *Redis) key(table string, key []byte) string {
	return r.prefix + table + ":" + string(key)
}

// Write implements Store.
func (r *Redis) Write(ctx context.Context, ops []WriteOp) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, op := range ops {
			for _, rw := range op.Rows {
				k := r.key(op.Table, rw.Key)
				args := make([]any, 0, 2+2*len(rw.Cells))
				args = append(args, rowMarker, "1")
				var del []string
				for _, c := range rw.Cells {
					if c.Value == nil {
						del = append(del, c.Column)
					} else {
						args = append(args, c.Column, c.Value)
					}
				}
				p.HSet(ctx, k, args...)
				p.SAdd(ctx, r.indexKey(op.Table, partitionOf(rw.Key)), string(rw.Key)) // partition index (partition.go)
				if len(del) > 0 {
					p.HDel(ctx, k, del...)
				}
				if op.TTL > 0 {
					p.PExpire(ctx, k, op.TTL)
				} else {
					p.Persist(ctx, k)
				}
			}
		}
		return nil
	})
	return err
}

// Read implements Store.
func (r *Redis) Read(ctx context.Context, ops []ReadOp) ([]ReadResult, error) {
	cmds := make([][]*redis.SliceCmd, len(ops))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, op := range ops {
			fields := make([]string, 0, 1+len(op.Columns))
			fields = append(fields, rowMarker)
			fields = append(fields, op.Columns...)
			cmds[i] = make([]*redis.SliceCmd, len(op.Keys))
			for k, key := range op.Keys {
				cmds[i][k] = p.HMGet(ctx, r.key(op.Table, key), fields...)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]ReadResult, len(ops))
	for i, op := range ops {
		res := newResult(op)
		for k := range op.Keys {
			vals, err := cmds[i][k].Result()
			if err != nil {
				return nil, err
			}
			if len(vals) != 1+len(op.Columns) || vals[0] == nil {
				continue
			}
			res.Found[k] = true
			for c, v := range vals[1:] {
				if s, ok := v.(string); ok {
					res.Values[k][c] = []byte(s)
				}
			}
		}
		out[i] = res
	}
	return out, nil
}
