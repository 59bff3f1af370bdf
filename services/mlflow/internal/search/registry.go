package search

// Model registry searches (registered-models/search and model-versions/search) use the same lexical rules as
// run search (quoting, AND-only conjunctions, LIKE/ILIKE semantics) over a smaller set of identifiers:
//
//	registered models   name (= != LIKE ILIKE), tags.<key> (= != LIKE ILIKE)
//	model versions      name (= != LIKE ILIKE IN NOT IN), run_id (= != IN NOT IN),
//	                    source_path (= != LIKE ILIKE), version_number (= != > >= < <= with an integer),
//	                    tags.<key> (= != LIKE ILIKE)
//
// Attributes may be written bare (name) or prefixed (attributes.name); tags.`a b` quotes keys. Order keys:
//
//	registered models   name, creation_timestamp (alias timestamp), last_updated_timestamp
//	model versions      name, version_number, creation_timestamp (alias timestamp), last_updated_timestamp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/db"
)

// RegistryTarget selects the registry search a filter or order_by is parsed for.
type RegistryTarget int

// The registry searches.
const (
	RegisteredModels RegistryTarget = iota
	ModelVersions
)

type registryAttr struct {
	ops     []Op
	numeric bool
}

var (
	stringOps   = []Op{OpEq, OpNe, OpLike, OpILike}
	stringInOps = []Op{OpEq, OpNe, OpLike, OpILike, OpIn, OpNotIn}
	exactInOps  = []Op{OpEq, OpNe, OpIn, OpNotIn}
	numberOps   = []Op{OpEq, OpNe, OpGt, OpGe, OpLt, OpLe}
)

var registryFilterAttrs = map[RegistryTarget]map[string]registryAttr{
	RegisteredModels: {"name": {ops: stringOps}},
	ModelVersions: {
		"name":           {ops: stringInOps},
		"run_id":         {ops: exactInOps},
		"source_path":    {ops: stringOps},
		"version_number": {ops: numberOps, numeric: true},
	},
}

var registryOrderAttrs = map[RegistryTarget][]string{
	RegisteredModels: {"name", "creation_timestamp", "last_updated_timestamp"},
	ModelVersions:    {"name", "version_number", "creation_timestamp", "last_updated_timestamp"},
}

func registryAttrName(word string) string {
	w := strings.ToLower(word)
	if w == "timestamp" {
		return "creation_timestamp"
	}
	return w
}

// registryIdentifier reads `tags.<key>`, `attributes.<name>` or a bare attribute name. It returns the entity
// and the (unvalidated, lower-cased for attributes) key.
func (s *scanner) registryIdentifier() (Entity, string, int, error) {
	s.skipSpace()
	start := s.pos
	if s.pos >= len(s.src) {
		return "", "", start, s.errorf(start, "expected an identifier, found end of input")
	}
	var head string
	switch c := s.src[s.pos]; {
	case c == '`' || c == '"':
		h, err := s.quoted()
		if err != nil {
			return "", "", start, err
		}
		head = h
	case isWord(c):
		head = s.word()
	default:
		return "", "", start, s.errorf(start, "expected an identifier, found %s", s.tokenAt(start))
	}
	if s.pos >= len(s.src) || s.src[s.pos] != '.' {
		return Attribute, registryAttrName(head), start, nil
	}
	var entity Entity
	switch strings.ToLower(head) {
	case "tags", "tag":
		entity = Tag
	case "attributes", "attribute", "attr":
		entity = Attribute
	default:
		return "", "", start, s.errorf(start, "invalid entity type %s: expected tags or attributes", strconv.Quote(head))
	}
	s.pos++ // '.'
	keyStart := s.pos
	var key string
	if s.pos < len(s.src) && (s.src[s.pos] == '`' || s.src[s.pos] == '"') {
		k, err := s.quoted()
		if err != nil {
			return "", "", start, err
		}
		key = k
	} else {
		for s.pos < len(s.src) && (isWord(s.src[s.pos]) || s.src[s.pos] == '.') {
			s.pos++
		}
		key = s.src[keyStart:s.pos]
		if key != "" && (key[len(key)-1] == '.' || strings.Contains(key, "..")) {
			return "", "", start, s.errorf(keyStart, "invalid key %s (quote keys containing special characters with backticks)", strconv.Quote(key))
		}
	}
	if key == "" {
		return "", "", start, s.errorf(keyStart, "expected a key after %s", strconv.Quote(head+"."))
	}
	if entity == Attribute {
		key = registryAttrName(key)
	}
	return entity, key, start, nil
}

