package featurestore

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/services/feature-store/internal/consumer"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/envelope"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/internal/offline"
	"github.com/darwinml/darwin/services/feature-store/internal/populator"
	"github.com/darwinml/darwin/services/feature-store/internal/store"
)

// KafkaConfig configures the Kafka the feature store talks to (consumer, populator's kafka mode, /kafka admin
// routes) and the optional embedded broker.
type KafkaConfig struct {
	// EmbeddedAddr, when set, runs an in-process Kafka wire-protocol broker on this address (darwin up uses
	// 127.0.0.1:9092, the SDK's local Kafka; an address in use falls back to a free port). Messages live in memory
	// only. The consumer, the populator and the admin routes then use it instead of consumer.brokers.
	EmbeddedAddr string `yaml:"embedded_addr"`
}

// OfflineConfig configures the offline history store behind point-in-time retrieval.
type OfflineConfig struct {
	// Dir is the history store's directory (default <data-dir>/feature-store-offline).
	Dir string `yaml:"dir"`
	// Disabled turns off history (the populator then writes online only and historical-features answers 400).
	Disabled bool `yaml:"disabled"`
}

// PopulatorConfig configures Parquet ingestion.
type PopulatorConfig struct {
	// AllowedDirs restricts local Parquet sources to these directories (comma list; empty: any absolute path).
	AllowedDirs []string `yaml:"allowed_dirs"`
}

func (c *Config) registerPipelineFlags(f *flag.FlagSet) {
	f.StringVar(&c.Kafka.EmbeddedAddr, "feature-store.kafka.embedded-addr", c.Kafka.EmbeddedAddr, "run an in-process Kafka broker on this address (memory only; empty: none)")
	f.StringVar(&c.Offline.Dir, "feature-store.offline.dir", c.Offline.Dir, "offline history directory (default <data-dir>/feature-store-offline)")
	f.BoolVar(&c.Offline.Disabled, "feature-store.offline.disabled", c.Offline.Disabled, "keep no offline history (no point-in-time retrieval)")
	f.Func("feature-store.populator.allowed-dirs", "comma-separated directories local Parquet sources must be under (default: any)", func(v string) error {
		c.Populator.AllowedDirs = nil
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				if !filepath.IsAbs(d) {
					return fmt.Errorf("%q is not an absolute path", d)
				}
				c.Populator.AllowedDirs = append(c.Populator.AllowedDirs, d)
			}
		}
		return nil
	})
	c.Consumer.RegisterFlags(f)
}

// pipeline is the streaming and batch side of the service: embedded broker, consumer, populator, offline history.
type pipeline struct {
	cfg     *Config
	log     *slog.Logger
	meta    *store.Store
	writer  ingest.Writer
	reg     prometheus.Registerer
	history *offline.History
	runner  *populator.Runner
	retr    *offline.Retriever

	mu       sync.Mutex
	broker   *consumer.EmbeddedBroker
	brokers  []string
	producer sarama.SyncProducer
	cancel   context.CancelFunc
	done     chan struct{}
	cons     *consumer.Consumer
}

func newPipeline(cfg *Config, log *slog.Logger, meta *store.Store, w ingest.Writer, checkpoints populator.Checkpoints, reg prometheus.Registerer) (*pipeline, error) {
	p := &pipeline{cfg: cfg, log: log, meta: meta, writer: w, reg: reg, brokers: cfg.Consumer.Brokers}
	res := metaResolver{meta}
	var appender offline.Appender
	if !cfg.Offline.Disabled {
		dir := orStr(cfg.Offline.Dir, filepath.Join(orStr(cfg.DataDir, "./data"), offline.DirName))
		h, err := offline.OpenHistory(dir, offline.HistoryOptions{})
		if err != nil {
			return nil, fmt.Errorf("feature-store offline history: %w", err)
		}
		p.history, appender = h, h
		p.retr = &offline.Retriever{History: h, Resolver: res}
	}
	pop, err := populator.New(populator.Config{
		Resolver: res, Checkpoints: checkpoints, Writer: w, Producer: p, History: appender,
		Recorder: newRunRecorder(meta, reg), AllowedDirs: cfg.Populator.AllowedDirs, Log: log.With("component", "populator"),
	})
	if err != nil {
		p.closeHistory()
		return nil, err
	}
	p.runner = populator.NewRunner(pop)
	return p, nil
}

