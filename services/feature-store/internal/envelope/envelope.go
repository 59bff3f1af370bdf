// Package envelope writes the feature store's response envelope, shared by every route: success is HTTP 200 with
// {"data": ...}; an error is {"error": {"message", "cause", "code"}} with its code's HTTP status.
package envelope

import (
	"encoding/json"
	"net/http"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// ErrorBody is the "error" object.
type ErrorBody struct {
	Message string `json:"message"`
	Cause   string `json:"cause"`
	Code    string `json:"code"`
}

// BodyOf is err's "error" object.
func BodyOf(err error) ErrorBody {
	e := domain.As(err)
	return ErrorBody{Message: e.Message, Cause: e.Cause, Code: e.Code.Name}
}

// JSON writes v as the response body with status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"Something went wrong","cause":"encode response","code":"DarwinOfsV2-UNKNOWN-EXCEPTION"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Data writes {"data": v} with status 200.
func Data(w http.ResponseWriter, v any) {
	JSON(w, http.StatusOK, struct {
		Data any `json:"data"`
	}{v})
}

// Error writes err's envelope with its code's status (an error that is not a *domain.Error is a 500).
func Error(w http.ResponseWriter, err error) {
	e := domain.As(err)
	JSON(w, e.Code.Status, struct {
		Error ErrorBody `json:"error"`
	}{BodyOf(e)})
}
