package httpapi

import (
	"context"
	"time"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/online"
)

// Online stores that need DDL (online.Schema, i.e. Cassandra) get it from the admin routes before the metadata is
// written, so a DDL failure (500, nothing recorded) leaves no half-registered entity or feature group; the DDL is
// idempotent, so retrying the request is safe.

// maxTTLSeconds is the longest table TTL a Schema store accepts.
const maxTTLSeconds = int64(online.MaxCassandraTTL / time.Second)

// createEntityTable runs CREATE TABLE for entity m unless the entity is already registered (CreateEntity then
// answers ENTITY-ALREADY-EXISTS without touching the existing table).
func (h *Handler) createEntityTable(ctx context.Context, s online.Schema, m domain.EntityMetadata) error {
	if _, err := h.meta.GetEntity(ctx, m.Name); err == nil {
		return domain.E(domain.ErrEntityExists, "entity %s already exists", m.Name)
	} else if !domain.Is(err, domain.ErrEntityNotFound) {
		return err
	}
	t := online.TableSchema{Name: m.Entity.TableName, PrimaryKey: m.Entity.PrimaryKeys}
	for _, c := range m.Entity.Features {
		t.Columns = append(t.Columns, online.ColumnSchema{Name: c.Name, Type: c.Type})
	}
	if m.Entity.TTL != nil {
		if *m.Entity.TTL > maxTTLSeconds {
			return domain.E(domain.ErrEntitySchema, "ttl must be at most %d seconds", maxTTLSeconds)
		}
		t.TTL = time.Duration(*m.Entity.TTL) * time.Second
	}
	if err := s.CreateTable(ctx, t); err != nil {
		return domain.Wrap(domain.ErrEntityRegistration, err)
	}
	return nil
}

// plannedVersion predicts the version CreateFeatureGroup will register for m, or "" when it will refuse the
// registration (unknown or archived entity, clashing columns, existing group without upgrade, versioning disabled,
// other entity): no DDL is run then and the store call reports the error.
func (h *Handler) plannedVersion(ctx context.Context, m domain.FeatureGroupMetadata, upgrade bool) (string, error) {
	ent, err := h.meta.GetEntity(ctx, m.FeatureGroup.EntityName)
	if err != nil {
		if domain.As(err).Code.Status >= 500 {
			return "", err
		}
		return "", nil
	}
	if ent.State != domain.StateLive {
		return "", nil
	}
	for _, c := range m.FeatureGroup.Features {
		if _, clash := ent.Entity.Column(c.Name); clash {
			return "", nil
		}
	}
	latest, err := h.meta.LatestVersion(ctx, m.Name)
	if domain.Is(err, domain.ErrFGNotFound) {
		return domain.Version(1), nil
	}
	if err != nil {
		return "", err
	}
	if !upgrade {
		return "", nil
	}
	prev, err := h.meta.GetFeatureGroup(ctx, m.Name, latest.LatestVersion)
	if err != nil {
		if domain.As(err).Code.Status >= 500 {
			return "", err
		}
		return "", nil
	}
	n, ok := domain.ParseVersion(latest.LatestVersion)
	if !prev.VersionEnabled || prev.FeatureGroup.EntityName != m.FeatureGroup.EntityName || !ok {
		return "", nil
	}
	return domain.Version(n + 1), nil
}

// addFeatureGroupColumns adds version m.Version's <fg>__<version>__<col> columns to its entity's table.
func addFeatureGroupColumns(ctx context.Context, s online.Schema, m domain.FeatureGroupMetadata) error {
	cols := make([]online.ColumnSchema, len(m.FeatureGroup.Features))
	for i, c := range m.FeatureGroup.Features {
		cols[i] = online.ColumnSchema{Name: m.StoreColumn(c.Name), Type: c.Type}
	}
	if err := s.AddColumns(ctx, m.FeatureGroup.EntityName, cols); err != nil {
		return domain.Wrap(domain.ErrFGRegistration, err)
	}
	return nil
}

// setTableTTL sets the entity table's default TTL.
func setTableTTL(ctx context.Context, s online.Schema, table string, ttl int64) error {
	if ttl > maxTTLSeconds {
		return domain.E(domain.ErrFGRequest, "ttl must be at most %d seconds", maxTTLSeconds)
	}
	if err := s.SetTableTTL(ctx, table, time.Duration(ttl)*time.Second); err != nil {
		return domain.Wrap(domain.ErrTTLUpdate, err)
	}
	return nil
}
