package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type dbCfg struct {
	DSN string `yaml:"dsn"`
}

type testCfg struct {
	Name    string        `yaml:"name"`
	Port    int           `yaml:"port"`
	Timeout time.Duration `yaml:"timeout"`
	DB      dbCfg         `yaml:"db"`
}

func (c *testCfg) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Name, "svc.name", "default-name", "")
	f.IntVar(&c.Port, "svc.port", 8080, "")
	f.DurationVar(&c.Timeout, "svc.timeout", 5*time.Second, "")
	f.StringVar(&c.DB.DSN, "svc.db.dsn", "", "")
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cfg.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	t.Setenv("DARWIN_CFG_TEST_DSN", "sqlite://from-env.db")
	t.Setenv("DARWIN_CFG_TEST_EMPTY", "")
	tests := []struct {
		name    string
		yaml    string
		args    []string
		want    testCfg
		wantErr string
	}{
		{"defaults", "", nil, testCfg{Name: "default-name", Port: 8080, Timeout: 5 * time.Second}, ""},
		{"file overrides defaults", "name: from-file\ntimeout: 1m\n", nil,
			testCfg{Name: "from-file", Port: 8080, Timeout: time.Minute}, ""},
		{"flags override file", "name: from-file\nport: 1\n", []string{"-svc.port=2"},
			testCfg{Name: "from-file", Port: 2, Timeout: 5 * time.Second}, ""},
		{"env expansion", "db:\n  dsn: ${DARWIN_CFG_TEST_DSN}\nname: ${DARWIN_CFG_TEST_UNSET:fallback}\n", nil,
			testCfg{Name: "fallback", Port: 8080, Timeout: 5 * time.Second, DB: dbCfg{DSN: "sqlite://from-env.db"}}, ""},
		{"empty env uses default", "name: ${DARWIN_CFG_TEST_EMPTY:dflt}\n", nil,
			testCfg{Name: "dflt", Port: 8080, Timeout: 5 * time.Second}, ""},
		{"unknown key rejected", "nmae: typo\n", nil, testCfg{}, "field nmae not found"},
		{"nested unknown key rejected", "db:\n  dns: x\n", nil, testCfg{}, "field dns not found"},
		{"bad type", "port: lots\n", nil, testCfg{}, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg testCfg
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"-config.file=" + writeFile(t, tt.yaml)}, args...)
			}
			err := Load(fs, args, &cfg, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg != tt.want {
				t.Fatalf("cfg = %+v, want %+v", cfg, tt.want)
			}
		})
	}
}

func TestPrintConfig(t *testing.T) {
	t.Parallel()
	var cfg testCfg
	var out bytes.Buffer
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	err := Load(fs, []string{"-print.config", "-svc.name=printed"}, &cfg, &out)
	if !errors.Is(err, ErrPrinted) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"name: printed", "port: 8080", "timeout: 5s", "db:\n    dsn: \"\""} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed config lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	var cfg testCfg
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	if err := Load(fs, []string{"-config.file=/nonexistent/x.yaml"}, &cfg, &bytes.Buffer{}); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestExpandEnvAndInherit(t *testing.T) {
	t.Setenv("DARWIN_CFG_X", "x")
	tests := []struct{ in, want string }{
		{"a ${DARWIN_CFG_X} b", "a x b"},
		{"${DARWIN_CFG_NOPE}", ""},
		{"${DARWIN_CFG_NOPE:mysql://u@tcp(h:3306)/d}", "mysql://u@tcp(h:3306)/d"},
		{"$DARWIN_CFG_X and $$ stay", "$DARWIN_CFG_X and $$ stay"},
	}
	for _, tt := range tests {
		if got := ExpandEnv(tt.in); got != tt.want {
			t.Errorf("ExpandEnv(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	dst := ""
	Inherit(&dst, "common")
	own := "own"
	Inherit(&own, "common")
	if dst != "common" || own != "own" {
		t.Fatalf("Inherit: %q %q", dst, own)
	}
}

type rootCfg struct {
	Common Common  `yaml:"common"`
	Svc    testCfg `yaml:"svc"`
}

func (c *rootCfg) RegisterFlags(f *flag.FlagSet) {
	c.Common.RegisterFlags(f)
	c.Svc.RegisterFlags(f)
}

func TestCommonInherited(t *testing.T) {
	t.Parallel()
	var cfg rootCfg
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	p := writeFile(t, "common:\n  db:\n    dsn: sqlite://shared.db\n  bus:\n    chronos_url: http://chronos\n")
	if err := Load(fs, []string{"-config.file", p}, &cfg, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	Inherit(&cfg.Svc.DB.DSN, cfg.Common.DB.DSN)
	if cfg.Svc.DB.DSN != "sqlite://shared.db" || cfg.Common.Bus.ChronosURL != "http://chronos" {
		t.Fatalf("cfg = %+v", cfg)
	}
}
