// Package migrations embeds the feature store's metadata schema (component "feature-store") for every dialect.
package migrations

import "embed"

// FS holds sqlite/, mysql/ and postgres/ trees of NNNN_name.up.sql files.
//
//go:embed sqlite mysql postgres
var FS embed.FS

// Component is the schema_migrations component name.
const Component = "feature-store"
