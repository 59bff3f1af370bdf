package consumer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-chi/chi/v5"

	"github.com/darwinml/darwin/pkg/log"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/envelope"
)

// ErrKafkaAdmin is the catalogue code of every Kafka admin failure (bad input or a Kafka error), as in the original.
var ErrKafkaAdmin = domain.Code{Name: "OFS-V2-KAFKA-ADMIN-EXCEPTION", Message: "kafka admin error", Status: http.StatusBadRequest}

// Limits of the Kafka admin routes.
const (
	MaxKafkaAdminBodyBytes = 64 << 10
	MaxTopicPartitions     = 10000
)

// Admin serves the original admin's Kafka routes over a Kafka cluster.
type Admin struct {
	brokers func() []string
	log     *slog.Logger
}

// NewAdmin returns the Kafka admin routes for the cluster at brokers (e.g. Config.Brokers). It connects per
// request, so the cluster need not be up when the service starts.
func NewAdmin(brokers []string, logger *slog.Logger) *Admin {
	list := slices.Clone(brokers)
	return NewAdminFunc(func() []string { return list }, logger)
}

// NewAdminFunc is NewAdmin with the broker list read on each request (an embedded broker's address is known only
// once it has started).
func NewAdminFunc(brokers func() []string, logger *slog.Logger) *Admin {
	return &Admin{brokers: brokers, log: log.OrDiscard(logger)}
}

// RegisterKafkaAdmin registers POST /kafka/topic {topicName, numPartitions} and GET /kafka/topic-metadata
// (optional ?topicName=) on r, with the feature store's envelope ({"data": ...} or {"error": {message, cause,
// code}} with code OFS-V2-KAFKA-ADMIN-EXCEPTION and HTTP 400).
func (a *Admin) RegisterKafkaAdmin(r chi.Router) {
	r.Post("/kafka/topic", a.createTopic)
	r.Get("/kafka/topic-metadata", a.topicMetadata)
}

// CreateTopicRequest is the body of POST /kafka/topic.
type CreateTopicRequest struct {
	TopicName     string `json:"topicName"`
	NumPartitions int32  `json:"numPartitions"`
}

// TopicMetadata is one topic of GET /kafka/topic-metadata.
type TopicMetadata struct {
	TopicName         string              `json:"topicName"`
	NumPartitions     int                 `json:"numPartitions"`
	ReplicationFactor int                 `json:"replicationFactor"`
	Partitions        []PartitionMetadata `json:"partitions"`
}

// PartitionMetadata is one partition of a topic.
type PartitionMetadata struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
}

