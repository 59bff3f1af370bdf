// Package bus is the platform's durable lifecycle-event log: a transactional SQL outbox.
//
// A service publishes events inside the same transaction as the state change they describe (Publish with the
// caller's *db.Tx), so an event exists if and only if the change committed. A relay loop (Run) leases
// undelivered rows with a conditional UPDATE (lease_owner / lease_until), hands each event to every subscribed
// handler, and marks it delivered only when all of them succeed; failures are retried with exponential backoff
// (attempts / next_attempt_at) measured on the injected clock. Several replicas can run the relay over one
// database: a row is leased by at most one of them at a time.
//
// Delivery is at-least-once: when one handler fails, every handler sees the event again on the retry, and a
// replica that dies mid-delivery leaves the row to be re-leased after the lease expires. Handlers should be
// idempotent (the Event ID is stable). Each Outbox relays only the rows whose source is its own, so services
// sharing one database do not deliver each other's events. With no subscribers, rows stay pending.
package bus

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/pkg/metrics"
)

//go:embed migrations
var embedded embed.FS

// Component is the schema_migrations component name of Migrations.
const Component = "bus"

// Migrations holds the bus_outbox schema as sqlite/, mysql/ and postgres/ trees (component "bus").
var Migrations fs.FS = mustSub(embedded, "migrations")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Event is one lifecycle event.
type Event struct {
	ID      string         // assigned by Publish when empty
	Type    string         // e.g. "CLUSTER_CREATED"
	Source  string         // defaults to the outbox's source
	Time    time.Time      // defaults to the outbox clock's now
	Subject string         // what the event is about, e.g. a cluster id
	Data    map[string]any // JSON-encodable details
}

// Handler delivers one event somewhere; an error means "retry later".
type Handler func(ctx context.Context, e Event) error

// Options tune the relay. Zero fields take the defaults shown.
type Options struct {
	PollInterval   time.Duration // 1s: how often Run looks for pending rows
	Lease          time.Duration // 30s: how long a leased row is reserved for one relay
	MinBackoff     time.Duration // 1s: delay after the first failure, doubled per attempt
	MaxBackoff     time.Duration // 5m: cap on the retry delay
	BatchSize      int           // 100: rows leased per pass
	HandlerTimeout time.Duration // 10s: deadline for each handler call
}

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = 10 * time.Second
	}
	return o
}

type subscription struct {
	name string
	h    Handler
}

// Outbox publishes events into bus_outbox and relays them to subscribers.
type Outbox struct {
	db     *db.DB
	source string
	clk    clock.Clock
	logger *slog.Logger
	owner  string
	wake   chan struct{}

	mu        sync.RWMutex
	subs      []subscription
	opts      Options
	published *prometheus.CounterVec
	delivered *prometheus.CounterVec
}

// NewOutbox returns an outbox for events of source, stored in d (which must be migrated with Migrations).
func NewOutbox(d *db.DB, source string, clk clock.Clock, logger *slog.Logger) *Outbox {
	if clk == nil {
		clk = clock.Real()
	}
	return &Outbox{
		db:     d,
		source: source,
		clk:    clk,
		logger: log.OrDiscard(logger).With("component", "bus", "source", source),
		owner:  uuid.NewString(),
		wake:   make(chan struct{}, 1),
		opts:   Options{}.withDefaults(),
	}
}

// RegisterMetrics counts published events (darwin_bus_events_published_total{source,type}) and delivery
// attempts (darwin_bus_deliveries_total{source,result="delivered"|"failed"}) on reg. Call before use.
func (o *Outbox) RegisterMetrics(reg prometheus.Registerer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.published = metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "darwin_bus_events_published_total",
		Help: "Lifecycle events written to the outbox, by source and type.",
	}, []string{"source", "type"}))
	o.delivered = metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "darwin_bus_deliveries_total",
		Help: "Outbox delivery attempts by source and result (delivered, failed).",
	}, []string{"source", "result"}))
}

func (o *Outbox) count(c func(o *Outbox) *prometheus.CounterVec, labels ...string) {
	o.mu.RLock()
	vec := c(o)
	o.mu.RUnlock()
	if vec != nil {
		vec.WithLabelValues(labels...).Inc()
	}
}

