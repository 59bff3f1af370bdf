package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// Tenants, consumer and populator maps, feature group tenant assignment and run data (spec §5.3, §5.5).

const consumerCols = `tenant_name, topic_name, num_partitions, num_consumers, created_at, updated_at`

func scanConsumer(r scanner) (domain.ConsumerConfig, error) {
	var c domain.ConsumerConfig
	err := r.Scan(&c.TenantName, &c.TopicName, &c.NumPartitions, &c.NumConsumers, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

func getConsumer(ctx context.Context, q querier, tenant string, notFound domain.Code) (domain.ConsumerConfig, error) {
	c, err := scanConsumer(q.QueryRow(ctx, `SELECT `+consumerCols+` FROM cassandra_store_tenant_consumer_map WHERE tenant_name = ?`, tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return c, domain.E(notFound, "tenant %s not found", tenant)
	}
	if err != nil {
		return c, domain.Wrap(domain.ErrMetastoreUnavailable, err)
	}
	return c, nil
}

// GetConsumer returns tenant's consumer config (OFS-V2-TENANT-NOT-FOUND-EXCEPTION when the tenant is unknown).
func (s *Store) GetConsumer(ctx context.Context, tenant string) (domain.ConsumerConfig, error) {
	return getConsumer(ctx, s.db, tenant, domain.ErrTenantNotFound)
}

// ListConsumers returns every tenant's consumer config by tenant name.
func (s *Store) ListConsumers(ctx context.Context) ([]domain.ConsumerConfig, error) {
	return queryAll(ctx, s.db, domain.ErrMetastoreUnavailable, scanConsumer,
		`SELECT `+consumerCols+` FROM cassandra_store_tenant_consumer_map ORDER BY tenant_name`)
}

// ListTenants returns every tenant name (the consumer map's keys), sorted.
func (s *Store) ListTenants(ctx context.Context) ([]string, error) {
	list, err := s.ListConsumers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.TenantName
	}
	return out, nil
}

// TenantTopics returns the distinct Kafka topics of all tenants, sorted: what a consumer subscribes to.
func (s *Store) TenantTopics(ctx context.Context) ([]string, error) {
	list, err := s.ListConsumers(ctx)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, c := range list {
		set[c.TopicName] = true
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// OnboardTenant adds a tenant to the consumer map; an existing tenant is OFS-V2-TENANT-REQUEST-EXCEPTION.
func (s *Store) OnboardTenant(ctx context.Context, c domain.ConsumerConfig) (domain.ConsumerConfig, error) {
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.db.Exec(ctx, `INSERT INTO cassandra_store_tenant_consumer_map (`+consumerCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		c.TenantName, c.TopicName, c.NumPartitions, c.NumConsumers, now, now)
	if db.IsUniqueViolation(err) {
		return c, domain.E(domain.ErrTenantRequest, "tenant %s is already onboarded", c.TenantName)
	}
	if err != nil {
		return c, domain.Wrap(domain.ErrTenantOnboarding, err)
	}
	return c, nil
}

// RegisterConsumer creates or replaces tenant c.TenantName's consumer config.
func (s *Store) RegisterConsumer(ctx context.Context, c domain.ConsumerConfig) (domain.ConsumerConfig, error) {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		now := s.now()
		prev, err := getConsumer(ctx, tx, c.TenantName, domain.ErrConsumerConfigNotFound)
		switch {
		case domain.Is(err, domain.ErrConsumerConfigNotFound):
			c.CreatedAt, c.UpdatedAt = now, now
			_, err = tx.Exec(ctx, `INSERT INTO cassandra_store_tenant_consumer_map (`+consumerCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
				c.TenantName, c.TopicName, c.NumPartitions, c.NumConsumers, now, now)
		case err != nil:
			return err
		default:
			c.CreatedAt, c.UpdatedAt = prev.CreatedAt, now
			_, err = tx.Exec(ctx, `UPDATE cassandra_store_tenant_consumer_map SET topic_name = ?, num_partitions = ?, num_consumers = ?, updated_at = ? WHERE tenant_name = ?`,
				c.TopicName, c.NumPartitions, c.NumConsumers, now, c.TenantName)
		}
		if db.IsUniqueViolation(err) {
			return domain.E(domain.ErrTenantRequest, "tenant %s was registered concurrently; retry", c.TenantName)
		}
		if err != nil {
			return domain.Wrap(domain.ErrConsumerRegistration, err)
		}
		return nil
	})
	return c, err
}

// UpdateConsumer applies fn to tenant's consumer config and stores it (OFS-V2-CONSUMER-CONFIG-NOT-FOUND-EXCEPTION
// when the tenant has none).
func (s *Store) UpdateConsumer(ctx context.Context, tenant string, fn func(*domain.ConsumerConfig)) (domain.ConsumerConfig, error) {
	var out domain.ConsumerConfig
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		c, err := getConsumer(ctx, tx, tenant, domain.ErrConsumerConfigNotFound)
		if err != nil {
			return err
		}
		fn(&c)
		c.TenantName, c.UpdatedAt = tenant, s.now()
		if _, err := tx.Exec(ctx, `UPDATE cassandra_store_tenant_consumer_map SET topic_name = ?, num_partitions = ?, num_consumers = ?, updated_at = ? WHERE tenant_name = ?`,
			c.TopicName, c.NumPartitions, c.NumConsumers, c.UpdatedAt, tenant); err != nil {
			return domain.Wrap(domain.ErrConsumerRegistration, err)
		}
		out = c
		return nil
	})
	return out, err
}

