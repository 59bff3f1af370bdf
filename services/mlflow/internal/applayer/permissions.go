package applayer

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/auth"
	"github.com/darwinml/darwin/pkg/db"
)

// Permission is an experiment permission level, as in MLflow's basic-auth app.
type Permission int

// Levels, ordered: each includes the ones below it.
const (
	NoPermissions Permission = iota
	Read
	Edit
	Manage
)

// Permission names.
const (
	PermNone   = "NO_PERMISSIONS"
	PermRead   = "READ"
	PermEdit   = "EDIT"
	PermManage = "MANAGE"
)

func (p Permission) String() string {
	switch p {
	case Read:
		return PermRead
	case Edit:
		return PermEdit
	case Manage:
		return PermManage
	}
	return PermNone
}

// ParsePermission parses a grantable permission: READ, EDIT or MANAGE (case-insensitive).
func ParsePermission(s string) (Permission, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case PermRead:
		return Read, nil
	case PermEdit:
		return Edit, nil
	case PermManage:
		return Manage, nil
	}
	return NoPermissions, apierr.InvalidField("permission", "Invalid permission %s: expected one of READ, EDIT, MANAGE", quote(truncate(s, 40)))
}

// ParseDefaultPermission is ParsePermission that also accepts NO_PERMISSIONS.
func ParseDefaultPermission(s string) (Permission, error) {
	if strings.EqualFold(strings.TrimSpace(s), PermNone) {
		return NoPermissions, nil
	}
	p, err := ParsePermission(s)
	if err != nil {
		return p, errors.New("expected one of READ, EDIT, MANAGE, NO_PERMISSIONS, got " + quote(s))
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// errForbidden is the original's "not authorized" answer, with 403 instead of its 402.
var errForbidden = apierr.New(apierr.PermissionDenied, "User is not authorized to perform the action")

// permStore keeps users, experiment creators and grants.
type permStore struct{ db *db.DB }

func nowMillis() int64 { return time.Now().UnixMilli() }

func expID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, apierr.New(apierr.NotFound, "No Experiment with id=%s exists", truncate(id, 40))
	}
	return n, nil
}

// recordUser inserts the user if absent and reports whether it was new.
func (p *permStore) recordUser(ctx context.Context, username string) (bool, error) {
	var created bool
	err := p.db.Tx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM mlflow_app_users WHERE username = ?`, username).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mlflow_app_users (username, created_at) VALUES (?, ?)`, username, nowMillis()); err != nil {
			return err
		}
		created = true
		return nil
	})
	if db.IsUniqueViolation(err) { // a concurrent first call recorded it
		return false, nil
	}
	return created, wrapInternal(err, "record user")
}

// recordCreator records the creator of a new experiment: the user, the creator row and a MANAGE grant.
func (p *permStore) recordCreator(ctx context.Context, experimentID string, id auth.Identity) error {
	n, err := expID(experimentID)
	if err != nil {
		return err
	}
	if _, err := p.recordUser(ctx, id.Email); err != nil {
		return err
	}
	err = p.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM mlflow_experiment_creators WHERE experiment_id = ?`, n); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mlflow_experiment_creators (experiment_id, username, created_at) VALUES (?, ?, ?)`, n, id.Email, nowMillis()); err != nil {
			return err
		}
		return setGrant(ctx, tx, n, id.Email, Manage)
	})
	return wrapInternal(err, "record experiment creator")
}

