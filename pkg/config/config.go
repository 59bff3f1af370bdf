// Package config loads a binary's configuration: defaults come from flag registration, then an optional YAML
// file (strict: unknown keys are errors; ${VAR} and ${VAR:default} expanded from the environment), then the
// flags given explicitly on the command line, which win.
//
// Recognised flags (registered by Load unless the FlagSet already has them): -config.file=PATH and
// -print.config (write the effective configuration as YAML to out and return ErrPrinted).
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Flag names handled by Load.
const (
	FlagConfigFile  = "config.file"
	FlagPrintConfig = "print.config"
)

// Registerer is a config struct that binds its fields to flags (setting defaults).
type Registerer interface{ RegisterFlags(f *flag.FlagSet) }

// ErrPrinted is returned by Load after -print.config wrote the configuration; callers exit 0.
var ErrPrinted = errors.New("config printed")

// Load registers cfg's flags on fs, parses args, applies the YAML file named by -config.file, then re-applies
// the flags set on the command line. cfg must be a pointer to a struct with yaml tags.
func Load(fs *flag.FlagSet, args []string, cfg Registerer, out io.Writer) error {
	cfg.RegisterFlags(fs)
	var file string
	var printCfg bool
	if fs.Lookup(FlagConfigFile) == nil {
		fs.StringVar(&file, FlagConfigFile, "", "YAML configuration file (flags given on the command line override it)")
	}
	if fs.Lookup(FlagPrintConfig) == nil {
		fs.BoolVar(&printCfg, FlagPrintConfig, false, "print the effective configuration as YAML and exit")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	file = fs.Lookup(FlagConfigFile).Value.String()
	printCfg = fs.Lookup(FlagPrintConfig).Value.String() == "true"

	explicit := map[string]string{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })

	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		if err := DecodeYAML(data, cfg); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		for name, value := range explicit {
			if name == FlagConfigFile || name == FlagPrintConfig {
				continue
			}
			if err := fs.Set(name, value); err != nil {
				return fmt.Errorf("re-apply flag -%s: %w", name, err)
			}
		}
	}
	if printCfg {
		b, err := yaml.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("print config: %w", err)
		}
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("print config: %w", err)
		}
		return ErrPrinted
	}
	return nil
}

// DecodeYAML expands ${VAR} / ${VAR:default} in data and decodes it strictly (unknown keys are errors) into v.
// An empty document leaves v unchanged.
func DecodeYAML(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(ExpandEnv(string(data)))))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode yaml: %w", err)
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}`)

// ExpandEnv replaces ${VAR} with the environment variable's value and ${VAR:default} with the value, or default
// when the variable is unset or empty. Other '$' text is left alone.
func ExpandEnv(s string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := envRef.FindStringSubmatch(m)
		if v := os.Getenv(sub[1]); v != "" {
			return v
		}
		return sub[2]
	})
}

// Inherit sets *dst to common when *dst is empty — for service settings that fall back to the common section.
func Inherit(dst *string, common string) {
	if *dst == "" {
		*dst = common
	}
}
