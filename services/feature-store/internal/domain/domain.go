package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// States of entities and feature groups.
const (
	StateLive     = "LIVE"
	StateArchived = "ARCHIVED"
)

// Feature group types.
const (
	TypeOnline  = "ONLINE"
	TypeOffline = "OFFLINE"
)

// DefaultTenant is every feature group's tenant until tenants are configured.
const DefaultTenant = "default-tenant"

// Separator joins feature group name, version and column in online-store column names (§5.2).
const Separator = "__"

// ColumnTypes are the Cassandra column types a FeatureColumn may declare.
var ColumnTypes = map[string]bool{
	"TEXT": true, "ASCII": true, "VARCHAR": true, "BLOB": true, "BOOLEAN": true, "DECIMAL": true, "DOUBLE": true,
	"FLOAT": true, "INT": true, "BIGINT": true, "TIMESTAMP": true, "TIMEUUID": true, "UUID": true, "INET": true, "VARINT": true,
}

var identRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// ValidIdent reports whether s is usable as a table, feature group or column name (a CQL identifier of at most 48
// characters). Names may not contain the "__" separator.
func ValidIdent(s string) bool { return identRE.MatchString(s) && !strings.Contains(s, Separator) }

// FeatureColumn is one typed column.
type FeatureColumn struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
}

// Entity defines an online table and its primary key.
type Entity struct {
	TableName   string          `json:"tableName"`
	Features    []FeatureColumn `json:"features"`
	PrimaryKeys []string        `json:"primaryKeys"`
	TTL         *int64          `json:"ttl,omitempty"`
}

// Column returns the entity column called name.
func (e *Entity) Column(name string) (FeatureColumn, bool) {
	for _, c := range e.Features {
		if c.Name == name {
			return c, true
		}
	}
	return FeatureColumn{}, false
}

// IsPrimaryKey reports whether name is one of the entity's primary key columns.
func (e *Entity) IsPrimaryKey(name string) bool {
	for _, p := range e.PrimaryKeys {
		if p == name {
			return true
		}
	}
	return false
}

// EntityMetadata is an entity with its registry fields.
type EntityMetadata struct {
	Name        string   `json:"name"`
	Entity      Entity   `json:"entity"`
	State       string   `json:"state"`
	Owner       string   `json:"owner"`
	Tags        []string `json:"tags"`
	Description string   `json:"description"`
	CreatedAt   int64    `json:"createdAt"`
	UpdatedAt   int64    `json:"updatedAt"`
}

// FeatureGroup is a set of feature columns of one entity.
type FeatureGroup struct {
	FeatureGroupName string          `json:"featureGroupName"`
	VersionEnabled   bool            `json:"versionEnabled"`
	FeatureGroupType string          `json:"featureGroupType"`
	EntityName       string          `json:"entityName"`
	Features         []FeatureColumn `json:"features"`
}

// Column returns the feature column called name.
func (g *FeatureGroup) Column(name string) (FeatureColumn, bool) {
	for _, c := range g.Features {
		if c.Name == name {
			return c, true
		}
	}
	return FeatureColumn{}, false
}

// Tenant is a feature group's tenant assignment (wire keys read/write/consume, §17).
type Tenant struct {
	Read    string `json:"read"`
	Write   string `json:"write"`
	Consume string `json:"consume"`
}

// DefaultTenants assigns every role to DefaultTenant.
func DefaultTenants() Tenant { return Tenant{DefaultTenant, DefaultTenant, DefaultTenant} }

// FeatureGroupMetadata is one version of a feature group with its registry fields.
type FeatureGroupMetadata struct {
	Name             string       `json:"name"`
	VersionEnabled   bool         `json:"versionEnabled"`
	Version          string       `json:"version"`
	FeatureGroupType string       `json:"featureGroupType"`
	FeatureGroup     FeatureGroup `json:"featureGroup"`
	Owner            string       `json:"owner"`
	State            string       `json:"state"`
	Tags             []string     `json:"tags"`
	Tenant           Tenant       `json:"tenant"`
	Description      string       `json:"description"`
	CreatedAt        int64        `json:"createdAt"`
	UpdatedAt        int64        `json:"updatedAt"`
}

// StoreColumn is the online-store column of feature column col: <fg>__<version>__<col>, or <fg>__<col> when
// versioning is disabled (§5.2).
func (m *FeatureGroupMetadata) StoreColumn(col string) string {
	if !m.VersionEnabled {
		return m.Name + Separator + col
	}
	return m.Name + Separator + m.Version + Separator + col
}

// VersionInfo is a feature group's latest version.
type VersionInfo struct {
	Name          string `json:"name"`
	LatestVersion string `json:"latestVersion"`
	UpdatedAt     int64  `json:"updatedAt"`
}

// ParseVersion parses "v<N>" (N >= 1).
func ParseVersion(v string) (int, bool) {
	if len(v) < 2 || v[0] != 'v' || v[1] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v[1:])
	if err != nil || n < 1 || strconv.Itoa(n) != v[1:] {
		return 0, false
	}
	return n, true
}

// Version formats version number n.
func Version(n int) string { return "v" + strconv.Itoa(n) }

