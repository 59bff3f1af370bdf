package hermes

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

type seedBlock struct {
	name     string
	commands [][]string // "export" lines are {"export", "K=V"}
}

// seedBlocks reads testdata/seed_readme.sh: blocks start with "# ==== block: NAME"; comments and "source"
// lines are skipped; backslash-newline continues a command.
func seedBlocks(t *testing.T) []seedBlock {
	t.Helper()
	b, err := os.ReadFile("testdata/seed_readme.sh")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []seedBlock
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "# ==== block: "):
			blocks = append(blocks, seedBlock{name: strings.TrimPrefix(line, "# ==== block: ")})
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "source "):
		default:
			if len(blocks) == 0 {
				t.Fatalf("command before the first block: %q", line)
			}
			w := shellWords(t, line)
			blocks[len(blocks)-1].commands = append(blocks[len(blocks)-1].commands, w)
		}
	}
	return blocks
}

func flagValues(args []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "--") {
			m[strings.TrimPrefix(args[i], "--")] = args[i+1]
			i++
		}
	}
	return m
}

// TestSeedReadmeRecipes runs every hermes command of the seed README in order, each quick start against a
// fresh ml-serve, and checks the platform's state after each command.
func TestSeedReadmeRecipes(t *testing.T) {
	blocks := seedBlocks(t)
	if len(blocks) != 5 {
		t.Fatalf("found %d blocks, want 5", len(blocks))
	}
	total := 0
	for _, blk := range blocks {
		t.Run(blk.name, func(t *testing.T) {
			p := startPlatform(t)
			c := newCLI(t, p.URL)
			for _, cmd := range blk.commands {
				if cmd[0] == "export" {
					k, v, _ := strings.Cut(cmd[1], "=")
					c.env[k] = v
					continue
				}
				if cmd[0] != "hermes" {
					t.Fatalf("not a hermes command: %q", cmd)
				}
				total++
				res := c.ok(cmd[1:]...)
				f := flagValues(cmd[1:])
				switch cmd[1] {
				case "configure":
					b, err := os.ReadFile(credentialPath(c.home()))
					if err != nil || string(b) != "HERMES_USER_TOKEN="+adminToken+"\n" {
						t.Fatalf("credential file: %q %v", b, err)
					}
					if st, _ := os.Stat(credentialPath(c.home())); st.Mode().Perm() != 0o600 {
						t.Fatalf("credential file mode %v", st.Mode())
					}
				case "create-environment":
					code, env := p.get(t, "/environment/"+f["name"])
					cfg, _ := env["env_configs"].(map[string]any)
					if code != 200 || env["name"] != f["name"] || cfg["domain_suffix"] != f["domain-suffix"] ||
						cfg["cluster_name"] != f["cluster-name"] || cfg["namespace"] != "serve" {
						t.Fatalf("environment after %q: %d %v", cmd, code, env)
					}
				case "create-serve":
					s, _ := p.data(t, "/serve/"+f["name"])["serve"].(map[string]any)
					if s["name"] != f["name"] || s["type"] != f["type"] || s["space"] != f["space"] || s["description"] != f["description"] {
						t.Fatalf("serve after %q: %v", cmd, s)
					}
				case "deploy-model":
					serve := f["serve-name"]
					version := f["artifact-version"]
					if version == "" {
						version = "v1"
					}
					if !strings.Contains(res.stdout, "http://localhost:8080/"+serve+"/") {
						t.Fatalf("deploy-model output lacks the service URL: %q", res.stdout)
					}
					if !strings.Contains(res.stderr, "READY") || !strings.Contains(res.stderr, "waiting for serve") {
						t.Fatalf("deploy-model shows no wait progress: %q", res.stderr)
					}
					deps, _ := p.data(t, "/serve/"+serve+"/deployments")["data"].([]any)
					if len(deps) != 1 {
						t.Fatalf("deployments of %s: %v", serve, deps)
					}
					d := deps[0].(map[string]any)
					if d["status"] != "ACTIVE" || d["artifact_version"] != version || d["env"] != "local" {
						t.Fatalf("deployment of %s: %v", serve, d)
					}
					fc, _ := p.data(t, "/serve/"+serve+"/infra-config/local")["fast_api_config"].(map[string]any)
					for flag, key := range map[string]string{"cores": "cores", "memory": "memory", "min-replicas": "min_replicas", "max-replicas": "max_replicas"} {
						want, _ := strconv.Atoi(f[flag])
						if int(num(fc[key])) != want {
							t.Fatalf("infra config %s = %v, want %d (%v)", key, fc[key], want, fc)
						}
					}
					st := p.data(t, "/serve/"+serve+"/status/local")
					if st["status"] != "READY" {
						t.Fatalf("status: %v", st)
					}
				default:
					t.Fatalf("unexpected seed command %q", cmd)
				}
			}
		})
	}
	if total != 18 {
		t.Fatalf("ran %d hermes commands, want the seed's 18", total)
	}
}

// TestSeedRecipesOnOnePlatform pastes the quick starts one after another into one platform: the repeated
// one-time steps fail clearly (exit 1, the server's 409 message) and the deploys still work.
func TestSeedRecipesOnOnePlatform(t *testing.T) {
	p := startPlatform(t)
	c := newCLI(t, p.URL)
	c.env["HERMES_USER_TOKEN"] = adminToken
	c.ok("create-environment", "--name", "local", "--domain-suffix", ".local", "--cluster-name", "kind")
	c.fail(1, []string{"HTTP 409", "local"}, "create-environment", "--name", "local", "--domain-suffix", ".local", "--cluster-name", "kind")
	c.ok("create-serve", "--name", "iris-classifier", "--type", "api", "--space", "serve", "--description", "Iris classification model")
	c.fail(1, []string{"HTTP 409"}, "create-serve", "--name", "iris-classifier", "--type", "api", "--space", "serve", "--description", "again")
	c.ok("deploy-model", "--serve-name", "iris-classifier", "--artifact-version", "v1", "--model-uri", "mlflow-artifacts:/1/abc/artifacts/model")
	// the same version again is refused by the server; a new version replaces the active deployment
	c.fail(1, []string{"HTTP 400"}, "deploy-model", "--serve-name", "iris-classifier", "--artifact-version", "v1", "--model-uri", "mlflow-artifacts:/1/abc/artifacts/model")
	c.ok("deploy-model", "--serve-name", "iris-classifier", "--artifact-version", "v2", "--model-uri", "mlflow-artifacts:/1/def/artifacts/model")
	deps, _ := p.data(t, "/serve/iris-classifier/deployments")["data"].([]any)
	if len(deps) != 2 || deps[0].(map[string]any)["artifact_version"] != "v2" || deps[0].(map[string]any)["status"] != "ACTIVE" || deps[1].(map[string]any)["status"] != "ENDED" {
		t.Fatalf("deployments: %v", deps)
	}
}
