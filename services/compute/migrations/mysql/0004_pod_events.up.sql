-- Pod lifecycle events (Kubernetes Events about a cluster's pods) already published to the outbox, so that
-- every compute replica publishes each (event_id, event_count) once. A Kubernetes event whose count grew is
-- published again and its row updated. published_at is Unix milliseconds (UTC); ids compare case-sensitively (utf8mb4_bin).
CREATE TABLE cluster_pod_events (
    cluster_id   VARCHAR(64)  NOT NULL,
    event_id     VARCHAR(255) NOT NULL,
    event_count  INTEGER      NOT NULL,
    published_at BIGINT       NOT NULL,
    PRIMARY KEY (cluster_id, event_id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
