package node

import (
	"os"
	"strconv"
	"strings"
)

func splitLines(s string) []string { return strings.Split(s, "\n") }

// memInfo returns total and available memory in bytes from /proc/meminfo.
func memInfo() (total, avail int64) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	for _, line := range splitLines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = v * 1024
		case "MemAvailable:":
			avail = v * 1024
		}
	}
	return total, avail
}
