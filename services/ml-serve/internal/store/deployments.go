package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
)

// ---- artifacts ----

const artifactCols = "id, serve_id, version, github_repo_url, image_url, branch, file_path, job_id, created_at, created_by"

func scanArtifact(sc interface{ Scan(...any) error }) (domain.Artifact, error) {
	var a domain.Artifact
	var job, by sql.NullInt64
	var c int64
	err := sc.Scan(&a.ID, &a.ServeID, &a.Version, &a.GithubRepoURL, &a.ImageURL, &a.Branch, &a.FilePath, &job, &c, &by)
	a.JobID, a.CreatedAt, a.CreatedBy = idPtr(job), ms(c), idPtr(by)
	return a, err
}

// Artifact returns a serve's artifact by version.
func (q *Queries) Artifact(ctx context.Context, serveID int64, version string) (domain.Artifact, bool, error) {
	a, err := scanArtifact(q.q.QueryRow(ctx, "SELECT "+artifactCols+" FROM artifacts WHERE serve_id = ? AND version = ?", serveID, version))
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, internal(err, "load artifact")
	}
	return a, true, nil
}

// LatestArtifact returns the serve's most recent artifact.
func (q *Queries) LatestArtifact(ctx context.Context, serveID int64) (domain.Artifact, bool, error) {
	a, err := scanArtifact(q.q.QueryRow(ctx, "SELECT "+artifactCols+" FROM artifacts WHERE serve_id = ? ORDER BY id DESC"+q.dl.LimitOffset(1, 0), serveID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, internal(err, "load artifact")
	}
	return a, true, nil
}

// Artifacts lists a serve's artifacts, oldest first.
func (q *Queries) Artifacts(ctx context.Context, serveID int64) ([]domain.Artifact, error) {
	rows, err := q.q.Query(ctx, "SELECT "+artifactCols+" FROM artifacts WHERE serve_id = ? ORDER BY id", serveID)
	if err != nil {
		return nil, internal(err, "list artifacts")
	}
	defer rows.Close()
	out := []domain.Artifact{}
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			return nil, internal(err, "scan artifact")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, internal(err, "list artifacts")
	}
	return out, nil
}

