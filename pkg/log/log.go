// Package log builds the slog.Logger every binary passes down to its services. There is no global logger.
package log

import (
	"flag"
	"io"
	"log/slog"
	"strings"
)

// Config selects the level (debug|info|warn|error) and format (json|text).
type Config struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// RegisterFlags registers -log.level and -log.format.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Level, "log.level", "info", "log level: debug, info, warn or error")
	f.StringVar(&c.Format, "log.format", "text", "log format: json or text")
}

// ParseLevel maps a level name to a slog level; unknown names mean info.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// New returns a logger writing to w in the configured format and level.
func New(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: ParseLevel(cfg.Level)}
	if strings.EqualFold(cfg.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Discard returns a logger that drops everything (for tests).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// OrDiscard returns l, or a discarding logger when l is nil.
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return Discard()
	}
	return l
}
