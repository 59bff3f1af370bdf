CREATE TABLE mlflow_registered_models (
  name VARCHAR(256) NOT NULL PRIMARY KEY,
  creation_time BIGINT NOT NULL,
  last_updated_time BIGINT NOT NULL,
  description TEXT NULL,
  user_id VARCHAR(256) NULL,
  next_version BIGINT NOT NULL
);

CREATE INDEX mlflow_registered_models_updated ON mlflow_registered_models (last_updated_time, name);
CREATE INDEX mlflow_registered_models_created ON mlflow_registered_models (creation_time, name);

CREATE TABLE mlflow_model_versions (
  name VARCHAR(256) NOT NULL,
  version BIGINT NOT NULL,
  creation_time BIGINT NOT NULL,
  last_updated_time BIGINT NOT NULL,
  description TEXT NULL,
  user_id VARCHAR(256) NULL,
  current_stage VARCHAR(20) NOT NULL,
  source TEXT NOT NULL,
  run_id VARCHAR(32) NULL,
  run_link TEXT NULL,
  status VARCHAR(20) NOT NULL,
  PRIMARY KEY (name, version)
);

CREATE INDEX mlflow_model_versions_stage ON mlflow_model_versions (name, current_stage, version);
CREATE INDEX mlflow_model_versions_run ON mlflow_model_versions (run_id);
CREATE INDEX mlflow_model_versions_updated ON mlflow_model_versions (last_updated_time);

CREATE TABLE mlflow_registered_model_tags (
  name VARCHAR(256) NOT NULL,
  tag_key VARCHAR(250) NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (name, tag_key)
);

CREATE TABLE mlflow_model_version_tags (
  name VARCHAR(256) NOT NULL,
  version BIGINT NOT NULL,
  tag_key VARCHAR(250) NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (name, version, tag_key)
);

CREATE TABLE mlflow_registered_model_aliases (
  name VARCHAR(256) NOT NULL,
  alias VARCHAR(256) NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (name, alias)
);

CREATE INDEX mlflow_registered_model_aliases_version ON mlflow_registered_model_aliases (name, version);