// CreateArtifact inserts an artifact; a duplicate version is an InvalidArgument (the original answers 400).
func (q *Queries) CreateArtifact(ctx context.Context, a domain.Artifact) (domain.Artifact, error) {
	now := q.nowMs()
	id, err := q.insert(ctx, "id", "INSERT INTO artifacts (serve_id, version, github_repo_url, image_url, branch, file_path, job_id, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ServeID, a.Version, a.GithubRepoURL, a.ImageURL, a.Branch, a.FilePath, a.JobID, now, a.CreatedBy)
	if db.IsUniqueViolation(err) {
		return a, apierr.InvalidField("version", "Artifact version %s already exists for this serve", a.Version)
	}
	if err != nil {
		return a, internal(err, "create artifact")
	}
	a.ID, a.CreatedAt = id, ms(now)
	return a, nil
}

// UpdateArtifactSource points an existing artifact at a new source and image (one-click upsert).
func (q *Queries) UpdateArtifactSource(ctx context.Context, id int64, repoURL, imageURL string) error {
	if _, err := q.q.Exec(ctx, "UPDATE artifacts SET github_repo_url = ?, image_url = ? WHERE id = ?", repoURL, imageURL, id); err != nil {
		return internal(err, "update artifact")
	}
	return nil
}

// ---- builder jobs ----

const jobSelect = `SELECT j.id, j.serve_id, s.name, j.version, j.github_repo_url, j.branch, j.file_path, j.task_id, j.status, j.created_at, j.status_last_updated_at, j.created_by
FROM artifact_builder_job j JOIN serves s ON s.id = j.serve_id`

func scanJob(sc interface{ Scan(...any) error }) (domain.Job, error) {
	var j domain.Job
	var c, u int64
	var by sql.NullInt64
	err := sc.Scan(&j.ID, &j.ServeID, &j.ServeName, &j.Version, &j.GithubRepoURL, &j.Branch, &j.FilePath, &j.TaskID, &j.Status, &c, &u, &by)
	j.CreatedAt, j.StatusLastUpdatedAt, j.CreatedBy = ms(c), ms(u), idPtr(by)
	return j, err
}

// CreateJob records a PENDING artifact-builder job.
func (q *Queries) CreateJob(ctx context.Context, j domain.Job) (domain.Job, error) {
	now := q.nowMs()
	id, err := q.insert(ctx, "id", "INSERT INTO artifact_builder_job (serve_id, version, github_repo_url, branch, file_path, task_id, status, created_at, status_last_updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		j.ServeID, j.Version, j.GithubRepoURL, j.Branch, j.FilePath, j.TaskID, domain.JobPending, now, now, j.CreatedBy)
	if err != nil {
		return j, internal(err, "create artifact builder job")
	}
	j.ID, j.Status, j.CreatedAt, j.StatusLastUpdatedAt = id, domain.JobPending, ms(now), ms(now)
	return j, nil
}

// Job returns a builder job by id.
func (q *Queries) Job(ctx context.Context, id int64) (domain.Job, bool, error) {
	j, err := scanJob(q.q.QueryRow(ctx, jobSelect+" WHERE j.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, false, nil
	}
	if err != nil {
		return j, false, internal(err, "load artifact builder job")
	}
	return j, true, nil
}

// LiveJobExists reports whether a PENDING or SUCCESSFUL job exists for the serve's version.
func (q *Queries) LiveJobExists(ctx context.Context, serveID int64, version string) (bool, error) {
	var n int64
	err := q.q.QueryRow(ctx, "SELECT COUNT(*) FROM artifact_builder_job WHERE serve_id = ? AND version = ? AND status IN ('PENDING', 'SUCCESSFUL')", serveID, version).Scan(&n)
	if err != nil {
		return false, internal(err, "check artifact builder jobs")
	}
	return n > 0, nil
}

// LatestJobRepo returns the git URL of the serve's most recent builder job ("" when there is none).
func (q *Queries) LatestJobRepo(ctx context.Context, serveID int64) (string, error) {
	var u string
	err := q.q.QueryRow(ctx, "SELECT github_repo_url FROM artifact_builder_job WHERE serve_id = ? ORDER BY id DESC"+q.dl.LimitOffset(1, 0), serveID).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", internal(err, "load artifact builder job")
	}
	return u, nil
}

// Jobs lists builder jobs, newest first, optionally filtered by serve name and status.
func (q *Queries) Jobs(ctx context.Context, serveName, status string) ([]domain.Job, error) {
	query, args := jobSelect+" WHERE 1 = 1", []any{}
	if serveName != "" {
		query += " AND s.name = ?"
		args = append(args, serveName)
	}
	if status != "" {
		query += " AND j.status = ?"
		args = append(args, status)
	}
	rows, err := q.q.Query(ctx, query+" ORDER BY j.id DESC"+q.dl.LimitOffset(1000, 0), args...)
	if err != nil {
		return nil, internal(err, "list artifact builder jobs")
	}
	defer rows.Close()
	out := []domain.Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, internal(err, "scan artifact builder job")
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, internal(err, "list artifact builder jobs")
	}
	return out, nil
}

// ---- deployments ----

const deploymentSelect = `SELECT d.id, d.serve_id, s.name, d.artifact_id, a.version, d.environment_id, e.name, d.resource_id, COALESCE(u.username, ''), d.created_at, d.status, d.ended_at
FROM deployments d
JOIN serves s ON s.id = d.serve_id
JOIN artifacts a ON a.id = d.artifact_id
JOIN environments e ON e.id = d.environment_id
LEFT JOIN users u ON u.user_id = d.created_by`

func scanDeployment(sc interface{ Scan(...any) error }) (domain.Deployment, error) {
	var d domain.Deployment
	var c int64
	var ended sql.NullInt64
	err := sc.Scan(&d.ID, &d.ServeID, &d.ServeName, &d.ArtifactID, &d.ArtifactVersion, &d.EnvironmentID, &d.EnvName, &d.ResourceID, &d.CreatedBy, &c, &d.Status, &ended)
	d.CreatedAt, d.EndedAt = ms(c), msPtr(ended)
	return d, err
}

// ActiveDeployment returns the deployment the serve's active pointer in env points at.
func (q *Queries) ActiveDeployment(ctx context.Context, serveID, envID int64) (domain.Deployment, bool, error) {
	d, err := scanDeployment(q.q.QueryRow(ctx, deploymentSelect+" JOIN active_deployments ad ON ad.deployment_id = d.id WHERE ad.serve_id = ? AND ad.environment_id = ?", serveID, envID))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, internal(err, "load active deployment")
	}
	return d, true, nil
}

