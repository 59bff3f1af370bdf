package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
)

// Model registry storage. Registered models are keyed by name (as in MLflow's SQL store); versions, tags and
// aliases carry the name, so a rename updates every table in one transaction. Version numbers come from the
// model row's next_version counter, read and advanced under the model row's lock: concurrent creators get
// distinct numbers and numbers of deleted versions are never handed out again.

var registeredModelSchema = search.RegistrySchema{
	Table:    "mlflow_registered_models",
	Columns:  map[string]string{"name": "name", "creation_timestamp": "creation_time", "last_updated_timestamp": "last_updated_time"},
	Join:     []string{"name"},
	Tags:     search.Table{Name: "mlflow_registered_model_tags", Key: "tag_key", Value: "tag_value"},
	Tiebreak: []search.OrderKey{{Entity: search.Attribute, Key: "name"}},
}

var modelVersionSchema = search.RegistrySchema{
	Table: "mlflow_model_versions",
	Columns: map[string]string{"name": "name", "run_id": "run_id", "source_path": "source", "version_number": "version",
		"creation_timestamp": "creation_time", "last_updated_timestamp": "last_updated_time"},
	Join: []string{"name", "version"},
	Tags: search.Table{Name: "mlflow_model_version_tags", Key: "tag_key", Value: "tag_value"},
	Tiebreak: []search.OrderKey{{Entity: search.Attribute, Key: "name"},
		{Entity: search.Attribute, Key: "version_number", Desc: true}},
}

const modelCols = `name, creation_time, last_updated_time, description, user_id`

const versionCols = `name, version, creation_time, last_updated_time, description, user_id, current_stage, source, run_id, run_link, status`

func modelNotFound(name string) error {
	return domain.NotFound("Registered Model with name=%s not found", name)
}

func versionNotFound(name, version string) error {
	return domain.NotFound("Model Version (name=%s, version=%s) not found", name, version)
}

func scanModel(sc interface{ Scan(...any) error }) (domain.RegisteredModel, error) {
	var m domain.RegisteredModel
	var desc, user sql.NullString
	err := sc.Scan(&m.Name, &m.CreationTimestamp, &m.LastUpdatedTimestamp, &desc, &user)
	m.Description, m.UserID = desc.String, user.String
	return m, err
}

func scanVersion(sc interface{ Scan(...any) error }) (domain.ModelVersion, error) {
	var v domain.ModelVersion
	var n int64
	var desc, user, runID, runLink sql.NullString
	err := sc.Scan(&v.Name, &n, &v.CreationTimestamp, &v.LastUpdatedTimestamp, &desc, &user, &v.CurrentStage, &v.Source, &runID, &runLink, &v.Status)
	v.Version = strconv.FormatInt(n, 10)
	v.Description, v.UserID, v.RunID, v.RunLink = desc.String, user.String, runID.String, runLink.String
	return v, err
}

// getModel reads a model row (locked for update inside a writing transaction when lock is set).
func getModel(ctx context.Context, q querier, d db.Dialect, name string, lock bool) (domain.RegisteredModel, error) {
	query := `SELECT ` + modelCols + ` FROM mlflow_registered_models WHERE name = ?`
	if lock {
		query += lockClause(d)
	}
	m, err := scanModel(q.QueryRow(ctx, query, name))
	if errors.Is(err, sql.ErrNoRows) {
		return m, modelNotFound(name)
	}
	return m, err
}

func getVersion(ctx context.Context, q querier, name string, version int64) (domain.ModelVersion, error) {
	v, err := scanVersion(q.QueryRow(ctx, `SELECT `+versionCols+` FROM mlflow_model_versions WHERE name = ? AND version = ?`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return v, versionNotFound(name, strconv.FormatInt(version, 10))
	}
	return v, err
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func setKV(ctx context.Context, tx *db.Tx, table string, keyCols []string, keyArgs []any, t domain.Tag) error {
	where := strings.Join(keyCols, " = ? AND ") + " = ? AND tag_key = ?"
	args := append(append([]any{}, keyArgs...), t.Key)
	if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+where, args...); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+table+` (`+strings.Join(keyCols, ", ")+`, tag_key, tag_value) VALUES (`+
		db.Placeholders(len(keyCols)+2)+`)`, append(args, t.Value)...)
	return err
}

