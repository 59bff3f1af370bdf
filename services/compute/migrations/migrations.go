// Package migrations embeds compute's SQL migrations (component "compute") for every dialect.
package migrations

import "embed"

// FS holds sqlite/, mysql/ and postgres/ trees of NNNN_name.up.sql files.
//
//go:embed sqlite mysql postgres
var FS embed.FS

// Component is the schema_migrations component name.
const Component = "compute"