// SetOptions changes the relay options (call before Run).
func (o *Outbox) SetOptions(opts Options) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opts = opts.withDefaults()
}

func (o *Outbox) options() Options {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.opts
}

// Subscribe adds a delivery sink. Every event is delivered to every sink; name appears in logs and errors.
func (o *Outbox) Subscribe(name string, h Handler) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.subs = append(o.subs, subscription{name: name, h: h})
}

// Publish records e. With a non-nil tx the row commits or rolls back with the caller's transaction; with nil
// it is written in its own transaction.
func (o *Outbox) Publish(ctx context.Context, tx *db.Tx, e Event) error {
	if strings.TrimSpace(e.Type) == "" {
		return errors.New("publish event: empty type")
	}
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Source == "" {
		e.Source = o.source
	}
	now := o.clk.Now()
	if e.Time.IsZero() {
		e.Time = now
	}
	if len(e.ID) > 64 || len(e.Type) > 255 || len(e.Subject) > 255 || len(e.Source) > 255 {
		return fmt.Errorf("publish event %s: id, type, subject or source too long", e.Type)
	}
	payload, err := json.Marshal(e.Data)
	if err != nil {
		return fmt.Errorf("publish event %s: encode data: %w", e.Type, err)
	}
	const q = `INSERT INTO bus_outbox (id, source, type, subject, payload, created_at, attempts, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?)`
	args := []any{e.ID, e.Source, e.Type, e.Subject, string(payload), e.Time, now}
	if tx != nil {
		_, err = tx.Exec(ctx, q, args...)
	} else {
		_, err = o.db.Exec(ctx, q, args...)
	}
	if err != nil {
		return fmt.Errorf("publish event %s: %w", e.Type, err)
	}
	o.count(func(o *Outbox) *prometheus.CounterVec { return o.published }, e.Source, e.Type)
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run relays events until ctx is cancelled: a pass every PollInterval (on the outbox clock) and soon after a
// Publish through this outbox.
func (o *Outbox) Run(ctx context.Context) {
	ticker := o.clk.NewTicker(o.options().PollInterval)
	defer ticker.Stop()
	for {
		if _, err := o.DeliverPending(ctx); err != nil && ctx.Err() == nil {
			o.logger.Warn("deliver events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		case <-o.wake:
		}
	}
}

type row struct {
	seq      int64
	attempts int
	event    Event
}

// DeliverPending runs one relay pass: lease due rows of this source, deliver them, record the outcome. It
// returns how many events were delivered (marked delivered) in this pass.
func (o *Outbox) DeliverPending(ctx context.Context) (int, error) {
	o.mu.RLock()
	subs := append([]subscription(nil), o.subs...)
	opts := o.opts
	o.mu.RUnlock()
	if len(subs) == 0 {
		return 0, nil
	}
	rows, err := o.lease(ctx, opts)
	if err != nil {
		return 0, err
	}
	delivered := 0
	var errs []error
	for _, r := range rows {
		if err := ctx.Err(); err != nil {
			return delivered, err
		}
		if err := o.deliverOne(ctx, opts, subs, r); err != nil {
			errs = append(errs, err)
			continue
		}
		delivered++
	}
	return delivered, errors.Join(errs...)
}

func (o *Outbox) lease(ctx context.Context, opts Options) ([]row, error) {
	now := o.clk.Now()
	q := `SELECT seq, id, source, type, subject, payload, created_at, attempts FROM bus_outbox
		WHERE source = ? AND delivered_at IS NULL AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
		ORDER BY seq` + o.db.Dialect.LimitOffset(opts.BatchSize, 0)
	rs, err := o.db.Query(ctx, q, o.source, now, now)
	if err != nil {
		return nil, fmt.Errorf("find pending events: %w", err)
	}
	candidates, err := scanRows(rs, true)
	if err != nil {
		return nil, fmt.Errorf("find pending events: %w", err)
	}
	until := now.Add(opts.Lease)
	var leased []row
	for _, c := range candidates {
		res, err := o.db.Exec(ctx, `UPDATE bus_outbox SET lease_owner = ?, lease_until = ?
			WHERE seq = ? AND delivered_at IS NULL AND (lease_until IS NULL OR lease_until < ?)`,
			o.owner, until, c.seq, now)
		if err != nil {
			return leased, fmt.Errorf("lease event %s: %w", c.event.ID, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			leased = append(leased, c)
		}
	}
	return leased, nil
}

func (o *Outbox) deliverOne(ctx context.Context, opts Options, subs []subscription, r row) error {
	var failures []error
	for _, s := range subs {
		hctx, cancel := context.WithTimeout(ctx, opts.HandlerTimeout)
		err := callHandler(hctx, s.h, r.event)
		cancel()
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	// Record the outcome even if ctx was cancelled mid-delivery, so the lease is released.
	wctx := context.WithoutCancel(ctx)
	now := o.clk.Now()
	if len(failures) == 0 {
		_, err := o.db.Exec(wctx, `UPDATE bus_outbox SET delivered_at = ?, lease_owner = NULL, lease_until = NULL, last_error = NULL
			WHERE seq = ? AND lease_owner = ?`, now, r.seq, o.owner)
		if err != nil {
			return fmt.Errorf("mark event %s delivered: %w", r.event.ID, err)
		}
		o.count(func(o *Outbox) *prometheus.CounterVec { return o.delivered }, o.source, "delivered")
		return nil
	}
	o.count(func(o *Outbox) *prometheus.CounterVec { return o.delivered }, o.source, "failed")
	deliverErr := errors.Join(failures...)
	attempts := r.attempts + 1
	next := now.Add(Backoff(attempts, opts.MinBackoff, opts.MaxBackoff))
	msg := deliverErr.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	o.logger.Warn("event delivery failed", "event_id", r.event.ID, "type", r.event.Type, "attempts", attempts,
		"next_attempt_at", next, "err", deliverErr)
	if _, err := o.db.Exec(wctx, `UPDATE bus_outbox SET attempts = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, last_error = ?
		WHERE seq = ? AND lease_owner = ?`, attempts, next, msg, r.seq, o.owner); err != nil {
		return errors.Join(deliverErr, fmt.Errorf("record failed delivery of %s: %w", r.event.ID, err))
	}
	return fmt.Errorf("deliver event %s: %w", r.event.ID, deliverErr)
}

func callHandler(ctx context.Context, h Handler, e Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, e)
}

// Backoff returns the retry delay after the given number of failed attempts: min * 2^(attempts-1), capped at max.
func Backoff(attempts int, minDelay, maxDelay time.Duration) time.Duration {
	d := minDelay
	for i := 1; i < attempts; i++ {
		d *= 2
		if d >= maxDelay || d <= 0 {
			return maxDelay
		}
	}
	return min(d, maxDelay)
}

// Recent returns up to limit events about subject (all subjects when empty), newest first. limit <= 0 means 100.
func (o *Outbox) Recent(ctx context.Context, subject string, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT seq, id, source, type, subject, payload, created_at FROM bus_outbox"
	var args []any
	if subject != "" {
		q += " WHERE subject = ?"
		args = append(args, subject)
	}
	q += " ORDER BY seq DESC" + o.db.Dialect.LimitOffset(limit, 0)
	rs, err := o.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read recent events: %w", err)
	}
	rows, err := scanRows(rs, false)
	if err != nil {
		return nil, fmt.Errorf("read recent events: %w", err)
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = r.event
	}
	return out, nil
}

// Purge deletes this source's delivered events created before cutoff and returns how many went. Undelivered
// events are never purged.
func (o *Outbox) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := o.db.Exec(ctx, "DELETE FROM bus_outbox WHERE source = ? AND delivered_at IS NOT NULL AND created_at < ?", o.source, cutoff)
	if err != nil {
		return 0, fmt.Errorf("purge delivered events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge delivered events: %w", err)
	}
	return n, nil
}

func scanRows(rs *sql.Rows, withAttempts bool) ([]row, error) {
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		var payload string
		dest := []any{&r.seq, &r.event.ID, &r.event.Source, &r.event.Type, &r.event.Subject, &payload, &r.event.Time}
		if withAttempts {
			dest = append(dest, &r.attempts)
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		r.event.Time = r.event.Time.UTC()
		if payload != "" && payload != "null" {
			if err := json.Unmarshal([]byte(payload), &r.event.Data); err != nil {
				return nil, fmt.Errorf("decode event %s data: %w", r.event.ID, err)
			}
		}
		out = append(out, r)
	}
	return out, rs.Err()
}
