-- compute-aux: runtimes (v1 and v2) and cluster configs.
CREATE TABLE cluster_runtimes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    runtime    VARCHAR(255) NOT NULL UNIQUE,
    image      VARCHAR(512) NOT NULL UNIQUE,
    namespace  VARCHAR(255) NOT NULL DEFAULT 'ray',
    created_by VARCHAR(255) NOT NULL DEFAULT 'Darwin',
    type       VARCHAR(16)  NOT NULL DEFAULT 'custom' CHECK (type IN ('cpu', 'gpu', 'custom'))
);
INSERT INTO cluster_runtimes (runtime, image, namespace, created_by, type) VALUES
    ('0.0', 'localhost:5000/ray:2.37.0', 'ray', 'Darwin', 'cpu'),
    ('0.1', 'localhost:5000/ray:2.53.0', 'ray', 'Darwin', 'cpu');

CREATE TABLE cluster_configs (
    config_key VARCHAR(255) NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL
);
INSERT INTO cluster_configs (config_key, value) VALUES
    ('cloud_env', 'kind-0'),
    ('cloud_env_job', 'kind-0'),
    ('cloud_env_remotekernel', 'kind-0'),
    ('cloud_env_shs', 'kind-0'),
    ('RSS_TOTAL_FSX_NUM', '1'),
    ('RSS_PER_FSX_CLAIM_NUM', '1');

CREATE TABLE runtimes_v2 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    runtime         VARCHAR(255) NOT NULL UNIQUE,
    image           VARCHAR(512) NOT NULL UNIQUE,
    class           VARCHAR(16)  NOT NULL CHECK (class IN ('CPU', 'GPU', 'CUSTOM')),
    type            VARCHAR(32)  NULL CHECK (type IS NULL OR type IN ('Ray Only', 'Ray and Spark', 'Others')),
    reference_link  TEXT NULL,
    created_by      VARCHAR(255) NOT NULL,
    last_updated_by VARCHAR(255) NOT NULL,
    created_at      DATETIME NOT NULL,
    last_updated_at DATETIME NOT NULL,
    is_deleted      BOOLEAN NOT NULL DEFAULT 0,
    spark_connect   BOOLEAN NOT NULL DEFAULT 0,
    spark_auto_init BOOLEAN NOT NULL DEFAULT 0,
    CHECK ((class = 'CUSTOM' AND type IS NULL) OR (class <> 'CUSTOM' AND type IS NOT NULL))
);
CREATE TABLE runtime_components_v2 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    runtime_id INTEGER NOT NULL REFERENCES runtimes_v2 (id) ON DELETE CASCADE,
    name       VARCHAR(32) NOT NULL,
    version    VARCHAR(64) NOT NULL,
    UNIQUE (runtime_id, name)
);
CREATE TABLE default_runtimes_v2 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    class      VARCHAR(16) NOT NULL UNIQUE,
    runtime_id INTEGER NOT NULL REFERENCES runtimes_v2 (id)
);
INSERT INTO runtimes_v2 (runtime, image, class, type, reference_link, created_by, last_updated_by, created_at, last_updated_at) VALUES
    ('0.0', 'localhost:5000/ray:2.37.0', 'CPU', 'Ray Only', NULL, 'Darwin', 'Darwin', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('0.1', 'localhost:5000/ray:2.53.0', 'CPU', 'Ray Only', NULL, 'Darwin', 'Darwin', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
INSERT INTO runtime_components_v2 (runtime_id, name, version)
    SELECT id, 'Ray', '2.37.0' FROM runtimes_v2 WHERE runtime = '0.0';
INSERT INTO runtime_components_v2 (runtime_id, name, version)
    SELECT id, 'Ray', '2.53.0' FROM runtimes_v2 WHERE runtime = '0.1';
INSERT INTO default_runtimes_v2 (class, runtime_id)
    SELECT 'CPU', id FROM runtimes_v2 WHERE runtime = '0.0';
