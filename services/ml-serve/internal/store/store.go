// Package store is ml-serve's SQL persistence (SQLite, MySQL/MariaDB, PostgreSQL). Every method runs on a
// Queries, which is either the database or one transaction (Store.Tx), so a request's writes can be grouped.
// Timestamps are stored as Unix milliseconds; JSON documents as TEXT.
package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
)

type querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// Queries runs the store's statements on the database or a transaction.
type Queries struct {
	q   querier
	dl  db.Dialect
	clk clock.Clock
}

// Store is the database handle.
type Store struct {
	Queries
	DB *db.DB
}

// New returns a Store over d.
func New(d *db.DB, clk clock.Clock) *Store {
	if clk == nil {
		clk = clock.Real()
	}
	return &Store{Queries: Queries{q: d, dl: d.Dialect, clk: clk}, DB: d}
}

// Tx runs fn in one transaction: committed when fn returns nil, rolled back otherwise.
func (s *Store) Tx(ctx context.Context, fn func(q *Queries) error) error {
	return s.DB.Tx(ctx, func(tx *db.Tx) error {
		return fn(&Queries{q: tx, dl: s.dl, clk: s.clk})
	})
}

func (q *Queries) nowMs() int64 { return q.clk.Now().UnixMilli() }

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func msPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := ms(v.Int64)
	return &t
}

func idPtr(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	x := v.Int64
	return &x
}

// insert runs an INSERT and returns the new row's id column.
func (q *Queries) insert(ctx context.Context, idCol, query string, args ...any) (int64, error) {
	if q.dl == db.Postgres {
		var id int64
		err := q.q.QueryRow(ctx, query+" RETURNING "+idCol, args...).Scan(&id)
		return id, err
	}
	res, err := q.q.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func internal(err error, what string) error {
	return apierr.Wrap(apierr.Internal, err, "internal error: %s", what)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: marshal %T: %v", v, err))
	}
	return string(b)
}

// ---- users ----

// HashToken returns the stored form of a bearer token (SHA-256, hex).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// UpsertUserToken creates username with token, or rotates its token when it exists. It returns the user.
func (q *Queries) UpsertUserToken(ctx context.Context, username, token string) (domain.User, error) {
	now := q.nowMs()
	h := HashToken(token)
	var u domain.User
	err := q.q.QueryRow(ctx, "SELECT user_id, username FROM users WHERE username = ?", username).Scan(&u.ID, &u.Username)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Another user holding the same token would make lookups ambiguous: the unique index rejects it.
		id, err := q.insert(ctx, "user_id", "INSERT INTO users (username, token_hash, created_at, updated_at) VALUES (?, ?, ?, ?)", username, h, now, now)
		if err != nil {
			return u, internal(err, "create user")
		}
		return domain.User{ID: id, Username: username}, nil
	case err != nil:
		return u, internal(err, "load user")
	}
	if _, err := q.q.Exec(ctx, "UPDATE users SET token_hash = ?, updated_at = ? WHERE user_id = ?", h, now, u.ID); err != nil {
		return u, internal(err, "rotate user token")
	}
	return u, nil
}

// UserByToken returns the user whose token is token. The lookup is by hash (an index probe that reveals
// nothing about the token), and the stored hash is then compared in constant time.
func (q *Queries) UserByToken(ctx context.Context, token string) (domain.User, bool, error) {
	h := HashToken(token)
	var u domain.User
	var stored string
	err := q.q.QueryRow(ctx, "SELECT user_id, username, token_hash FROM users WHERE token_hash = ?", h).Scan(&u.ID, &u.Username, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	}
	if err != nil {
		return u, false, internal(err, "look up token")
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(stored)), []byte(h)) != 1 {
		return u, false, nil
	}
	return u, true, nil
}

// ---- environments ----

const envCols = "id, name, env_configs, is_protected, created_at, updated_at"

func scanEnv(sc interface{ Scan(...any) error }) (domain.Environment, error) {
	var e domain.Environment
	var cfg string
	var prot int64
	var c, u int64
	if err := sc.Scan(&e.ID, &e.Name, &cfg, &prot, &c, &u); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(cfg), &e.Configs); err != nil {
		return e, fmt.Errorf("decode env_configs of %s: %w", e.Name, err)
	}
	if e.Configs.Subnets == nil {
		e.Configs.Subnets = []string{}
	}
	e.IsProtected, e.CreatedAt, e.UpdatedAt = prot != 0, ms(c), ms(u)
	return e, nil
}

