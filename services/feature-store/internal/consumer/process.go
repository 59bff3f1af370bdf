package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
)

// deadLetter is a message to send to the dead-letter topic.
type deadLetter struct {
	msg *sarama.ConsumerMessage
	rej rejection
}

// plannedBatch is an ingest.Batch with the index (into the processed messages) of each row.
type plannedBatch struct {
	batch ingest.Batch
	msgs  []int
}

// planBatches groups parsed rows into batches by (feature group, version, run id, column set). Rows of one feature
// group keep their order: a row joins the group's open batch only when no other batch of the same feature group
// was started after it, so two updates of one key never swap (the writer applies batches in slice order).
func planBatches(rows []row, msgIdx []int) []plannedBatch {
	var out []plannedBatch
	open := map[string]int{}     // batch key -> index in out
	lastOfFG := map[string]int{} // feature group -> index of its newest batch
	for i, r := range rows {
		key := r.featureGroup + "\x00" + r.version + "\x00" + r.runID + "\x00" + strings.Join(r.names, "\x00")
		idx, ok := open[key]
		if !ok || lastOfFG[r.featureGroup] != idx {
			out = append(out, plannedBatch{batch: ingest.Batch{
				FeatureGroup: r.featureGroup, Version: r.version, RunID: r.runID, Names: r.names,
			}})
			idx = len(out) - 1
			open[key] = idx
			lastOfFG[r.featureGroup] = idx
		}
		out[idx].batch.Rows = append(out[idx].batch.Rows, r.values)
		out[idx].msgs = append(out[idx].msgs, msgIdx[i])
	}
	return out
}