// NewDeployment is what CreateDeployment records.
type NewDeployment struct {
	ServeID, ArtifactID, EnvironmentID int64
	ResourceID                         string
	CreatedBy                          *int64
	AppLayer                           *domain.AppLayerDeployment
}

// CreateDeployment records an ACTIVE deployment (and its app-layer row), ends the serve's previous active
// deployment in that environment and moves the active pointer. Run it in a transaction.
func (q *Queries) CreateDeployment(ctx context.Context, nd NewDeployment) (int64, error) {
	now := q.nowMs()
	id, err := q.insert(ctx, "id", "INSERT INTO deployments (serve_id, artifact_id, environment_id, resource_id, created_by, created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
		nd.ServeID, nd.ArtifactID, nd.EnvironmentID, nd.ResourceID, nd.CreatedBy, now, domain.DeploymentActive)
	if err != nil {
		return 0, internal(err, "create deployment")
	}
	if nd.AppLayer != nil {
		params := nd.AppLayer.Params
		if params == nil {
			params = map[string]any{}
		}
		vars := nd.AppLayer.EnvVars
		if vars == nil {
			vars = map[string]string{}
		}
		if _, err := q.q.Exec(ctx, "INSERT INTO app_layer_deployments (deployment_id, deployment_strategy, deployment_params, environment_variables) VALUES (?, ?, ?, ?)",
			id, nd.AppLayer.Strategy, mustJSON(params), mustJSON(vars)); err != nil {
			return 0, internal(err, "create app layer deployment")
		}
	}
	// The pointer row is read locked (a current read): a concurrent deploy of the same serve waits here and then
	// ends this deployment instead of the one both saw before, so exactly one stays ACTIVE.
	var prev sql.NullInt64
	lock := ""
	if q.dl != db.SQLite {
		lock = " FOR UPDATE"
	}
	err = q.q.QueryRow(ctx, "SELECT deployment_id FROM active_deployments WHERE serve_id = ? AND environment_id = ?"+lock, nd.ServeID, nd.EnvironmentID).Scan(&prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = q.q.Exec(ctx, "INSERT INTO active_deployments (deployment_id, previous_deployment_id, environment_id, serve_id, created_at, updated_at) VALUES (?, NULL, ?, ?, ?, ?)",
			id, nd.EnvironmentID, nd.ServeID, now, now)
	case err == nil:
		if _, err = q.q.Exec(ctx, "UPDATE deployments SET status = ?, ended_at = ? WHERE id = ? AND status = ?", domain.DeploymentEnded, now, prev.Int64, domain.DeploymentActive); err == nil {
			_, err = q.q.Exec(ctx, "UPDATE active_deployments SET deployment_id = ?, previous_deployment_id = ?, updated_at = ? WHERE serve_id = ? AND environment_id = ?",
				id, prev.Int64, now, nd.ServeID, nd.EnvironmentID)
		}
	}
	if db.IsUniqueViolation(err) {
		return 0, apierr.New(apierr.AlreadyExists, "Another deployment of this serve to this environment is in progress; retry")
	}
	if err != nil {
		return 0, internal(err, "move active deployment")
	}
	return id, nil
}

