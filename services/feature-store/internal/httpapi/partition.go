package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

// MaxPartitionRows is the most rows read-partition answers; a larger partition is a 400 (read it by keys instead).
const MaxPartitionRows = 10000

// PartitionKey names the leading primary-key columns of a partition and their values.
type PartitionKey struct {
	Names  []string          `json:"names"`
	Values []json.RawMessage `json:"values"`
}

// ReadPartitionRequest is read-partition's body.
type ReadPartitionRequest struct {
	FeatureGroupName    string       `json:"featureGroupName"`
	FeatureGroupVersion *string      `json:"featureGroupVersion"`
	FeatureColumns      []string     `json:"featureColumns"`
	PartitionKey        PartitionKey `json:"partitionKey"`
}

// partitionPlan is a validated read-partition request.
type partitionPlan struct {
	res    *resolved
	prefix []byte
	// cols are the store columns read; pkOf[i] >= 0 when featureColumns[i] is a primary key column (answered
	// from the row key), else its position in cols is colOf[i].
	cols  []string
	pkOf  []int
	colOf []int
}

// planPartition validates req: the partition key names must be the entity's first k primary-key columns (k >= 1,
// in any order: the first is the Cassandra partition key, the rest a clustering prefix).
func (h *Handler) planPartition(ctx context.Context, req *ReadPartitionRequest) (*partitionPlan, error) {
	c := domain.ErrReadPartitionRequest
	if req.FeatureGroupName == "" {
		return nil, domain.E(c, "featureGroupName is required")
	}
	if len(req.FeatureColumns) == 0 {
		return nil, domain.E(c, "featureColumns must not be empty")
	}
	pk := req.PartitionKey
	if len(pk.Names) == 0 {
		return nil, domain.E(c, "partitionKey.names must not be empty")
	}
	if len(pk.Values) != len(pk.Names) {
		return nil, domain.E(c, "partitionKey.values has %d values for %d names", len(pk.Values), len(pk.Names))
	}
	res, err := h.resolve(ctx, req.FeatureGroupName, req.FeatureGroupVersion)
	if err != nil {
		return nil, err
	}
	pks := res.ent.Entity.PrimaryKeys
	if len(pk.Names) > len(pks) {
		return nil, domain.E(c, "partitionKey.names must be leading primary keys of %v", pks)
	}
	parts := make([]json.RawMessage, len(pk.Names))
	for i, n := range pk.Names {
		ci, ok := res.cols[n]
		if !ok || ci.pk < 0 || ci.pk >= len(pk.Names) || parts[ci.pk] != nil {
			return nil, domain.E(c, "partitionKey.names must be the first %d primary keys of %v (the partition key first)", len(pk.Names), pks)
		}
		v, err := domain.Coerce(ci.typ, pk.Values[i])
		if err != nil {
			return nil, domain.E(c, "partitionKey.values[%d] (%s): %v", i, n, err)
		}
		if v == nil {
			return nil, domain.E(c, "partitionKey.values[%d] (%s) is null", i, n)
		}
		parts[ci.pk] = v
	}
	p := &partitionPlan{res: res, prefix: domain.EncodeKey(parts), pkOf: make([]int, len(req.FeatureColumns)), colOf: make([]int, len(req.FeatureColumns))}
	for i, n := range req.FeatureColumns {
		ci, ok := res.cols[n]
		if !ok {
			return nil, domain.E(c, "feature column %s is not in feature group %s %s or its entity", n, res.fg.Name, res.fg.Version)
		}
		p.pkOf[i], p.colOf[i] = ci.pk, -1
		if ci.pk < 0 {
			p.colOf[i] = len(p.cols)
			p.cols = append(p.cols, ci.store)
		}
	}
	return p, nil
}

// splitKey splits an encoded row key into its n canonical JSON parts (canonical values never hold a NUL byte).
func splitKey(key []byte, n int) ([][]byte, bool) {
	parts := bytes.SplitN(key, []byte{0}, n)
	return parts, len(parts) == n
}

// appendJSON encodes the response: {featureGroupName, featureGroupVersion, features:[[…] per row]}.
func (p *partitionPlan) appendJSON(b []byte, rows []online.PartitionRow) ([]byte, error) {
	b = append(b, `{"featureGroupName":`...)
	b = appendString(b, p.res.fg.Name)
	b = append(b, `,"featureGroupVersion":`...)
	b = appendString(b, p.res.fg.Version)
	b = append(b, `,"features":[`...)
	npk := len(p.res.ent.Entity.PrimaryKeys)
	for r, row := range rows {
		if r > 0 {
			b = append(b, ',')
		}
		parts, ok := splitKey(row.Key, npk)
		if !ok {
			return nil, domain.Wrap(domain.ErrService, errCorruptKey)
		}
		b = append(b, '[')
		for i, pk := range p.pkOf {
			if i > 0 {
				b = append(b, ',')
			}
			var v []byte
			if pk >= 0 {
				v = parts[pk]
			} else {
				v = row.Values[p.colOf[i]]
			}
			if len(v) == 0 {
				v = null
			}
			b = append(b, v...)
		}
		b = append(b, ']')
	}
	return append(b, "]}"...), nil
}

type keyError string

func (e keyError) Error() string { return string(e) }

const errCorruptKey = keyError("online store returned a row key with the wrong number of parts")

// readPartition serves GET|POST /feature-group/read-partition: every row of one partition (at most
// MaxPartitionRows) with the requested columns, through the online store's optional PartitionReader.
func (h *Handler) readPartition(w http.ResponseWriter, r *http.Request) {
	c := domain.ErrReadPartitionRequest
	body, err := readBody(r, MaxAppBodyBytes, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req ReadPartitionRequest
	if err := decodeBytes(body, MaxAppBodyBytes, c, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.planPartition(r.Context(), &req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pr, ok := h.online.(online.PartitionReader)
	if !ok {
		h.fail(w, r, domain.E(c, "read-partition is not supported by this online store"))
		return
	}
	start := time.Now()
	rows, err := pr.ReadPartition(r.Context(), p.res.ent.Name, p.prefix, p.cols, MaxPartitionRows+1)
	h.timeStore("read_partition", start, err)
	if err != nil {
		h.fail(w, r, h.storeError(err))
		return
	}
	if len(rows) > MaxPartitionRows {
		h.fail(w, r, domain.E(c, "partition holds more than %d rows; read it by primary keys instead", MaxPartitionRows))
		return
	}
	buf, err := p.appendJSON(append(make([]byte, 0, 4096), `{"data":`...), rows)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, append(buf, '}'))
}
