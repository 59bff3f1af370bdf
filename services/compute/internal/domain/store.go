package domain

import (
	"context"
	"time"
)

// StatusRow is a cluster_status row.
type StatusRow struct {
	ClusterID       string
	ArtifactID      string
	Status          string
	ActivePods      int
	AvailableMemory float64
	ActiveRunID     string
	ClusterName     string
	LastUpdatedAt   time.Time
	LastPickedAt    time.Time // zero = never
	LastUsedAt      time.Time // zero = never
}

// Action is a cluster_actions row.
type Action struct {
	ID         int64
	ClusterID  string
	RunID      string
	Action     string
	Message    string
	ArtifactID string
	UpdatedAt  time.Time
}

// Event is a lifecycle event published through the outbox (spec §1.6 names).
type Event struct {
	Type         string
	ClusterID    string
	ClusterName  string
	RunID        string
	ArtifactName string
	Message      string
	Time         time.Time
	// Metadata is published as the event's metadata object (optional).
	Metadata map[string]any
}

// ClusterWithStatus joins a definition with its status row.
type ClusterWithStatus struct {
	Cluster Cluster
	Status  StatusRow
}

// SearchQuery selects clusters.
type SearchQuery struct {
	Query        string   // substring of name or tags
	Statuses     []string // internal statuses; empty = any
	Users        []string
	Tags         []string
	Runtimes     []string
	IsJobCluster *bool
	SortBy       string // created_on | name | last_used_on | status
	SortDesc     bool
	Offset       int
	Limit        int
}

// Tx is the set of writes and reads done inside one transaction.
type Tx interface {
	GetCluster(ctx context.Context, id string) (Cluster, error)
	GetStatus(ctx context.Context, id string) (StatusRow, error)
	NameTaken(ctx context.Context, name, exceptID string) (bool, error)
	InsertCluster(ctx context.Context, c Cluster) error
	UpdateCluster(ctx context.Context, c Cluster) error
	DeleteCluster(ctx context.Context, id string) error
	InsertStatus(ctx context.Context, s StatusRow) error
	UpdateStatus(ctx context.Context, s StatusRow) error
	AddAction(ctx context.Context, a Action) error
	Publish(ctx context.Context, e Event) error
	// ClaimPodEvent records that pod event eventID of a cluster is published with count: it inserts the row, or
	// raises its count, and reports true; it reports false (writing nothing) when the event is already recorded
	// with this count or a higher one. Concurrent claims of one (cluster, event, count) let exactly one win.
	ClaimPodEvent(ctx context.Context, clusterID, eventID string, count int, at time.Time) (bool, error)
}

// Store persists clusters, statuses, actions and visits. Its Tx methods outside InTx run in their own transaction.
type Store interface {
	Tx
	InTx(ctx context.Context, fn func(tx Tx) error) error
	Search(ctx context.Context, q SearchQuery) ([]ClusterWithStatus, int, error)
	ListActions(ctx context.Context, clusterID string) ([]Action, error)
	ActionsOfRun(ctx context.Context, runID string, desc bool) ([]Action, error)
	LastActionAt(ctx context.Context, clusterID string, actions []string) (time.Time, bool, error)
	// LeaseForPoll picks up to limit non-inactive clusters whose lease expired (last_picked_at <= now-lease)
	// and leases each with a conditional UPDATE; only the ids this owner won are returned.
	LeaseForPoll(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]string, error)
	// ReleasePoll ends owner's lease once the cluster's poll is done (a lease that expired and was taken over
	// by another owner is left alone); an unreleased lease (a crashed replica) still expires.
	ReleasePoll(ctx context.Context, owner, clusterID string) error
	RecordVisit(ctx context.Context, user, clusterID string, at time.Time) (int, error)
	RecentVisits(ctx context.Context, user string, limit int) ([]string, error)
	DistinctUsers(ctx context.Context) ([]string, error)
	DistinctTags(ctx context.Context) ([]string, error)
	Ping(ctx context.Context) error
	// PublishedPodEvents returns the pod events recorded for a cluster by ClaimPodEvent, by event id.
	PublishedPodEvents(ctx context.Context, clusterID string) (map[string]PublishedPodEvent, error)
	// ForgetPodEvents deletes recorded pod events of a cluster.
	ForgetPodEvents(ctx context.Context, clusterID string, eventIDs []string) error
}

// PublishedPodEvent is a cluster_pod_events row: the count a pod event was last published with, and when.
type PublishedPodEvent struct {
	Count       int
	PublishedAt time.Time
}
