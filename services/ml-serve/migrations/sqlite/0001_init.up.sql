-- ml-serve schema: the original ml-serve-app's Tortoise tables. Every *_at column is Unix milliseconds (UTC);
-- JSON documents are stored as TEXT (LONGTEXT on MySQL). Tokens are stored as SHA-256 hex digests, never in plain text.
CREATE TABLE users (
    user_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    username   VARCHAR(255) NOT NULL UNIQUE,
    token_hash CHAR(64)     NOT NULL UNIQUE,
    created_at BIGINT       NOT NULL,
    updated_at BIGINT       NOT NULL
);

CREATE TABLE environments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         VARCHAR(64) NOT NULL UNIQUE,
    env_configs  TEXT        NOT NULL,
    is_protected INTEGER     NOT NULL DEFAULT 0,
    created_at   BIGINT      NOT NULL,
    updated_at   BIGINT      NOT NULL
);

CREATE TABLE serves (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        VARCHAR(50)  NOT NULL UNIQUE,
    type        VARCHAR(16)  NOT NULL CHECK (type IN ('api','workflow')),
    description TEXT         NOT NULL,
    space       VARCHAR(255) NOT NULL,
    user_id     BIGINT       NULL REFERENCES users (user_id),
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL
);

CREATE TABLE artifact_builder_job (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    serve_id               BIGINT       NOT NULL REFERENCES serves (id),
    version                VARCHAR(50)  NOT NULL,
    github_repo_url        TEXT         NOT NULL,
    branch                 VARCHAR(255) NOT NULL,
    file_path              TEXT         NOT NULL,
    task_id                VARCHAR(255) NOT NULL DEFAULT '',
    status                 VARCHAR(16)  NOT NULL CHECK (status IN ('PENDING','SUCCESSFUL','FAILED')),
    created_at             BIGINT       NOT NULL,
    last_picked_at         BIGINT       NULL,
    status_last_updated_at BIGINT       NOT NULL,
    created_by             BIGINT       NULL REFERENCES users (user_id)
);
CREATE INDEX artifact_builder_job_serve ON artifact_builder_job (serve_id, version);
CREATE INDEX artifact_builder_job_status ON artifact_builder_job (status, last_picked_at);

CREATE TABLE artifacts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    serve_id        BIGINT       NOT NULL REFERENCES serves (id),
    version         VARCHAR(50)  NOT NULL,
    github_repo_url TEXT         NOT NULL,
    image_url       TEXT         NOT NULL,
    branch          VARCHAR(255) NOT NULL,
    file_path       TEXT         NOT NULL,
    job_id          BIGINT       NULL REFERENCES artifact_builder_job (id),
    created_at      BIGINT       NOT NULL,
    created_by      BIGINT       NULL REFERENCES users (user_id),
    UNIQUE (serve_id, version)
);

CREATE TABLE deployments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    serve_id       BIGINT       NOT NULL REFERENCES serves (id),
    artifact_id    BIGINT       NOT NULL REFERENCES artifacts (id),
    environment_id BIGINT       NOT NULL REFERENCES environments (id),
    resource_id    VARCHAR(128) NOT NULL,
    created_by     BIGINT       NULL REFERENCES users (user_id),
    created_at     BIGINT       NOT NULL,
    status         VARCHAR(16)  NOT NULL CHECK (status IN ('ACTIVE','ENDED')),
    ended_at       BIGINT       NULL
);
CREATE INDEX deployments_serve ON deployments (serve_id, status, created_at);
CREATE INDEX deployments_environment ON deployments (environment_id);

CREATE TABLE active_deployments (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id          BIGINT NOT NULL REFERENCES deployments (id),
    previous_deployment_id BIGINT NULL REFERENCES deployments (id),
    environment_id         BIGINT NOT NULL REFERENCES environments (id),
    serve_id               BIGINT NOT NULL REFERENCES serves (id),
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    UNIQUE (serve_id, environment_id)
);

CREATE TABLE app_layer_deployments (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id         BIGINT      NOT NULL UNIQUE REFERENCES deployments (id),
    deployment_strategy   VARCHAR(64) NOT NULL DEFAULT '',
    deployment_params     TEXT        NOT NULL,
    environment_variables TEXT        NOT NULL
);

CREATE TABLE api_serve_configs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    serve_id         BIGINT      NOT NULL REFERENCES serves (id),
    environment_id   BIGINT      NOT NULL REFERENCES environments (id),
    backend_type     VARCHAR(16) NOT NULL CHECK (backend_type IN ('fastapi','ray')),
    additional_hosts TEXT        NOT NULL,
    fast_api_config  TEXT        NOT NULL,
    created_by       BIGINT      NULL REFERENCES users (user_id),
    updated_by       BIGINT      NULL REFERENCES users (user_id),
    created_at       BIGINT      NOT NULL,
    updated_at       BIGINT      NOT NULL,
    UNIQUE (serve_id, environment_id)
);

CREATE TABLE workflow_serve_configs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    serve_id           BIGINT       NOT NULL REFERENCES serves (id),
    environment_id     BIGINT       NOT NULL REFERENCES environments (id),
    schedule           VARCHAR(255) NOT NULL,
    head_node_config   TEXT         NOT NULL,
    worker_node_config TEXT         NOT NULL,
    created_by         BIGINT       NULL REFERENCES users (user_id),
    updated_by         BIGINT       NULL REFERENCES users (user_id),
    created_at         BIGINT       NOT NULL,
    updated_at         BIGINT       NOT NULL,
    UNIQUE (serve_id, environment_id)
);
