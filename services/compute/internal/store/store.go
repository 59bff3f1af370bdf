// Package store implements the compute domain Store on SQL (SQLite, MySQL/MariaDB, PostgreSQL) through pkg/db.
// Timestamps are stored as Unix milliseconds (UTC) so comparisons behave the same on every dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/bus"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/compute/internal/domain"
)

// Publisher publishes events inside a transaction (pkg/bus Outbox).
type Publisher interface {
	Publish(ctx context.Context, tx *db.Tx, e bus.Event) error
}

// querier is what *db.DB and *db.Tx have in common.
type querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is the SQL store.
type Store struct {
	ops
	db *db.DB
}

type ops struct {
	q   querier
	tx  *db.Tx // nil outside a transaction
	pub Publisher
	dl  db.Dialect
}

// New returns a store over d publishing events through pub (may be nil to drop events).
func New(d *db.DB, pub Publisher) *Store {
	return &Store{ops: ops{q: d, pub: pub, dl: d.Dialect}, db: d}
}

// InTx runs fn in one transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx domain.Tx) error) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		return fn(&ops{q: tx, tx: tx, pub: s.pub, dl: s.dl})
	})
}

// Ping checks the database.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func ms(t time.Time) int64 { return t.UnixMilli() }

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func tagsText(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return "," + strings.ToLower(strings.Join(tags, ",")) + ","
}

func notFound(id string) error {
	return apierr.New(apierr.NotFound, "Cluster with id %s not found", id)
}

func (o *ops) GetCluster(ctx context.Context, id string) (domain.Cluster, error) {
	var doc string
	err := o.q.QueryRow(ctx, `SELECT definition FROM clusters WHERE cluster_id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Cluster{}, notFound(id)
	}
	if err != nil {
		return domain.Cluster{}, fmt.Errorf("select cluster %s: %w", id, err)
	}
	return domain.UnmarshalDefinition([]byte(doc))
}

const statusCols = `cluster_id, artifact_id, status, active_pods, available_memory, active_cluster_runid, cluster_name,
	last_updated_at, last_picked_at, last_used_at`

type scanner interface{ Scan(dest ...any) error }

func scanStatus(r scanner) (domain.StatusRow, error) {
	var s domain.StatusRow
	var upd int64
	var picked, used sql.NullInt64
	if err := r.Scan(&s.ClusterID, &s.ArtifactID, &s.Status, &s.ActivePods, &s.AvailableMemory, &s.ActiveRunID, &s.ClusterName,
		&upd, &picked, &used); err != nil {
		return s, err
	}
	s.LastUpdatedAt, s.LastPickedAt, s.LastUsedAt = fromMS(upd), fromNullMS(picked), fromNullMS(used)
	return s, nil
}

func (o *ops) GetStatus(ctx context.Context, id string) (domain.StatusRow, error) {
	s, err := scanStatus(o.q.QueryRow(ctx, `SELECT `+statusCols+` FROM cluster_status WHERE cluster_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, notFound(id)
	}
	if err != nil {
		return s, fmt.Errorf("select cluster status %s: %w", id, err)
	}
	return s, nil
}

func (o *ops) NameTaken(ctx context.Context, name, exceptID string) (bool, error) {
	var n int
	if err := o.q.QueryRow(ctx, `SELECT COUNT(*) FROM clusters WHERE name = ? AND cluster_id <> ?`, name, exceptID).Scan(&n); err != nil {
		return false, fmt.Errorf("count clusters named %q: %w", name, err)
	}
	return n > 0, nil
}

