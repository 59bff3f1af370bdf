-- Databases of docker-compose.yaml's MariaDB beyond MARIADB_DATABASE (darwin), as the Helm datastores chart
-- creates them: mlflow keeps its tracking store in darwin_mlflow. Run once, on an empty data volume.
CREATE DATABASE IF NOT EXISTS `darwin_mlflow`;
GRANT ALL PRIVILEGES ON `darwin_mlflow`.* TO 'darwin'@'%';
