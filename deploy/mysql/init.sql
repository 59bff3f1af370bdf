-- Databases of docker-compose.yaml's MariaDB beyond MARIADB_DATABASE (darwin), as the Helm datastores chart
-- creates them: mlflow keeps its tracking store in darwin_mlflow, ml-serve and artifact-builder their schemas in darwin_ml_serve
-- and darwin_artifact_builder, the feature store its metadata in darwin_feature_store. Run once, on an empty data
-- volume (an older volume: create darwin_feature_store by hand, with the grant below).
CREATE DATABASE IF NOT EXISTS `darwin_mlflow`;
GRANT ALL PRIVILEGES ON `darwin_mlflow`.* TO 'darwin'@'%';
CREATE DATABASE IF NOT EXISTS `darwin_ml_serve`;
GRANT ALL PRIVILEGES ON `darwin_ml_serve`.* TO 'darwin'@'%';
CREATE DATABASE IF NOT EXISTS `darwin_artifact_builder`;
GRANT ALL PRIVILEGES ON `darwin_artifact_builder`.* TO 'darwin'@'%';
CREATE DATABASE IF NOT EXISTS `darwin_feature_store`;
GRANT ALL PRIVILEGES ON `darwin_feature_store`.* TO 'darwin'@'%';
