package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

// resolved is a feature group version with its entity, indexed for request validation.
type resolved struct {
	fg   domain.FeatureGroupMetadata
	ent  domain.EntityMetadata
	cols map[string]colInfo
	ttl  time.Duration
	at   time.Time
}

// colInfo describes a column a request may name: its type, its online-store column and, for primary keys, the
// position in the entity's key.
type colInfo struct {
	typ   string
	store string
	pk    int // -1 unless a primary key column
}

func newResolved(fg domain.FeatureGroupMetadata, ent domain.EntityMetadata) *resolved {
	r := &resolved{fg: fg, ent: ent, cols: map[string]colInfo{}, at: time.Now()}
	for _, c := range ent.Entity.Features {
		r.cols[c.Name] = colInfo{typ: c.Type, store: c.Name, pk: -1}
	}
	for i, pk := range ent.Entity.PrimaryKeys {
		ci := r.cols[pk]
		ci.pk = i
		r.cols[pk] = ci
	}
	for _, c := range fg.FeatureGroup.Features {
		r.cols[c.Name] = colInfo{typ: c.Type, store: fg.StoreColumn(c.Name), pk: -1}
	}
	if ent.Entity.TTL != nil {
		r.ttl = time.Duration(*ent.Entity.TTL) * time.Second
	}
	return r
}

// resolve returns feature group name at version (latest when empty) from the cache or the metadata store. Admin
// errors are re-wrapped as OFS-V2-ADMIN-SERVICE-EXCEPTION (400) as the original app did; an archived version is
// FEATURE-GROUP-STATE-EXCEPTION.
func (h *Handler) resolve(ctx context.Context, name string, version *string) (*resolved, error) {
	v := ""
	if version != nil {
		v = *version
	}
	r := h.cache.get(name, v)
	if r == nil {
		fg, err := h.meta.GetFeatureGroup(ctx, name, v)
		if err == nil {
			var ent domain.EntityMetadata
			if ent, err = h.meta.GetEntity(ctx, fg.FeatureGroup.EntityName); err == nil {
				r = newResolved(fg, ent)
				h.cache.put(r, v == "")
			}
		}
		if err != nil {
			e := domain.As(err)
			if e.Code.Status >= 500 {
				return nil, e
			}
			return nil, &domain.Error{Code: domain.ErrAdminService, Message: e.Message, Cause: e.Code.Name}
		}
	}
	if r.fg.State != domain.StateLive {
		return nil, domain.E(domain.ErrFGState, "feature group %s version %s is archived", r.fg.Name, r.fg.Version)
	}
	return r, nil
}

// Table is the feature-values matrix of write requests and the key matrix of read requests.
type Table struct {
	Names  []string            `json:"names"`
	Values [][]json.RawMessage `json:"values"`
}

// WriteRequest is write-features-v2's body (and one batch of write-features-v1).
type WriteRequest struct {
	FeatureGroupName    string  `json:"featureGroupName"`
	FeatureGroupVersion *string `json:"featureGroupVersion"`
	Features            Table   `json:"features"`
	RunID               *string `json:"runId,omitempty"`
}

// WriteResponse answers one write request.
type WriteResponse struct {
	FeatureGroupName    string              `json:"featureGroupName"`
	FeatureGroupVersion string              `json:"featureGroupVersion"`
	FeatureColumns      []string            `json:"featureColumns"`
	SuccessfulRows      [][]json.RawMessage `json:"successfulRows"`
	FailedRows          [][]json.RawMessage `json:"failedRows"`
}

// WriteV1Request is write-features-v1's body.
type WriteV1Request struct {
	Batches []WriteRequest `json:"batches"`
}

type failedBatch struct {
	Batch WriteRequest `json:"batch"`
	Error errorBody    `json:"error"`
}

// ReadRequest is read-features' body (and one batch of multi-read-features).
type ReadRequest struct {
	FeatureGroupName    string   `json:"featureGroupName"`
	FeatureGroupVersion *string  `json:"featureGroupVersion"`
	FeatureColumns      []string `json:"featureColumns"`
	PrimaryKeys         Table    `json:"primaryKeys"`
}

// MultiReadRequest is multi-read-features' body.
type MultiReadRequest struct {
	Batches []ReadRequest `json:"batches"`
}

type keyFeatures struct {
	Key      []json.RawMessage `json:"key"`
	Features []json.RawMessage `json:"features"`
}

// ReadResponse answers one read request.
type ReadResponse struct {
	FeatureGroupName    string              `json:"featureGroupName"`
	FeatureGroupVersion string              `json:"featureGroupVersion"`
	SuccessfulKeys      []keyFeatures       `json:"successfulKeys"`
	FailedKeys          [][]json.RawMessage `json:"failedKeys"`
}

