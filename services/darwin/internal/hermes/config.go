package hermes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

const (
	tokenEnv        = "HERMES_USER_TOKEN"
	urlEnv          = "DARWIN_URL"
	credentialFile  = "credential.txt"
	configFile      = "config.yaml"
	hermesDirectory = ".hermes"
)

// globals holds the persistent flags and the injected options.
type globals struct {
	opts   Options
	url    string
	output string
}

func (g *globals) getenv(k string) string {
	if g.opts.Getenv != nil {
		return g.opts.Getenv(k)
	}
	return os.Getenv(k)
}

// hermesDir is ~/.hermes, with $HOME taken from Getenv so tests can point it elsewhere.
func (g *globals) hermesDir() (string, error) {
	home := g.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home directory for ~/.hermes: %w", err)
		}
		home = h
	}
	return filepath.Join(home, hermesDirectory), nil
}

// fileConfig is ~/.hermes/config.yaml.
type fileConfig struct {
	URL string `yaml:"url"`
}

func (g *globals) readConfig() (fileConfig, error) {
	var c fileConfig
	dir, err := g.hermesDir()
	if err != nil {
		return c, err
	}
	p := filepath.Join(dir, configFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", p, err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", p, err)
	}
	return c, nil
}

// baseURL resolves --url, $DARWIN_URL, the config file, then the default.
func (g *globals) baseURL(cmd *cobra.Command) (string, error) {
	u := ""
	if f := cmd.Flags().Lookup("url"); f != nil && f.Changed {
		u = g.url
	}
	if u == "" {
		u = g.getenv(urlEnv)
	}
	if u == "" {
		c, err := g.readConfig()
		if err != nil {
			return "", err
		}
		u = c.URL
	}
	if u == "" {
		u = DefaultURL
	}
	u = strings.TrimSpace(u)
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return "", usagef("invalid platform URL %q: want http:// or https://", u)
	}
	return u, nil
}

// token resolves $HERMES_USER_TOKEN, then ~/.hermes/credential.txt.
func (g *globals) token() (string, error) {
	if t := strings.TrimSpace(g.getenv(tokenEnv)); t != "" {
		return t, nil
	}
	dir, err := g.hermesDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, credentialFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no hermes token: set %s or run 'hermes configure' (looked in %s)", tokenEnv, p)
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	t := parseCredential(string(b))
	if t == "" {
		return "", fmt.Errorf("%s has no token: want a line %s=<token>; run 'hermes configure'", p, tokenEnv)
	}
	return t, nil
}

// parseCredential reads `HERMES_USER_TOKEN=<token>` (the original's format); a file holding only the token
// is accepted too.
func parseCredential(s string) string {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			if strings.TrimSpace(k) == tokenEnv {
				return strings.Trim(strings.TrimSpace(v), `"'`)
			}
			continue
		}
		return line
	}
	return ""
}

// writeFileAtomic writes data to path with perm through a temporary file in the same directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after the rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chmod(path, perm)
}

// session is everything an API command needs.
type session struct {
	out, err io.Writer
	output   string
	api      *client
	g        *globals
}

func (g *globals) session(cmd *cobra.Command) (*session, error) {
	output := strings.ToLower(strings.TrimSpace(g.output))
	switch output {
	case "", "table":
		output = "table"
	case "json", "yaml":
	default:
		return nil, usagef("invalid --output %q: want json, yaml or table", g.output)
	}
	base, err := g.baseURL(cmd)
	if err != nil {
		return nil, err
	}
	tok, err := g.token()
	if err != nil {
		return nil, err
	}
	hc := g.opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: requestTimeout}
	}
	s := &session{out: g.opts.Out, err: g.opts.Err, output: output, g: g, api: newClient(base, tok, hc)}
	if s.out == nil {
		s.out = cmd.OutOrStdout()
	}
	if s.err == nil {
		s.err = cmd.ErrOrStderr()
	}
	return s, nil
}

func (g *globals) now() time.Time {
	if g.opts.Now != nil {
		return g.opts.Now()
	}
	return time.Now()
}

func (g *globals) sleep(ctx context.Context, d time.Duration) error {
	if g.opts.Sleep != nil {
		return g.opts.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (g *globals) pollInterval() time.Duration {
	if g.opts.PollInterval > 0 {
		return g.opts.PollInterval
	}
	return DefaultPollInterval
}

// readLine reads one line (without the newline) from r; io.EOF only when nothing was read.
func readLine(r io.Reader) (string, error) {
	br := bufio.NewReader(r)
	line, err := br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
