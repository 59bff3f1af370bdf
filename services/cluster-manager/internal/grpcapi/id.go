package grpcapi

import (
	"crypto/rand"
	"encoding/hex"
)

func newExecID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "exec-" + hex.EncodeToString(b)
}