// ----------------------------------------------------------------------------------------- registered models

// CreateRegisteredModel creates a registered model; a taken name is AlreadyExists.
func (s *Store) CreateRegisteredModel(ctx context.Context, name, description string, tags []domain.Tag) (domain.RegisteredModel, error) {
	if err := domain.ValidateModelName("name", name); err != nil {
		return domain.RegisteredModel{}, err
	}
	if err := domain.ValidateDescription(description); err != nil {
		return domain.RegisteredModel{}, err
	}
	for _, t := range tags {
		if err := domain.ValidateRegistryTag(t); err != nil {
			return domain.RegisteredModel{}, err
		}
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mlflow_registered_models WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apierr.New(apierr.AlreadyExists, "Registered Model (name=%s) already exists.", name)
		}
		now := s.nowMillis()
		if _, err := tx.Exec(ctx, `INSERT INTO mlflow_registered_models (name, creation_time, last_updated_time, description, user_id, next_version) VALUES (?, ?, ?, ?, NULL, 1)`,
			name, now, now, nullStr(description)); err != nil {
			return err
		}
		for _, t := range tags {
			if err := setKV(ctx, tx, "mlflow_registered_model_tags", []string{"name"}, []any{name}, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return domain.RegisteredModel{}, internal(err, "create registered model")
	}
	return s.GetRegisteredModel(ctx, name)
}

// GetRegisteredModel returns a model with its latest version per stage, tags and aliases.
func (s *Store) GetRegisteredModel(ctx context.Context, name string) (domain.RegisteredModel, error) {
	if err := domain.ValidateModelName("name", name); err != nil {
		return domain.RegisteredModel{}, err
	}
	m, err := getModel(ctx, s.db, s.db.Dialect, name, false)
	if err != nil {
		return m, internal(err, "get registered model")
	}
	out, err := s.loadModels(ctx, []domain.RegisteredModel{m})
	if err != nil {
		return m, internal(err, "get registered model")
	}
	return out[0], nil
}

// loadModels fills tags, aliases and latest versions of models.
func (s *Store) loadModels(ctx context.Context, ms []domain.RegisteredModel) ([]domain.RegisteredModel, error) {
	const chunk = 200
	for start := 0; start < len(ms); start += chunk {
		part := ms[start:min(start+chunk, len(ms))]
		idx := map[string]int{}
		args := make([]any, len(part))
		for i, m := range part {
			idx[m.Name], args[i] = i, m.Name
		}
		in := `(` + db.Placeholders(len(part)) + `)`
		rows, err := s.db.Query(ctx, `SELECT name, tag_key, tag_value FROM mlflow_registered_model_tags WHERE name IN `+in, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var n string
			var t domain.Tag
			if err := rows.Scan(&n, &t.Key, &t.Value); err != nil {
				rows.Close()
				return nil, err
			}
			part[idx[n]].Tags = append(part[idx[n]].Tags, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		rows, err = s.db.Query(ctx, `SELECT name, alias, version FROM mlflow_registered_model_aliases WHERE name IN `+in, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var n string
			var a domain.ModelAlias
			var v int64
			if err := rows.Scan(&n, &a.Alias, &v); err != nil {
				rows.Close()
				return nil, err
			}
			a.Version = strconv.FormatInt(v, 10)
			part[idx[n]].Aliases = append(part[idx[n]].Aliases, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		latest, err := s.latestVersions(ctx, s.db, args, nil)
		if err != nil {
			return nil, err
		}
		for _, v := range latest {
			part[idx[v.Name]].LatestVersions = append(part[idx[v.Name]].LatestVersions, v)
		}
		for i := range part {
			sortByKey(part[i].Tags, func(t domain.Tag) string { return t.Key })
			sortByKey(part[i].Aliases, func(a domain.ModelAlias) string { return a.Alias })
		}
	}
	return ms, nil
}

func stageRank(stage string) int {
	for i, s := range domain.AllStages {
		if s == stage {
			return i
		}
	}
	return len(domain.AllStages)
}

// latestVersions returns, for each model name in names, its highest version in each of stages (all stages when
// empty), ordered by name then stage (None, Staging, Production, Archived), with tags and aliases.
func (s *Store) latestVersions(ctx context.Context, q querier, names []any, stages []string) ([]domain.ModelVersion, error) {
	if len(names) == 0 {
		return nil, nil
	}
	query := `SELECT ` + versionCols + ` FROM mlflow_model_versions v WHERE v.name IN (` + db.Placeholders(len(names)) +
		`) AND v.version = (SELECT MAX(v2.version) FROM mlflow_model_versions v2 WHERE v2.name = v.name AND v2.current_stage = v.current_stage)`
	args := append([]any{}, names...)
	if len(stages) > 0 {
		query += ` AND v.current_stage IN (` + db.Placeholders(len(stages)) + `)`
		for _, st := range stages {
			args = append(args, st)
		}
	}
	vs, err := scanVersions(q.Query(ctx, query, args...))
	if err != nil {
		return nil, err
	}
	pos := map[string]int{}
	for i, n := range names {
		pos[n.(string)] = i
	}
	slices.SortStableFunc(vs, func(a, b domain.ModelVersion) int {
		if c := cmp.Compare(pos[a.Name], pos[b.Name]); c != 0 {
			return c
		}
		return cmp.Compare(stageRank(a.CurrentStage), stageRank(b.CurrentStage))
	})
	return vs, loadVersionExtras(ctx, q, vs)
}

func scanVersions(rows *sql.Rows, err error) ([]domain.ModelVersion, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.ModelVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// loadVersionExtras fills the tags and aliases of versions.
func loadVersionExtras(ctx context.Context, q querier, vs []domain.ModelVersion) error {
	const chunk = 200
	for start := 0; start < len(vs); start += chunk {
		part := vs[start:min(start+chunk, len(vs))]
		idx := map[string]int{}
		var conds []string
		var args []any
		for i, v := range part {
			idx[v.Name+"\x00"+v.Version] = i
			n, _ := strconv.ParseInt(v.Version, 10, 64)
			conds = append(conds, `(name = ? AND version = ?)`)
			args = append(args, v.Name, n)
		}
		where := strings.Join(conds, " OR ")
		rows, err := q.Query(ctx, `SELECT name, version, tag_key, tag_value FROM mlflow_model_version_tags WHERE `+where, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			var n int64
			var t domain.Tag
			if err := rows.Scan(&name, &n, &t.Key, &t.Value); err != nil {
				rows.Close()
				return err
			}
			i := idx[name+"\x00"+strconv.FormatInt(n, 10)]
			part[i].Tags = append(part[i].Tags, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = q.Query(ctx, `SELECT name, version, alias FROM mlflow_registered_model_aliases WHERE `+where, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name, alias string
			var n int64
			if err := rows.Scan(&name, &n, &alias); err != nil {
				rows.Close()
				return err
			}
			i := idx[name+"\x00"+strconv.FormatInt(n, 10)]
			part[i].Aliases = append(part[i].Aliases, alias)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range part {
			sortByKey(part[i].Tags, func(t domain.Tag) string { return t.Key })
			sortByKey(part[i].Aliases, func(a string) string { return a })
		}
	}
	return nil
}

// RenameRegisteredModel renames a model with its versions, tags and aliases.
func (s *Store) RenameRegisteredModel(ctx context.Context, name, newName string) (domain.RegisteredModel, error) {
	if err := domain.ValidateModelName("name", name); err != nil {
		return domain.RegisteredModel{}, err
	}
	if err := domain.ValidateModelName("new_name", newName); err != nil {
		return domain.RegisteredModel{}, err
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		if name == newName {
			return nil
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mlflow_registered_models WHERE name = ?`, newName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apierr.New(apierr.AlreadyExists, "Registered Model (name=%s) already exists.", newName)
		}
		if _, err := tx.Exec(ctx, `UPDATE mlflow_registered_models SET name = ?, last_updated_time = ? WHERE name = ?`, newName, s.nowMillis(), name); err != nil {
			return err
		}
		for _, table := range []string{"mlflow_model_versions", "mlflow_registered_model_tags", "mlflow_model_version_tags", "mlflow_registered_model_aliases"} {
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET name = ? WHERE name = ?`, newName, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return domain.RegisteredModel{}, internal(err, "rename registered model")
	}
	return s.GetRegisteredModel(ctx, newName)
}

// UpdateRegisteredModel sets a model's description (nil leaves it unchanged).
func (s *Store) UpdateRegisteredModel(ctx context.Context, name string, description *string) (domain.RegisteredModel, error) {
	if err := domain.ValidateModelName("name", name); err != nil {
		return domain.RegisteredModel{}, err
	}
	if description != nil {
		if err := domain.ValidateDescription(*description); err != nil {
			return domain.RegisteredModel{}, err
		}
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		if description == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE mlflow_registered_models SET description = ?, last_updated_time = ? WHERE name = ?`, nullStr(*description), s.nowMillis(), name)
		return err
	})
	if err != nil {
		return domain.RegisteredModel{}, internal(err, "update registered model")
	}
	return s.GetRegisteredModel(ctx, name)
}

// DeleteRegisteredModel deletes a model with all its versions, tags and aliases.
func (s *Store) DeleteRegisteredModel(ctx context.Context, name string) error {
	if err := domain.ValidateModelName("name", name); err != nil {
		return err
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		for _, table := range []string{"mlflow_registered_model_aliases", "mlflow_model_version_tags", "mlflow_registered_model_tags", "mlflow_model_versions", "mlflow_registered_models"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE name = ?`, name); err != nil {
				return err
			}
		}
		return nil
	})
	return internal(err, "delete registered model")
}

// SearchRegisteredModels returns up to limit models matching filter from offset in order (name ascending by
// default), and whether more follow.
func (s *Store) SearchRegisteredModels(ctx context.Context, filter search.Filter, order []search.OrderKey, limit, offset int) ([]domain.RegisteredModel, bool, error) {
	where, args := registeredModelSchema.FilterSQL(filter, s.db.Dialect, "m")
	if where == "" {
		where = "1 = 1"
	}
	rows, err := s.db.Query(ctx, `SELECT `+qualify("m", modelCols)+` FROM mlflow_registered_models m WHERE `+where+
		` ORDER BY `+registeredModelSchema.OrderSQL(order, s.db.Dialect, "m")+s.db.Dialect.LimitOffset(limit+1, offset), args...)
	if err != nil {
		return nil, false, internal(err, "search registered models")
	}
	var out []domain.RegisteredModel
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			rows.Close()
			return nil, false, internal(err, "search registered models")
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, internal(err, "search registered models")
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	out, err = s.loadModels(ctx, out)
	return out, more, internal(err, "search registered models")
}

func qualify(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}

// GetLatestVersions returns the model's highest version in each requested stage (every stage when none are
// given), in the order None, Staging, Production, Archived. Stages are case-insensitive.
func (s *Store) GetLatestVersions(ctx context.Context, name string, stages []string) ([]domain.ModelVersion, error) {
	if err := domain.ValidateModelName("name", name); err != nil {
		return nil, err
	}
	canon := make([]string, 0, len(stages))
	for _, st := range stages {
		c, err := domain.CanonicalStage("stages", st)
		if err != nil {
			return nil, err
		}
		canon = append(canon, c)
	}
	if _, err := getModel(ctx, s.db, s.db.Dialect, name, false); err != nil {
		return nil, internal(err, "get latest versions")
	}
	vs, err := s.latestVersions(ctx, s.db, []any{name}, canon)
	return vs, internal(err, "get latest versions")
}

// SetRegisteredModelTag sets (overwrites) a tag of a model.
func (s *Store) SetRegisteredModelTag(ctx context.Context, name string, t domain.Tag) error {
	if err := domain.ValidateModelName("name", name); err != nil {
		return err
	}
	if err := domain.ValidateRegistryTag(t); err != nil {
		return err
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		return setKV(ctx, tx, "mlflow_registered_model_tags", []string{"name"}, []any{name}, t)
	})
	return internal(err, "set registered model tag")
}

// DeleteRegisteredModelTag deletes a tag of a model; a missing tag is not an error (as in MLflow).
func (s *Store) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	if err := domain.ValidateModelName("name", name); err != nil {
		return err
	}
	if err := domain.ValidateKey("tag", key); err != nil {
		return err
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM mlflow_registered_model_tags WHERE name = ? AND tag_key = ?`, name, key)
		return err
	})
	return internal(err, "delete registered model tag")
}

// SetModelAlias points alias at an existing version of the model (moving it if it pointed elsewhere).
func (s *Store) SetModelAlias(ctx context.Context, name, alias, version string) error {
	if err := domain.ValidateModelName("name", name); err != nil {
		return err
	}
	if err := domain.ValidateAlias(alias); err != nil {
		return err
	}
	n, err := domain.ParseVersion(version)
	if err != nil {
		return err
	}
	err = s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		if _, err := getVersion(ctx, tx, name, n); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mlflow_registered_model_aliases WHERE name = ? AND alias = ?`, name, alias); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO mlflow_registered_model_aliases (name, alias, version) VALUES (?, ?, ?)`, name, alias, n)
		return err
	})
	return internal(err, "set registered model alias")
}

// DeleteModelAlias removes an alias of the model; a missing alias is not an error (as in MLflow).
func (s *Store) DeleteModelAlias(ctx context.Context, name, alias string) error {
	if err := domain.ValidateModelName("name", name); err != nil {
		return err
	}
	if alias == "" {
		return apierr.InvalidField("alias", "Missing value for required parameter 'alias'.")
	}
	err := s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM mlflow_registered_model_aliases WHERE name = ? AND alias = ?`, name, alias)
		return err
	})
	return internal(err, "delete registered model alias")
}

// GetModelVersionByAlias returns the version an alias points at.
func (s *Store) GetModelVersionByAlias(ctx context.Context, name, alias string) (domain.ModelVersion, error) {
	if err := domain.ValidateModelName("name", name); err != nil {
		return domain.ModelVersion{}, err
	}
	if alias == "" {
		return domain.ModelVersion{}, apierr.InvalidField("alias", "Missing value for required parameter 'alias'.")
	}
	if _, err := getModel(ctx, s.db, s.db.Dialect, name, false); err != nil {
		return domain.ModelVersion{}, internal(err, "get model version by alias")
	}
	var n int64
	err := s.db.QueryRow(ctx, `SELECT version FROM mlflow_registered_model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.ModelVersion{}, domain.NotFound("Registered model alias %s not found.", alias)
	}
	if err != nil {
		return domain.ModelVersion{}, internal(err, "get model version by alias")
	}
	return s.getVersionFull(ctx, name, n)
}

// ------------------------------------------------------------------------------------------- model versions

// CreateModelVersionInput is what model-versions/create carries.
type CreateModelVersionInput struct {
	Name        string
	Source      string
	RunID       string
	RunLink     string
	Description string
	Tags        []domain.Tag
}

// CreateModelVersion adds the next version (stage None, status READY) to a model. A run_id must name an
// existing run.
func (s *Store) CreateModelVersion(ctx context.Context, in CreateModelVersionInput) (domain.ModelVersion, error) {
	if err := domain.ValidateModelName("name", in.Name); err != nil {
		return domain.ModelVersion{}, err
	}
	switch {
	case in.Source == "":
		return domain.ModelVersion{}, apierr.InvalidField("source", "Missing value for required parameter 'source'.")
	case len(in.Source) > domain.MaxModelVersionSourceLen:
		return domain.ModelVersion{}, apierr.InvalidField("source", "source had length %d, which exceeded length limit of %d", len(in.Source), domain.MaxModelVersionSourceLen)
	case len(in.RunLink) > domain.MaxModelVersionRunLinkLen:
		return domain.ModelVersion{}, apierr.InvalidField("run_link", "run_link had length %d, which exceeded length limit of %d", len(in.RunLink), domain.MaxModelVersionRunLinkLen)
	}
	if err := domain.ValidateDescription(in.Description); err != nil {
		return domain.ModelVersion{}, err
	}
	for _, t := range in.Tags {
		if err := domain.ValidateRegistryTag(t); err != nil {
			return domain.ModelVersion{}, err
		}
	}
	var version int64
	err := s.retry(ctx, func(tx *db.Tx) error {
		if in.RunID != "" {
			var c int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mlflow_runs WHERE run_uuid = ?`, in.RunID).Scan(&c); err != nil {
				return err
			}
			if c == 0 {
				return apierr.InvalidField("run_id", "Run with id=%s not found; model versions can only refer to existing runs", in.RunID)
			}
		}
		if err := tx.QueryRow(ctx, `SELECT next_version FROM mlflow_registered_models WHERE name = ?`+lockClause(tx.Dialect), in.Name).Scan(&version); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return modelNotFound(in.Name)
			}
			return err
		}
		now := s.nowMillis()
		if _, err := tx.Exec(ctx, `UPDATE mlflow_registered_models SET next_version = ?, last_updated_time = ? WHERE name = ?`, version+1, now, in.Name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mlflow_model_versions (`+versionCols+`) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)`,
			in.Name, version, now, now, nullStr(in.Description), domain.StageNone, in.Source, nullStr(in.RunID), nullStr(in.RunLink), domain.ModelVersionReady); err != nil {
			return err
		}
		for _, t := range in.Tags {
			if err := setKV(ctx, tx, "mlflow_model_version_tags", []string{"name", "version"}, []any{in.Name, version}, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return domain.ModelVersion{}, internal(err, "create model version")
	}
	return s.getVersionFull(ctx, in.Name, version)
}

func (s *Store) getVersionFull(ctx context.Context, name string, n int64) (domain.ModelVersion, error) {
	v, err := getVersion(ctx, s.db, name, n)
	if err != nil {
		return v, internal(err, "get model version")
	}
	vs := []domain.ModelVersion{v}
	if err := loadVersionExtras(ctx, s.db, vs); err != nil {
		return v, internal(err, "get model version")
	}
	return vs[0], nil
}

func parseNameVersion(name, version string) (int64, error) {
	if err := domain.ValidateModelName("name", name); err != nil {
		return 0, err
	}
	return domain.ParseVersion(version)
}

// GetModelVersion returns one version with its tags and aliases.
func (s *Store) GetModelVersion(ctx context.Context, name, version string) (domain.ModelVersion, error) {
	n, err := parseNameVersion(name, version)
	if err != nil {
		return domain.ModelVersion{}, err
	}
	return s.getVersionFull(ctx, name, n)
}

// GetModelVersionDownloadURI returns where a version's artifacts are (its source).
func (s *Store) GetModelVersionDownloadURI(ctx context.Context, name, version string) (string, error) {
	v, err := s.GetModelVersion(ctx, name, version)
	return v.Source, err
}

// updateVersion runs fn on a locked model and an existing version, then returns the version.
func (s *Store) updateVersion(ctx context.Context, what, name, version string, fn func(tx *db.Tx, n int64, v domain.ModelVersion, now int64) error) (domain.ModelVersion, error) {
	return s.writeVersion(ctx, what, name, version, true, fn)
}

// writeVersion is updateVersion; without readBack it returns the zero version.
func (s *Store) writeVersion(ctx context.Context, what, name, version string, readBack bool, fn func(tx *db.Tx, n int64, v domain.ModelVersion, now int64) error) (domain.ModelVersion, error) {
	n, err := parseNameVersion(name, version)
	if err != nil {
		return domain.ModelVersion{}, err
	}
	err = s.retry(ctx, func(tx *db.Tx) error {
		if _, err := getModel(ctx, tx, tx.Dialect, name, true); err != nil {
			return err
		}
		v, err := getVersion(ctx, tx, name, n)
		if err != nil {
			return err
		}
		return fn(tx, n, v, s.nowMillis())
	})
	if err != nil || !readBack {
		return domain.ModelVersion{}, internal(err, what)
	}
	return s.getVersionFull(ctx, name, n)
}

// UpdateModelVersion sets a version's description (nil leaves it unchanged).
func (s *Store) UpdateModelVersion(ctx context.Context, name, version string, description *string) (domain.ModelVersion, error) {
	if description != nil {
		if err := domain.ValidateDescription(*description); err != nil {
			return domain.ModelVersion{}, err
		}
	}
	return s.updateVersion(ctx, "update model version", name, version, func(tx *db.Tx, n int64, _ domain.ModelVersion, now int64) error {
		if description == nil {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE mlflow_model_versions SET description = ?, last_updated_time = ? WHERE name = ? AND version = ?`, nullStr(*description), now, name, n)
		return err
	})
}

