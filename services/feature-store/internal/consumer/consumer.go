// Package consumer is the feature store's streaming write path (the original's ofs-consumer, spec §5.6): a Kafka
// consumer group that reads v2 feature messages (one row per message: a flat JSON object of column values, with the
// feature group in headers), writes them in batches through an ingest.Writer and sends what cannot be written to the
// dead-letter topic <environment>_default_dlq.
//
// Delivery is at least once. A partition's messages are collected into a batch (up to Config.BatchSize messages or
// Config.Linger), the batch's rows are written (retried Config.Retries times with exponential backoff when the online
// store fails) and rejected messages are produced to the dead-letter topic; only then is the batch's last offset
// marked for commit. When the store is still failing after the retries the batch is not marked: the claim ends,
// which ends the group session, and the consumer rejoins after Config.RejoinBackoff and reads the same messages
// again from the last committed offset. Writes are idempotent upserts, so redelivered rows are harmless.
//
// The package also provides an embedded in-memory Kafka broker (StartEmbeddedBroker) for a laptop install and the
// admin's Kafka topic routes (Admin.RegisterKafkaAdmin).
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
)

// KafkaVersion is the protocol version the consumer, producer and admin client speak.
var KafkaVersion = sarama.V3_6_0_0

// Deps are the consumer's collaborators.
type Deps struct {
	// Writer stores batches of rows (required).
	Writer ingest.Writer
	Logger *slog.Logger
	// Registerer receives the consumer's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Consumer reads feature rows from Kafka and writes them through an ingest.Writer.
type Consumer struct {
	cfg     Config
	writer  ingest.Writer
	log     *slog.Logger
	m       *consumerMetrics
	started atomic.Bool

	producer sarama.SyncProducer // set by Run before the group is joined

	// tuneGroup, when set (tests), adjusts the consumer group's sarama configuration.
	tuneGroup func(*sarama.Config)

	// storeFailed is set when a claim gave up on a batch; Run then waits before rejoining.
	storeFailed atomic.Bool

	mu       sync.Mutex
	session  *Assignments // the current group session's claims; nil between sessions
	joined   bool
	stopped  bool
	groupErr error
	storeErr error
}

// New validates cfg (unset fields take their defaults) and returns a consumer; it does not connect to Kafka.
func New(cfg Config, deps Deps) (*Consumer, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Writer == nil {
		return nil, errors.New("feature-store consumer: Deps.Writer is required")
	}
	return &Consumer{
		cfg:    cfg,
		writer: deps.Writer,
		log:    log.OrDiscard(deps.Logger).With("component", "ofs-consumer"),
		m:      newMetrics(deps.Registerer),
	}, nil
}

// Config returns the effective configuration (defaults applied).
func (c *Consumer) Config() Config { return c.cfg }

// DLQTopic is the dead-letter topic.
func (c *Consumer) DLQTopic() string { return c.cfg.DLQTopic() }

func (c *Consumer) groupConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = KafkaVersion
	sc.ClientID = "ofs-consumer"
	sc.Metadata.AllowAutoTopicCreation = false
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = c.cfg.CommitInterval
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	if c.cfg.InitialOffset == "newest" {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	sc.ChannelBufferSize = max(256, c.cfg.BatchSize)
	if c.tuneGroup != nil {
		c.tuneGroup(sc)
	}
	return sc
}

func (c *Consumer) producerConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = KafkaVersion
	sc.ClientID = "ofs-consumer-dlq"
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 5
	sc.Producer.MaxMessageBytes = 8 << 20
	return sc
}

// Run joins the consumer group and consumes until ctx is done, rejoining after rebalances and errors (connection
// failures are retried every Config.RejoinBackoff). It returns nil when ctx is done, after the pending batches
// were written (bounded by Config.DrainTimeout) and their offsets committed. Run may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("feature-store consumer: Run called twice")
	}
	defer func() {
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
	}()
	var (
		group    sarama.ConsumerGroup
		producer sarama.SyncProducer
	)
	for {
		if ctx.Err() != nil {
			return nil
		}
		var err error
		producer, err = sarama.NewSyncProducer(c.cfg.Brokers, c.producerConfig())
		if err == nil {
			group, err = sarama.NewConsumerGroup(c.cfg.Brokers, c.cfg.GroupID, c.groupConfig())
			if err != nil {
				_ = producer.Close()
			}
		}
		if err == nil {
			break
		}
		c.setGroupErr(err)
		c.log.Warn("kafka connection failed; retrying", "brokers", c.cfg.Brokers, "err", err)
		if !sleepCtx(ctx, c.cfg.RejoinBackoff) {
			return nil
		}
	}
	c.producer = producer
	defer func() {
		if err := producer.Close(); err != nil {
			c.log.Warn("close dead-letter producer", "err", err)
		}
	}()
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range group.Errors() {
			c.log.Warn("kafka consumer error", "err", err)
		}
	}()
	defer func() {
		if err := group.Close(); err != nil {
			c.log.Warn("close consumer group", "err", err)
		}
		<-errsDone
	}()
	c.log.Info("consumer started", "brokers", c.cfg.Brokers, "group", c.cfg.GroupID, "topics", c.cfg.Topics, "dlq", c.DLQTopic())
	h := &handler{c: c}
	for ctx.Err() == nil {
		c.storeFailed.Store(false)
		err := group.Consume(ctx, c.cfg.Topics, h)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return err
		}
		if err != nil {
			c.setGroupErr(err)
			c.log.Warn("consumer group session failed; rejoining", "err", err, "backoff", c.cfg.RejoinBackoff)
			sleepCtx(ctx, c.cfg.RejoinBackoff)
			continue
		}
		if c.storeFailed.Load() {
			c.log.Warn("online store writes failing; rejoining after backoff to redeliver uncommitted messages", "backoff", c.cfg.RejoinBackoff)
			sleepCtx(ctx, c.cfg.RejoinBackoff)
		}
	}
	c.log.Info("consumer stopping")
	return nil
}

