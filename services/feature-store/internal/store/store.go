// Package store keeps the feature store's metadata (entities, feature group versions, latest-version map) in SQL
// on SQLite, MySQL/MariaDB or PostgreSQL, returning domain errors with the original's codes.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// Store is the metadata store.
type Store struct {
	db  *db.DB
	clk clock.Clock
}

// New returns a store over d (already migrated); clk defaults to the real clock.
func New(d *db.DB, clk clock.Clock) *Store {
	if clk == nil {
		clk = clock.Real()
	}
	return &Store{db: d, clk: clk}
}

func (s *Store) now() int64 { return s.clk.Now().UnixMilli() }

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs and slices are marshalled
	}
	return string(b)
}

func tags(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}

const entityCols = `name, entity, state, owner, tags, description, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

// queryAll runs query and scans each row with scan; every failure is wrapped in code.
func queryAll[T any](ctx context.Context, d *db.DB, code domain.Code, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := d.Query(ctx, query, args...)
	if err != nil {
		return nil, domain.Wrap(code, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, domain.Wrap(code, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, domain.Wrap(code, err)
	}
	return out, nil
}

func scanEntity(r scanner) (domain.EntityMetadata, error) {
	var m domain.EntityMetadata
	var ent, tg string
	if err := r.Scan(&m.Name, &ent, &m.State, &m.Owner, &tg, &m.Description, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(ent), &m.Entity); err != nil {
		return m, fmt.Errorf("entity %s: %w", m.Name, err)
	}
	if err := json.Unmarshal([]byte(tg), &m.Tags); err != nil {
		return m, fmt.Errorf("entity %s tags: %w", m.Name, err)
	}
	m.Tags = tags(m.Tags)
	m.Entity.Features = domain.NormalizeColumns(m.Entity.Features)
	return m, nil
}

// CreateEntity registers m (Name = Entity.TableName); an existing name is ENTITY-ALREADY-EXISTS.
func (s *Store) CreateEntity(ctx context.Context, m domain.EntityMetadata) (domain.EntityMetadata, error) {
	now := s.now()
	m.CreatedAt, m.UpdatedAt, m.State, m.Tags = now, now, domain.StateLive, tags(m.Tags)
	_, err := s.db.Exec(ctx, `INSERT INTO cassandra_store_entity_metadata (`+entityCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Name, js(m.Entity), m.State, m.Owner, js(m.Tags), m.Description, m.CreatedAt, m.UpdatedAt)
	if db.IsUniqueViolation(err) {
		return m, domain.E(domain.ErrEntityExists, "entity %s already exists", m.Name)
	}
	if err != nil {
		return m, domain.Wrap(domain.ErrEntityRegistration, err)
	}
	return m, nil
}

type querier interface {
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

func getEntity(ctx context.Context, q querier, name string) (domain.EntityMetadata, error) {
	m, err := scanEntity(q.QueryRow(ctx, `SELECT `+entityCols+` FROM cassandra_store_entity_metadata WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return m, domain.E(domain.ErrEntityNotFound, "entity %s not found", name)
	}
	if err != nil {
		return m, domain.Wrap(domain.ErrGetEntity, err)
	}
	return m, nil
}

// GetEntity returns the entity called name (ENTITY-NOT-FOUND when absent).
func (s *Store) GetEntity(ctx context.Context, name string) (domain.EntityMetadata, error) {
	return getEntity(ctx, s.db, name)
}

// ListEntities returns every entity by name, those updated at or after sinceMs only when sinceMs > 0.
func (s *Store) ListEntities(ctx context.Context, sinceMs int64) ([]domain.EntityMetadata, error) {
	return queryAll(ctx, s.db, domain.ErrGetEntity, scanEntity,
		`SELECT `+entityCols+` FROM cassandra_store_entity_metadata WHERE updated_at >= ? ORDER BY name`, sinceMs)
}

