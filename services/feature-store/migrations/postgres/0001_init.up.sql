-- Feature store metadata (the original's cassandra_store_* tables; JSON documents stored as text).
CREATE TABLE cassandra_store_entity_metadata (
    name VARCHAR(191) NOT NULL PRIMARY KEY,
    entity TEXT NOT NULL,
    state VARCHAR(16) NOT NULL,
    owner VARCHAR(191) NOT NULL,
    tags TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE cassandra_store_feature_group_metadata (
    name VARCHAR(191) NOT NULL,
    version VARCHAR(32) NOT NULL,
    version_enabled BOOLEAN NOT NULL,
    feature_group_type VARCHAR(16) NOT NULL,
    feature_group TEXT NOT NULL,
    entity_name VARCHAR(191) NOT NULL,
    state VARCHAR(16) NOT NULL,
    owner VARCHAR(191) NOT NULL,
    tags TEXT NOT NULL,
    description TEXT NOT NULL,
    tenant_config TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE INDEX idx_fs_fg_entity ON cassandra_store_feature_group_metadata (entity_name);

CREATE TABLE cassandra_store_feature_group_version_map (
    name VARCHAR(191) NOT NULL PRIMARY KEY,
    latest_version VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
