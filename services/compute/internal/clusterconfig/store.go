// Package clusterconfig owns the cluster_configs key/value table (cloud_env and friends) and its REST API.
package clusterconfig

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
)

// Limits on keys and values.
const (
	MaxKeyLen   = 255
	MaxValueLen = 32 << 10 // fits MySQL TEXT (65535 bytes) with room to spare
	MaxLimit    = 1000
)

// Entry is one cluster config row.
type Entry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Store reads and writes cluster_configs. It implements domain.ConfigGetter.
type Store struct {
	db *db.DB
}

// NewStore returns a store over d (migrated with the compute migrations).
func NewStore(d *db.DB) *Store { return &Store{db: d} }

// ValidateKey checks a config key.
func ValidateKey(key string) error {
	switch {
	case strings.TrimSpace(key) == "":
		return apierr.InvalidField("key", "key is required")
	case len(key) > MaxKeyLen:
		return apierr.InvalidField("key", "key must be at most %d bytes", MaxKeyLen)
	case !utf8.ValidString(key) || strings.ContainsAny(key, "\x00\r\n\t/"):
		return apierr.InvalidField("key", "key contains invalid characters")
	}
	return nil
}

// ValidateValue checks a config value.
func ValidateValue(value string) error {
	switch {
	case len(value) > MaxValueLen:
		return apierr.InvalidField("value", "value must be at most %d bytes", MaxValueLen)
	case !utf8.ValidString(value) || strings.ContainsRune(value, 0):
		return apierr.InvalidField("value", "value contains invalid characters")
	}
	return nil
}

// List returns configs ordered by key.
func (s *Store) List(ctx context.Context, offset, limit int) ([]Entry, error) {
	if offset < 0 {
		return nil, apierr.InvalidField("offset", "offset must be >= 0")
	}
	if limit < 1 || limit > MaxLimit {
		return nil, apierr.InvalidField("limit", "limit must be between 1 and %d", MaxLimit)
	}
	rows, err := s.db.Query(ctx, "SELECT config_key, value FROM cluster_configs ORDER BY config_key"+s.db.Dialect.LimitOffset(limit, offset))
	if err != nil {
		return nil, fmt.Errorf("list cluster configs: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			return nil, fmt.Errorf("scan cluster config: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list cluster configs: %w", err)
	}
	return out, nil
}

// Get returns the value of key, or an apierr NotFound error.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, "SELECT value FROM cluster_configs WHERE config_key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apierr.New(apierr.NotFound, "cluster config %q not found", key)
	}
	if err != nil {
		return "", fmt.Errorf("get cluster config %q: %w", key, err)
	}
	return v, nil
}

// Create inserts a new key; an existing key is an apierr AlreadyExists error.
func (s *Store) Create(ctx context.Context, key, value string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ValidateValue(value); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, "INSERT INTO cluster_configs (config_key, value) VALUES (?, ?)", key, value)
	if db.IsUniqueViolation(err) {
		return apierr.New(apierr.AlreadyExists, "cluster config %q already exists", key)
	}
	if err != nil {
		return fmt.Errorf("create cluster config %q: %w", key, err)
	}
	return nil
}

// Update replaces the value of an existing key; a missing key is an apierr NotFound error.
func (s *Store) Update(ctx context.Context, key, value string) error {
	if err := ValidateValue(value); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM cluster_configs WHERE config_key = ?", key).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return apierr.New(apierr.NotFound, "cluster config %q not found", key)
		}
		if err != nil {
			return fmt.Errorf("find cluster config %q: %w", key, err)
		}
		// MySQL reports 0 affected rows when the value is unchanged, so existence is checked above.
		if _, err := tx.Exec(ctx, "UPDATE cluster_configs SET value = ? WHERE config_key = ?", value, key); err != nil {
			return fmt.Errorf("update cluster config %q: %w", key, err)
		}
		return nil
	})
}
