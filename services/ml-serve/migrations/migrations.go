// Package migrations embeds ml-serve's SQL migrations (component "ml-serve") for every dialect.
package migrations

import "embed"

// FS holds sqlite/, mysql/ and postgres/ trees of NNNN_name.up.sql files.
//
//go:embed sqlite mysql postgres
var FS embed.FS

// Component is the schema_migrations component name.
const Component = "ml-serve"
