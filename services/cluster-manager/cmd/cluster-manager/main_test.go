package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/config"
)

func TestRunFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr error
		out     string
		errText string
	}{
		{"help", []string{"-help"}, flag.ErrHelp, "", "cluster-manager node head|worker"},
		{"print config", []string{"-print.config", "-cluster-manager.data-dir", "/tmp/cm"}, config.ErrPrinted, "data_dir: /tmp/cm", ""},
		{"kubernetes driver without helm timeout", []string{"-cluster-manager.driver", "kubernetes", "-cluster-manager.helm-timeout", "0s"}, nil, "", "helm_timeout"},
		{"kubernetes default cluster not configured", []string{"-cluster-manager.driver", "kubernetes",
			"-cluster-manager.kubeconfigs", "a=/k/a", "-cluster-manager.default-kube-cluster", "b"}, nil, "", `default_kube_cluster "b"`},
		{"node without kind", []string{"node"}, nil, "", "usage: node head|worker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tc.args, &stdout, &stderr)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
			case err == nil || !strings.Contains(err.Error(), tc.errText):
				t.Fatalf("err %v, want %q", err, tc.errText)
			}
			if tc.out != "" && !strings.Contains(stdout.String(), tc.out) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.out)
			}
			if tc.wantErr == flag.ErrHelp && !strings.Contains(stderr.String(), tc.errText) {
				t.Errorf("help %q", stderr.String())
			}
		})
	}
}