// decodeCreateTopic parses and validates a POST /kafka/topic body.
func decodeCreateTopic(body []byte) (CreateTopicRequest, error) {
	var req CreateTopicRequest
	if len(body) > MaxKafkaAdminBodyBytes {
		return req, domain.E(ErrKafkaAdmin, "request body exceeds %d bytes", MaxKafkaAdminBodyBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, domain.E(ErrKafkaAdmin, "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return req, domain.E(ErrKafkaAdmin, "invalid value for %s: expected %s", te.Field, te.Type)
		}
		return req, domain.E(ErrKafkaAdmin, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return req, domain.E(ErrKafkaAdmin, "request body has data after the JSON object")
	}
	if err := validTopicName(req.TopicName); err != nil {
		return req, domain.E(ErrKafkaAdmin, "topicName: %v", err)
	}
	if req.NumPartitions < 1 || req.NumPartitions > MaxTopicPartitions {
		return req, domain.E(ErrKafkaAdmin, "numPartitions must be between 1 and %d", MaxTopicPartitions)
	}
	return req, nil
}

func (a *Admin) clusterAdmin() (sarama.ClusterAdmin, error) {
	sc := sarama.NewConfig()
	sc.Version = KafkaVersion
	sc.ClientID = "ofs-admin"
	sc.Net.DialTimeout = 5 * time.Second
	sc.Metadata.Retry.Max = 1
	sc.Metadata.Retry.Backoff = 100 * time.Millisecond
	sc.Admin.Timeout = 10 * time.Second
	ca, err := sarama.NewClusterAdmin(a.brokers(), sc)
	if err != nil {
		return nil, kafkaErr("connect to kafka", err)
	}
	return ca, nil
}

// kafkaErr is a Kafka failure: 400 OFS-V2-KAFKA-ADMIN-EXCEPTION with the Kafka error as the message.
func kafkaErr(what string, err error) error {
	return &domain.Error{Code: ErrKafkaAdmin, Message: fmt.Sprintf("%s: %v", what, err), Cause: err.Error(), Err: err}
}

func (a *Admin) createTopic(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxKafkaAdminBodyBytes+1))
	if err != nil {
		a.fail(w, r, domain.E(ErrKafkaAdmin, "read request body: %v", err))
		return
	}
	req, err := decodeCreateTopic(body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ca, err := a.clusterAdmin()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer ca.Close()
	err = ca.CreateTopic(req.TopicName, &sarama.TopicDetail{NumPartitions: req.NumPartitions, ReplicationFactor: -1}, false)
	if err != nil {
		a.fail(w, r, kafkaErr(fmt.Sprintf("create topic %q", req.TopicName), err))
		return
	}
	a.log.Info("kafka topic created", "topic", req.TopicName, "partitions", req.NumPartitions)
	writeData(w, req)
}

func (a *Admin) topicMetadata(w http.ResponseWriter, r *http.Request) {
	only := r.URL.Query().Get("topicName")
	if only != "" {
		if err := validTopicName(only); err != nil {
			a.fail(w, r, domain.E(ErrKafkaAdmin, "topicName: %v", err))
			return
		}
	}
	ca, err := a.clusterAdmin()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer ca.Close()
	var names []string
	if only != "" {
		names = []string{only}
	} else {
		all, err := ca.ListTopics()
		if err != nil {
			a.fail(w, r, kafkaErr("list topics", err))
			return
		}
		for name := range all {
			if !strings.HasPrefix(name, "__") {
				names = append(names, name)
			}
		}
		slices.Sort(names)
	}
	out := []TopicMetadata{}
	if len(names) > 0 {
		metas, err := ca.DescribeTopics(names)
		if err != nil {
			a.fail(w, r, kafkaErr("describe topics", err))
			return
		}
		for _, m := range metas {
			if m.Err != sarama.ErrNoError {
				a.fail(w, r, kafkaErr(fmt.Sprintf("describe topic %q", m.Name), m.Err))
				return
			}
			if m.IsInternal {
				continue
			}
			tm := TopicMetadata{TopicName: m.Name, NumPartitions: len(m.Partitions), Partitions: []PartitionMetadata{}}
			for _, p := range m.Partitions {
				tm.ReplicationFactor = max(tm.ReplicationFactor, len(p.Replicas))
				tm.Partitions = append(tm.Partitions, PartitionMetadata{
					Partition: p.ID, Leader: p.Leader, Replicas: nonNil(p.Replicas), ISR: nonNil(p.Isr),
				})
			}
			slices.SortFunc(tm.Partitions, func(a, b PartitionMetadata) int { return int(a.Partition - b.Partition) })
			out = append(out, tm)
		}
		slices.SortFunc(out, func(a, b TopicMetadata) int { return strings.Compare(a.TopicName, b.TopicName) })
	}
	writeData(w, out)
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func (a *Admin) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := domain.As(err)
	if e.Err != nil {
		a.log.Warn("kafka admin request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code.Name, "err", err)
	}
	writeError(w, e)
}

func writeData(w http.ResponseWriter, data any) { envelope.Data(w, data) }

func writeError(w http.ResponseWriter, e *domain.Error) { envelope.Error(w, e) }
