package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/envelope"
)

// MaxRequestBytes bounds a historical-features request body.
const MaxRequestBytes = 64 << 20

// Handler serves POST /feature-group/historical-features (mount it on the app prefix).
type Handler struct {
	Retriever *Retriever
	Log       *slog.Logger
}

// ParseHistoricalRequest decodes and validates a request body; every problem is an ErrHistoricalRequest (400).
func ParseHistoricalRequest(body []byte) (*HistoricalRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, domain.E(ErrHistoricalRequest, "request body is empty")
	}
	var q HistoricalRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&q); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, domain.E(ErrHistoricalRequest, "invalid value for %s: expected %s", te.Field, te.Type)
		}
		return nil, domain.E(ErrHistoricalRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return nil, domain.E(ErrHistoricalRequest, "invalid JSON body: trailing data")
	}
	for i, row := range q.EntityRows.Values {
		for j, v := range row {
			if len(v) == 0 {
				row[j] = json.RawMessage("null")
			}
		}
		q.EntityRows.Values[i] = row
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return &q, nil
}

// ServeHTTP answers one request: JSON {"data":{columns, rows}} or, with format "parquet", the Parquet file.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		WriteError(w, domain.E(ErrHistoricalRequest, "method %s not allowed", r.Method))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		WriteError(w, domain.E(ErrHistoricalRequest, "read body: %v", err))
		return
	}
	if len(body) > MaxRequestBytes {
		WriteError(w, domain.E(ErrHistoricalRequest, "request body exceeds %d bytes", MaxRequestBytes))
		return
	}
	q, err := ParseHistoricalRequest(body)
	if err != nil {
		WriteError(w, err)
		return
	}
	res, err := h.Retriever.Retrieve(r.Context(), q)
	if err != nil {
		if e := domain.As(err); e.Code.Status >= 500 && h.Log != nil {
			h.Log.Error("historical features failed", "err", err)
		}
		WriteError(w, err)
		return
	}
	if q.Format == "parquet" {
		var buf bytes.Buffer
		if err := WriteParquet(&buf, res); err != nil {
			WriteError(w, domain.Wrap(domain.ErrService, err))
			return
		}
		w.Header().Set("Content-Type", "application/vnd.apache.parquet")
		w.Header().Set("Content-Disposition", `attachment; filename="historical-features.parquet"`)
		_, _ = w.Write(buf.Bytes())
		return
	}
	WriteData(w, res)
}

// WriteData writes the {"data": v} envelope with status 200.
func WriteData(w http.ResponseWriter, v any) { envelope.Data(w, v) }

// WriteError writes the {"error":{message,cause,code}} envelope with err's status.
func WriteError(w http.ResponseWriter, err error) { envelope.Error(w, err) }
