-- Cluster definitions (the original's Elasticsearch document) with indexed columns for search.
-- All *_at / created_on columns are Unix milliseconds (UTC).
CREATE TABLE clusters (
    cluster_id     VARCHAR(64)  NOT NULL PRIMARY KEY,
    name           VARCHAR(255) NOT NULL,
    user_email     VARCHAR(255) NOT NULL,
    runtime        VARCHAR(255) NOT NULL,
    cloud_env      VARCHAR(64)  NOT NULL,
    is_job_cluster INTEGER      NOT NULL DEFAULT 0,
    tags_text      TEXT NOT NULL,
    created_on     BIGINT       NOT NULL,
    definition     LONGTEXT     NOT NULL
);
CREATE INDEX clusters_name ON clusters (name);
CREATE INDEX clusters_user ON clusters (user_email);
CREATE INDEX clusters_created_on ON clusters (created_on);

CREATE TABLE cluster_status (
    cluster_id           VARCHAR(64)  NOT NULL PRIMARY KEY,
    artifact_id          VARCHAR(128) NOT NULL,
    status               VARCHAR(32)  NOT NULL CHECK (status IN ('inactive','creating','head_node_up','jupyter_up','active','head_node_died','worker_nodes_died','cluster_died','worker_nodes_scaled')),
    active_pods          INTEGER      NOT NULL DEFAULT 0,
    available_memory     DOUBLE PRECISION NOT NULL DEFAULT 0,
    active_cluster_runid VARCHAR(64)  NOT NULL DEFAULT '',
    cluster_name         VARCHAR(255) NOT NULL,
    last_updated_at      BIGINT       NOT NULL,
    last_picked_at       BIGINT       NULL,
    picked_by            VARCHAR(128) NOT NULL DEFAULT '',
    last_used_at         BIGINT       NULL
);
CREATE INDEX cluster_status_status ON cluster_status (status, last_picked_at);

CREATE TABLE cluster_actions (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    cluster_runid VARCHAR(64) NOT NULL DEFAULT '',
    action       VARCHAR(64)  NOT NULL,
    message      TEXT NOT NULL,
    updated_at   BIGINT       NOT NULL,
    cluster_id   VARCHAR(64)  NOT NULL,
    artifact_id  VARCHAR(128) NOT NULL DEFAULT ''
);
CREATE INDEX cluster_actions_cluster ON cluster_actions (cluster_id, updated_at);
CREATE INDEX cluster_actions_run ON cluster_actions (cluster_runid);

CREATE TABLE user_cluster_visits (
    user_id    VARCHAR(255) NOT NULL,
    cluster_id VARCHAR(64)  NOT NULL,
    visited_at BIGINT       NOT NULL,
    deleted    INTEGER      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, cluster_id)
);
