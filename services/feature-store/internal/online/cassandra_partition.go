package online

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// ReadPartition implements PartitionReader with one SELECT <key cols>, <cols> FROM ks.t WHERE <the prefix's key
// columns> = ? ... [LIMIT ?]: prefix is the encoded partition key, optionally followed by leading clustering
// columns. Each row's key is re-encoded from its key column values (canonical JSON, as written), and rows are
// returned in key byte order as the interface asks (Cassandra's own order is the clustering order; with a limit
// the rows are Cassandra's first ones, re-sorted). Unknown tables and prefixes that cannot be keys of the table
// read as no rows.
func (c *Cassandra) ReadPartition(ctx context.Context, table string, prefix []byte, columns []string, limit int) ([]PartitionRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		rows, err := c.readPartitionOnce(ctx, table, prefix, columns, limit, attempt > 0)
		if err == nil || !isSchemaError(err) {
			return rows, err
		}
		c.invalidate(table)
		if attempt > 0 {
			if isUnconfiguredTable(err) {
				return []PartitionRow{}, nil
			}
			return nil, err
		}
	}
}

func (c *Cassandra) readPartitionOnce(ctx context.Context, table string, prefix []byte, columns []string, limit int, reload bool) ([]PartitionRow, error) {
	out := []PartitionRow{}
	ti, err := c.schemaFor(ctx, table, columns, reload)
	if err != nil || !ti.exists {
		return out, err
	}
	k := bytes.Count(prefix, []byte{0}) + 1
	if k > len(ti.pk) {
		return out, nil
	}
	parts, err := domain.DecodeKey(prefix, k)
	if err != nil {
		return out, nil
	}
	sel := make([]string, 0, len(ti.pk)+len(columns))
	types := make([]string, 0, cap(sel))
	for _, p := range ti.pk {
		sel, types = append(sel, quote(p.Name)), append(types, p.Type)
	}
	colAt := make([]int, len(columns))
	seen := map[string]int{}
	for i, col := range columns {
		typ, ok := ti.types[col]
		j, dup := seen[col]
		switch {
		case !ok || typ == "" || ti.isPK(col):
			colAt[i] = -1
		case dup:
			colAt[i] = j
		default:
			seen[col] = len(sel)
			colAt[i] = len(sel)
			sel, types = append(sel, quote(col)), append(types, typ)
		}
	}
	conds := make([]string, k)
	vals := make([]any, 0, k+1)
	for i := 0; i < k; i++ {
		v, err := jsonToCQL(ti.pk[i].Type, parts[i])
		if err != nil || v == nil {
			return out, nil
		}
		conds[i] = quote(ti.pk[i].Name) + " = ?"
		vals = append(vals, v)
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + c.table(table) + " WHERE " + strings.Join(conds, " AND ")
	if limit > 0 {
		q += " LIMIT ?"
		vals = append(vals, int32(min(limit, 1<<31-1)))
	}
	rows, err := c.s.query(ctx, c.cl, cqlStatement{CQL: q, Values: vals}, len(sel))
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		keyParts := make([]json.RawMessage, len(ti.pk))
		for j, p := range ti.pk {
			v, err := cqlToJSON(p.Type, row[j])
			if err != nil || v == nil {
				return nil, fmt.Errorf("%s.%s: key column %s: %v", c.ks, table, p.Name, err)
			}
			keyParts[j] = v
		}
		pr := PartitionRow{Key: domain.EncodeKey(keyParts), Values: make([][]byte, len(columns))}
		decoded := make([][]byte, len(sel))
		for j := len(ti.pk); j < len(sel); j++ {
			if decoded[j], err = cqlToJSON(types[j], row[j]); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", table, strings.Trim(sel[j], `"`), err)
			}
		}
		for i, j := range colAt {
			if j >= 0 {
				pr.Values[i] = decoded[j]
			}
		}
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	return out, nil
}

var _ PartitionReader = (*Cassandra)(nil)