// ListPopulators returns every tenant's populator config by tenant name.
func (s *Store) ListPopulators(ctx context.Context) ([]domain.PopulatorConfig, error) {
	return queryAll(ctx, s.db, domain.ErrMetastoreUnavailable, func(r scanner) (domain.PopulatorConfig, error) {
		var p domain.PopulatorConfig
		err := r.Scan(&p.TenantName, &p.NumWorkers, &p.UpdatedAt)
		return p, err
	}, `SELECT tenant_name, num_workers, updated_at FROM cassandra_store_tenant_populator_map ORDER BY tenant_name`)
}

// SetPopulator sets tenant's populator worker count (creating its row); the tenant must be in the consumer map.
func (s *Store) SetPopulator(ctx context.Context, tenant string, workers int) (domain.PopulatorConfig, error) {
	p := domain.PopulatorConfig{TenantName: tenant, NumWorkers: workers}
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := getConsumer(ctx, tx, tenant, domain.ErrTenantNotFound); err != nil {
			return err
		}
		p.UpdatedAt = s.now()
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM cassandra_store_tenant_populator_map WHERE tenant_name = ?`, tenant).Scan(&n); err != nil {
			return domain.Wrap(domain.ErrMetastoreUnavailable, err)
		}
		var err error
		if n == 0 {
			_, err = tx.Exec(ctx, `INSERT INTO cassandra_store_tenant_populator_map (tenant_name, num_workers, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				tenant, workers, p.UpdatedAt, p.UpdatedAt)
		} else {
			_, err = tx.Exec(ctx, `UPDATE cassandra_store_tenant_populator_map SET num_workers = ?, updated_at = ? WHERE tenant_name = ?`,
				workers, p.UpdatedAt, tenant)
		}
		if db.IsUniqueViolation(err) {
			return domain.E(domain.ErrTenantRequest, "populator config of tenant %s was set concurrently; retry", tenant)
		}
		if err != nil {
			return domain.Wrap(domain.ErrMetastoreUnavailable, err)
		}
		return nil
	})
	return p, err
}

// checkTenants returns OFS-V2-TENANT-NOT-FOUND-EXCEPTION unless every named tenant is in the consumer map.
func checkTenants(ctx context.Context, q querier, names ...string) error {
	for _, n := range names {
		if _, err := getConsumer(ctx, q, n, domain.ErrTenantNotFound); err != nil {
			return err
		}
	}
	return nil
}

