-- Darwin app layer (/mlflow-app): users, experiment creators and per-user experiment permissions.
CREATE TABLE mlflow_app_users (
  username VARCHAR(256) NOT NULL PRIMARY KEY,
  created_at BIGINT NOT NULL
);

CREATE TABLE mlflow_experiment_creators (
  experiment_id BIGINT NOT NULL PRIMARY KEY,
  username VARCHAR(256) NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE mlflow_experiment_permissions (
  experiment_id BIGINT NOT NULL,
  username VARCHAR(256) NOT NULL,
  permission VARCHAR(32) NOT NULL,
  PRIMARY KEY (experiment_id, username)
);

CREATE INDEX mlflow_experiment_permissions_user ON mlflow_experiment_permissions (username);
