package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeKey splits an online-store row key made by EncodeKey back into its n canonical primary-key values. The
// split is exact because canonical values never hold a raw NUL byte (JSON escapes it inside strings as \u0000 and
// numbers and booleans have none). It fails when the key does not hold n non-empty JSON values.
func DecodeKey(key []byte, n int) ([]json.RawMessage, error) {
	if n < 1 {
		return nil, fmt.Errorf("decode key: %d primary key columns", n)
	}
	parts := bytes.Split(key, []byte{0})
	if len(parts) != n {
		return nil, fmt.Errorf("decode key: %d values for %d primary key columns", len(parts), n)
	}
	out := make([]json.RawMessage, n)
	for i, p := range parts {
		if len(p) == 0 || !json.Valid(p) {
			return nil, fmt.Errorf("decode key: value %d is not a JSON value", i)
		}
		out[i] = json.RawMessage(p)
	}
	return out, nil
}
