-- artifact-builder schema (MySQL/MariaDB): see sqlite/0001_init.up.sql.
CREATE TABLE darwin_image_builder (
    task_id          VARCHAR(64)  NOT NULL PRIMARY KEY,
    kind             VARCHAR(16)  NOT NULL CHECK (kind IN ('dockerfile','model')),
    app_name         VARCHAR(128) NOT NULL,
    image_tag        VARCHAR(128) NOT NULL,
    logs_url         TEXT         NOT NULL,
    build_params     LONGTEXT     NOT NULL,
    status           VARCHAR(16)  NOT NULL CHECK (status IN ('waiting','running','completed','failed')),
    image_url        TEXT         NOT NULL,
    message          TEXT         NOT NULL,
    attempts         INT          NOT NULL DEFAULT 0,
    lease_owner      VARCHAR(128) NOT NULL DEFAULT '',
    lease_expires_at BIGINT       NOT NULL DEFAULT 0,
    created_at       BIGINT       NOT NULL,
    updated_at       BIGINT       NOT NULL,
    INDEX darwin_image_builder_status (status, created_at),
    INDEX darwin_image_builder_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE darwin_image_builder_logs (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    task_id    VARCHAR(64) NOT NULL,
    chunk      LONGTEXT    NOT NULL,
    created_at BIGINT      NOT NULL,
    INDEX darwin_image_builder_logs_task (task_id, id),
    CONSTRAINT darwin_image_builder_logs_fk FOREIGN KEY (task_id) REFERENCES darwin_image_builder (task_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