// EndActiveDeployment marks the active deployment ENDED and deletes the active pointer.
func (q *Queries) EndActiveDeployment(ctx context.Context, serveID, envID, deploymentID int64) error {
	now := q.nowMs()
	if _, err := q.q.Exec(ctx, "UPDATE deployments SET status = ?, ended_at = ? WHERE id = ?", domain.DeploymentEnded, now, deploymentID); err != nil {
		return internal(err, "end deployment")
	}
	if _, err := q.q.Exec(ctx, "DELETE FROM active_deployments WHERE serve_id = ? AND environment_id = ?", serveID, envID); err != nil {
		return internal(err, "delete active deployment")
	}
	return nil
}

// AppLayer returns a deployment's app-layer row (strategy, params, environment variables).
func (q *Queries) AppLayer(ctx context.Context, deploymentID int64) (domain.AppLayerDeployment, bool, error) {
	a := domain.AppLayerDeployment{DeploymentID: deploymentID}
	var params, vars string
	err := q.q.QueryRow(ctx, "SELECT deployment_strategy, deployment_params, environment_variables FROM app_layer_deployments WHERE deployment_id = ?", deploymentID).Scan(&a.Strategy, &params, &vars)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, internal(err, "load app layer deployment")
	}
	if err := json.Unmarshal([]byte(params), &a.Params); err != nil {
		return a, false, internal(fmt.Errorf("decode deployment_params: %w", err), "load app layer deployment")
	}
	if err := json.Unmarshal([]byte(vars), &a.EnvVars); err != nil {
		return a, false, internal(fmt.Errorf("decode environment_variables: %w", err), "load app layer deployment")
	}
	return a, true, nil
}

// LatestAppLayer returns the app-layer row of the serve's most recent deployment in env.
func (q *Queries) LatestAppLayer(ctx context.Context, serveID, envID int64) (domain.AppLayerDeployment, bool, error) {
	var id int64
	err := q.q.QueryRow(ctx, "SELECT d.id FROM deployments d JOIN app_layer_deployments al ON al.deployment_id = d.id WHERE d.serve_id = ? AND d.environment_id = ? ORDER BY d.id DESC"+q.dl.LimitOffset(1, 0), serveID, envID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.AppLayerDeployment{}, false, nil
	}
	if err != nil {
		return domain.AppLayerDeployment{}, false, internal(err, "load previous deployment")
	}
	return q.AppLayer(ctx, id)
}

// Deployments returns one page (1-based) of a serve's deployments, newest first, optionally filtered by
// status, and the total number of matching rows.
func (q *Queries) Deployments(ctx context.Context, serveID int64, status string, page, limit int) ([]domain.Deployment, int64, error) {
	where, args := " WHERE d.serve_id = ?", []any{serveID}
	if status != "" {
		where += " AND d.status = ?"
		args = append(args, status)
	}
	var total int64
	if err := q.q.QueryRow(ctx, "SELECT COUNT(*) FROM deployments d"+where, args...).Scan(&total); err != nil {
		return nil, 0, internal(err, "count deployments")
	}
	rows, err := q.q.Query(ctx, deploymentSelect+where+" ORDER BY d.created_at DESC, d.id DESC"+q.dl.LimitOffset(limit, (page-1)*limit), args...)
	if err != nil {
		return nil, 0, internal(err, "list deployments")
	}
	defer rows.Close()
	out := []domain.Deployment{}
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, 0, internal(err, "scan deployment")
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, internal(err, "list deployments")
	}
	return out, total, nil
}

// ActiveByResource returns the ACTIVE deployments that hold resourceID.
func (q *Queries) ActiveByResource(ctx context.Context, resourceID string) ([]domain.Deployment, error) {
	rows, err := q.q.Query(ctx, deploymentSelect+" WHERE d.resource_id = ? AND d.status = ? ORDER BY d.id", resourceID, domain.DeploymentActive)
	if err != nil {
		return nil, internal(err, "look up resource")
	}
	defer rows.Close()
	var out []domain.Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, internal(err, "scan deployment")
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, internal(err, "look up resource")
	}
	return out, nil
}