// CreateEnvironment inserts an environment; AlreadyExists when the name is taken.
func (q *Queries) CreateEnvironment(ctx context.Context, name string, cfg domain.EnvConfig, protected bool) (domain.Environment, error) {
	now := q.nowMs()
	prot := 0
	if protected {
		prot = 1
	}
	id, err := q.insert(ctx, "id", "INSERT INTO environments (name, env_configs, is_protected, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", name, mustJSON(cfg), prot, now, now)
	if db.IsUniqueViolation(err) {
		return domain.Environment{}, apierr.New(apierr.AlreadyExists, "Environment with name %s already exists", name)
	}
	if err != nil {
		return domain.Environment{}, internal(err, "create environment")
	}
	return domain.Environment{ID: id, Name: name, Configs: cfg, IsProtected: protected, CreatedAt: ms(now), UpdatedAt: ms(now)}, nil
}

// Environment returns the named environment; found is false when it does not exist.
func (q *Queries) Environment(ctx context.Context, name string) (domain.Environment, bool, error) {
	e, err := scanEnv(q.q.QueryRow(ctx, "SELECT "+envCols+" FROM environments WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, internal(err, "load environment")
	}
	return e, true, nil
}

// MustEnvironment is Environment with NotFound for a missing environment.
func (q *Queries) MustEnvironment(ctx context.Context, name string) (domain.Environment, error) {
	e, ok, err := q.Environment(ctx, name)
	if err == nil && !ok {
		err = apierr.New(apierr.NotFound, "Environment %s not found", name)
	}
	return e, err
}

// UpdateEnvironment replaces an environment's configuration.
func (q *Queries) UpdateEnvironment(ctx context.Context, id int64, cfg domain.EnvConfig) error {
	if _, err := q.q.Exec(ctx, "UPDATE environments SET env_configs = ?, updated_at = ? WHERE id = ?", mustJSON(cfg), q.nowMs(), id); err != nil {
		return internal(err, "update environment")
	}
	return nil
}

// EnvironmentInUse reports what still references an environment ("" when nothing does).
func (q *Queries) EnvironmentInUse(ctx context.Context, id int64) (string, error) {
	checks := []struct{ what, query string }{
		{"active deployments", "SELECT COUNT(*) FROM active_deployments WHERE environment_id = ?"},
		{"deployments", "SELECT COUNT(*) FROM deployments WHERE environment_id = ?"},
		{"api serve configs", "SELECT COUNT(*) FROM api_serve_configs WHERE environment_id = ?"},
		{"workflow serve configs", "SELECT COUNT(*) FROM workflow_serve_configs WHERE environment_id = ?"},
	}
	for _, c := range checks {
		var n int64
		if err := q.q.QueryRow(ctx, c.query, id).Scan(&n); err != nil {
			return "", internal(err, "check environment references")
		}
		if n > 0 {
			return c.what, nil
		}
	}
	return "", nil
}

// DeleteEnvironment deletes an environment row.
func (q *Queries) DeleteEnvironment(ctx context.Context, id int64) error {
	if _, err := q.q.Exec(ctx, "DELETE FROM environments WHERE id = ?", id); err != nil {
		if db.IsForeignKeyViolation(err) {
			return apierr.New(apierr.AlreadyExists, "Environment is still referenced and cannot be deleted")
		}
		return internal(err, "delete environment")
	}
	return nil
}

// ---- serves ----

const serveCols = "id, name, type, description, space, user_id, created_at, updated_at"

func scanServe(sc interface{ Scan(...any) error }) (domain.Serve, error) {
	var s domain.Serve
	var uid sql.NullInt64
	var c, u int64
	err := sc.Scan(&s.ID, &s.Name, &s.Type, &s.Description, &s.Space, &uid, &c, &u)
	s.UserID, s.CreatedAt, s.UpdatedAt = idPtr(uid), ms(c), ms(u)
	return s, err
}

// CreateServe inserts a serve; AlreadyExists when the name is taken.
func (q *Queries) CreateServe(ctx context.Context, s domain.Serve) (domain.Serve, error) {
	now := q.nowMs()
	id, err := q.insert(ctx, "id", "INSERT INTO serves (name, type, description, space, user_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		s.Name, s.Type, s.Description, s.Space, s.UserID, now, now)
	if db.IsUniqueViolation(err) {
		return s, apierr.New(apierr.AlreadyExists, "Serve with name %s already exists", s.Name)
	}
	if err != nil {
		return s, internal(err, "create serve")
	}
	s.ID, s.CreatedAt, s.UpdatedAt = id, ms(now), ms(now)
	return s, nil
}

// Serve returns the named serve; found is false when it does not exist.
func (q *Queries) Serve(ctx context.Context, name string) (domain.Serve, bool, error) {
	s, err := scanServe(q.q.QueryRow(ctx, "SELECT "+serveCols+" FROM serves WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, internal(err, "load serve")
	}
	return s, true, nil
}

// MustServe is Serve with NotFound for a missing serve.
func (q *Queries) MustServe(ctx context.Context, name string) (domain.Serve, error) {
	s, ok, err := q.Serve(ctx, name)
	if err == nil && !ok {
		err = apierr.New(apierr.NotFound, "Serve %s not found", name)
	}
	return s, err
}

// ListServes returns every serve by id.
func (q *Queries) ListServes(ctx context.Context) ([]domain.Serve, error) {
	rows, err := q.q.Query(ctx, "SELECT "+serveCols+" FROM serves ORDER BY id")
	if err != nil {
		return nil, internal(err, "list serves")
	}
	defer rows.Close()
	out := []domain.Serve{}
	for rows.Next() {
		s, err := scanServe(rows)
		if err != nil {
			return nil, internal(err, "scan serve")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, internal(err, "list serves")
	}
	return out, nil
}

// ---- infra configs ----

func scanAPIConfig(sc interface{ Scan(...any) error }) (domain.APIServeConfig, error) {
	var c domain.APIServeConfig
	var hosts, fa string
	var cr, up int64
	if err := sc.Scan(&c.ServeID, &c.EnvironmentID, &c.EnvName, &c.BackendType, &hosts, &fa, &cr, &up); err != nil {
		return c, err
	}
	c.AdditionalHosts = []string{}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.AdditionalHosts = append(c.AdditionalHosts, h)
		}
	}
	if err := json.Unmarshal([]byte(fa), &c.FastAPI); err != nil {
		return c, fmt.Errorf("decode fast_api_config: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = ms(cr), ms(up)
	return c, nil
}

const apiConfigSelect = `SELECT c.serve_id, c.environment_id, e.name, c.backend_type, c.additional_hosts, c.fast_api_config, c.created_at, c.updated_at
FROM api_serve_configs c JOIN environments e ON e.id = c.environment_id`

// APIConfig returns the API infra config of a serve in an environment.
func (q *Queries) APIConfig(ctx context.Context, serveID, envID int64) (domain.APIServeConfig, bool, error) {
	c, err := scanAPIConfig(q.q.QueryRow(ctx, apiConfigSelect+" WHERE c.serve_id = ? AND c.environment_id = ?", serveID, envID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, internal(err, "load api serve config")
	}
	return c, true, nil
}

// UpsertAPIConfig creates the API infra config, or replaces it when update is true (AlreadyExists when it
// exists and update is false).
func (q *Queries) UpsertAPIConfig(ctx context.Context, c domain.APIServeConfig, userID *int64, update bool) error {
	now := q.nowMs()
	hosts, fa := strings.Join(c.AdditionalHosts, ","), mustJSON(c.FastAPI)
	_, exists, err := q.APIConfig(ctx, c.ServeID, c.EnvironmentID)
	if err != nil {
		return err
	}
	if exists {
		if !update {
			return apierr.New(apierr.AlreadyExists, "Infra config already exists for this serve and environment")
		}
		_, err = q.q.Exec(ctx, "UPDATE api_serve_configs SET backend_type = ?, additional_hosts = ?, fast_api_config = ?, updated_by = ?, updated_at = ? WHERE serve_id = ? AND environment_id = ?",
			c.BackendType, hosts, fa, userID, now, c.ServeID, c.EnvironmentID)
	} else {
		_, err = q.q.Exec(ctx, "INSERT INTO api_serve_configs (serve_id, environment_id, backend_type, additional_hosts, fast_api_config, created_by, updated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			c.ServeID, c.EnvironmentID, c.BackendType, hosts, fa, userID, userID, now, now)
	}
	if db.IsUniqueViolation(err) {
		return apierr.New(apierr.AlreadyExists, "Infra config already exists for this serve and environment")
	}
	if err != nil {
		return internal(err, "save api serve config")
	}
	return nil
}

func scanWorkflowConfig(sc interface{ Scan(...any) error }) (domain.WorkflowServeConfig, error) {
	var c domain.WorkflowServeConfig
	var head, workers string
	var cr, up int64
	if err := sc.Scan(&c.ServeID, &c.EnvironmentID, &c.EnvName, &c.Schedule, &head, &workers, &cr, &up); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(head), &c.Head); err != nil {
		return c, fmt.Errorf("decode head_node_config: %w", err)
	}
	if err := json.Unmarshal([]byte(workers), &c.Workers); err != nil {
		return c, fmt.Errorf("decode worker_node_config: %w", err)
	}
	if c.Workers == nil {
		c.Workers = []domain.WorkerNodeConfig{}
	}
	c.CreatedAt, c.UpdatedAt = ms(cr), ms(up)
	return c, nil
}

const workflowConfigSelect = `SELECT c.serve_id, c.environment_id, e.name, c.schedule, c.head_node_config, c.worker_node_config, c.created_at, c.updated_at
FROM workflow_serve_configs c JOIN environments e ON e.id = c.environment_id`

// WorkflowConfig returns the workflow infra config of a serve in an environment.
func (q *Queries) WorkflowConfig(ctx context.Context, serveID, envID int64) (domain.WorkflowServeConfig, bool, error) {
	c, err := scanWorkflowConfig(q.q.QueryRow(ctx, workflowConfigSelect+" WHERE c.serve_id = ? AND c.environment_id = ?", serveID, envID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, internal(err, "load workflow serve config")
	}
	return c, true, nil
}

// UpsertWorkflowConfig is UpsertAPIConfig for workflow serves.
func (q *Queries) UpsertWorkflowConfig(ctx context.Context, c domain.WorkflowServeConfig, userID *int64, update bool) error {
	now := q.nowMs()
	head, workers := mustJSON(c.Head), mustJSON(c.Workers)
	_, exists, err := q.WorkflowConfig(ctx, c.ServeID, c.EnvironmentID)
	if err != nil {
		return err
	}
	if exists {
		if !update {
			return apierr.New(apierr.AlreadyExists, "Infra config already exists for this serve and environment")
		}
		_, err = q.q.Exec(ctx, "UPDATE workflow_serve_configs SET schedule = ?, head_node_config = ?, worker_node_config = ?, updated_by = ?, updated_at = ? WHERE serve_id = ? AND environment_id = ?",
			c.Schedule, head, workers, userID, now, c.ServeID, c.EnvironmentID)
	} else {
		_, err = q.q.Exec(ctx, "INSERT INTO workflow_serve_configs (serve_id, environment_id, schedule, head_node_config, worker_node_config, created_by, updated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			c.ServeID, c.EnvironmentID, c.Schedule, head, workers, userID, userID, now, now)
	}
	if db.IsUniqueViolation(err) {
		return apierr.New(apierr.AlreadyExists, "Infra config already exists for this serve and environment")
	}
	if err != nil {
		return internal(err, "save workflow serve config")
	}
	return nil
}

// ServeConfigs returns every infra config of a serve, API configs first, each ordered by environment name.
func (q *Queries) ServeConfigs(ctx context.Context, serveID int64) ([]domain.APIServeConfig, []domain.WorkflowServeConfig, error) {
	apis := []domain.APIServeConfig{}
	rows, err := q.q.Query(ctx, apiConfigSelect+" WHERE c.serve_id = ? ORDER BY e.name", serveID)
	if err != nil {
		return nil, nil, internal(err, "list api serve configs")
	}
	for rows.Next() {
		c, err := scanAPIConfig(rows)
		if err != nil {
			rows.Close()
			return nil, nil, internal(err, "scan api serve config")
		}
		apis = append(apis, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, internal(err, "list api serve configs")
	}
	wfs := []domain.WorkflowServeConfig{}
	rows, err = q.q.Query(ctx, workflowConfigSelect+" WHERE c.serve_id = ? ORDER BY e.name", serveID)
	if err != nil {
		return nil, nil, internal(err, "list workflow serve configs")
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanWorkflowConfig(rows)
		if err != nil {
			return nil, nil, internal(err, "scan workflow serve config")
		}
		wfs = append(wfs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, internal(err, "list workflow serve configs")
	}
	return apis, wfs, nil
}
