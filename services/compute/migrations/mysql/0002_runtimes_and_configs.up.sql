-- compute-aux: runtimes (v1 and v2) and cluster configs.
CREATE TABLE cluster_runtimes (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    runtime    VARCHAR(255) NOT NULL UNIQUE,
    image      VARCHAR(512) NOT NULL UNIQUE,
    namespace  VARCHAR(255) NOT NULL DEFAULT 'ray',
    created_by VARCHAR(255) NOT NULL DEFAULT 'Darwin',
    type       VARCHAR(16)  NOT NULL DEFAULT 'custom' CHECK (type IN ('cpu', 'gpu', 'custom'))
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO cluster_runtimes (runtime, image, namespace, created_by, type) VALUES
    ('0.0', 'localhost:5000/ray:2.37.0', 'ray', 'Darwin', 'cpu'),
    ('0.1', 'localhost:5000/ray:2.53.0', 'ray', 'Darwin', 'cpu');

CREATE TABLE cluster_configs (
    config_key VARCHAR(255) NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO cluster_configs (config_key, value) VALUES
    ('cloud_env', 'kind-0'),
    ('cloud_env_job', 'kind-0'),
    ('cloud_env_remotekernel', 'kind-0'),
    ('cloud_env_shs', 'kind-0'),
    ('RSS_TOTAL_FSX_NUM', '1'),
    ('RSS_PER_FSX_CLAIM_NUM', '1');

CREATE TABLE runtimes_v2 (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    runtime         VARCHAR(255) NOT NULL UNIQUE,
    image           VARCHAR(512) NOT NULL UNIQUE,
    class           VARCHAR(16)  NOT NULL CHECK (class IN ('CPU', 'GPU', 'CUSTOM')),
    type            VARCHAR(32)  NULL CHECK (type IS NULL OR type IN ('Ray Only', 'Ray and Spark', 'Others')),
    reference_link  TEXT NULL,
    created_by      VARCHAR(255) NOT NULL,
    last_updated_by VARCHAR(255) NOT NULL,
    created_at      DATETIME(6) NOT NULL,
    last_updated_at DATETIME(6) NOT NULL,
    is_deleted      BOOLEAN NOT NULL DEFAULT FALSE,
    spark_connect   BOOLEAN NOT NULL DEFAULT FALSE,
    spark_auto_init BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK ((class = 'CUSTOM' AND type IS NULL) OR (class <> 'CUSTOM' AND type IS NOT NULL))
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE runtime_components_v2 (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    runtime_id BIGINT NOT NULL,
    name       VARCHAR(32) NOT NULL,
    version    VARCHAR(64) NOT NULL,
    UNIQUE (runtime_id, name),
    FOREIGN KEY (runtime_id) REFERENCES runtimes_v2 (id) ON DELETE CASCADE
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE default_runtimes_v2 (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    class      VARCHAR(16) NOT NULL UNIQUE,
    runtime_id BIGINT NOT NULL,
    FOREIGN KEY (runtime_id) REFERENCES runtimes_v2 (id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO runtimes_v2 (runtime, image, class, type, reference_link, created_by, last_updated_by, created_at, last_updated_at) VALUES
    ('0.0', 'localhost:5000/ray:2.37.0', 'CPU', 'Ray Only', NULL, 'Darwin', 'Darwin', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    ('0.1', 'localhost:5000/ray:2.53.0', 'CPU', 'Ray Only', NULL, 'Darwin', 'Darwin', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));
INSERT INTO runtime_components_v2 (runtime_id, name, version)
    SELECT id, 'Ray', '2.37.0' FROM runtimes_v2 WHERE runtime = '0.0';
INSERT INTO runtime_components_v2 (runtime_id, name, version)
    SELECT id, 'Ray', '2.53.0' FROM runtimes_v2 WHERE runtime = '0.1';
INSERT INTO default_runtimes_v2 (class, runtime_id)
    SELECT 'CPU', id FROM runtimes_v2 WHERE runtime = '0.0';
