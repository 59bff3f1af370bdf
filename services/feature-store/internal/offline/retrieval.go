package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// ErrHistoricalRequest is the error code of a bad historical-features request (HTTP 400).
var ErrHistoricalRequest = domain.Code{Name: "HISTORICAL-FEATURES-REQUEST-EXCEPTION", Message: "invalid request", Status: 400}

// Limits of one historical-features request.
const (
	MaxEntityRows = 100_000
	MaxFeatures   = 500
)

// DefaultTimestampColumn is the entity rows' event time column when the request names none.
const DefaultTimestampColumn = "event_timestamp"

// EntityRows are the rows to answer: column names (every referenced group's primary keys and the timestamp column)
// and one JSON value per name in each row.
type EntityRows struct {
	Names  []string            `json:"names"`
	Values [][]json.RawMessage `json:"values"`
}

// HistoricalRequest is the body of POST /feature-group/historical-features.
type HistoricalRequest struct {
	EntityRows EntityRows `json:"entityRows"`
	// TimestampColumn names the entity rows' event time column (default "event_timestamp"); values are unix
	// milliseconds (a JSON number or numeric string) or RFC 3339 strings.
	TimestampColumn string `json:"timestampColumn"`
	// Features are "<fg>:<version>:<column>" or "<fg>:<column>" (the group's latest version).
	Features []string `json:"features"`
	// IgnoreTTL returns values older than the entity's TTL too.
	IgnoreTTL bool `json:"ignoreTtl"`
	// Format is "json" (default) or "parquet" (the response body is a Parquet file).
	Format string `json:"format"`
}

// HistoricalResult is the training set: the entity rows' columns followed by one column per feature reference (named
// as requested), one row per entity row in request order. Types holds each column's feature store type ("" for
// entity-row columns of unknown type; the timestamp column is TIMESTAMP).
type HistoricalResult struct {
	Columns []string            `json:"columns"`
	Rows    [][]json.RawMessage `json:"rows"`
	Types   []string            `json:"-"`
}

// Retriever answers historical-features requests from a History.
type Retriever struct {
	History  *History
	Resolver Resolver
}

type featureRef struct {
	ref    string
	group  string
	ver    string
	column string
}

func parseRef(s string) (featureRef, error) {
	parts := strings.Split(s, ":")
	var r featureRef
	switch len(parts) {
	case 2:
		r = featureRef{ref: s, group: parts[0], column: parts[1]}
	case 3:
		r = featureRef{ref: s, group: parts[0], ver: parts[1], column: parts[2]}
		if _, ok := domain.ParseVersion(r.ver); !ok {
			return r, domain.E(ErrHistoricalRequest, "feature %q: invalid version %q", s, r.ver)
		}
	default:
		return r, domain.E(ErrHistoricalRequest, "feature %q: want <featureGroup>:<version>:<column> or <featureGroup>:<column>", s)
	}
	if r.group == "" || r.column == "" {
		return r, domain.E(ErrHistoricalRequest, "feature %q: empty feature group or column", s)
	}
	return r, nil
}

// Validate checks the request's shape (not the names against metadata) and fills defaults.
func (q *HistoricalRequest) Validate() error {
	if q.TimestampColumn == "" {
		q.TimestampColumn = DefaultTimestampColumn
	}
	switch strings.ToLower(q.Format) {
	case "", "json":
		q.Format = "json"
	case "parquet":
		q.Format = "parquet"
	default:
		return domain.E(ErrHistoricalRequest, "format must be json or parquet, got %q", q.Format)
	}
	if len(q.Features) == 0 {
		return domain.E(ErrHistoricalRequest, "features is empty")
	}
	if len(q.Features) > MaxFeatures {
		return domain.E(ErrHistoricalRequest, "at most %d features per request", MaxFeatures)
	}
	if len(q.EntityRows.Names) == 0 {
		return domain.E(ErrHistoricalRequest, "entityRows.names is empty")
	}
	if len(q.EntityRows.Values) > MaxEntityRows {
		return domain.E(ErrHistoricalRequest, "at most %d entity rows per request", MaxEntityRows)
	}
	seen := map[string]bool{}
	for _, n := range q.EntityRows.Names {
		if n == "" || seen[n] {
			return domain.E(ErrHistoricalRequest, "entityRows.names: empty or duplicate name %q", n)
		}
		seen[n] = true
	}
	if !seen[q.TimestampColumn] {
		return domain.E(ErrHistoricalRequest, "entityRows.names lacks the timestamp column %q", q.TimestampColumn)
	}
	for _, f := range q.Features {
		if _, err := parseRef(f); err != nil {
			return err
		}
		if seen[f] {
			return domain.E(ErrHistoricalRequest, "feature %q is also an entity row column", f)
		}
		seen[f] = true
	}
	for i, row := range q.EntityRows.Values {
		if len(row) != len(q.EntityRows.Names) {
			return domain.E(ErrHistoricalRequest, "entityRows.values[%d] has %d values for %d names", i, len(row), len(q.EntityRows.Names))
		}
	}
	return nil
}

