package node

import (
	"bytes"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// shellCommand builds `sh -c command` in its own process group so the whole
// tree can be signalled at once.
func shellCommand(command, dir string, env []string) *exec.Cmd {
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Do not wait for grandchildren holding the output pipe forever.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// signalGroup signals the process group led by pid (and pid itself).
func signalGroup(pid int, sig syscall.Signal) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, sig)
	_ = syscall.Kill(pid, sig)
}

// terminateGroup sends SIGTERM to the group, then SIGKILL when done has not
// closed within grace.
func terminateGroup(pid int, done <-chan struct{}, grace time.Duration) {
	signalGroup(pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		// The leader exited; make sure nothing of its group lingers.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	case <-t.C:
		signalGroup(pid, syscall.SIGKILL)
	}
}

// killGroup SIGKILLs whatever is left in the process group led by pid.
func killGroup(pid int) error {
	if pid <= 0 {
		return nil
	}
	return syscall.Kill(-pid, syscall.SIGKILL)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
