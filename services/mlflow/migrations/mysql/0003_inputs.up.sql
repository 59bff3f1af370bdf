CREATE TABLE mlflow_datasets (
  dataset_uuid VARCHAR(32) NOT NULL PRIMARY KEY,
  experiment_id BIGINT NOT NULL,
  name VARCHAR(500) NOT NULL,
  digest VARCHAR(36) NOT NULL,
  dataset_source_type VARCHAR(36) NOT NULL,
  dataset_source TEXT NOT NULL,
  dataset_schema MEDIUMTEXT NULL,
  dataset_profile MEDIUMTEXT NULL,
  CONSTRAINT mlflow_datasets_name_digest UNIQUE (experiment_id, name, digest)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE mlflow_inputs (
  input_uuid VARCHAR(32) NOT NULL PRIMARY KEY,
  dataset_uuid VARCHAR(32) NOT NULL,
  run_uuid VARCHAR(32) NOT NULL,
  input_position BIGINT NOT NULL,
  CONSTRAINT mlflow_inputs_run_dataset UNIQUE (run_uuid, dataset_uuid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE mlflow_input_tags (
  input_uuid VARCHAR(32) NOT NULL,
  tag_key VARCHAR(255) NOT NULL,
  tag_value VARCHAR(500) NOT NULL,
  PRIMARY KEY (input_uuid, tag_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