// Ready reports whether the consumer is serving: it has joined its group, the last session did not fail and the
// last batch was written (online store and dead-letter topic).
func (c *Consumer) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopped:
		return errors.New("feature-store consumer: stopped")
	case c.groupErr != nil:
		return fmt.Errorf("feature-store consumer: kafka: %w", c.groupErr)
	case !c.joined:
		return errors.New("feature-store consumer: not joined to consumer group yet")
	case c.storeErr != nil:
		return fmt.Errorf("feature-store consumer: writes failing: %w", c.storeErr)
	}
	return nil
}

// Assignments are the partitions this consumer holds in its group's current session.
type Assignments struct {
	GroupID    string             `json:"groupId"`
	Topics     []string           `json:"topics"`
	MemberID   string             `json:"memberId"`
	Generation int32              `json:"generation"`
	Claims     map[string][]int32 `json:"claims"`
	// Ready is Ready()'s verdict; Error says why not.
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
}

// Assignments returns the consumer's current group session (empty claims between sessions), as the original
// consumer's GET /assignments did.
func (c *Consumer) Assignments() Assignments {
	err := c.Ready()
	c.mu.Lock()
	a := Assignments{Claims: map[string][]int32{}}
	if c.session != nil {
		a = *c.session
	}
	c.mu.Unlock()
	a.GroupID, a.Topics, a.Ready = c.cfg.GroupID, c.cfg.Topics, err == nil
	if err != nil {
		a.Error = err.Error()
	}
	return a
}

func (c *Consumer) setGroupErr(err error) {
	c.mu.Lock()
	c.groupErr = err
	c.mu.Unlock()
}

func (c *Consumer) setStoreErr(err error) {
	c.mu.Lock()
	c.storeErr = err
	c.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// graceCtx returns a context that outlives parent by grace: writes already under way when a session ends
// (rebalance or shutdown) get a bounded chance to finish and be committed.
func graceCtx(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	var timer atomic.Pointer[time.Timer]
	stop := context.AfterFunc(parent, func() { timer.Store(time.AfterFunc(grace, cancel)) })
	return ctx, func() {
		stop()
		if t := timer.Load(); t != nil {
			t.Stop()
		}
		cancel()
	}
}

// handler is the sarama consumer group handler.
type handler struct{ c *Consumer }

func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	c := h.c
	c.m.sessions.Inc()
	claims := map[string][]int32{}
	for t, ps := range s.Claims() {
		claims[t] = append([]int32(nil), ps...)
	}
	c.mu.Lock()
	c.joined, c.groupErr = true, nil
	c.session = &Assignments{MemberID: s.MemberID(), Generation: s.GenerationID(), Claims: claims}
	c.mu.Unlock()
	c.log.Info("consumer group session started", "member", s.MemberID(), "generation", s.GenerationID(), "claims", s.Claims())
	return nil
}

func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.c.mu.Lock()
	h.c.session = nil
	h.c.mu.Unlock()
	h.c.log.Debug("consumer group session ended", "member", s.MemberID(), "generation", s.GenerationID())
	return nil
}

// ConsumeClaim batches one partition's messages; it returns an error (ending the session without marking the
// batch) when a batch could not be written.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	c := h.c
	topic, partition := claim.Topic(), claim.Partition()
	partLabel := strconv.Itoa(int(partition))
	defer c.m.lag.DeleteLabelValues(topic, partLabel)
	msgCounter := c.m.messages.WithLabelValues(topic)

	pending := make([]*sarama.ConsumerMessage, 0, c.cfg.BatchSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var lingerC <-chan time.Time

	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ctx, cancel := graceCtx(sess.Context(), c.cfg.DrainTimeout)
		defer cancel()
		err := c.process(ctx, sess, claim, pending)
		pending = pending[:0]
		timer.Stop()
		lingerC = nil
		return err
	}
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return flush()
			}
			msgCounter.Inc()
			pending = append(pending, msg)
			if len(pending) >= c.cfg.BatchSize || c.cfg.Linger <= 0 {
				if err := flush(); err != nil {
					return err
				}
			} else if len(pending) == 1 {
				timer.Reset(c.cfg.Linger)
				lingerC = timer.C
			}
		case <-lingerC:
			lingerC = nil
			if err := flush(); err != nil {
				return err
			}
		case <-sess.Context().Done():
			return flush()
		}
	}
}
