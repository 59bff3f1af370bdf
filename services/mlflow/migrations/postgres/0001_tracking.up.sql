CREATE TABLE mlflow_experiments (
  experiment_id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(256) NOT NULL,
  artifact_location VARCHAR(1000) NOT NULL,
  lifecycle_stage VARCHAR(32) NOT NULL,
  creation_time BIGINT NOT NULL,
  last_update_time BIGINT NOT NULL,
  CONSTRAINT mlflow_experiments_name UNIQUE (name)
);

CREATE TABLE mlflow_experiment_tags (
  experiment_id BIGINT NOT NULL,
  tag_key VARCHAR(250) NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (experiment_id, tag_key)
);

CREATE TABLE mlflow_runs (
  run_uuid VARCHAR(32) NOT NULL PRIMARY KEY,
  name VARCHAR(250) NOT NULL,
  experiment_id BIGINT NOT NULL,
  user_id VARCHAR(256) NOT NULL,
  status VARCHAR(20) NOT NULL,
  start_time BIGINT NOT NULL,
  end_time BIGINT NULL,
  lifecycle_stage VARCHAR(32) NOT NULL,
  artifact_uri VARCHAR(1200) NOT NULL,
  deleted_time BIGINT NULL
);

CREATE INDEX mlflow_runs_experiment_start ON mlflow_runs (experiment_id, start_time, run_uuid);
CREATE INDEX mlflow_runs_experiment_stage ON mlflow_runs (experiment_id, lifecycle_stage, start_time);

CREATE TABLE mlflow_run_tags (
  run_uuid VARCHAR(32) NOT NULL,
  tag_key VARCHAR(250) NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, tag_key)
);

CREATE TABLE mlflow_params (
  run_uuid VARCHAR(32) NOT NULL,
  param_key VARCHAR(250) NOT NULL,
  param_value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, param_key)
);

CREATE TABLE mlflow_metrics (
  run_uuid VARCHAR(32) NOT NULL,
  metric_key VARCHAR(250) NOT NULL,
  metric_value DOUBLE PRECISION NOT NULL,
  ts BIGINT NOT NULL,
  step BIGINT NOT NULL,
  is_nan BOOLEAN NOT NULL,
  PRIMARY KEY (run_uuid, metric_key, step, ts, metric_value, is_nan)
);

CREATE TABLE mlflow_latest_metrics (
  run_uuid VARCHAR(32) NOT NULL,
  metric_key VARCHAR(250) NOT NULL,
  metric_value DOUBLE PRECISION NOT NULL,
  ts BIGINT NOT NULL,
  step BIGINT NOT NULL,
  is_nan BOOLEAN NOT NULL,
  PRIMARY KEY (run_uuid, metric_key)
);

CREATE INDEX mlflow_latest_metrics_key_value ON mlflow_latest_metrics (metric_key, metric_value);

INSERT INTO mlflow_experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
VALUES (0, 'Default', '', 'active', 0, 0);
