-- Populator runs: each run's job, status, progress and checkpoint (the next file and row group to read).
CREATE TABLE populator_runs (
    run_id VARCHAR(128) NOT NULL PRIMARY KEY,
    source TEXT NOT NULL,
    feature_group VARCHAR(191) NOT NULL,
    version VARCHAR(32) NOT NULL,
    mode VARCHAR(16) NOT NULL,
    timestamp_column VARCHAR(256) NOT NULL,
    status VARCHAR(16) NOT NULL,
    file_index INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    row_group INTEGER NOT NULL,
    files_counted INTEGER NOT NULL,
    rows_done BIGINT NOT NULL,
    rows_total BIGINT NOT NULL,
    failed_rows BIGINT NOT NULL,
    error_message TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX idx_fs_populator_runs_fg ON populator_runs (feature_group, updated_at);