func attrNames(m map[string]registryAttr) string {
	var out []string
	for _, k := range []string{"name", "run_id", "source_path", "version_number"} {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

func opList(ops []Op) string {
	parts := make([]string, len(ops))
	for i, o := range ops {
		parts[i] = string(o)
	}
	return strings.Join(parts, ", ")
}

// ParseRegistryFilter parses the filter of registered-models/search or model-versions/search. Comparison
// values are string, []string (IN) or int64 (version_number).
func ParseRegistryFilter(src string, target RegistryTarget) (Filter, error) {
	s := &scanner{src: src, field: "filter"}
	var f Filter
	if s.eof() {
		return f, nil
	}
	attrs := registryFilterAttrs[target]
	for {
		entity, key, pos, err := s.registryIdentifier()
		if err != nil {
			return Filter{}, err
		}
		ops := stringOps
		numeric := false
		if entity == Attribute {
			a, ok := attrs[key]
			if !ok {
				return Filter{}, s.errorf(pos, "invalid attribute %s: valid attributes are %s and tags.<key>", strconv.Quote(key), attrNames(attrs))
			}
			ops, numeric = a.ops, a.numeric
		}
		op, opPos, err := s.operator()
		if err != nil {
			return Filter{}, err
		}
		allowed := false
		for _, o := range ops {
			allowed = allowed || o == op
		}
		what := string(entity) + " " + strconv.Quote(key)
		if !allowed {
			return Filter{}, s.errorf(opPos, "operator %s is not allowed for %s (use %s)", op, what, opList(ops))
		}
		v, err := s.value()
		if err != nil {
			return Filter{}, err
		}
		c := Comparison{Entity: entity, Key: key, Op: op}
		switch {
		case numeric:
			if v.kind != 'n' {
				return Filter{}, s.errorf(v.pos, "expected an integer for %s, found %s", what, s.tokenAt(v.pos))
			}
			n, err := strconv.ParseInt(v.num, 10, 64)
			if err != nil {
				return Filter{}, s.errorf(v.pos, "expected an integer for %s, found %s", what, strconv.Quote(v.num))
			}
			c.Value = n
		case op == OpIn || op == OpNotIn:
			if v.kind != 'l' {
				return Filter{}, s.errorf(v.pos, "expected a parenthesised list of strings after %s, found %s", op, s.tokenAt(v.pos))
			}
			c.Value = v.list
		default:
			if v.kind != 's' {
				return Filter{}, s.errorf(v.pos, "expected a quoted string for %s, found %s", what, s.tokenAt(v.pos))
			}
			c.Value = v.str
		}
		f.Comparisons = append(f.Comparisons, c)
		if s.eof() {
			return f, nil
		}
		p := s.pos
		if !s.keyword("AND") {
			if s.keyword("OR") {
				return Filter{}, s.errorf(p, "OR is not supported, only AND")
			}
			return Filter{}, s.errorf(p, "expected AND or end of filter, found %s", s.tokenAt(p))
		}
		if s.eof() {
			return Filter{}, s.errorf(s.pos, "expected a comparison after AND, found end of input")
		}
	}
}

// ParseRegistryOrderBy parses order_by entries of a registry search: `<attribute> [ASC|DESC]`.
func ParseRegistryOrderBy(items []string, target RegistryTarget) ([]OrderKey, error) {
	valid := registryOrderAttrs[target]
	keys := make([]OrderKey, 0, len(items))
	for _, item := range items {
		s := &scanner{src: item, field: "order_by"}
		if s.eof() {
			return nil, s.errorf(0, "empty order_by entry")
		}
		entity, key, pos, err := s.registryIdentifier()
		if err != nil {
			return nil, err
		}
		ok := entity == Attribute
		if ok {
			ok = false
			for _, v := range valid {
				ok = ok || v == key
			}
		}
		if !ok {
			return nil, s.errorf(pos, "invalid order_by key %s: valid keys are %s", strconv.Quote(key), strings.Join(valid, ", "))
		}
		k := OrderKey{Entity: Attribute, Key: key}
		if !s.eof() {
			p := s.pos
			switch {
			case s.keyword("DESC"):
				k.Desc = true
			case s.keyword("ASC"):
			default:
				return nil, s.errorf(p, "expected ASC or DESC in %s, found %s", strconv.Quote(item), s.tokenAt(p))
			}
			if !s.eof() {
				return nil, s.errorf(s.pos, "unexpected %s in %s", s.tokenAt(s.pos), strconv.Quote(item))
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// RegistrySchema names a registry table, its tag table and the columns that join them.
type RegistrySchema struct {
	Table    string
	Columns  map[string]string // attribute → column
	Join     []string          // columns shared by the table and its tag table (name; name, version)
	Tags     Table
	Tiebreak []OrderKey // appended to every order so pages are stable
}

// FilterSQL renders a registry filter as a WHERE fragment over alias (as Schema.FilterSQL does for runs); tag
// comparisons become EXISTS subqueries aliased f0, f1, ...
func (s RegistrySchema) FilterSQL(f Filter, d db.Dialect, alias string) (string, []any) {
	var parts []string
	var args []any
	for i, c := range f.Comparisons {
		if c.Entity == Attribute {
			cond, cargs := condition(d, alias+"."+s.Columns[c.Key], c)
			parts = append(parts, cond)
			args = append(args, cargs...)
			continue
		}
		fa := fmt.Sprintf("f%d", i)
		cond, cargs := condition(d, fa+"."+s.Tags.Value, c)
		var join []string
		for _, col := range s.Join {
			join = append(join, fmt.Sprintf("%s.%s = %s.%s", fa, col, alias, col))
		}
		parts = append(parts, fmt.Sprintf("EXISTS (SELECT 1 FROM %s %s WHERE %s AND %s.%s = ? AND %s)",
			s.Tags.Name, fa, strings.Join(join, " AND "), fa, s.Tags.Key, cond))
		args = append(args, c.Key)
		args = append(args, cargs...)
	}
	return strings.Join(parts, " AND "), args
}

// OrderSQL renders order keys (then the schema's tiebreakers not already ordered on) as an ORDER BY list.
// Names order byte-wise on every dialect (PostgreSQL is told COLLATE "C"; the MySQL tables use utf8mb4_bin).
func (s RegistrySchema) OrderSQL(keys []OrderKey, d db.Dialect, alias string) string {
	var obs []string
	seen := map[string]bool{}
	for _, k := range append(append([]OrderKey{}, keys...), s.Tiebreak...) {
		if seen[k.Key] {
			continue
		}
		seen[k.Key] = true
		dir := "ASC"
		if k.Desc {
			dir = "DESC"
		}
		col := alias + "." + s.Columns[k.Key]
		if k.Key == "name" && d == db.Postgres {
			col += ` COLLATE "C"`
		}
		obs = append(obs, col+" "+dir)
	}
	return strings.Join(obs, ", ")
}
