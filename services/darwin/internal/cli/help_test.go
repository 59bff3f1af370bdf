package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(NewComputeCommand(&GlobalOptions{}), []string{"compute"})
	if len(paths) < 18 {
		t.Fatalf("found %d commands, want the full tree: %v", len(paths), paths)
	}
	for _, p := range paths {
		t.Run(strings.Join(p, " "), func(t *testing.T) {
			t.Parallel()
			api, srv := newFakeAPI(t)
			res := runCLI(t, srv.URL, "", append(p, "--help")...)
			if res.err != nil {
				t.Fatal(res.err)
			}
			for _, want := range []string{"Usage:", "Examples:", "darwin " + strings.Join(p, " "), "--url", "--output"} {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("help lacks %q:\n%s", want, res.stdout)
				}
			}
			if len(api.requests()) != 0 {
				t.Error("--help must not call the API")
			}
		})
	}
}

func TestHelpGolden(t *testing.T) {
	t.Parallel()
	for _, p := range [][]string{{"compute"}, {"compute", "create"}, {"compute", "command", "run"}} {
		t.Run(strings.Join(p, "_"), func(t *testing.T) {
			t.Parallel()
			res := runCLIEnv(t, nil, "", append(p, "--help")...)
			if res.err != nil {
				t.Fatal(res.err)
			}
			golden(t, "help_"+strings.Join(p, "_")+".txt", res.stdout)
		})
	}
}

func TestGroupCommandsPrintHelp(t *testing.T) {
	t.Parallel()
	for _, p := range [][]string{{"compute"}, {"compute", "packages"}, {"compute", "command"}} {
		res := runCLIEnv(t, nil, "", p...)
		if res.err != nil || !strings.Contains(res.stdout, "Available Commands:") {
			t.Errorf("%v: err=%v out=%q", p, res.err, res.stdout)
		}
	}
}
