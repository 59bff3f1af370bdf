package runtimes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
)

// Store reads and writes the runtime tables. It implements domain.RuntimeResolver.
type Store struct {
	db    *db.DB
	clock clock.Clock
}

// NewStore returns a store over d (migrated with the compute migrations). clk stamps created/updated times.
func NewStore(d *db.DB, clk clock.Clock) *Store {
	if clk == nil {
		clk = clock.Real()
	}
	return &Store{db: d, clock: clk}
}

func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// Resolve returns the image and namespace of runtime: a live v2 runtime first, then the v1 table.
// An unknown runtime is an apierr NotFound error with Field "runtime" (domain.RuntimeResolver's contract;
// the cluster API turns it into a 400 on the request's runtime field).
func (s *Store) Resolve(ctx context.Context, runtime string) (string, string, error) {
	var image string
	err := s.db.QueryRow(ctx, "SELECT image FROM runtimes_v2 WHERE runtime = ? AND is_deleted = ?", runtime, false).Scan(&image)
	switch {
	case err == nil:
		return image, DefaultNamespace, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", "", fmt.Errorf("resolve runtime %q: %w", runtime, err)
	}
	var ns string
	err = s.db.QueryRow(ctx, "SELECT image, namespace FROM cluster_runtimes WHERE runtime = ?", runtime).Scan(&image, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", &apierr.Error{Kind: apierr.NotFound, Field: "runtime", Message: fmt.Sprintf("runtime %q does not exist", runtime)}
	}
	if err != nil {
		return "", "", fmt.Errorf("resolve runtime %q: %w", runtime, err)
	}
	return image, ns, nil
}

// ListV1 returns GET /get-runtimes' data: every v1 runtime grouped by type (cpu, gpu, custom always present).
func (s *Store) ListV1(ctx context.Context) (map[string][]V1Summary, error) {
	rows, err := s.db.Query(ctx, "SELECT runtime, image, created_by, type FROM cluster_runtimes ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list runtimes: %w", err)
	}
	defer rows.Close()
	out := map[string][]V1Summary{}
	for _, t := range v1Types {
		out[t] = []V1Summary{}
	}
	for rows.Next() {
		var sum V1Summary
		var typ string
		if err := rows.Scan(&sum.Name, &sum.Image, &sum.CreatedBy, &typ); err != nil {
			return nil, fmt.Errorf("scan runtime: %w", err)
		}
		out[typ] = append(out[typ], sum)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runtimes: %w", err)
	}
	return out, nil
}

// CreateV1 inserts a v1 runtime; a taken name or image is an apierr AlreadyExists error.
func (s *Store) CreateV1(ctx context.Context, rt V1) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM cluster_runtimes WHERE runtime = ?", rt.Runtime).Scan(&one)
		if err == nil {
			return &apierr.Error{Kind: apierr.AlreadyExists, Field: "runtime", Message: fmt.Sprintf("runtime %q already exists", rt.Runtime)}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("check runtime %q: %w", rt.Runtime, err)
		}
		var other string
		err = tx.QueryRow(ctx, "SELECT runtime FROM cluster_runtimes WHERE image = ?", rt.Image).Scan(&other)
		if err == nil {
			return &apierr.Error{Kind: apierr.AlreadyExists, Field: "image", Message: fmt.Sprintf("image %q is already used by runtime %q", rt.Image, other)}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("check image %q: %w", rt.Image, err)
		}
		_, err = tx.Exec(ctx, "INSERT INTO cluster_runtimes (runtime, image, namespace, created_by, type) VALUES (?, ?, ?, ?, ?)",
			rt.Runtime, rt.Image, rt.Namespace, rt.CreatedBy, rt.Type)
		if db.IsUniqueViolation(err) {
			return apierr.New(apierr.AlreadyExists, "runtime %q or its image already exists", rt.Runtime)
		}
		if err != nil {
			return fmt.Errorf("insert runtime %q: %w", rt.Runtime, err)
		}
		return nil
	})
}

type queryer interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

