// Package proc holds process helpers shared by the driver and the node
// programs.
package proc

import (
	"errors"
	"os/exec"
	"syscall"
)

// ExitCode decodes the error of exec.Cmd.Wait: the exit code (-1 when the
// process was killed by a signal or could not be waited for) and, for
// those cases, why ("killed by signal killed", or the wait error).
func ExitCode(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, "killed by signal " + ws.Signal().String()
		}
		return ee.ExitCode(), ""
	}
	return -1, err.Error()
}