var null = json.RawMessage("null")

// writeColumns is a validated column list of a write: each name's column and the number of primary key columns.
type writeColumns struct {
	names []string
	infos []colInfo
	npk   int
}

// planColumns checks that names are distinct columns of the feature group version or its entity and include every
// primary key column.
func planColumns(res *resolved, names []string, c domain.Code) (*writeColumns, error) {
	wc := &writeColumns{names: names, infos: make([]colInfo, len(names))}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		ci, ok := res.cols[n]
		if !ok {
			return nil, domain.E(c, "column %s is not in feature group %s %s or its entity", n, res.fg.Name, res.fg.Version)
		}
		if seen[n] {
			return nil, domain.E(c, "duplicate column %s", n)
		}
		seen[n] = true
		if ci.pk >= 0 {
			wc.npk++
		}
		wc.infos[i] = ci
	}
	if wc.npk != len(res.ent.Entity.PrimaryKeys) {
		return nil, domain.E(c, "features.names must include every primary key %v", res.ent.Entity.PrimaryKeys)
	}
	return wc, nil
}

// row validates and coerces one row (row index r, for messages) into a store row.
func (wc *writeColumns) row(r int, vals []json.RawMessage, c domain.Code) (online.Row, error) {
	if len(vals) != len(wc.names) {
		return online.Row{}, domain.E(c, "features.values[%d] has %d values for %d names", r, len(vals), len(wc.names))
	}
	pk := make([]json.RawMessage, wc.npk)
	cells := make([]online.Cell, 0, len(wc.names)-wc.npk)
	for i, raw := range vals {
		v, err := domain.Coerce(wc.infos[i].typ, raw)
		if err != nil {
			return online.Row{}, domain.E(c, "features.values[%d][%d] (%s): %v", r, i, wc.names[i], err)
		}
		if wc.infos[i].pk >= 0 {
			if v == nil {
				return online.Row{}, domain.E(c, "features.values[%d]: primary key %s is null", r, wc.names[i])
			}
			pk[wc.infos[i].pk] = v
			continue
		}
		cells = append(cells, online.Cell{Column: wc.infos[i].store, Value: v})
	}
	return online.Row{Key: domain.EncodeKey(pk), Cells: cells}, nil
}

// planWrite validates req against its feature group and returns the store operation; any invalid row rejects the
// whole request.
func (h *Handler) planWrite(ctx context.Context, req *WriteRequest, c domain.Code) (online.WriteOp, *resolved, error) {
	if req.FeatureGroupName == "" {
		return online.WriteOp{}, nil, domain.E(c, "featureGroupName is required")
	}
	names, rows := req.Features.Names, req.Features.Values
	if len(names) == 0 || len(rows) == 0 {
		return online.WriteOp{}, nil, domain.E(c, "features.names and features.values must not be empty")
	}
	res, err := h.resolve(ctx, req.FeatureGroupName, req.FeatureGroupVersion)
	if err != nil {
		return online.WriteOp{}, nil, err
	}
	wc, err := planColumns(res, names, c)
	if err != nil {
		return online.WriteOp{}, nil, err
	}
	op := online.WriteOp{Table: res.ent.Name, TTL: res.ttl, Rows: make([]online.Row, len(rows))}
	for r, vals := range rows {
		if op.Rows[r], err = wc.row(r, vals, c); err != nil {
			return online.WriteOp{}, nil, err
		}
	}
	return op, res, nil
}

func writeResponse(req *WriteRequest, res *resolved) WriteResponse {
	rows := req.Features.Values
	for _, row := range rows {
		for i, v := range row {
			if len(v) == 0 {
				row[i] = null
			}
		}
	}
	return WriteResponse{FeatureGroupName: res.fg.Name, FeatureGroupVersion: res.fg.Version, FeatureColumns: req.Features.Names,
		SuccessfulRows: rows, FailedRows: [][]json.RawMessage{}}
}

func (h *Handler) storeError(err error) error {
	return &domain.Error{Code: domain.ErrService, Message: "online store error", Cause: "online store error", Err: err}
}