// TransitionModelVersionStage moves a version to stage (case-insensitive None, Staging, Production, Archived).
// With archiveExisting (allowed for Staging and Production only) the model's other versions in that stage move
// to Archived.
func (s *Store) TransitionModelVersionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (domain.ModelVersion, error) {
	canon, err := domain.CanonicalStage("stage", stage)
	if err != nil {
		return domain.ModelVersion{}, err
	}
	if archiveExisting && canon != domain.StageStaging && canon != domain.StageProduction {
		return domain.ModelVersion{}, apierr.InvalidField("archive_existing_versions", "Model version transition cannot archive existing model versions because '%s' is not an Active stage. Valid stages are %s, %s", canon, domain.StageStaging, domain.StageProduction)
	}
	return s.updateVersion(ctx, "transition model version stage", name, version, func(tx *db.Tx, n int64, _ domain.ModelVersion, now int64) error {
		if archiveExisting {
			if _, err := tx.Exec(ctx, `UPDATE mlflow_model_versions SET current_stage = ?, last_updated_time = ? WHERE name = ? AND current_stage = ? AND version <> ?`,
				domain.StageArchived, now, name, canon, n); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE mlflow_model_versions SET current_stage = ?, last_updated_time = ? WHERE name = ? AND version = ?`, canon, now, name, n); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE mlflow_registered_models SET last_updated_time = ? WHERE name = ?`, now, name)
		return err
	})
}