// start runs the embedded broker and the consumer.
func (p *pipeline) start(ctx context.Context) error {
	topics := p.cfg.Consumer.Topics
	if addr := p.cfg.Kafka.EmbeddedAddr; addr != "" {
		// The embedded broker carries every tenant's topic, and its consumer reads them all, so a feature group
		// moved to another tenant keeps streaming on a laptop.
		tenantTopics, err := p.meta.TenantTopics(ctx)
		if err != nil {
			return fmt.Errorf("feature-store: tenant topics: %w", err)
		}
		for _, t := range tenantTopics {
			if !slices.Contains(topics, t) {
				topics = append(slices.Clone(topics), t)
			}
		}
		b, err := consumer.StartEmbeddedBroker(context.WithoutCancel(ctx), addr, topics...)
		if err != nil && !strings.HasSuffix(addr, ":0") {
			host, _, _ := strings.Cut(addr, ":")
			p.log.Warn("embedded kafka address unavailable, using a free port", "addr", addr, "err", err)
			b, err = consumer.StartEmbeddedBroker(context.WithoutCancel(ctx), host+":0", topics...)
		}
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.broker, p.brokers = b, []string{b.Addr()}
		p.mu.Unlock()
		p.log.Info("embedded kafka broker started (in memory only)", "addr", b.Addr())
	}
	if !p.cfg.Consumer.Enabled {
		return nil
	}
	cc := p.cfg.Consumer
	cc.Brokers, cc.Topics = p.kafkaBrokers(), topics
	c, err := consumer.New(cc, consumer.Deps{Writer: p.writer, Logger: p.log.With("component", "consumer"), Registerer: p.reg})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cons, p.cancel, p.done = c, cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		if err := c.Run(runCtx); err != nil {
			p.log.Error("feature-store consumer stopped", "err", err)
		}
	}()
	p.log.Info("feature-store consumer started", "brokers", cc.Brokers, "topics", cc.Topics, "group", cc.GroupID)
	return nil
}

func (p *pipeline) kafkaBrokers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.brokers...)
}

// ready reports the consumer's state (nil when it is not enabled).
func (p *pipeline) ready(context.Context) error {
	if p.cons == nil {
		return nil
	}
	return p.cons.Ready()
}

func (p *pipeline) stop() error {
	var errs []error
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	errs = append(errs, p.runner.Close())
	p.mu.Lock()
	if p.producer != nil {
		errs = append(errs, p.producer.Close())
	}
	if p.broker != nil {
		p.broker.Close()
	}
	p.mu.Unlock()
	errs = append(errs, p.closeHistory())
	return errors.Join(errs...)
}

func (p *pipeline) closeHistory() error {
	if p.history == nil {
		return nil
	}
	return p.history.Close()
}

// Produce implements populator.Producer: rows go to the topic of the feature group's consumer tenant.
func (p *pipeline) Produce(ctx context.Context, featureGroup string, msgs []populator.Message) error {
	topic, err := p.meta.FeatureGroupTopic(ctx, featureGroup)
	if err != nil {
		return err
	}
	prod, err := p.syncProducer()
	if err != nil {
		return err
	}
	out := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		hs := make([]sarama.RecordHeader, len(m.Headers))
		for j, h := range m.Headers {
			hs[j] = sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(h.Value)}
		}
		out[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Headers: hs}
	}
	return prod.SendMessages(out)
}

