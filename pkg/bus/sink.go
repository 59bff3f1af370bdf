package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ChronosEvent is the body chronos ingests at POST /api/v1/event.
type ChronosEvent struct {
	EventType    string         `json:"event_type"`
	Timestamp    string         `json:"timestamp"`
	ClusterID    string         `json:"cluster_id,omitempty"`
	ClusterName  string         `json:"cluster_name,omitempty"`
	SessionID    string         `json:"session_id,omitempty"`
	Message      string         `json:"message,omitempty"`
	ArtifactName string         `json:"artifact_name,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// chronosFields are the Data keys lifted into top-level ChronosEvent fields.
var chronosFields = map[string]bool{
	"cluster_id": true, "cluster_name": true, "session_id": true, "message": true, "artifact_name": true, "metadata": true,
}

// ToChronos maps an event to the chronos shape: Data's cluster_id, cluster_name, session_id, message and
// artifact_name become fields (cluster_id defaults to Subject); Data["metadata"] (an object) plus every other
// Data key form metadata.
func ToChronos(e Event) ChronosEvent {
	str := func(k string) string {
		if v, ok := e.Data[k].(string); ok {
			return v
		}
		return ""
	}
	ce := ChronosEvent{
		EventType:    e.Type,
		Timestamp:    e.Time.UTC().Format(time.RFC3339Nano),
		ClusterID:    str("cluster_id"),
		ClusterName:  str("cluster_name"),
		SessionID:    str("session_id"),
		Message:      str("message"),
		ArtifactName: str("artifact_name"),
	}
	if ce.ClusterID == "" {
		ce.ClusterID = e.Subject
	}
	meta := map[string]any{}
	if m, ok := e.Data["metadata"].(map[string]any); ok {
		for k, v := range m {
			meta[k] = v
		}
	}
	for k, v := range e.Data {
		if !chronosFields[k] {
			meta[k] = v
		}
	}
	if len(meta) > 0 {
		ce.Metadata = meta
	}
	return ce
}

// HTTPSink returns a handler that POSTs each event, in the chronos shape, to <url>/api/v1/event with headers
// x-event-source (the event's source) and x-event-timestamp. Non-2xx answers are errors (so the outbox
// retries). client may be nil (a client with a 10s timeout is used).
func HTTPSink(url string, client *http.Client) Handler {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	endpoint := strings.TrimRight(url, "/") + "/api/v1/event"
	return func(ctx context.Context, e Event) error {
		body, err := json.Marshal(ToChronos(e))
		if err != nil {
			return fmt.Errorf("encode chronos event: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("build chronos request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-event-source", e.Source)
		req.Header.Set("x-event-timestamp", e.Time.UTC().Format("2006-01-02 15:04:05"))
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("post chronos event: %w", err)
		}
		defer resp.Body.Close()
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("post chronos event: status %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
		}
		return nil
	}
}