// DeleteModelVersion deletes a version with its tags and the aliases pointing at it. Its number is not reused.
func (s *Store) DeleteModelVersion(ctx context.Context, name, version string) error {
	_, err := s.writeVersion(ctx, "delete model version", name, version, false, func(tx *db.Tx, n int64, _ domain.ModelVersion, now int64) error {
		for _, table := range []string{"mlflow_registered_model_aliases", "mlflow_model_version_tags", "mlflow_model_versions"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE name = ? AND version = ?`, name, n); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE mlflow_registered_models SET last_updated_time = ? WHERE name = ?`, now, name)
		return err
	})
	return err
}

// SetModelVersionTag sets (overwrites) a tag of a version.
func (s *Store) SetModelVersionTag(ctx context.Context, name, version string, t domain.Tag) error {
	if err := domain.ValidateRegistryTag(t); err != nil {
		return err
	}
	_, err := s.writeVersion(ctx, "set model version tag", name, version, false, func(tx *db.Tx, n int64, _ domain.ModelVersion, _ int64) error {
		return setKV(ctx, tx, "mlflow_model_version_tags", []string{"name", "version"}, []any{name, n}, t)
	})
	return err
}

// DeleteModelVersionTag deletes a tag of a version; a missing tag is not an error (as in MLflow).
func (s *Store) DeleteModelVersionTag(ctx context.Context, name, version, key string) error {
	if err := domain.ValidateKey("tag", key); err != nil {
		return err
	}
	_, err := s.writeVersion(ctx, "delete model version tag", name, version, false, func(tx *db.Tx, n int64, _ domain.ModelVersion, _ int64) error {
		_, err := tx.Exec(ctx, `DELETE FROM mlflow_model_version_tags WHERE name = ? AND version = ? AND tag_key = ?`, name, n, key)
		return err
	})
	return err
}

