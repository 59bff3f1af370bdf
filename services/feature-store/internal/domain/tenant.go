package domain

import "encoding/json"

// Tenant roles of a feature group (the tenant-type query values of the admin tenant routes).
const (
	RoleReader   = "READER"
	RoleWriter   = "WRITER"
	RoleConsumer = "CONSUMER"
	RoleAll      = "ALL"
)

// Run statuses of RunData.
const (
	RunSuccess = "SUCCESS"
	RunFailed  = "FAILED"
)

// ConsumerConfig is a tenant's row of the consumer map: the Kafka topic its feature groups are written through,
// the topic's partition count and how many consumers read it. The consumer map is also the list of tenants.
type ConsumerConfig struct {
	TenantName    string `json:"tenantName"`
	TopicName     string `json:"topicName"`
	NumPartitions int    `json:"numPartitions"`
	NumConsumers  int    `json:"numConsumers"`
	CreatedAt     int64  `json:"createdAt"`
	UpdatedAt     int64  `json:"updatedAt"`
}

// PopulatorConfig is a tenant's populator worker count.
type PopulatorConfig struct {
	TenantName string `json:"tenantName"`
	NumWorkers int    `json:"numWorkers"`
	UpdatedAt  int64  `json:"updatedAt"`
}

// RunData records one ingestion run of a feature group version (Spark writer, populator, consumer).
type RunData struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	RunID        string            `json:"runId"`
	Source       string            `json:"source"`
	TimeTaken    int64             `json:"timeTaken"`
	Count        int64             `json:"count"`
	SampleData   []json.RawMessage `json:"sampleData"`
	Status       string            `json:"status"`
	ErrorMessage string            `json:"errorMessage"`
	Timestamp    int64             `json:"timestamp"`
}

// Has reports whether t assigns tenant name to role (READER, WRITER, CONSUMER, or ALL for any of them).
func (t Tenant) Has(role, name string) bool {
	switch role {
	case RoleReader:
		return t.Read == name
	case RoleWriter:
		return t.Write == name
	case RoleConsumer:
		return t.Consume == name
	case RoleAll:
		return t.Read == name || t.Write == name || t.Consume == name
	}
	return false
}

// Replace moves role (or every role, for ALL) from tenant cur to next and reports whether anything changed.
func (t *Tenant) Replace(role, cur, next string) bool {
	changed := false
	set := func(r string, p *string) {
		if (role == r || role == RoleAll) && *p == cur {
			*p, changed = next, true
		}
	}
	set(RoleReader, &t.Read)
	set(RoleWriter, &t.Write)
	set(RoleConsumer, &t.Consume)
	return changed
}