func setGrant(ctx context.Context, tx *db.Tx, exp int64, user string, perm Permission) error {
	if _, err := tx.Exec(ctx, `DELETE FROM mlflow_experiment_permissions WHERE experiment_id = ? AND username = ?`, exp, user); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO mlflow_experiment_permissions (experiment_id, username, permission) VALUES (?, ?, ?)`, exp, user, perm.String())
	return err
}

// creator returns the recorded creator of an experiment ("" when unknown).
func (p *permStore) creator(ctx context.Context, experimentID string) (string, error) {
	n, err := expID(experimentID)
	if err != nil {
		return "", err
	}
	var u string
	err = p.db.QueryRow(ctx, `SELECT username FROM mlflow_experiment_creators WHERE experiment_id = ?`, n).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return u, wrapInternal(err, "get experiment creator")
}

// grant returns the user's explicit permission on an experiment, if any.
func (p *permStore) grant(ctx context.Context, experimentID, user string) (Permission, bool, error) {
	n, err := expID(experimentID)
	if err != nil {
		return 0, false, err
	}
	var s string
	err = p.db.QueryRow(ctx, `SELECT permission FROM mlflow_experiment_permissions WHERE experiment_id = ? AND username = ?`, n, user).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, wrapInternal(err, "get permission")
	}
	perm, perr := ParsePermission(s)
	if perr != nil {
		return NoPermissions, true, nil // an unknown stored value grants nothing
	}
	return perm, true, nil
}

// Grant is one explicit permission.
type Grant struct {
	Username   string `json:"username"`
	Permission string `json:"permission"`
}

func (p *permStore) grants(ctx context.Context, experimentID string) ([]Grant, error) {
	n, err := expID(experimentID)
	if err != nil {
		return nil, err
	}
	rows, err := p.db.Query(ctx, `SELECT username, permission FROM mlflow_experiment_permissions WHERE experiment_id = ? ORDER BY username`, n)
	if err != nil {
		return nil, wrapInternal(err, "list permissions")
	}
	defer rows.Close()
	out := []Grant{}
	for rows.Next() {
		var g Grant
		if err := rows.Scan(&g.Username, &g.Permission); err != nil {
			return nil, wrapInternal(err, "list permissions")
		}
		out = append(out, g)
	}
	return out, wrapInternal(rows.Err(), "list permissions")
}

var errLastManager = apierr.InvalidField("permission", "An experiment must keep at least one user with MANAGE permission")

// setPermission grants perm to user, refusing to take MANAGE from the experiment's last manager.
func (p *permStore) setPermission(ctx context.Context, experimentID, user string, perm Permission) error {
	n, err := expID(experimentID)
	if err != nil {
		return err
	}
	err = p.db.Tx(ctx, func(tx *db.Tx) error {
		if perm != Manage {
			if err := checkNotLastManager(ctx, tx, n, user); err != nil {
				return err
			}
		}
		return setGrant(ctx, tx, n, user, perm)
	})
	return wrapInternal(err, "set permission")
}

// deletePermission removes user's explicit grant (NotFound when there is none).
func (p *permStore) deletePermission(ctx context.Context, experimentID, user string) error {
	n, err := expID(experimentID)
	if err != nil {
		return err
	}
	err = p.db.Tx(ctx, func(tx *db.Tx) error {
		if err := checkNotLastManager(ctx, tx, n, user); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM mlflow_experiment_permissions WHERE experiment_id = ? AND username = ?`, n, user)
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return apierr.New(apierr.NotFound, "User %s has no permission on experiment %s", user, experimentID)
		}
		return nil
	})
	return wrapInternal(err, "delete permission")
}

// checkNotLastManager fails when user is the only MANAGE holder of the experiment. The experiment's grants
// are locked (FOR UPDATE where supported) so two managers cannot demote each other concurrently.
func checkNotLastManager(ctx context.Context, tx *db.Tx, exp int64, user string) error {
	lock := " FOR UPDATE"
	if tx.Dialect == db.SQLite {
		lock = ""
	}
	rows, err := tx.Query(ctx, `SELECT username, permission FROM mlflow_experiment_permissions WHERE experiment_id = ?`+lock, exp)
	if err != nil {
		return err
	}
	defer rows.Close()
	userIsManager, others := false, 0
	for rows.Next() {
		var u, perm string
		if err := rows.Scan(&u, &perm); err != nil {
			return err
		}
		if strings.EqualFold(perm, PermManage) {
			if u == user {
				userIsManager = true
			} else {
				others++
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if userIsManager && others == 0 {
		return errLastManager
	}
	return nil
}

func wrapInternal(err error, what string) error {
	if err == nil {
		return nil
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return err
	}
	return apierr.Wrap(apierr.Internal, err, "%s", what)
}

// permission returns the caller's effective permission on an experiment: MANAGE for admins, else the
// explicit grant, else the default.
func (h *Handler) permission(ctx context.Context, experimentID, user string) (Permission, error) {
	if h.admins[user] {
		return Manage, nil
	}
	if h.perms == nil {
		return h.defaultPerm, nil
	}
	p, ok, err := h.perms.grant(ctx, experimentID, user)
	if err != nil {
		return NoPermissions, err
	}
	if ok {
		return p, nil
	}
	return h.defaultPerm, nil
}

// authorize fails with 403 unless user holds at least need on the experiment.
func (h *Handler) authorize(ctx context.Context, experimentID, user string, need Permission) error {
	p, err := h.permission(ctx, experimentID, user)
	if err != nil {
		return err
	}
	if p < need {
		return errForbidden
	}
	return nil
}
