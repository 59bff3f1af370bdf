package httpapi

import (
	"context"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

var _ ingest.Writer = (*Handler)(nil)

// Write implements ingest.Writer for the consumer and the populator: each batch is validated against its feature
// group version (through the same metadata cache as the REST routes), invalid rows are reported one by one, and the
// valid rows of every batch go to the online store in one call.
func (h *Handler) Write(ctx context.Context, batches []ingest.Batch) ([]ingest.Result, error) {
	results := make([]ingest.Result, len(batches))
	ops := make([]online.WriteOp, 0, len(batches))
	c := domain.ErrWriteRequest
	for i := range batches {
		b := &batches[i]
		res, wc, err := h.planBatch(ctx, b, c)
		if err != nil {
			e := domain.As(err)
			if e.Code.Status >= 500 {
				return nil, e
			}
			results[i].Failed = failAll(len(b.Rows), e)
			continue
		}
		results[i].Version = res.fg.Version
		op := online.WriteOp{Table: res.ent.Name, TTL: res.ttl, Rows: make([]online.Row, 0, len(b.Rows))}
		for r, vals := range b.Rows {
			row, err := wc.row(r, vals, c)
			if err != nil {
				e := domain.As(err)
				results[i].Failed = append(results[i].Failed, ingest.RowError{Row: r, Code: e.Code.Name, Error: e.Message})
				continue
			}
			op.Rows = append(op.Rows, row)
		}
		results[i].Written = len(op.Rows)
		if len(op.Rows) > 0 {
			ops = append(ops, op)
		}
	}
	if len(ops) > 0 {
		if err := h.online.Write(ctx, ops); err != nil {
			return nil, h.storeError(err)
		}
	}
	return results, nil
}

func (h *Handler) planBatch(ctx context.Context, b *ingest.Batch, c domain.Code) (*resolved, *writeColumns, error) {
	if b.FeatureGroup == "" {
		return nil, nil, domain.E(c, "feature group name is required")
	}
	if len(b.Names) == 0 {
		return nil, nil, domain.E(c, "a batch needs column names")
	}
	var version *string
	if b.Version != "" {
		version = &b.Version
	}
	res, err := h.resolve(ctx, b.FeatureGroup, version)
	if err != nil {
		return nil, nil, err
	}
	wc, err := planColumns(res, b.Names, c)
	if err != nil {
		return nil, nil, err
	}
	return res, wc, nil
}

func failAll(n int, e *domain.Error) []ingest.RowError {
	out := make([]ingest.RowError, n)
	for i := range out {
		out[i] = ingest.RowError{Row: i, Code: e.Code.Name, Error: e.Message}
	}
	return out
}