func (o *ops) InsertCluster(ctx context.Context, c domain.Cluster) error {
	doc, err := domain.MarshalDefinition(c)
	if err != nil {
		return err
	}
	_, err = o.q.Exec(ctx, `INSERT INTO clusters (cluster_id, name, user_email, runtime, cloud_env, is_job_cluster, tags_text, created_on, definition)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.User, c.Runtime, c.CloudEnv, b2i(c.IsJobCluster), tagsText(c.Tags), ms(c.CreatedOn), string(doc))
	if db.IsUniqueViolation(err) {
		return apierr.New(apierr.AlreadyExists, "cluster %s already exists", c.ID)
	}
	if err != nil {
		return fmt.Errorf("insert cluster %s: %w", c.ID, err)
	}
	return nil
}

func (o *ops) UpdateCluster(ctx context.Context, c domain.Cluster) error {
	doc, err := domain.MarshalDefinition(c)
	if err != nil {
		return err
	}
	res, err := o.q.Exec(ctx, `UPDATE clusters SET name = ?, user_email = ?, runtime = ?, cloud_env = ?, is_job_cluster = ?, tags_text = ?, definition = ?
		WHERE cluster_id = ?`,
		c.Name, c.User, c.Runtime, c.CloudEnv, b2i(c.IsJobCluster), tagsText(c.Tags), string(doc), c.ID)
	if err != nil {
		return fmt.Errorf("update cluster %s: %w", c.ID, err)
	}
	return mustAffect(res, c.ID)
}

func mustAffect(res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return notFound(id)
	}
	return nil
}

func (o *ops) DeleteCluster(ctx context.Context, id string) error {
	res, err := o.q.Exec(ctx, `DELETE FROM clusters WHERE cluster_id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete cluster %s: %w", id, err)
	}
	if err := mustAffect(res, id); err != nil {
		return err
	}
	if _, err := o.q.Exec(ctx, `DELETE FROM cluster_status WHERE cluster_id = ?`, id); err != nil {
		return fmt.Errorf("delete cluster status %s: %w", id, err)
	}
	if _, err := o.q.Exec(ctx, `DELETE FROM user_cluster_visits WHERE cluster_id = ?`, id); err != nil {
		return fmt.Errorf("delete visits of %s: %w", id, err)
	}
	if _, err := o.q.Exec(ctx, `DELETE FROM cluster_pod_events WHERE cluster_id = ?`, id); err != nil {
		return fmt.Errorf("delete pod events of %s: %w", id, err)
	}
	return nil
}

func (o *ops) InsertStatus(ctx context.Context, s domain.StatusRow) error {
	_, err := o.q.Exec(ctx, `INSERT INTO cluster_status (`+statusCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ClusterID, s.ArtifactID, s.Status, s.ActivePods, s.AvailableMemory, s.ActiveRunID, s.ClusterName,
		ms(s.LastUpdatedAt), nullMS(s.LastPickedAt), nullMS(s.LastUsedAt))
	if err != nil {
		return fmt.Errorf("insert cluster status %s: %w", s.ClusterID, err)
	}
	return nil
}

func (o *ops) UpdateStatus(ctx context.Context, s domain.StatusRow) error {
	res, err := o.q.Exec(ctx, `UPDATE cluster_status SET artifact_id = ?, status = ?, active_pods = ?, available_memory = ?,
		active_cluster_runid = ?, cluster_name = ?, last_updated_at = ?, last_picked_at = ?, last_used_at = ? WHERE cluster_id = ?`,
		s.ArtifactID, s.Status, s.ActivePods, s.AvailableMemory, s.ActiveRunID, s.ClusterName,
		ms(s.LastUpdatedAt), nullMS(s.LastPickedAt), nullMS(s.LastUsedAt), s.ClusterID)
	if err != nil {
		return fmt.Errorf("update cluster status %s: %w", s.ClusterID, err)
	}
	// MySQL reports 0 affected rows when nothing changed; check existence instead.
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := o.GetStatus(ctx, s.ClusterID); err != nil {
			return err
		}
	}
	return nil
}

func (o *ops) AddAction(ctx context.Context, a domain.Action) error {
	_, err := o.q.Exec(ctx, `INSERT INTO cluster_actions (cluster_runid, action, message, updated_at, cluster_id, artifact_id)
		VALUES (?, ?, ?, ?, ?, ?)`, a.RunID, a.Action, a.Message, ms(a.UpdatedAt), a.ClusterID, a.ArtifactID)
	if err != nil {
		return fmt.Errorf("insert cluster action: %w", err)
	}
	return nil
}