// SearchModelVersions returns up to limit versions matching filter from offset in order (name ascending, then
// version descending by default), and whether more follow.
func (s *Store) SearchModelVersions(ctx context.Context, filter search.Filter, order []search.OrderKey, limit, offset int) ([]domain.ModelVersion, bool, error) {
	where, args := modelVersionSchema.FilterSQL(filter, s.db.Dialect, "v")
	if where == "" {
		where = "1 = 1"
	}
	out, err := scanVersions(s.db.Query(ctx, `SELECT `+qualify("v", versionCols)+` FROM mlflow_model_versions v WHERE `+where+
		` ORDER BY `+modelVersionSchema.OrderSQL(order, s.db.Dialect, "v")+s.db.Dialect.LimitOffset(limit+1, offset), args...))
	if err != nil {
		return nil, false, internal(err, "search model versions")
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, internal(loadVersionExtras(ctx, s.db, out), "search model versions")
}

// ResolveModelURI resolves models:/<name>/<version>, models:/<name>/<stage> (the highest version in that stage),
// models:/<name>/latest (the highest version) and models:/<name>@<alias> to the version and its source.
func (s *Store) ResolveModelURI(ctx context.Context, uri string) (string, domain.ModelVersion, error) {
	rest, ok := strings.CutPrefix(uri, "models:/")
	if !ok {
		return "", domain.ModelVersion{}, apierr.InvalidField("uri", "Not a models:/ URI: '%s'", uri)
	}
	bad := apierr.InvalidField("uri", "Invalid model URI '%s': expected models:/<name>/<version>, models:/<name>/<stage>, models:/<name>/latest or models:/<name>@<alias>", uri)
	var v domain.ModelVersion
	var err error
	if name, ref, ok := strings.Cut(rest, "/"); ok {
		if name == "" || ref == "" || strings.Contains(ref, "/") {
			return "", v, bad
		}
		switch {
		case ref[0] >= '0' && ref[0] <= '9':
			v, err = s.GetModelVersion(ctx, name, ref)
		case strings.EqualFold(ref, "latest"):
			v, err = s.latestOf(ctx, name, nil, uri)
		default:
			stage, serr := domain.CanonicalStage("uri", ref)
			if serr != nil {
				return "", v, bad
			}
			v, err = s.latestOf(ctx, name, []string{stage}, uri)
		}
	} else if i := strings.LastIndex(rest, "@"); i > 0 && i < len(rest)-1 {
		v, err = s.GetModelVersionByAlias(ctx, rest[:i], rest[i+1:])
	} else {
		return "", v, bad
	}
	if err != nil {
		return "", domain.ModelVersion{}, err
	}
	return v.Source, v, nil
}

func (s *Store) latestOf(ctx context.Context, name string, stages []string, uri string) (domain.ModelVersion, error) {
	vs, err := s.GetLatestVersions(ctx, name, stages)
	if err != nil {
		return domain.ModelVersion{}, err
	}
	var best domain.ModelVersion
	var bestN int64
	for _, v := range vs {
		if n, _ := strconv.ParseInt(v.Version, 10, 64); n > bestN {
			best, bestN = v, n
		}
	}
	if bestN == 0 {
		return best, domain.NotFound("No versions of model %s match '%s'", name, uri)
	}
	return best, nil
}
