-- compute-aux: remote commands, per-pod command status and cluster libraries.
CREATE TABLE remote_command_status (
    execution_id    VARCHAR(64)  NOT NULL PRIMARY KEY,
    cluster_id      VARCHAR(64)  NOT NULL,
    command         TEXT NOT NULL,
    status          VARCHAR(16)  NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'running', 'success', 'failed')),
    target          VARCHAR(16)  NOT NULL DEFAULT 'cluster' CHECK (target IN ('head', 'worker', 'cluster')),
    timeout         INTEGER NOT NULL DEFAULT 300,
    error_logs_path TEXT NULL,
    error_code      VARCHAR(64) NULL,
    created_at      DATETIME NOT NULL,
    started_at      DATETIME NULL,
    updated_at      DATETIME NOT NULL,
    last_picked_at  DATETIME NULL
);
CREATE INDEX remote_command_status_cluster_idx ON remote_command_status (cluster_id);
CREATE INDEX remote_command_status_status_idx ON remote_command_status (status, last_picked_at);

CREATE TABLE pod_command_execution_status (
    cluster_run_id VARCHAR(64)  NOT NULL,
    execution_id   VARCHAR(64)  NOT NULL,
    pod_name       VARCHAR(255) NOT NULL,
    status         VARCHAR(16)  NOT NULL CHECK (status IN ('started', 'running', 'success', 'failed')),
    updated_at     DATETIME NOT NULL,
    PRIMARY KEY (cluster_run_id, execution_id, pod_name)
);
CREATE INDEX pod_command_execution_status_exec_idx ON pod_command_execution_status (execution_id);

CREATE TABLE library (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster_id   VARCHAR(64)  NOT NULL,
    name         VARCHAR(512) NOT NULL,
    version      VARCHAR(128) NULL,
    type         VARCHAR(16)  NOT NULL CHECK (type IN ('jar', 'whl', 'zip', 'tar', 'gz', 'txt', 'pypi', 'maven_jar')),
    source       VARCHAR(16)  NOT NULL CHECK (source IN ('maven', 'pypi', 's3', 'workspace')),
    path         TEXT NULL,
    metadata     TEXT NULL,
    status       VARCHAR(32)  NOT NULL CHECK (status IN ('created', 'running', 'failed', 'success', 'uninstall_pending')),
    execution_id VARCHAR(64)  NULL,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);
CREATE INDEX library_cluster_idx ON library (cluster_id);
CREATE INDEX library_execution_idx ON library (execution_id);
