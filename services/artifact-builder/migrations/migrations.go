// Package migrations embeds artifact-builder's SQL migrations (component "artifact-builder") for every dialect.
package migrations

import "embed"

// FS holds sqlite/, mysql/ and postgres/ trees of NNNN_name.up.sql files.
//
//go:embed sqlite mysql postgres
var FS embed.FS

// Component is the schema_migrations component name.
const Component = "artifact-builder"