const v2Columns = "id, runtime, class, type, image, reference_link, created_by, created_at, last_updated_by, last_updated_at, is_deleted, spark_connect, spark_auto_init"

func scanV2(sc interface{ Scan(...any) error }) (V2, error) {
	var rt V2
	var typ, link sql.NullString
	err := sc.Scan(&rt.ID, &rt.Runtime, &rt.Class, &typ, &rt.Image, &link, &rt.CreatedBy, &rt.CreatedAt,
		&rt.LastUpdatedBy, &rt.LastUpdatedAt, &rt.IsDeleted, &rt.SparkConnect, &rt.SparkAutoInit)
	if err != nil {
		return rt, err
	}
	if typ.Valid {
		rt.Type = &typ.String
	}
	if link.Valid {
		rt.ReferenceLink = &link.String
	}
	rt.CreatedAt, rt.LastUpdatedAt = rt.CreatedAt.UTC(), rt.LastUpdatedAt.UTC()
	rt.Components = []Component{}
	return rt, nil
}

// getV2 returns the runtime named name (deleted or not), or sql.ErrNoRows.
func getV2(ctx context.Context, q queryer, name string) (V2, error) {
	rt, err := scanV2(q.QueryRow(ctx, "SELECT "+v2Columns+" FROM runtimes_v2 WHERE runtime = ?", name))
	if err != nil {
		return rt, err
	}
	comps, err := components(ctx, q, []int64{rt.ID})
	if err != nil {
		return rt, err
	}
	rt.Components = comps[rt.ID]
	if rt.Components == nil {
		rt.Components = []Component{}
	}
	return rt, nil
}

func components(ctx context.Context, q queryer, ids []int64) (map[int64][]Component, error) {
	out := map[int64][]Component{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.Query(ctx, "SELECT runtime_id, name, version FROM runtime_components_v2 WHERE runtime_id IN ("+db.Placeholders(len(ids))+") ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("list runtime components: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var c Component
		if err := rows.Scan(&id, &c.Name, &c.Version); err != nil {
			return nil, fmt.Errorf("scan runtime component: %w", err)
		}
		out[id] = append(out[id], c)
	}
	return out, rows.Err()
}

func defaultsByClass(ctx context.Context, q queryer) (map[string]string, error) {
	rows, err := q.Query(ctx, "SELECT d.class, r.runtime FROM default_runtimes_v2 d JOIN runtimes_v2 r ON r.id = d.runtime_id")
	if err != nil {
		return nil, fmt.Errorf("list default runtimes: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var class, name string
		if err := rows.Scan(&class, &name); err != nil {
			return nil, fmt.Errorf("scan default runtime: %w", err)
		}
		out[class] = name
	}
	return out, rows.Err()
}

// GetV2 returns a live v2 runtime. A missing or soft-deleted runtime is an apierr InvalidArgument error
// (the original answers 400 for both).
func (s *Store) GetV2(ctx context.Context, name string) (V2, error) {
	rt, err := getV2(ctx, s.db, name)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && rt.IsDeleted) {
		return V2{}, apierr.InvalidField("runtime", "runtime %q does not exist", name)
	}
	if err != nil {
		return V2{}, fmt.Errorf("get runtime %q: %w", name, err)
	}
	return rt, nil
}

// CreateV2 creates a v2 runtime. Re-creating a soft-deleted name revives and overwrites it; a live name is an
// apierr AlreadyExists error, as is an image used by another runtime.
func (s *Store) CreateV2(ctx context.Context, spec V2Spec) (V2, error) {
	now := s.now()
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		existing, err := getV2(ctx, tx, spec.Runtime)
		switch {
		case err == nil && !existing.IsDeleted:
			return &apierr.Error{Kind: apierr.AlreadyExists, Field: "runtime", Message: fmt.Sprintf("runtime %q already exists", spec.Runtime)}
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("check runtime %q: %w", spec.Runtime, err)
		}
		if err := checkImageFree(ctx, tx, spec.Image, spec.Runtime); err != nil {
			return err
		}
		var id int64
		if err == nil { // soft-deleted: revive with the new definition
			id = existing.ID
			_, err = tx.Exec(ctx, `UPDATE runtimes_v2 SET class = ?, type = ?, image = ?, reference_link = ?, last_updated_by = ?,
				last_updated_at = ?, is_deleted = ?, spark_connect = ?, spark_auto_init = ? WHERE id = ?`,
				spec.Class, spec.Type, spec.Image, spec.ReferenceLink, spec.User, now, false, spec.SparkConnect, spec.SparkAutoInit, id)
			if err != nil {
				return fmt.Errorf("revive runtime %q: %w", spec.Runtime, err)
			}
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO runtimes_v2 (runtime, class, type, image, reference_link, created_by, last_updated_by,
				created_at, last_updated_at, is_deleted, spark_connect, spark_auto_init) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				spec.Runtime, spec.Class, spec.Type, spec.Image, spec.ReferenceLink, spec.User, spec.User, now, now, false,
				spec.SparkConnect, spec.SparkAutoInit)
			if db.IsUniqueViolation(err) {
				return apierr.New(apierr.AlreadyExists, "runtime %q or its image already exists", spec.Runtime)
			}
			if err != nil {
				return fmt.Errorf("insert runtime %q: %w", spec.Runtime, err)
			}
			if err := tx.QueryRow(ctx, "SELECT id FROM runtimes_v2 WHERE runtime = ?", spec.Runtime).Scan(&id); err != nil {
				return fmt.Errorf("read runtime id %q: %w", spec.Runtime, err)
			}
		}
		return writeComponentsAndDefault(ctx, tx, id, spec)
	})
	if err != nil {
		return V2{}, err
	}
	return s.GetV2(ctx, spec.Runtime)
}