// ParseEventTime parses an event time: unix milliseconds as a JSON integer or numeric string, or an RFC 3339
// string.
func ParseEventTime(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, fmt.Errorf("event time is null")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("invalid event time")
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("event time %q is neither unix milliseconds nor RFC 3339", s)
		}
		return t.UnixMilli(), nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(raw), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return 0, fmt.Errorf("event time %s is not integer unix milliseconds", raw)
		}
		n = int64(f)
	}
	return n, nil
}

// groupPlan is one feature group version's part of a request.
type groupPlan struct {
	schema Schema
	keyPos []int    // entity row positions of the primary key columns
	keyTyp []string // their types
	cols   []string // requested columns
	outPos []int    // output positions
}

// Retrieve answers q (validated with Validate first) as of each entity row's time.
func (r *Retriever) Retrieve(ctx context.Context, q *HistoricalRequest) (*HistoricalResult, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	namePos := map[string]int{}
	for i, n := range q.EntityRows.Names {
		namePos[n] = i
	}
	res := &HistoricalResult{Columns: append([]string(nil), q.EntityRows.Names...)}
	res.Types = make([]string, len(res.Columns))
	tsPos := namePos[q.TimestampColumn]
	res.Types[tsPos] = "TIMESTAMP"
	plans := map[string]*groupPlan{}
	var order []string
	resolved := map[string]Schema{} // "<fg>:<ver>" as requested → schema
	for _, f := range q.Features {
		ref, _ := parseRef(f)
		rk := ref.group + ":" + ref.ver
		s, ok := resolved[rk]
		if !ok {
			var err error
			s, err = r.Resolver.Resolve(ctx, ref.group, ref.ver)
			if err != nil {
				return nil, err
			}
			resolved[rk] = s
		}
		col, ok := s.Feature(ref.column)
		if !ok {
			return nil, domain.E(ErrHistoricalRequest, "feature %q: feature group %s %s has no feature column %q", f, s.Name, s.Version, ref.column)
		}
		pk := s.Name + ":" + s.Version
		p := plans[pk]
		if p == nil {
			p = &groupPlan{schema: s}
			for _, kc := range s.PrimaryKeys {
				pos, ok := namePos[kc.Name]
				if !ok {
					return nil, domain.E(ErrHistoricalRequest, "entityRows.names lacks primary key column %q of feature group %s", kc.Name, s.Name)
				}
				p.keyPos = append(p.keyPos, pos)
				p.keyTyp = append(p.keyTyp, kc.Type)
				res.Types[pos] = kc.Type
			}
			plans[pk] = p
			order = append(order, pk)
		}
		p.cols = append(p.cols, ref.column)
		p.outPos = append(p.outPos, len(res.Columns))
		res.Columns = append(res.Columns, f)
		res.Types = append(res.Types, col.Type)
	}
	times := make([]int64, len(q.EntityRows.Values))
	for i, row := range q.EntityRows.Values {
		t, err := ParseEventTime(row[tsPos])
		if err != nil {
			return nil, domain.E(ErrHistoricalRequest, "entityRows.values[%d]: %v", i, err)
		}
		times[i] = t
	}
	rd, err := r.History.newReader(ctx)
	if err != nil {
		return nil, domain.Wrap(domain.ErrService, err)
	}
	defer rd.close()
	res.Rows = make([][]json.RawMessage, len(q.EntityRows.Values))
	parts := make([]json.RawMessage, 0, 4)
	var vals []json.RawMessage
	for i, row := range q.EntityRows.Values {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		out := make([]json.RawMessage, len(res.Columns))
		copy(out, row)
		for _, pk := range order {
			p := plans[pk]
			parts = parts[:0]
			null := false
			for k, pos := range p.keyPos {
				v, err := domain.Coerce(p.keyTyp[k], row[pos])
				if err != nil {
					return nil, domain.E(ErrHistoricalRequest, "entityRows.values[%d]: %s: %v", i, q.EntityRows.Names[pos], err)
				}
				if v == nil {
					null = true
				}
				parts = append(parts, v)
			}
			if null {
				continue // a null key has no history
			}
			notBefore := int64(math.MinInt64)
			if p.schema.TTL > 0 && !q.IgnoreTTL {
				notBefore = times[i] - p.schema.TTL.Milliseconds()
			}
			if cap(vals) < len(p.cols) {
				vals = make([]json.RawMessage, len(p.cols))
			}
			vals = vals[:len(p.cols)]
			if err := rd.asOf(p.schema.Name, p.schema.Version, domain.EncodeKey(parts), times[i], notBefore, p.cols, vals); err != nil {
				return nil, domain.Wrap(domain.ErrService, err)
			}
			for c, pos := range p.outPos {
				out[pos] = vals[c]
			}
		}
		for c := range out {
			if out[c] == nil {
				out[c] = json.RawMessage("null")
			}
		}
		res.Rows[i] = out
	}
	return res, nil
}
