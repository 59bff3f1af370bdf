package log

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		wantDebug bool
		json      bool
	}{
		{"json debug", Config{Level: "debug", Format: "json"}, true, true},
		{"text info", Config{Level: "info", Format: "text"}, false, false},
		{"unknown level is info", Config{Level: "loud"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l := New(tt.cfg, &buf)
			l.Debug("dbg")
			l.Info("hello", "k", "v")
			out := buf.String()
			if strings.Contains(out, "dbg") != tt.wantDebug {
				t.Errorf("debug line present=%v in %q", !tt.wantDebug, out)
			}
			if tt.json {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				var m map[string]any
				if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil || m["k"] != "v" {
					t.Errorf("json line %q: %v", lines[len(lines)-1], err)
				}
			} else if !strings.Contains(out, "k=v") {
				t.Errorf("text output %q", out)
			}
		})
	}
	Discard().Error("nothing")
	if OrDiscard(nil) == nil {
		t.Fatal("OrDiscard(nil) = nil")
	}
}