// SetFeatureGroupTenant assigns t to every version of feature group name and returns the latest version's
// metadata. Empty roles of t keep the latest version's tenant; every resulting tenant must exist.
func (s *Store) SetFeatureGroupTenant(ctx context.Context, name string, t domain.Tenant) (domain.FeatureGroupMetadata, error) {
	var out domain.FeatureGroupMetadata
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		m, err := getFG(ctx, tx, name, "")
		if err != nil {
			return err
		}
		if t.Read == "" {
			t.Read = m.Tenant.Read
		}
		if t.Write == "" {
			t.Write = m.Tenant.Write
		}
		if t.Consume == "" {
			t.Consume = m.Tenant.Consume
		}
		if err := checkTenants(ctx, tx, t.Read, t.Write, t.Consume); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE cassandra_store_feature_group_metadata SET tenant_config = ?, updated_at = ? WHERE name = ?`,
			js(t), now, name); err != nil {
			return domain.Wrap(domain.ErrFGRegistration, err)
		}
		m.Tenant, m.UpdatedAt = t, now
		out = m
		return nil
	})
	return out, err
}

// FeatureGroupTopic returns the Kafka topic of feature group name: the topic of its latest version's consumer
// tenant.
func (s *Store) FeatureGroupTopic(ctx context.Context, name string) (string, error) {
	m, err := getFG(ctx, s.db, name, "")
	if err != nil {
		return "", err
	}
	c, err := s.GetConsumer(ctx, m.Tenant.Consume)
	if err != nil {
		return "", err
	}
	return c.TopicName, nil
}

// TenantFeatureGroups returns every feature group version whose role (READER, WRITER, CONSUMER or ALL) is tenant.
func (s *Store) TenantFeatureGroups(ctx context.Context, tenant, role string) ([]domain.FeatureGroupMetadata, error) {
	list, err := s.ListFeatureGroups(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := []domain.FeatureGroupMetadata{}
	for _, m := range list {
		if m.Tenant.Has(role, tenant) {
			out = append(out, m)
		}
	}
	return out, nil
}

// MoveTenant reassigns role (or every role, for ALL) from tenant cur to tenant next on every feature group version
// and returns the names of the groups changed (sorted, distinct). next must exist.
func (s *Store) MoveTenant(ctx context.Context, role, cur, next string) ([]string, error) {
	changed := map[string]bool{}
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := checkTenants(ctx, tx, next); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name, version, tenant_config FROM cassandra_store_feature_group_metadata`)
		if err != nil {
			return domain.Wrap(domain.ErrGetFG, err)
		}
		type upd struct{ name, version, tenant string }
		var todo []upd
		for rows.Next() {
			var n, v, tc string
			if err := rows.Scan(&n, &v, &tc); err != nil {
				rows.Close()
				return domain.Wrap(domain.ErrGetFG, err)
			}
			var t domain.Tenant
			if err := json.Unmarshal([]byte(tc), &t); err != nil {
				rows.Close()
				return domain.Wrap(domain.ErrGetFG, fmt.Errorf("feature group %s %s tenant: %w", n, v, err))
			}
			if t.Replace(role, cur, next) {
				todo = append(todo, upd{n, v, js(t)})
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return domain.Wrap(domain.ErrGetFG, err)
		}
		now := s.now()
		for _, u := range todo {
			if _, err := tx.Exec(ctx, `UPDATE cassandra_store_feature_group_metadata SET tenant_config = ?, updated_at = ? WHERE name = ? AND version = ?`,
				u.tenant, now, u.name, u.version); err != nil {
				return domain.Wrap(domain.ErrFGRegistration, err)
			}
			changed[u.name] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(changed))
	for n := range changed {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// RecordRunData stores (or replaces, by name, version and run id) one run of a feature group version. An empty
// Version means the latest; the feature group version must exist. Timestamp 0 means now.
func (s *Store) RecordRunData(ctx context.Context, r domain.RunData) (domain.RunData, error) {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		m, err := getFG(ctx, tx, r.Name, r.Version)
		if err != nil {
			return err
		}
		r.Version = m.Version
		if r.Timestamp == 0 {
			r.Timestamp = s.now()
		}
		if r.SampleData == nil {
			r.SampleData = []json.RawMessage{}
		}
		sample := js(r.SampleData)
		if _, err := tx.Exec(ctx, `DELETE FROM cassandra_store_feature_group_run_data WHERE name = ? AND version = ? AND run_id = ?`,
			r.Name, r.Version, r.RunID); err != nil {
			return domain.Wrap(domain.ErrMetastoreRun, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO cassandra_store_feature_group_run_data (name, version, run_id, source, time_taken, row_count, sample_data, status, error_message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Name, r.Version, r.RunID, r.Source, r.TimeTaken, r.Count, sample, r.Status, r.ErrorMessage, r.Timestamp)
		if db.IsUniqueViolation(err) {
			return domain.E(domain.ErrFGRequest, "run %s of feature group %s %s was recorded concurrently; retry", r.RunID, r.Name, r.Version)
		}
		if err != nil {
			return domain.Wrap(domain.ErrMetastoreRun, err)
		}
		return nil
	})
	return r, err
}

// ListRunData returns the runs of feature group name (of version only, when not empty), newest first, skipping
// offset and returning at most limit.
func (s *Store) ListRunData(ctx context.Context, name, version string, limit, offset int) ([]domain.RunData, error) {
	q := `SELECT name, version, run_id, source, time_taken, row_count, sample_data, status, error_message, created_at FROM cassandra_store_feature_group_run_data WHERE name = ?`
	args := []any{name}
	if version != "" {
		q += ` AND version = ?`
		args = append(args, version)
	}
	q += ` ORDER BY created_at DESC, version DESC, run_id DESC LIMIT ? OFFSET ?`
	args = append(args, limit, offset)
	return queryAll(ctx, s.db, domain.ErrMetastoreRun, func(row scanner) (domain.RunData, error) {
		var r domain.RunData
		var sample string
		if err := row.Scan(&r.Name, &r.Version, &r.RunID, &r.Source, &r.TimeTaken, &r.Count, &sample, &r.Status, &r.ErrorMessage, &r.Timestamp); err != nil {
			return r, err
		}
		if err := json.Unmarshal([]byte(sample), &r.SampleData); err != nil {
			return r, fmt.Errorf("run %s sample data: %w", r.RunID, err)
		}
		return r, nil
	}, q, args...)
}