// UpdateEntityState sets an entity's state; archiving an entity with LIVE feature groups is
// UPDATE-ENTITY-REQUEST-EXCEPTION.
func (s *Store) UpdateEntityState(ctx context.Context, name, state string) (domain.EntityMetadata, error) {
	var out domain.EntityMetadata
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		m, err := getEntity(ctx, tx, name)
		if err != nil {
			return err
		}
		if state == domain.StateArchived {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM cassandra_store_feature_group_metadata WHERE entity_name = ? AND state = ?`,
				name, domain.StateLive).Scan(&n); err != nil {
				return domain.Wrap(domain.ErrGetEntity, err)
			}
			if n > 0 {
				return domain.E(domain.ErrUpdateEntityRequest, "entity %s has %d live feature group versions associated with it", name, n)
			}
		}
		m.State, m.UpdatedAt = state, s.now()
		if _, err := tx.Exec(ctx, `UPDATE cassandra_store_entity_metadata SET state = ?, updated_at = ? WHERE name = ?`, m.State, m.UpdatedAt, name); err != nil {
			return domain.Wrap(domain.ErrEntityRegistration, err)
		}
		out = m
		return nil
	})
	return out, err
}

// SetEntityTTL sets an entity's TTL in seconds (0 = none): the online table's default time to live.
func (s *Store) SetEntityTTL(ctx context.Context, name string, ttl int64) (domain.EntityMetadata, error) {
	var out domain.EntityMetadata
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		m, err := getEntity(ctx, tx, name)
		if err != nil {
			return err
		}
		m.Entity.TTL = &ttl
		m.UpdatedAt = s.now()
		if _, err := tx.Exec(ctx, `UPDATE cassandra_store_entity_metadata SET entity = ?, updated_at = ? WHERE name = ?`, js(m.Entity), m.UpdatedAt, name); err != nil {
			return domain.Wrap(domain.ErrTTLUpdate, err)
		}
		out = m
		return nil
	})
	return out, err
}

const fgCols = `name, version, version_enabled, feature_group_type, feature_group, entity_name, state, owner, tags, description, tenant_config, created_at, updated_at`

func scanFG(r scanner) (domain.FeatureGroupMetadata, error) {
	var m domain.FeatureGroupMetadata
	var fg, tg, tenant, entityName string
	if err := r.Scan(&m.Name, &m.Version, &m.VersionEnabled, &m.FeatureGroupType, &fg, &entityName, &m.State, &m.Owner, &tg,
		&m.Description, &tenant, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(fg), &m.FeatureGroup); err != nil {
		return m, fmt.Errorf("feature group %s: %w", m.Name, err)
	}
	if err := json.Unmarshal([]byte(tg), &m.Tags); err != nil {
		return m, fmt.Errorf("feature group %s tags: %w", m.Name, err)
	}
	if err := json.Unmarshal([]byte(tenant), &m.Tenant); err != nil {
		return m, fmt.Errorf("feature group %s tenant: %w", m.Name, err)
	}
	m.Tags = tags(m.Tags)
	m.FeatureGroup.Features = domain.NormalizeColumns(m.FeatureGroup.Features)
	return m, nil
}

// CreateFeatureGroup registers the next version of m.FeatureGroup: v1 when the group is new; with upgrade the
// latest version + 1 (VERSIONING-DISABLED when the latest version has versioning off); without upgrade an
// existing group is FEATURE-GROUP-ALREADY-EXISTS. The entity must exist and be LIVE, and feature columns must not
// clash with its columns.
func (s *Store) CreateFeatureGroup(ctx context.Context, m domain.FeatureGroupMetadata, upgrade bool) (domain.FeatureGroupMetadata, error) {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		ent, err := getEntity(ctx, tx, m.FeatureGroup.EntityName)
		if err != nil {
			return err
		}
		if ent.State != domain.StateLive {
			return domain.E(domain.ErrEntityState, "entity %s is archived", ent.Name)
		}
		for _, c := range m.FeatureGroup.Features {
			if _, clash := ent.Entity.Column(c.Name); clash {
				return domain.E(domain.ErrFGColumnNames, "feature column %s clashes with a column of entity %s", c.Name, ent.Name)
			}
		}
		var latest string
		err = tx.QueryRow(ctx, `SELECT latest_version FROM cassandra_store_feature_group_version_map WHERE name = ?`, m.Name).Scan(&latest)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			m.Version = domain.Version(1)
		case err != nil:
			return domain.Wrap(domain.ErrFGRegistration, err)
		default:
			if !upgrade {
				return domain.E(domain.ErrFGExists, "feature group %s already exists (latest version %s); send header upgrade: true to add a version", m.Name, latest)
			}
			prev, err := getFG(ctx, tx, m.Name, latest)
			if err != nil {
				return err
			}
			if !prev.VersionEnabled {
				return domain.E(domain.ErrVersioningDisabled, "versioning is disabled for feature group %s", m.Name)
			}
			if prev.FeatureGroup.EntityName != m.FeatureGroup.EntityName {
				return domain.E(domain.ErrFGRequest, "feature group %s belongs to entity %s", m.Name, prev.FeatureGroup.EntityName)
			}
			n, ok := domain.ParseVersion(latest)
			if !ok {
				return domain.Wrap(domain.ErrFGRegistration, fmt.Errorf("stored latest version %q", latest))
			}
			m.Version = domain.Version(n + 1)
			m.Tenant = prev.Tenant // a new version keeps the group's tenants (POST /feature-group/tenant)
		}
		now := s.now()
		m.CreatedAt, m.UpdatedAt, m.State, m.Tags = now, now, domain.StateLive, tags(m.Tags)
		if _, err := tx.Exec(ctx, `INSERT INTO cassandra_store_feature_group_metadata (`+fgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Name, m.Version, m.VersionEnabled, m.FeatureGroupType, js(m.FeatureGroup), m.FeatureGroup.EntityName, m.State, m.Owner,
			js(m.Tags), m.Description, js(m.Tenant), now, now); err != nil {
			if db.IsUniqueViolation(err) {
				return domain.E(domain.ErrFGExists, "feature group %s version %s already exists", m.Name, m.Version)
			}
			return domain.Wrap(domain.ErrFGRegistration, err)
		}
		var res sql.Result
		if m.Version == domain.Version(1) {
			res, err = tx.Exec(ctx, `INSERT INTO cassandra_store_feature_group_version_map (name, latest_version, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				m.Name, m.Version, now, now)
		} else {
			// Guarded by the version read above: a concurrent upgrade makes this update miss.
			res, err = tx.Exec(ctx, `UPDATE cassandra_store_feature_group_version_map SET latest_version = ?, updated_at = ? WHERE name = ? AND latest_version = ?`,
				m.Version, now, m.Name, latest)
		}
		if db.IsUniqueViolation(err) {
			return domain.E(domain.ErrFGExists, "feature group %s already exists", m.Name)
		}
		if err != nil {
			return domain.Wrap(domain.ErrFGRegistration, err)
		}
		if n, err := res.RowsAffected(); err == nil && n != 1 {
			return domain.E(domain.ErrFGExists, "feature group %s version %s was registered concurrently", m.Name, m.Version)
		}
		return nil
	})
	return m, err
}