func (h *Handler) writeV2(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAppBodyBytes, domain.ErrWriteRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req WriteRequest
	if err := decodeBytes(body, MaxAppBodyBytes, domain.ErrWriteRequest, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	op, res, err := h.planWrite(r.Context(), &req, domain.ErrWriteRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.storeWrite(r.Context(), []online.WriteOp{op}); err != nil {
		h.fail(w, r, h.storeError(err))
		return
	}
	writeData(w, writeResponse(&req, res))
}

// writeV1 validates every batch, writes the valid ones in one store call and reports the invalid ones in
// failedBatches.
func (h *Handler) writeV1(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAppBodyBytes, domain.ErrWriteRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req WriteV1Request
	if err := decodeBytes(body, MaxAppBodyBytes, domain.ErrWriteRequest, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(req.Batches) == 0 {
		h.fail(w, r, domain.E(domain.ErrWriteRequest, "batches must not be empty"))
		return
	}
	var ops []online.WriteOp
	out := struct {
		Batches       []WriteResponse `json:"batches"`
		FailedBatches []failedBatch   `json:"failedBatches"`
	}{[]WriteResponse{}, []failedBatch{}}
	for i := range req.Batches {
		b := &req.Batches[i]
		op, res, err := h.planWrite(r.Context(), b, domain.ErrWriteRequest)
		if err != nil {
			e := domain.As(err)
			if e.Code.Status >= 500 {
				h.fail(w, r, e)
				return
			}
			out.FailedBatches = append(out.FailedBatches, failedBatch{Batch: *b, Error: errorBody{Message: e.Message, Cause: e.Cause, Code: e.Code.Name}})
			continue
		}
		ops = append(ops, op)
		out.Batches = append(out.Batches, writeResponse(b, res))
	}
	if len(ops) > 0 {
		if err := h.storeWrite(r.Context(), ops); err != nil {
			h.fail(w, r, h.storeError(err))
			return
		}
	}
	writeData(w, out)
}

// readPlan is a validated read: the store operation and how to shape its answer.
type readPlan struct {
	req *ReadRequest
	res *resolved
	op  online.ReadOp
	// pkOf[i] >= 0 when featureColumns[i] is a primary key column (answered from the request's key).
	pkOf []int
	// keyPos[j] is the position in primaryKeys.names of the entity's j-th key column.
	keys [][]json.RawMessage
}

func (h *Handler) planRead(ctx context.Context, req *ReadRequest, c domain.Code) (*readPlan, error) {
	if req.FeatureGroupName == "" {
		return nil, domain.E(c, "featureGroupName is required")
	}
	if len(req.FeatureColumns) == 0 {
		return nil, domain.E(c, "featureColumns must not be empty")
	}
	if len(req.PrimaryKeys.Names) == 0 || len(req.PrimaryKeys.Values) == 0 {
		return nil, domain.E(c, "primaryKeys.names and primaryKeys.values must not be empty")
	}
	res, err := h.resolve(ctx, req.FeatureGroupName, req.FeatureGroupVersion)
	if err != nil {
		return nil, err
	}
	p := &readPlan{req: req, res: res, op: online.ReadOp{Table: res.ent.Name}, pkOf: make([]int, len(req.FeatureColumns))}
	for i, n := range req.FeatureColumns {
		ci, ok := res.cols[n]
		if !ok {
			return nil, domain.E(c, "feature column %s is not in feature group %s %s or its entity", n, res.fg.Name, res.fg.Version)
		}
		p.pkOf[i] = ci.pk
		if ci.pk < 0 {
			p.op.Columns = append(p.op.Columns, ci.store)
		}
	}
	pks := res.ent.Entity.PrimaryKeys
	if len(req.PrimaryKeys.Names) != len(pks) {
		return nil, domain.E(c, "primaryKeys.names must be exactly the entity's primary keys %v", pks)
	}
	infos := make([]colInfo, len(pks))
	seen := map[int]bool{}
	for i, n := range req.PrimaryKeys.Names {
		ci, ok := res.cols[n]
		if !ok || ci.pk < 0 || seen[ci.pk] {
			return nil, domain.E(c, "primaryKeys.names must be exactly the entity's primary keys %v", pks)
		}
		seen[ci.pk] = true
		infos[i] = ci
	}
	p.op.Keys = make([][]byte, len(req.PrimaryKeys.Values))
	p.keys = make([][]json.RawMessage, len(req.PrimaryKeys.Values))
	for k, vals := range req.PrimaryKeys.Values {
		if len(vals) != len(pks) {
			return nil, domain.E(c, "primaryKeys.values[%d] has %d values for %d names", k, len(vals), len(pks))
		}
		canon := make([]json.RawMessage, len(pks))
		for i, raw := range vals {
			v, err := domain.Coerce(infos[i].typ, raw)
			if err != nil {
				return nil, domain.E(c, "primaryKeys.values[%d][%d] (%s): %v", k, i, req.PrimaryKeys.Names[i], err)
			}
			if v == nil {
				return nil, domain.E(c, "primaryKeys.values[%d]: %s is null", k, req.PrimaryKeys.Names[i])
			}
			canon[infos[i].pk] = v
		}
		p.op.Keys[k] = domain.EncodeKey(canon)
		p.keys[k] = canon
	}
	return p, nil
}

func (p *readPlan) answer(rr online.ReadResult) ReadResponse {
	out := ReadResponse{FeatureGroupName: p.res.fg.Name, FeatureGroupVersion: p.res.fg.Version,
		SuccessfulKeys: make([]keyFeatures, 0, len(p.op.Keys)), FailedKeys: [][]json.RawMessage{}}
	for k, key := range p.req.PrimaryKeys.Values {
		if !rr.Found[k] {
			out.FailedKeys = append(out.FailedKeys, key)
			continue
		}
		feats := make([]json.RawMessage, len(p.pkOf))
		j := 0
		for i, pk := range p.pkOf {
			if pk >= 0 {
				feats[i] = p.keys[k][pk]
				continue
			}
			if v := rr.Values[k][j]; v != nil {
				feats[i] = v
			} else {
				feats[i] = null
			}
			j++
		}
		out.SuccessfulKeys = append(out.SuccessfulKeys, keyFeatures{Key: key, Features: feats})
	}
	return out
}

func (h *Handler) readFeatures(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAppBodyBytes, domain.ErrReadRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req ReadRequest
	if err := decodeBytes(body, MaxAppBodyBytes, domain.ErrReadRequest, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.planRead(r.Context(), &req, domain.ErrReadRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rr, err := h.storeRead(r.Context(), []online.ReadOp{p.op})
	if err != nil {
		h.fail(w, r, h.storeError(err))
		return
	}
	buf := append(make([]byte, 0, 4096), `{"data":`...)
	buf = p.answer(rr[0]).appendJSON(buf)
	writeRaw(w, append(buf, '}'))
}

// writeRaw answers 200 with an already encoded envelope.
func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// appendJSON encodes r as json.Marshal would (without re-validating the raw values, which are canonical values
// from the store or request values the decoder already checked), the read path's hot spot.
func (r ReadResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"featureGroupName":`...)
	b = appendString(b, r.FeatureGroupName)
	b = append(b, `,"featureGroupVersion":`...)
	b = appendString(b, r.FeatureGroupVersion)
	b = append(b, `,"successfulKeys":[`...)
	for i, kf := range r.SuccessfulKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendRawList(b, kf.Key)
		b = append(b, `,"features":`...)
		b = appendRawList(b, kf.Features)
		b = append(b, '}')
	}
	b = append(b, `],"failedKeys":[`...)
	for i, k := range r.FailedKeys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRawList(b, k)
	}
	return append(b, "]}"...)
}

func appendString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s)
	return append(b, enc...)
}

func appendRawList(b []byte, vals []json.RawMessage) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		if len(v) == 0 {
			v = null
		}
		b = append(b, v...)
	}
	return append(b, ']')
}

func (h *Handler) multiRead(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, MaxAppBodyBytes, domain.ErrMultiReadRequest)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var req MultiReadRequest
	if err := decodeBytes(body, MaxAppBodyBytes, domain.ErrMultiReadRequest, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(req.Batches) == 0 || len(req.Batches) > domain.MaxMultiReadBatches {
		h.fail(w, r, domain.E(domain.ErrMultiReadBatchSize, "batches must hold 1 to %d read requests, got %d", domain.MaxMultiReadBatches, len(req.Batches)))
		return
	}
	plans := make([]*readPlan, len(req.Batches))
	ops := make([]online.ReadOp, len(req.Batches))
	for i := range req.Batches {
		p, err := h.planRead(r.Context(), &req.Batches[i], domain.ErrMultiReadRequest)
		if err != nil {
			if e := domain.As(err); e.Code.Name == domain.ErrMultiReadRequest.Name {
				e.Message = fmt.Sprintf("batches[%d]: %s", i, e.Message)
			}
			h.fail(w, r, err)
			return
		}
		plans[i], ops[i] = p, p.op
	}
	rr, err := h.storeRead(r.Context(), ops)
	if err != nil {
		h.fail(w, r, h.storeError(err))
		return
	}
	buf := append(make([]byte, 0, 8192), `{"data":[`...)
	for i, p := range plans {
		if i > 0 {
			buf = append(buf, ',')
		}
		ans := p.answer(rr[i])
		buf = ans.appendJSON(buf)
	}
	writeRaw(w, append(buf, "]}"...))
}
