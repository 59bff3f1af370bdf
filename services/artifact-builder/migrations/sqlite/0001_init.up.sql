-- artifact-builder schema: the original darwin_image_builder task table plus the lease columns of the SQL
-- build queue and a per-task build log. Every *_at column is Unix milliseconds (UTC); JSON is stored as TEXT.
CREATE TABLE darwin_image_builder (
    task_id          VARCHAR(64)  NOT NULL PRIMARY KEY,
    kind             VARCHAR(16)  NOT NULL CHECK (kind IN ('dockerfile','model')),
    app_name         VARCHAR(128) NOT NULL,
    image_tag        VARCHAR(128) NOT NULL,
    logs_url         TEXT         NOT NULL,
    build_params     TEXT         NOT NULL,
    status           VARCHAR(16)  NOT NULL CHECK (status IN ('waiting','running','completed','failed')),
    image_url        TEXT         NOT NULL,
    message          TEXT         NOT NULL,
    attempts         INTEGER      NOT NULL DEFAULT 0,
    lease_owner      VARCHAR(128) NOT NULL DEFAULT '',
    lease_expires_at BIGINT       NOT NULL DEFAULT 0,
    created_at       BIGINT       NOT NULL,
    updated_at       BIGINT       NOT NULL
);
CREATE INDEX darwin_image_builder_status ON darwin_image_builder (status, created_at);
CREATE INDEX darwin_image_builder_created ON darwin_image_builder (created_at);

CREATE TABLE darwin_image_builder_logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    VARCHAR(64) NOT NULL REFERENCES darwin_image_builder (task_id) ON DELETE CASCADE,
    chunk      TEXT        NOT NULL,
    created_at BIGINT      NOT NULL
);
CREATE INDEX darwin_image_builder_logs_task ON darwin_image_builder_logs (task_id, id);
