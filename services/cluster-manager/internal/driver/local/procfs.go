package local

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procAlive reports whether pid exists and is not a zombie.
func procAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	state, _, ok := procStat(pid)
	if !ok {
		return false
	}
	return state != "Z" && state != "X"
}

// procStat returns the state letter and process group of pid.
func procStat(pid int) (state string, pgrp int, ok bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// comm may contain spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 3 {
		return "", 0, false
	}
	pg, err := strconv.Atoi(f[2])
	if err != nil {
		return "", 0, false
	}
	return f[0], pg, true
}

// procCmdline returns the NUL-separated arguments of pid.
func procCmdline(pid int) []string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// isClusterNode reports whether pid is alive and is a node process of
// cluster (its command line carries --cluster-id <cluster>).
func isClusterNode(pid int, cluster string) bool {
	if !procAlive(pid) {
		return false
	}
	args := procCmdline(pid)
	for i, a := range args {
		if a == "--cluster-id="+cluster || (a == "--cluster-id" && i+1 < len(args) && args[i+1] == cluster) {
			return true
		}
	}
	return false
}

// clusterProcesses lists live processes that belong to cluster: node
// processes by command line, and everything they started (jobs, execs,
// init commands) by the DARWIN_CLUSTER_ID marker in their environment.
func clusterProcesses(cluster string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	marker := []byte(envClusterID + "=" + cluster + "\x00")
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if isClusterNode(pid, cluster) {
			pids = append(pids, pid)
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.HasPrefix(env, marker) || bytes.Contains(env, append([]byte{0}, marker...)) {
			if procAlive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
