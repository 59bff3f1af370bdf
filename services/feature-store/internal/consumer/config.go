package consumer

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultGroupID       = "ofs-consumer"
	DefaultTopic         = "default"
	DefaultEnvironment   = "darwin"
	DefaultBatchSize     = 500
	DefaultLinger        = 50 * time.Millisecond
	DefaultRetries       = 3
	DefaultRetryBackoff  = 100 * time.Millisecond
	DefaultRejoinBackoff = time.Second
	DefaultDrainTimeout  = 5 * time.Second
	// DefaultBroker is the local Kafka address the Python SDK uses with ENV=darwin-local (spec §5.7).
	DefaultBroker = "127.0.0.1:9092"
)

// Config configures the consumer (flags -feature-store.consumer.*, YAML section feature_store.consumer).
type Config struct {
	// Enabled tells the wiring to start the consumer; New and Run do not look at it.
	Enabled bool `yaml:"enabled"`
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string `yaml:"brokers"`
	// GroupID is the Kafka consumer group shared by every replica.
	GroupID string `yaml:"group_id"`
	// Topics are the tenants' topics to consume (the default tenant's topic is "default").
	Topics []string `yaml:"topics"`
	// Environment names the dead-letter topic: <environment>_default_dlq.
	Environment string `yaml:"environment"`
	// BatchSize is the most messages of one partition written in one batch.
	BatchSize int `yaml:"batch_size"`
	// Linger is how long a partial batch waits for more messages before it is written.
	Linger time.Duration `yaml:"linger"`
	// Retries is how many times a failed write is retried (exponential backoff from RetryBackoff) before the
	// consumer gives the partition back without committing, so the messages are delivered again.
	Retries int `yaml:"retries"`
	// RetryBackoff is the first retry's delay; each later retry doubles it.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// RejoinBackoff is the pause before rejoining the group after a session ended on an error.
	RejoinBackoff time.Duration `yaml:"rejoin_backoff"`
	// InitialOffset is where a group without committed offsets starts: "oldest" (default) or "newest".
	InitialOffset string `yaml:"initial_offset"`
	// CommitInterval is how often marked offsets are committed (they are also committed when a session ends).
	CommitInterval time.Duration `yaml:"commit_interval"`
	// DrainTimeout bounds writing the pending batch when a partition is revoked or the consumer stops.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// stringList is a comma-separated flag value.
type stringList struct{ p *[]string }

func (s stringList) String() string {
	if s.p == nil {
		return ""
	}
	return strings.Join(*s.p, ",")
}

func (s stringList) Set(v string) error {
	*s.p = splitList(v)
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// RegisterFlags registers the -feature-store.consumer.* flags, with defaults filled in for unset fields.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	c.applyDefaults()
	const p = "feature-store.consumer."
	f.BoolVar(&c.Enabled, p+"enabled", c.Enabled, "run the Kafka consumer (ofs-consumer) that writes streamed rows to the online store")
	f.Var(stringList{&c.Brokers}, p+"brokers", "comma-separated Kafka bootstrap brokers")
	f.StringVar(&c.GroupID, p+"group-id", c.GroupID, "Kafka consumer group shared by every consumer replica")
	f.Var(stringList{&c.Topics}, p+"topics", "comma-separated topics to consume (the default tenant's topic is \"default\")")
	f.StringVar(&c.Environment, p+"environment", c.Environment, "environment name; dead letters go to topic <environment>_default_dlq")
	f.IntVar(&c.BatchSize, p+"batch-size", c.BatchSize, "most messages of one partition written in one batch")
	f.DurationVar(&c.Linger, p+"linger", c.Linger, "how long a partial batch waits for more messages")
	f.IntVar(&c.Retries, p+"retries", c.Retries, "retries of a failed online-store write before the batch is redelivered")
	f.DurationVar(&c.RetryBackoff, p+"retry-backoff", c.RetryBackoff, "first retry delay (doubles on each retry)")
	f.DurationVar(&c.RejoinBackoff, p+"rejoin-backoff", c.RejoinBackoff, "pause before rejoining the group after a failed session")
	f.StringVar(&c.InitialOffset, p+"initial-offset", c.InitialOffset, "where a group without committed offsets starts: oldest or newest")
	f.DurationVar(&c.CommitInterval, p+"commit-interval", c.CommitInterval, "how often written offsets are committed")
	f.DurationVar(&c.DrainTimeout, p+"drain-timeout", c.DrainTimeout, "bound on writing the pending batch when a partition is revoked or the consumer stops")
}

func (c *Config) applyDefaults() {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{DefaultBroker}
	}
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if len(c.Topics) == 0 {
		c.Topics = []string{DefaultTopic}
	}
	if c.Environment == "" {
		c.Environment = DefaultEnvironment
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.RejoinBackoff == 0 {
		c.RejoinBackoff = DefaultRejoinBackoff
	}
	if c.InitialOffset == "" {
		c.InitialOffset = "oldest"
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
}

// DLQTopic is the dead-letter topic, <environment>_default_dlq.
func (c *Config) DLQTopic() string {
	env := c.Environment
	if env == "" {
		env = DefaultEnvironment
	}
	return env + "_default_dlq"
}

// Validate checks the configuration (after defaults are applied for unset fields). Retries may be negative to
// mean no retry.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("feature-store.consumer.brokers: at least one broker is required"))
	}
	if c.GroupID == "" {
		errs = append(errs, errors.New("feature-store.consumer.group-id: required"))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("feature-store.consumer.topics: at least one topic is required"))
	}
	for _, t := range append(append([]string(nil), c.Topics...), c.DLQTopic()) {
		if err := validTopicName(t); err != nil {
			errs = append(errs, fmt.Errorf("feature-store.consumer: topic %q: %w", t, err))
		}
	}
	for _, t := range c.Topics {
		if t == c.DLQTopic() {
			errs = append(errs, fmt.Errorf("feature-store.consumer.topics: %q is the dead-letter topic", t))
		}
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("feature-store.consumer.batch-size: %d must be at least 1", c.BatchSize))
	}
	if c.Linger < 0 || c.RetryBackoff < 0 || c.RejoinBackoff < 0 || c.CommitInterval <= 0 || c.DrainTimeout < 0 {
		errs = append(errs, errors.New("feature-store.consumer: durations must not be negative (commit-interval must be positive)"))
	}
	if c.Retries > 20 {
		errs = append(errs, fmt.Errorf("feature-store.consumer.retries: %d is more than 20", c.Retries))
	}
	switch c.InitialOffset {
	case "oldest", "newest":
	default:
		errs = append(errs, fmt.Errorf("feature-store.consumer.initial-offset: %q must be oldest or newest", c.InitialOffset))
	}
	return errors.Join(errs...)
}

// validTopicName applies Kafka's topic name rules: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
func validTopicName(name string) error {
	if name == "" {
		return errors.New("topic name is empty")
	}
	if len(name) > 249 {
		return errors.New("topic name is longer than 249 characters")
	}
	if name == "." || name == ".." {
		return errors.New(`topic name cannot be "." or ".."`)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name has illegal character %q (allowed: letters, digits, '.', '_', '-')", r)
		}
	}
	return nil
}
