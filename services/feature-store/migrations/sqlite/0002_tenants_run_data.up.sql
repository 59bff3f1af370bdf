-- Tenants (consumer topics, populator workers) and feature group run data (spec §5.3).
CREATE TABLE cassandra_store_tenant_consumer_map (
    tenant_name TEXT NOT NULL PRIMARY KEY,
    topic_name TEXT NOT NULL,
    num_partitions INTEGER NOT NULL,
    num_consumers INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

INSERT INTO cassandra_store_tenant_consumer_map (tenant_name, topic_name, num_partitions, num_consumers, created_at, updated_at) VALUES
    ('default-tenant', 'default', 1, 1, 0, 0),
    ('t1', 't1', 1, 1, 0, 0),
    ('t2', 't2', 1, 1, 0, 0);

CREATE TABLE cassandra_store_tenant_populator_map (
    tenant_name TEXT NOT NULL PRIMARY KEY,
    num_workers INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

INSERT INTO cassandra_store_tenant_populator_map (tenant_name, num_workers, created_at, updated_at) VALUES
    ('default-tenant', 8, 0, 0);

-- One row per ingestion run of a feature group version; created_at is the run's timestamp (epoch ms).
CREATE TABLE cassandra_store_feature_group_run_data (
    name TEXT NOT NULL,
    version VARCHAR(32) NOT NULL,
    run_id TEXT NOT NULL,
    source TEXT NOT NULL,
    time_taken INTEGER NOT NULL,
    row_count INTEGER NOT NULL,
    sample_data TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    error_message TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (name, version, run_id)
);

CREATE INDEX idx_fs_run_data_time ON cassandra_store_feature_group_run_data (name, version, created_at);
