// Package domain holds the feature store's model: entities, feature groups and their versions, column types and
// value coercion, online-store column naming (§5.2) and the original's ServiceError catalogue.
package domain

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is one entry of the original ServiceError catalogue: wire code, default message and HTTP status.
type Code struct {
	Name    string
	Message string
	Status  int
}

// The catalogue (core/.../error/ServiceError.java) entries the Go service answers with.
var (
	ErrUnknown              = Code{"DarwinOfsV2-UNKNOWN-EXCEPTION", "Something went wrong", http.StatusInternalServerError}
	ErrEntityRegistration   = Code{"ENTITY-REGISTRATION-ERROR", "error registering entity", http.StatusInternalServerError}
	ErrEntityRequest        = Code{"ENTITY-REGISTRATION-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrEntityExists         = Code{"ENTITY-ALREADY-EXISTS-EXCEPTION", "entity already exists", http.StatusBadRequest}
	ErrGetEntity            = Code{"GET-ENTITY-EXCEPTION", "error getting entity", http.StatusInternalServerError}
	ErrEntityNotFound       = Code{"ENTITY-NOT-FOUND-EXCEPTION", "entity not found", http.StatusNotFound}
	ErrEntitySchema         = Code{"ENTITY-SCHEMA-VALIDATION-EXCEPTION", "invalid entity schema", http.StatusBadRequest}
	ErrFGRegistration       = Code{"FEATURE-GROUP-REGISTRATION-ERROR", "error registering feature group", http.StatusInternalServerError}
	ErrFGRequest            = Code{"FEATURE-GROUP-REGISTRATION-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrFGColumnNames        = Code{"FEATURE-GROUP-INVALID-COLUMN-NAMES-EXCEPTION", "invalid feature group column names", http.StatusBadRequest}
	ErrFGExists             = Code{"FEATURE-GROUP-ALREADY-EXISTS-EXCEPTION", "feature group already exists", http.StatusBadRequest}
	ErrGetFG                = Code{"GET-FEATURE-GROUP-EXCEPTION", "error getting feature group", http.StatusInternalServerError}
	ErrFGNotFound           = Code{"FEATURE-GROUP-NOT-FOUND-EXCEPTION", "feature group not found", http.StatusNotFound}
	ErrFGVersionNotFound    = Code{"FEATURE-GROUP-VERSION-NOT-FOUND-EXCEPTION", "feature group version not found", http.StatusNotFound}
	ErrFGSchema             = Code{"FEATURE-GROUP-SCHEMA-VALIDATION-EXCEPTION", "invalid feature group schema", http.StatusBadRequest}
	ErrWriteRequest         = Code{"WRITE-FEATURE-GROUP-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrReadRequest          = Code{"READ-FEATURE-GROUP-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrMultiReadRequest     = Code{"MULTI-READ-FEATURE-GROUP-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrMultiReadBatchSize   = Code{"MULTI-READ-FEATURE-GROUP-INVALID-BATCH-SIZE-EXCEPTION", "invalid batch size", http.StatusBadRequest}
	ErrOwnersNotFound       = Code{"OWNERS-NOT-FOUND-EXCEPTION", "owners not found", http.StatusNotFound}
	ErrSearchFGRequest      = Code{"SEARCH-FEATURE-GROUP-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrSearchEntityRequest  = Code{"SEARCH-ENTITY-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrUpdateEntityRequest  = Code{"UPDATE-ENTITY-REQUEST-EXCEPTION", "entity has feature groups associated with it", http.StatusBadRequest}
	ErrEntityState          = Code{"ENTITY-STATE-EXCEPTION", "entity is archived", http.StatusBadRequest}
	ErrFGState              = Code{"FEATURE-GROUP-STATE-EXCEPTION", "feature group is archived", http.StatusBadRequest}
	ErrAdminService         = Code{"OFS-V2-ADMIN-SERVICE-EXCEPTION", "admin service error", http.StatusBadRequest}
	ErrVersioningDisabled   = Code{"VERSIONING-DISABLED-EXCEPTION", "versioning is disabled for this feature group", http.StatusBadRequest}
	ErrService              = Code{"OFS-V2-SERVICE-EXCEPTION", "feature store error", http.StatusInternalServerError}
	ErrMetastoreUnavailable = Code{"OFS-V2-METASTORE-UNAVAILABLE-EXCEPTION", "metastore unavailable", http.StatusInternalServerError}
	ErrTTLUpdate            = Code{"OFS-V2-TTL-UPDATE-EXCEPTION", "error updating ttl", http.StatusInternalServerError}
)

// MaxMultiReadBatches is the most read requests one multi-read-features call may carry.
const MaxMultiReadBatches = 10

// Error is a ServiceError: a catalogue code, the message shown to clients and an optional cause.
type Error struct {
	Code    Code
	Message string
	Cause   string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code.Name, e.Message, e.Err)
	}
	return e.Code.Name + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E returns an error with code c and a message (c's default when format is empty).
func E(c Code, format string, args ...any) *Error {
	msg := c.Message
	if format != "" {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: c, Message: msg, Cause: msg}
}

// Wrap returns an internal error with code c whose cause is err (not shown verbatim to clients).
func Wrap(c Code, err error) *Error {
	return &Error{Code: c, Message: c.Message, Cause: c.Message, Err: err}
}

// As returns err's *Error, or an ErrUnknown wrapping it.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(ErrUnknown, err)
}

// Is reports whether err carries code c.
func Is(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code.Name == c.Name
}

// Catalogue entries of the tenant, consumer, populator, run-data and read-partition routes.
var (
	ErrReadPartitionRequest   = Code{"READ-FEATURE-GROUP-PARTITION-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
	ErrTenantNotFound         = Code{"OFS-V2-TENANT-NOT-FOUND-EXCEPTION", "tenant not found", http.StatusBadRequest}
	ErrConsumerConfigNotFound = Code{"OFS-V2-CONSUMER-CONFIG-NOT-FOUND-EXCEPTION", "consumer config not found", http.StatusBadRequest}
	ErrTenantOnboarding       = Code{"OFS-V2-TENANT-ONBOARDING-EXCEPTION", "error onboarding tenant", http.StatusInternalServerError}
	ErrConsumerRegistration   = Code{"OFS-V2-CONSUMER-REGISTRATION-EXCEPTION", "error registering consumer", http.StatusInternalServerError}
	ErrMetastoreRun           = Code{"METASTORE-RUN-EXCEPTION", "error storing run data", http.StatusInternalServerError}
	// ErrTenantRequest is the Go port's code for malformed tenant, consumer and populator requests (the original
	// answered its bean-validation failures with a generic 400).
	ErrTenantRequest = Code{"OFS-V2-TENANT-REQUEST-EXCEPTION", "invalid request", http.StatusBadRequest}
)