// process writes one partition's batch of messages and marks it; it returns an error (leaving the batch unmarked)
// when the store or the dead-letter topic failed.
func (c *Consumer) process(ctx context.Context, sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim, msgs []*sarama.ConsumerMessage) error {
	start := time.Now()
	var (
		rows   []row
		rowMsg []int
		dead   []deadLetter
	)
	for i, m := range msgs {
		r, rej := parseMessage(m.Headers, m.Value)
		if rej != nil {
			dead = append(dead, deadLetter{msg: m, rej: *rej})
			continue
		}
		rows = append(rows, r)
		rowMsg = append(rowMsg, i)
	}
	written := 0
	if len(rows) > 0 {
		plan := planBatches(rows, rowMsg)
		batches := make([]ingest.Batch, len(plan))
		for i := range plan {
			batches[i] = plan[i].batch
		}
		results, err := c.writeWithRetry(ctx, batches)
		if err != nil {
			c.m.writeFailures.Inc()
			c.setStoreErr(err)
			c.storeFailed.Store(true)
			c.log.Error("online store write failed after retries; batch left uncommitted for redelivery",
				"topic", claim.Topic(), "partition", claim.Partition(), "first_offset", msgs[0].Offset,
				"messages", len(msgs), "err", err)
			return fmt.Errorf("write batch of %s/%d at offset %d: %w", claim.Topic(), claim.Partition(), msgs[0].Offset, err)
		}
		for i, res := range results {
			written += res.Written
			for _, f := range res.Failed {
				if f.Row < 0 || f.Row >= len(plan[i].msgs) {
					c.log.Error("writer reported a row outside its batch", "feature_group", plan[i].batch.FeatureGroup, "row", f.Row)
					continue
				}
				code := f.Code
				if code == "" {
					code = "WRITE-FEATURE-GROUP-REQUEST-EXCEPTION"
				}
				dead = append(dead, deadLetter{msg: msgs[plan[i].msgs[f.Row]], rej: rejection{code: code, message: f.Error, reason: "rejected"}})
			}
		}
	}
	if len(dead) > 0 {
		if err := c.sendDeadLetters(dead); err != nil {
			c.storeFailed.Store(true)
			c.setStoreErr(fmt.Errorf("produce to dead-letter topic %s: %w", c.DLQTopic(), err))
			c.log.Error("dead-letter produce failed; batch left uncommitted for redelivery",
				"topic", claim.Topic(), "partition", claim.Partition(), "dlq", c.DLQTopic(), "err", err)
			return fmt.Errorf("produce %d dead letters to %s: %w", len(dead), c.DLQTopic(), err)
		}
		c.log.Warn("messages sent to dead-letter topic", "topic", claim.Topic(), "partition", claim.Partition(),
			"count", len(dead), "dlq", c.DLQTopic(), "first_error", dead[0].rej.message, "first_offset", dead[0].msg.Offset)
	}
	c.m.rowsWritten.Add(float64(written))
	last := msgs[len(msgs)-1]
	sess.MarkMessage(last, "")
	if hw := claim.HighWaterMarkOffset(); hw > 0 {
		c.m.lag.WithLabelValues(claim.Topic(), strconv.Itoa(int(claim.Partition()))).Set(float64(max(hw-last.Offset-1, 0)))
	}
	c.setStoreErr(nil)
	c.m.batchSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// writeWithRetry writes batches, retrying Config.Retries times with exponential backoff on writer errors.
func (c *Consumer) writeWithRetry(ctx context.Context, batches []ingest.Batch) ([]ingest.Result, error) {
	backoff := c.cfg.RetryBackoff
	attempts := 1 + max(c.cfg.Retries, 0)
	var lastErr error
	for attempt := 1; ; attempt++ {
		results, err := c.writer.Write(ctx, batches)
		if err == nil && len(results) != len(batches) {
			err = fmt.Errorf("writer answered %d results for %d batches", len(results), len(batches))
		}
		if err == nil {
			return results, nil
		}
		lastErr = err
		if attempt >= attempts || ctx.Err() != nil {
			break
		}
		c.m.writeRetries.Inc()
		c.log.Warn("online store write failed; retrying", "attempt", attempt, "backoff", backoff, "err", err)
		if !sleepCtx(ctx, backoff) {
			break
		}
		backoff *= 2
	}
	if ctx.Err() != nil && !errors.Is(lastErr, ctx.Err()) {
		lastErr = fmt.Errorf("%w (then %w)", lastErr, ctx.Err())
	}
	return nil, lastErr
}

// deadLetterMessage builds the dead-letter record: the original key, value and headers (without earlier error
// headers), plus error, error-code and the source position.
func deadLetterMessage(topic string, d deadLetter) *sarama.ProducerMessage {
	m := d.msg
	pm := &sarama.ProducerMessage{Topic: topic}
	if m.Key != nil {
		pm.Key = sarama.ByteEncoder(m.Key)
	}
	if m.Value != nil {
		pm.Value = sarama.ByteEncoder(m.Value)
	}
	for _, h := range m.Headers {
		if h == nil {
			continue
		}
		switch strings.ToLower(string(h.Key)) {
		case HeaderError, HeaderErrorCode, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset:
			continue
		}
		pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: h.Key, Value: h.Value})
	}
	pm.Headers = append(pm.Headers,
		sarama.RecordHeader{Key: []byte(HeaderError), Value: []byte(d.rej.message)},
		sarama.RecordHeader{Key: []byte(HeaderErrorCode), Value: []byte(d.rej.code)},
		sarama.RecordHeader{Key: []byte(HeaderSourceTopic), Value: []byte(m.Topic)},
		sarama.RecordHeader{Key: []byte(HeaderSourcePartition), Value: []byte(strconv.Itoa(int(m.Partition)))},
		sarama.RecordHeader{Key: []byte(HeaderSourceOffset), Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return pm
}

func (c *Consumer) sendDeadLetters(dead []deadLetter) error {
	msgs := make([]*sarama.ProducerMessage, len(dead))
	for i, d := range dead {
		msgs[i] = deadLetterMessage(c.DLQTopic(), d)
	}
	if err := c.producer.SendMessages(msgs); err != nil {
		return err
	}
	for _, d := range dead {
		c.m.dlq.WithLabelValues(d.rej.reason).Inc()
	}
	return nil
}