// UpdateV2 overwrites a live v2 runtime (identified by its immutable name). A missing or deleted runtime is
// an apierr InvalidArgument error; so is changing the class of a runtime that is its class's default.
func (s *Store) UpdateV2(ctx context.Context, spec V2Spec) (V2, error) {
	now := s.now()
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		existing, err := getV2(ctx, tx, spec.Runtime)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && existing.IsDeleted) {
			return apierr.InvalidField("runtime", "runtime %q does not exist", spec.Runtime)
		}
		if err != nil {
			return fmt.Errorf("get runtime %q: %w", spec.Runtime, err)
		}
		if existing.Class != spec.Class {
			defaults, err := defaultsByClass(ctx, tx)
			if err != nil {
				return err
			}
			if defaults[existing.Class] == existing.Runtime {
				return apierr.InvalidField("class", "runtime %q is the default %s runtime; its class cannot change", spec.Runtime, existing.Class)
			}
		}
		if err := checkImageFree(ctx, tx, spec.Image, spec.Runtime); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE runtimes_v2 SET class = ?, type = ?, image = ?, reference_link = ?, last_updated_by = ?,
			last_updated_at = ?, spark_connect = ?, spark_auto_init = ? WHERE id = ?`,
			spec.Class, spec.Type, spec.Image, spec.ReferenceLink, spec.User, now, spec.SparkConnect, spec.SparkAutoInit, existing.ID)
		if db.IsUniqueViolation(err) {
			return &apierr.Error{Kind: apierr.AlreadyExists, Field: "image", Message: fmt.Sprintf("image %q is already used", spec.Image)}
		}
		if err != nil {
			return fmt.Errorf("update runtime %q: %w", spec.Runtime, err)
		}
		return writeComponentsAndDefault(ctx, tx, existing.ID, spec)
	})
	if err != nil {
		return V2{}, err
	}
	return s.GetV2(ctx, spec.Runtime)
}

func checkImageFree(ctx context.Context, tx *db.Tx, image, runtime string) error {
	var other string
	err := tx.QueryRow(ctx, "SELECT runtime FROM runtimes_v2 WHERE image = ? AND runtime <> ?", image, runtime).Scan(&other)
	if err == nil {
		return &apierr.Error{Kind: apierr.AlreadyExists, Field: "image", Message: fmt.Sprintf("image %q is already used by runtime %q", image, other)}
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("check image %q: %w", image, err)
	}
	return nil
}

func writeComponentsAndDefault(ctx context.Context, tx *db.Tx, id int64, spec V2Spec) error {
	if _, err := tx.Exec(ctx, "DELETE FROM runtime_components_v2 WHERE runtime_id = ?", id); err != nil {
		return fmt.Errorf("clear components of runtime %q: %w", spec.Runtime, err)
	}
	for _, c := range spec.Components {
		if _, err := tx.Exec(ctx, "INSERT INTO runtime_components_v2 (runtime_id, name, version) VALUES (?, ?, ?)", id, c.Name, c.Version); err != nil {
			return fmt.Errorf("insert component %q of runtime %q: %w", c.Name, spec.Runtime, err)
		}
	}
	if !spec.SetAsDefault {
		return nil
	}
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM default_runtimes_v2 WHERE class = ?", spec.Class).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.Exec(ctx, "INSERT INTO default_runtimes_v2 (class, runtime_id) VALUES (?, ?)", spec.Class, id)
	case err == nil:
		_, err = tx.Exec(ctx, "UPDATE default_runtimes_v2 SET runtime_id = ? WHERE class = ?", id, spec.Class)
	}
	if err != nil {
		return fmt.Errorf("set default %s runtime to %q: %w", spec.Class, spec.Runtime, err)
	}
	return nil
}

// SoftDeleteV2 marks a runtime deleted. Missing, already deleted and default runtimes are apierr
// InvalidArgument errors.
func (s *Store) SoftDeleteV2(ctx context.Context, name, user string) error {
	now := s.now()
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		rt, err := getV2(ctx, tx, name)
		if errors.Is(err, sql.ErrNoRows) {
			return apierr.InvalidField("runtime", "runtime %q does not exist", name)
		}
		if err != nil {
			return fmt.Errorf("get runtime %q: %w", name, err)
		}
		if rt.IsDeleted {
			return apierr.InvalidField("runtime", "runtime %q is already deleted", name)
		}
		defaults, err := defaultsByClass(ctx, tx)
		if err != nil {
			return err
		}
		if defaults[rt.Class] == name {
			return apierr.InvalidField("runtime", "runtime %q is the default %s runtime and cannot be deleted", name, rt.Class)
		}
		if _, err := tx.Exec(ctx, "UPDATE runtimes_v2 SET is_deleted = ?, last_updated_by = ?, last_updated_at = ? WHERE id = ?",
			true, user, now, rt.ID); err != nil {
			return fmt.Errorf("soft-delete runtime %q: %w", name, err)
		}
		return nil
	})
}

// ListV2 answers POST /runtime/v2/get-all for caller (whose email decides "Created By Me").
func (s *Store) ListV2(ctx context.Context, f ListFilter, caller string) ([]ClassGroup, error) {
	nf, err := f.validate()
	if err != nil {
		return nil, err
	}
	query := "SELECT " + v2Columns + " FROM runtimes_v2 WHERE is_deleted = ?"
	args := []any{nf.isDeleted}
	if nf.class != "" {
		query += " AND class = ?"
		args = append(args, nf.class)
	}
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list runtimes: %w", err)
	}
	var all []V2
	for rows.Next() {
		rt, err := scanV2(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan runtime: %w", err)
		}
		if nf.search == "" || strings.Contains(strings.ToLower(rt.Runtime), strings.ToLower(nf.search)) {
			all = append(all, rt)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runtimes: %w", err)
	}
	// Sorted here, not in SQL, so the order is the same on every dialect (collations differ).
	sort.Slice(all, func(i, j int) bool { return all[i].Runtime < all[j].Runtime })
	ids := make([]int64, len(all))
	for i, rt := range all {
		ids[i] = rt.ID
	}
	comps, err := components(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if c := comps[all[i].ID]; c != nil {
			all[i].Components = c
		}
	}
	defaults, err := defaultsByClass(ctx, s.db)
	if err != nil {
		return nil, err
	}
	return groupRuntimes(all, defaults, nf, caller), nil
}