func getFG(ctx context.Context, q querier, name, version string) (domain.FeatureGroupMetadata, error) {
	if version == "" {
		var latest string
		err := q.QueryRow(ctx, `SELECT latest_version FROM cassandra_store_feature_group_version_map WHERE name = ?`, name).Scan(&latest)
		if errors.Is(err, sql.ErrNoRows) {
			return domain.FeatureGroupMetadata{}, domain.E(domain.ErrFGNotFound, "feature group %s not found", name)
		}
		if err != nil {
			return domain.FeatureGroupMetadata{}, domain.Wrap(domain.ErrGetFG, err)
		}
		version = latest
	}
	m, err := scanFG(q.QueryRow(ctx, `SELECT `+fgCols+` FROM cassandra_store_feature_group_metadata WHERE name = ? AND version = ?`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM cassandra_store_feature_group_version_map WHERE name = ?`, name).Scan(&n); err != nil {
			return m, domain.Wrap(domain.ErrGetFG, err)
		}
		if n == 0 {
			return m, domain.E(domain.ErrFGNotFound, "feature group %s not found", name)
		}
		return m, domain.E(domain.ErrFGVersionNotFound, "feature group %s has no version %s", name, version)
	}
	if err != nil {
		return m, domain.Wrap(domain.ErrGetFG, err)
	}
	return m, nil
}

// GetFeatureGroup returns version (the latest when empty) of feature group name.
func (s *Store) GetFeatureGroup(ctx context.Context, name, version string) (domain.FeatureGroupMetadata, error) {
	return getFG(ctx, s.db, name, version)
}

// ListFeatureGroups returns every feature group version by name and version number, those updated at or after
// sinceMs only when sinceMs > 0.
func (s *Store) ListFeatureGroups(ctx context.Context, sinceMs int64) ([]domain.FeatureGroupMetadata, error) {
	out, err := queryAll(ctx, s.db, domain.ErrGetFG, scanFG,
		`SELECT `+fgCols+` FROM cassandra_store_feature_group_metadata WHERE updated_at >= ?`, sinceMs)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		a, _ := domain.ParseVersion(out[i].Version)
		b, _ := domain.ParseVersion(out[j].Version)
		return a < b
	})
	return out, nil
}

// LatestVersion returns feature group name's latest version.
func (s *Store) LatestVersion(ctx context.Context, name string) (domain.VersionInfo, error) {
	v := domain.VersionInfo{Name: name}
	err := s.db.QueryRow(ctx, `SELECT latest_version, updated_at FROM cassandra_store_feature_group_version_map WHERE name = ?`, name).Scan(&v.LatestVersion, &v.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return v, domain.E(domain.ErrFGNotFound, "feature group %s not found", name)
	}
	if err != nil {
		return v, domain.Wrap(domain.ErrGetFG, err)
	}
	return v, nil
}

// ListVersions returns every feature group's latest version by name (updated at or after sinceMs).
func (s *Store) ListVersions(ctx context.Context, sinceMs int64) ([]domain.VersionInfo, error) {
	return queryAll(ctx, s.db, domain.ErrGetFG, func(r scanner) (domain.VersionInfo, error) {
		var v domain.VersionInfo
		err := r.Scan(&v.Name, &v.LatestVersion, &v.UpdatedAt)
		return v, err
	}, `SELECT name, latest_version, updated_at FROM cassandra_store_feature_group_version_map WHERE updated_at >= ? ORDER BY name`, sinceMs)
}

// UpdateFeatureGroupState sets the state of version (latest when empty) of feature group name. Reviving a
// version of an archived entity is ENTITY-STATE-EXCEPTION.
func (s *Store) UpdateFeatureGroupState(ctx context.Context, name, version, state string) (domain.FeatureGroupMetadata, error) {
	var out domain.FeatureGroupMetadata
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		m, err := getFG(ctx, tx, name, version)
		if err != nil {
			return err
		}
		if state == domain.StateLive && m.State != domain.StateLive {
			ent, err := getEntity(ctx, tx, m.FeatureGroup.EntityName)
			if err != nil {
				return err
			}
			if ent.State != domain.StateLive {
				return domain.E(domain.ErrEntityState, "entity %s is archived", ent.Name)
			}
		}
		m.State, m.UpdatedAt = state, s.now()
		if _, err := tx.Exec(ctx, `UPDATE cassandra_store_feature_group_metadata SET state = ?, updated_at = ? WHERE name = ? AND version = ?`,
			m.State, m.UpdatedAt, m.Name, m.Version); err != nil {
			return domain.Wrap(domain.ErrFGRegistration, err)
		}
		out = m
		return nil
	})
	return out, err
}
