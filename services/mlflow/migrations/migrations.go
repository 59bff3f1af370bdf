// Package migrations embeds the MLflow tracking server's SQL migrations (component "mlflow") for every dialect.
package migrations

import "embed"

// FS holds sqlite/, mysql/ and postgres/ trees of NNNN_name.up.sql files.
//
//go:embed sqlite mysql postgres
var FS embed.FS

// Component is the schema_migrations component name.
const Component = "mlflow"