// ValidateColumns checks names (identifiers, unique) and types of cols; what names the offending part.
func ValidateColumns(cols []FeatureColumn) error {
	seen := map[string]bool{}
	for i, c := range cols {
		if !ValidIdent(c.Name) {
			return fmt.Errorf("features[%d]: invalid column name %q", i, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("features[%d]: duplicate column %q", i, c.Name)
		}
		seen[c.Name] = true
		if !ColumnTypes[strings.ToUpper(c.Type)] {
			return fmt.Errorf("features[%d]: invalid type %q for column %q", i, c.Type, c.Name)
		}
	}
	return nil
}

// NormalizeColumns upper-cases types and replaces nil tags with empty lists (every field is required on the wire).
func NormalizeColumns(cols []FeatureColumn) []FeatureColumn {
	out := make([]FeatureColumn, len(cols))
	for i, c := range cols {
		c.Type = strings.ToUpper(c.Type)
		if c.Tags == nil {
			c.Tags = []string{}
		}
		out[i] = c
	}
	return out
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var jsonNull = []byte("null")

// Coerce checks that raw (one JSON value) fits column type typ (numeric columns also take numeric strings) and returns its canonical JSON encoding, or nil for
// null. Integers are re-formatted, floats in shortest form, strings re-encoded, so equal values encode equally
// (which primary-key encoding relies on).
func Coerce(typ string, raw json.RawMessage) (json.RawMessage, error) {
	if v, ok := coerceFast(typ, raw); ok {
		return v, nil
	}
	return coerceSlow(typ, raw)
}

// coerceFast answers the common shapes of bulk loads without decoding: plain integers, plain decimal numbers,
// booleans and ASCII strings that need no escaping, each already in canonical form. ok is false for anything else,
// which coerceSlow then decides (FuzzCoerceFastPath checks both agree).
func coerceFast(typ string, raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	switch typ {
	case "TEXT", "VARCHAR", "ASCII", "BLOB":
		if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
			return nil, false
		}
		for _, c := range raw[1 : len(raw)-1] {
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return nil, false
			}
		}
		return raw, true
	case "BOOLEAN":
		if string(raw) == "true" || string(raw) == "false" {
			return raw, true
		}
	case "INT", "BIGINT", "TIMESTAMP", "VARINT":
		digits := raw
		if digits[0] == '-' {
			digits = digits[1:]
		}
		if len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
			return nil, false
		}
		for _, c := range digits {
			if c < '0' || c > '9' {
				return nil, false
			}
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || (typ == "INT" && (n < math.MinInt32 || n > math.MaxInt32)) {
			return nil, false
		}
		if n == 0 {
			return json.RawMessage("0"), true
		}
		return raw, true
	case "FLOAT", "DOUBLE":
		if !plainNumber(raw) {
			return nil, false
		}
		bits := 64
		if typ == "FLOAT" {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(raw), bits)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, false
		}
		return strconv.AppendFloat(nil, f, 'g', -1, bits), true
	}
	return nil, false
}

// plainNumber reports whether b is a JSON number without an exponent: -?(0|[1-9][0-9]*)(\.[0-9]+)?
func plainNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == start || (b[start] == '0' && i-start > 1) {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		frac := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == frac {
			return false
		}
	}
	return i == len(b)
}

// coerceSlow is Coerce's general path.
func coerceSlow(typ string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, jsonNull) {
		return nil, nil
	}
	switch typ {
	case "TEXT", "VARCHAR", "ASCII", "BLOB", "UUID", "TIMEUUID", "INET":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("expected a string for %s", typ)
		}
		switch typ {
		case "ASCII":
			for i := 0; i < len(s); i++ {
				if s[i] >= 0x80 {
					return nil, fmt.Errorf("non-ASCII character in ASCII value")
				}
			}
		case "UUID", "TIMEUUID":
			if !uuidRE.MatchString(s) {
				return nil, fmt.Errorf("invalid %s %q", typ, s)
			}
			s = strings.ToLower(s)
		case "INET":
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("invalid INET %q", s)
			}
			s = ip.String()
		}
		return json.Marshal(s)
	case "BOOLEAN":
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("expected a boolean")
		}
		return json.Marshal(b)
	case "INT", "BIGINT", "TIMESTAMP", "VARINT":
		num, err := number(raw)
		if err != nil {
			return nil, fmt.Errorf("expected an integer for %s", typ)
		}
		n, ok := new(big.Int).SetString(num, 10)
		if !ok {
			return nil, fmt.Errorf("expected an integer for %s", typ)
		}
		switch typ {
		case "INT":
			if !n.IsInt64() || n.Int64() < math.MinInt32 || n.Int64() > math.MaxInt32 {
				return nil, fmt.Errorf("INT out of range")
			}
		case "BIGINT", "TIMESTAMP":
			if !n.IsInt64() {
				return nil, fmt.Errorf("%s out of range", typ)
			}
		case "VARINT":
			if n.BitLen() > 4096 {
				return nil, fmt.Errorf("VARINT too large")
			}
		}
		return json.RawMessage(n.String()), nil
	case "FLOAT", "DOUBLE", "DECIMAL":
		num, err := number(raw)
		if err != nil {
			return nil, fmt.Errorf("expected a number for %s", typ)
		}
		bits := 64
		if typ == "FLOAT" {
			bits = 32
		}
		f, err := strconv.ParseFloat(num, bits)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("invalid %s %q", typ, num)
		}
		if typ == "DECIMAL" {
			// DECIMAL keeps its digits; only the syntax is checked.
			return json.RawMessage(num), nil
		}
		return json.RawMessage(strconv.FormatFloat(f, 'g', -1, bits)), nil
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

// number returns the text of a JSON number or of a JSON string holding one (numeric strings are coerced, as the
// original's Jackson binding did); values are canonical JSON numbers either way.
func number(raw json.RawMessage) (string, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		if !json.Valid([]byte(s)) || s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
			return "", fmt.Errorf("not a number")
		}
		raw = json.RawMessage(s)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// EncodeKey joins canonical primary-key values into the online-store row key.
func EncodeKey(parts []json.RawMessage) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}