// Publish writes the event to the outbox in the current transaction (its own when outside one).
func (o *ops) Publish(ctx context.Context, e domain.Event) error {
	if o.pub == nil {
		return nil
	}
	data := map[string]any{"cluster_id": e.ClusterID}
	for k, v := range map[string]string{"cluster_name": e.ClusterName, "session_id": e.RunID, "artifact_name": e.ArtifactName, "message": e.Message} {
		if v != "" {
			data[k] = v
		}
	}
	if len(e.Metadata) > 0 {
		data["metadata"] = e.Metadata
	}
	ev := bus.Event{Type: e.Type, Source: "compute", Time: e.Time.UTC(), Subject: e.ClusterID, Data: data}
	if err := o.pub.Publish(ctx, o.tx, ev); err != nil {
		return fmt.Errorf("publish %s: %w", e.Type, err)
	}
	return nil
}

// ClaimPodEvent inserts the (cluster, event) row or raises its count in one upsert; the row lock the upsert
// takes makes concurrent claims of the same count wait and then find it recorded. Affected rows: 1 on insert,
// 1 (2 on MySQL) on a raised count, 0 when the recorded count is already as high.
func (o *ops) ClaimPodEvent(ctx context.Context, clusterID, eventID string, count int, at time.Time) (bool, error) {
	var q string
	switch o.dl {
	case db.MySQL:
		// Assignments run left to right: published_at must compare against the old event_count.
		q = `INSERT INTO cluster_pod_events (cluster_id, event_id, event_count, published_at) VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE
			published_at = IF(event_count < VALUES(event_count), VALUES(published_at), published_at),
			event_count = IF(event_count < VALUES(event_count), VALUES(event_count), event_count)`
	default:
		q = `INSERT INTO cluster_pod_events (cluster_id, event_id, event_count, published_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (cluster_id, event_id) DO UPDATE SET event_count = excluded.event_count, published_at = excluded.published_at
			WHERE cluster_pod_events.event_count < excluded.event_count`
	}
	res, err := o.q.Exec(ctx, q, clusterID, eventID, count, ms(at))
	if err != nil {
		return false, fmt.Errorf("claim pod event %s of %s: %w", eventID, clusterID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim pod event %s of %s: %w", eventID, clusterID, err)
	}
	return n > 0, nil
}

// PublishedPodEvents returns a cluster's recorded pod events by event id.
func (s *Store) PublishedPodEvents(ctx context.Context, clusterID string) (map[string]domain.PublishedPodEvent, error) {
	rows, err := s.q.Query(ctx, `SELECT event_id, event_count, published_at FROM cluster_pod_events WHERE cluster_id = ?`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("select pod events of %s: %w", clusterID, err)
	}
	defer rows.Close()
	out := map[string]domain.PublishedPodEvent{}
	for rows.Next() {
		var id string
		var p domain.PublishedPodEvent
		var at int64
		if err := rows.Scan(&id, &p.Count, &at); err != nil {
			return nil, fmt.Errorf("scan pod event: %w", err)
		}
		p.PublishedAt = fromMS(at)
		out[id] = p
	}
	return out, rows.Err()
}

// ForgetPodEvents deletes recorded pod events of a cluster.
func (s *Store) ForgetPodEvents(ctx context.Context, clusterID string, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	args := []any{clusterID}
	for _, id := range eventIDs {
		args = append(args, id)
	}
	if _, err := s.q.Exec(ctx, `DELETE FROM cluster_pod_events WHERE cluster_id = ? AND event_id IN (`+db.Placeholders(len(eventIDs))+`)`, args...); err != nil {
		return fmt.Errorf("delete pod events of %s: %w", clusterID, err)
	}
	return nil
}

const actionCols = `id, cluster_runid, action, message, updated_at, cluster_id, artifact_id`

func (o *ops) queryActions(ctx context.Context, query string, args ...any) ([]domain.Action, error) {
	rows, err := o.q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("select actions: %w", err)
	}
	defer rows.Close()
	var out []domain.Action
	for rows.Next() {
		var a domain.Action
		var at int64
		if err := rows.Scan(&a.ID, &a.RunID, &a.Action, &a.Message, &at, &a.ClusterID, &a.ArtifactID); err != nil {
			return nil, fmt.Errorf("scan action: %w", err)
		}
		a.UpdatedAt = fromMS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ListActions returns a cluster's actions, oldest first.
func (s *Store) ListActions(ctx context.Context, clusterID string) ([]domain.Action, error) {
	return s.queryActions(ctx, `SELECT `+actionCols+` FROM cluster_actions WHERE cluster_id = ? ORDER BY updated_at, id`, clusterID)
}

// ActionsOfRun returns the actions of one run.
func (s *Store) ActionsOfRun(ctx context.Context, runID string, desc bool) ([]domain.Action, error) {
	order := "ASC"
	if desc {
		order = "DESC"
	}
	return s.queryActions(ctx, `SELECT `+actionCols+` FROM cluster_actions WHERE cluster_runid = ? ORDER BY updated_at `+order+`, id `+order, runID)
}

// LastActionAt returns the time of the newest of the given actions.
func (s *Store) LastActionAt(ctx context.Context, clusterID string, actions []string) (time.Time, bool, error) {
	if len(actions) == 0 {
		return time.Time{}, false, nil
	}
	args := []any{clusterID}
	for _, a := range actions {
		args = append(args, a)
	}
	var v sql.NullInt64
	err := s.q.QueryRow(ctx, `SELECT MAX(updated_at) FROM cluster_actions WHERE cluster_id = ? AND action IN (`+db.Placeholders(len(actions))+`)`, args...).Scan(&v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("select last action: %w", err)
	}
	return fromNullMS(v), v.Valid, nil
}

// LeaseForPoll picks due clusters, least recently polled first (so a batch smaller than the fleet still reaches
// every cluster in turn), and leases each with a conditional UPDATE on last_picked_at.
func (s *Store) LeaseForPoll(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]string, error) {
	due := ms(now.Add(-lease))
	rows, err := s.q.Query(ctx, `SELECT cluster_id FROM cluster_status WHERE status <> 'inactive'
		AND (picked_by = '' OR last_picked_at IS NULL OR last_picked_at <= ?) ORDER BY COALESCE(last_picked_at, 0), cluster_id`+s.dl.LimitOffset(limit*2, 0), due)
	if err != nil {
		return nil, fmt.Errorf("select due clusters: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan cluster id: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select due clusters: %w", err)
	}
	var won []string
	for _, id := range ids {
		if len(won) >= limit {
			break
		}
		res, err := s.q.Exec(ctx, `UPDATE cluster_status SET last_picked_at = ?, picked_by = ?
			WHERE cluster_id = ? AND (picked_by = '' OR last_picked_at IS NULL OR last_picked_at <= ?)`, ms(now), owner, id, due)
		if err != nil {
			return won, fmt.Errorf("lease cluster %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			won = append(won, id)
		}
	}
	return won, nil
}

// ReleasePoll ends owner's lease on a cluster once its poll is done, so the next poll pass of any replica
// picks it up again without waiting for the lease to expire. A lease another owner took over is left alone.
func (s *Store) ReleasePoll(ctx context.Context, owner, clusterID string) error {
	if _, err := s.q.Exec(ctx, `UPDATE cluster_status SET picked_by = '' WHERE cluster_id = ? AND picked_by = ?`, clusterID, owner); err != nil {
		return fmt.Errorf("release poll lease of %s: %w", clusterID, err)
	}
	return nil
}

// RecordVisit upserts a user's visit of a cluster.
func (s *Store) RecordVisit(ctx context.Context, user, clusterID string, at time.Time) (int, error) {
	var q string
	switch s.dl {
	case db.MySQL:
		q = `INSERT INTO user_cluster_visits (user_id, cluster_id, visited_at, deleted) VALUES (?, ?, ?, 0)
			ON DUPLICATE KEY UPDATE visited_at = VALUES(visited_at), deleted = 0`
	default:
		q = `INSERT INTO user_cluster_visits (user_id, cluster_id, visited_at, deleted) VALUES (?, ?, ?, 0)
			ON CONFLICT (user_id, cluster_id) DO UPDATE SET visited_at = excluded.visited_at, deleted = 0`
	}
	if _, err := s.q.Exec(ctx, q, user, clusterID, ms(at)); err != nil {
		return 0, fmt.Errorf("record visit: %w", err)
	}
	return 1, nil
}

// RecentVisits returns the cluster ids a user visited, newest first.
func (s *Store) RecentVisits(ctx context.Context, user string, limit int) ([]string, error) {
	return s.strings(ctx, `SELECT cluster_id FROM user_cluster_visits WHERE user_id = ? AND deleted = 0 ORDER BY visited_at DESC`+s.dl.LimitOffset(limit, 0), user)
}

// DistinctUsers lists the users owning clusters.
func (s *Store) DistinctUsers(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT DISTINCT user_email FROM clusters ORDER BY user_email`)
}

// DistinctTags lists all tags in use.
func (s *Store) DistinctTags(ctx context.Context) ([]string, error) {
	rows, err := s.strings(ctx, `SELECT DISTINCT tags_text FROM clusters`)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rows {
		for _, t := range strings.Split(strings.Trim(r, ","), ",") {
			if t != "" && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}

func (s *Store) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Search lists clusters with their status.
func (s *Store) Search(ctx context.Context, q domain.SearchQuery) ([]domain.ClusterWithStatus, int, error) {
	where := []string{"1 = 1"}
	var args []any
	if q.Query != "" {
		like := "%" + strings.ToLower(escapeLike(q.Query)) + "%"
		where = append(where, `(LOWER(c.name) LIKE ? ESCAPE '!' OR c.tags_text LIKE ? ESCAPE '!' OR c.cluster_id = ?)`)
		args = append(args, like, like, q.Query)
	}
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+db.Placeholders(len(vals))+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("st.status", q.Statuses)
	in("c.user_email", q.Users)
	in("c.runtime", q.Runtimes)
	for _, t := range q.Tags {
		where = append(where, `c.tags_text LIKE ? ESCAPE '!'`)
		args = append(args, "%,"+strings.ToLower(escapeLike(t))+",%")
	}
	if q.IsJobCluster != nil {
		where = append(where, "c.is_job_cluster = ?")
		args = append(args, b2i(*q.IsJobCluster))
	}
	from := ` FROM clusters c JOIN cluster_status st ON st.cluster_id = c.cluster_id WHERE ` + strings.Join(where, " AND ")
	var total int
	if err := s.q.QueryRow(ctx, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count clusters: %w", err)
	}
	col := map[string]string{"created_on": "c.created_on", "name": "c.name", "last_used_on": "st.last_used_at",
		"last_used_at": "st.last_used_at", "status": "st.status", "user": "c.user_email", "created_by": "c.user_email"}[q.SortBy]
	if col == "" {
		col = "c.created_on"
	}
	dir := " ASC"
	if q.SortDesc {
		dir = " DESC"
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.q.Query(ctx, `SELECT c.definition, st.cluster_id, st.artifact_id, st.status, st.active_pods, st.available_memory,
		st.active_cluster_runid, st.cluster_name, st.last_updated_at, st.last_picked_at, st.last_used_at`+from+
		` ORDER BY `+col+dir+`, c.cluster_id`+dir+s.dl.LimitOffset(limit, q.Offset), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("search clusters: %w", err)
	}
	defer rows.Close()
	out := []domain.ClusterWithStatus{}
	for rows.Next() {
		var doc string
		var st domain.StatusRow
		var upd int64
		var picked, used sql.NullInt64
		if err := rows.Scan(&doc, &st.ClusterID, &st.ArtifactID, &st.Status, &st.ActivePods, &st.AvailableMemory, &st.ActiveRunID,
			&st.ClusterName, &upd, &picked, &used); err != nil {
			return nil, 0, fmt.Errorf("scan cluster: %w", err)
		}
		st.LastUpdatedAt, st.LastPickedAt, st.LastUsedAt = fromMS(upd), fromNullMS(picked), fromNullMS(used)
		c, err := domain.UnmarshalDefinition([]byte(doc))
		if err != nil {
			return nil, 0, err
		}
		out = append(out, domain.ClusterWithStatus{Cluster: c, Status: st})
	}
	return out, total, rows.Err()
}

func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