func (p *pipeline) syncProducer() (sarama.SyncProducer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.producer != nil {
		return p.producer, nil
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 5
	sc.Producer.Timeout = 10 * time.Second
	prod, err := sarama.NewSyncProducer(p.brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka producer (%v): %w", p.brokers, err)
	}
	p.producer = prod
	return prod, nil
}

// registerApp mounts the app-side routes of the pipeline.
func (p *pipeline) registerApp(r chi.Router) {
	if p.retr != nil {
		h := &offline.Handler{Retriever: p.retr, Log: p.log}
		r.Method("POST", "/feature-group/historical-features", h)
	}
}

// errConsumerNotReady answers the consumer's health check while it is not serving.
var errConsumerNotReady = domain.Code{Name: "OFS-V2-CONSUMER-NOT-READY-EXCEPTION", Message: "consumer is not ready", Status: http.StatusServiceUnavailable}

// registerConsumer mounts the original consumer deployable's routes (/feature-store-consumer): GET /healthcheck
// (200 while the consumer serves, 503 with the reason otherwise) and GET /assignments (this member's partitions).
func (p *pipeline) registerConsumer(r chi.Router) {
	r.Get("/healthcheck", func(w http.ResponseWriter, _ *http.Request) {
		if p.cons == nil {
			envelope.Error(w, domain.E(domain.ErrConsumerConfigNotFound, "the consumer is not enabled in this process (-feature-store.consumer.enabled)"))
			return
		}
		if err := p.cons.Ready(); err != nil {
			envelope.Error(w, &domain.Error{Code: errConsumerNotReady, Message: err.Error(), Cause: err.Error()})
			return
		}
		envelope.Data(w, map[string]string{"status": "UP"})
	})
	r.Get("/assignments", func(w http.ResponseWriter, _ *http.Request) {
		if p.cons == nil {
			envelope.Error(w, domain.E(domain.ErrConsumerConfigNotFound, "the consumer is not enabled in this process (-feature-store.consumer.enabled)"))
			return
		}
		envelope.Data(w, p.cons.Assignments())
	})
}

// registerAdmin mounts the admin-side routes: populator runs and Kafka topics.
func (p *pipeline) registerAdmin(r chi.Router) {
	r.Method("GET", "/populator/run", p.runner)
	r.Method("POST", "/populator/run", p.runner)
	consumer.NewAdminFunc(p.kafkaBrokers, p.log).RegisterKafkaAdmin(r)
}

// metaResolver answers offline schemas from the metadata store.
type metaResolver struct{ meta *store.Store }

func (m metaResolver) Resolve(ctx context.Context, fg, version string) (offline.Schema, error) {
	g, err := m.meta.GetFeatureGroup(ctx, fg, version)
	if err != nil {
		return offline.Schema{}, err
	}
	e, err := m.meta.GetEntity(ctx, g.FeatureGroup.EntityName)
	if err != nil {
		return offline.Schema{}, err
	}
	return offline.SchemaFrom(e, g), nil
}

// runRecorder records populator runs as the feature group's run-data and counts them in Prometheus.
type runRecorder struct {
	meta       *store.Store
	runs       *prometheus.CounterVec
	rows       prometheus.Counter
	failedRows prometheus.Counter
}

func newRunRecorder(meta *store.Store, reg prometheus.Registerer) *runRecorder {
	r := &runRecorder{
		meta: meta,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "darwin_feature_store_populator_runs_total",
			Help: "Populator runs that ended, by status (SUCCESS or FAILED)."}, []string{"status"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "darwin_feature_store_populator_rows_total",
			Help: "Rows written by populator runs that ended."}),
		failedRows: prometheus.NewCounter(prometheus.CounterOpts{Name: "darwin_feature_store_populator_failed_rows_total",
			Help: "Rows populator runs could not write (rejected by validation)."}),
	}
	if reg != nil {
		reg.MustRegister(r.runs, r.rows, r.failedRows)
	}
	return r
}

func (r *runRecorder) RecordRun(ctx context.Context, d populator.RunData) error {
	r.runs.WithLabelValues(d.Status).Inc()
	r.rows.Add(float64(d.RowCount))
	r.failedRows.Add(float64(d.FailedRows))
	sample := d.SampleData
	if sample == nil {
		sample = []json.RawMessage{}
	}
	_, err := r.meta.RecordRunData(ctx, domain.RunData{Name: d.Name, Version: d.Version, RunID: d.RunID, Source: d.Source,
		TimeTaken: d.TimeTakenMs, Count: d.RowCount, SampleData: sample, Status: d.Status, ErrorMessage: d.ErrorMessage})
	return err
}
