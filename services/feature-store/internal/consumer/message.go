package consumer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/IBM/sarama"
)

// Message headers of the streaming write format (spec §5.6).
const (
	HeaderSDKVersion       = "sdk-version"
	HeaderFeatureGroupName = "feature-group-name"
	HeaderFeatureGroupVer  = "feature-group-version"
	HeaderRunID            = "run-id"
	HeaderReplicatedWrites = "replicated-writes"
	// HeaderError and HeaderErrorCode are added to dead letters.
	HeaderError     = "error"
	HeaderErrorCode = "error-code"
	// HeaderSourceTopic, HeaderSourcePartition and HeaderSourceOffset say where a dead letter was read.
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
)

// Dead-letter error codes (the error-code header). Rows the writer rejects carry the writer's code instead.
const (
	CodeInvalidMessage     = "OFS-V2-CONSUMER-INVALID-MESSAGE"
	CodeMissingHeader      = "OFS-V2-CONSUMER-MISSING-HEADER"
	CodeUnsupportedVersion = "OFS-V2-CONSUMER-UNSUPPORTED-SDK-VERSION"
)

// ErrLegacyV1 is the dead-letter error of messages without the sdk-version header (the original's legacy v1
// format, which this consumer does not read).
const ErrLegacyV1 = "legacy v1 messages are not supported: set header sdk-version: v2"

// MaxColumns bounds the columns of one row.
const MaxColumns = 10000

// row is one parsed v2 message.
type row struct {
	featureGroup string
	version      string
	runID        string
	names        []string // sorted
	values       []json.RawMessage
}

// rejection says why a message cannot be written; it becomes the dead letter's error headers.
type rejection struct {
	code    string
	message string
	reason  string // metric label: invalid, header, legacy, rejected
}

func headerValue(headers []*sarama.RecordHeader, name string) (string, bool) {
	for _, h := range headers {
		if h != nil && strings.EqualFold(string(h.Key), name) {
			return string(h.Value), true
		}
	}
	return "", false
}

// parseMessage reads one v2 message: headers (matched case-insensitively) and a flat JSON object value.
func parseMessage(headers []*sarama.RecordHeader, value []byte) (row, *rejection) {
	ver, ok := headerValue(headers, HeaderSDKVersion)
	if !ok {
		return row{}, &rejection{CodeUnsupportedVersion, ErrLegacyV1, "legacy"}
	}
	if v := strings.TrimSpace(ver); !strings.EqualFold(v, "v2") {
		return row{}, &rejection{CodeUnsupportedVersion, fmt.Sprintf("unsupported sdk-version %q: only v2 is supported", truncate(v, 64)), "legacy"}
	}
	fg, _ := headerValue(headers, HeaderFeatureGroupName)
	fg = strings.TrimSpace(fg)
	if fg == "" {
		return row{}, &rejection{CodeMissingHeader, "missing header feature-group-name", "header"}
	}
	r := row{featureGroup: fg}
	r.version, _ = headerValue(headers, HeaderFeatureGroupVer)
	r.version = strings.TrimSpace(r.version)
	r.runID, _ = headerValue(headers, HeaderRunID)
	// replicated-writes is accepted and ignored: every write goes to the one configured online store.

	trimmed := bytes.TrimSpace(value)
	if len(trimmed) == 0 {
		return row{}, &rejection{CodeInvalidMessage, "message value is empty: expected a JSON object of column values", "invalid"}
	}
	if trimmed[0] != '{' {
		return row{}, &rejection{CodeInvalidMessage, "message value is not a JSON object of column values", "invalid"}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return row{}, &rejection{CodeInvalidMessage, "message value is not valid JSON: " + truncate(err.Error(), 200), "invalid"}
	}
	if len(obj) == 0 {
		return row{}, &rejection{CodeInvalidMessage, "message value has no columns", "invalid"}
	}
	if len(obj) > MaxColumns {
		return row{}, &rejection{CodeInvalidMessage, fmt.Sprintf("message value has %d columns, more than %d", len(obj), MaxColumns), "invalid"}
	}
	r.names = make([]string, 0, len(obj))
	for k := range obj {
		if strings.TrimSpace(k) == "" {
			return row{}, &rejection{CodeInvalidMessage, "message value has an empty column name", "invalid"}
		}
		r.names = append(r.names, k)
	}
	slices.Sort(r.names)
	r.values = make([]json.RawMessage, len(r.names))
	for i, k := range r.names {
		r.values[i] = obj[k]
	}
	return r, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
