// Package ingest is the feature store's one write path for rows that arrive outside a REST request body: the Kafka
// consumer and the Parquet populator hand batches of rows to a Writer, which validates each row against its feature
// group version (cached metadata), writes the valid rows to the online store in one round trip and reports the
// invalid ones row by row, so a single bad row never blocks the rest of a batch.
package ingest

import (
	"context"
	"encoding/json"
)

// Batch is rows for one feature group version: Names are column names (the entity's primary key columns and any of
// the group's feature columns), each row has one JSON value per name.
type Batch struct {
	FeatureGroup string
	// Version is "v<N>"; empty means the latest version.
	Version string
	Names   []string
	Rows    [][]json.RawMessage
	// RunID names the ingestion run (recorded by callers in run-data; not stored per row).
	RunID string
}

// RowError is a row the writer rejected, by index into Batch.Rows.
type RowError struct {
	Row   int
	Code  string // the service error code, e.g. WRITE-FEATURE-GROUP-REQUEST-EXCEPTION
	Error string
}

// Result answers one Batch.
type Result struct {
	// Version is the resolved feature group version ("" when the batch failed as a whole).
	Version string
	// Written counts the rows stored.
	Written int
	// Failed lists rejected rows; when the whole batch is invalid (unknown feature group, archived, bad names) every
	// row is listed with the same error.
	Failed []RowError
}

// Writer validates and stores batches. Write returns a non-nil error only when the online store failed (the caller
// may retry the same batches: writes are idempotent upserts); validation failures are reported in the results.
type Writer interface {
	Write(ctx context.Context, batches []Batch) ([]Result, error)
}
