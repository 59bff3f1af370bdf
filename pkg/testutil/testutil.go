// Package testutil holds small helpers shared by tests across the repository.
package testutil

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// EnvRequireAll, when "1", turns every "server not available" skip into a failure (CI sets it).
const EnvRequireAll = "DARWIN_TEST_REQUIRE_ALL"

// RequireAll reports whether DARWIN_TEST_REQUIRE_ALL=1.
func RequireAll() bool { return os.Getenv(EnvRequireAll) == "1" }

// NeedServer skips the test because `what` is unavailable — or fails it, naming the script that starts it, when
// RequireAll. Call it only after establishing that the server is missing.
func NeedServer(t testing.TB, what, script string) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("%s is not available but %s=1; start it with %s", what, EnvRequireAll, script)
		return
	}
	t.Skipf("%s is not available; start it with %s (set %s=1 to make this a failure)", what, script, EnvRequireAll)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Prefer listening on ":0" where the code
// under test allows it.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond every 10ms until it returns true, failing the test after timeout. msgAndArgs, when given,
// is a format string and its arguments describing what was awaited.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			msg := "condition not met"
			if len(msgAndArgs) > 0 {
				if format, ok := msgAndArgs[0].(string); ok {
					msg = fmt.Sprintf(format, msgAndArgs[1:]...)
				} else {
					parts := make([]string, len(msgAndArgs))
					for i, a := range msgAndArgs {
						parts[i] = fmt.Sprint(a)
					}
					msg = strings.Join(parts, " ")
				}
			}
			t.Fatalf("eventually: %s within %v", msg, timeout)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RecordingTB wraps a testing.TB but records Fatalf and Skipf instead of stopping the test, for testing
// helpers that are supposed to fail or skip. Code under test continues after the recorded call.
type RecordingTB struct {
	testing.TB
	FatalMsg, SkipMsg string
}

// Helper implements testing.TB.
func (r *RecordingTB) Helper() {}

// Fatalf records the message.
func (r *RecordingTB) Fatalf(format string, args ...any) { r.FatalMsg = fmt.Sprintf(format, args...) }

// Skipf records the message.
func (r *RecordingTB) Skipf(format string, args ...any) { r.SkipMsg = fmt.Sprintf(format, args...) }
