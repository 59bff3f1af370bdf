package search

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/db"
)

// Experiment search (experiments/search filter and order_by), MLflow's SearchExperimentsUtils grammar:
//
//	filter     := comparison { AND comparison }
//	comparison := identifier operator value
//	identifier := attribute | ("attribute"|"attributes"|"attr") "." attribute | ("tags"|"tag") "." key
//	attribute  := name | creation_time | last_update_time      (order_by also: experiment_id)
//
//	name, tags                       = != LIKE ILIKE   with a quoted string
//	creation_time, last_update_time  = != > >= < <=    with an integer (ms since the epoch)
//
// order_by entries are `<attribute> [ASC|DESC]` (ASC by default, no tags, no duplicates). Comparisons use the
// Comparison type with Entity Attribute (Key: the attribute) or Tag (Key: the tag key).

// experimentAttrs maps the attributes allowed in filters to whether they are numeric.
var experimentAttrs = map[string]bool{"name": false, "creation_time": true, "last_update_time": true}

// experimentOrderAttrs are the attributes allowed in order_by.
var experimentOrderAttrs = map[string]bool{"name": true, "experiment_id": true, "creation_time": true, "last_update_time": true}

// experimentIdentifier reads an attribute or tag identifier. attrs lists the accepted attribute names.
func (s *scanner) experimentIdentifier(attrs map[string]bool, allowTags bool) (Entity, string, error) {
	s.skipSpace()
	start := s.pos
	if s.pos >= len(s.src) {
		return "", "", s.errorf(start, "expected an identifier such as name or tags.<key>, found end of input")
	}
	var head string
	switch c := s.src[s.pos]; {
	case c == '`' || c == '"':
		h, err := s.quoted()
		if err != nil {
			return "", "", err
		}
		head = h
	case isWord(c):
		head = s.word()
	default:
		return "", "", s.errorf(start, "expected an identifier such as name or tags.<key>, found %s", s.tokenAt(start))
	}
	names := make([]string, 0, len(attrs))
	for _, n := range []string{"name", "experiment_id", "creation_time", "last_update_time"} {
		if attrs[n] {
			names = append(names, n)
		}
	}
	valid := strings.Join(names, ", ")
	checkAttr := func(pos int, name string) (Entity, string, error) {
		n := strings.ToLower(name)
		if _, ok := attrs[n]; !ok {
			return "", "", s.errorf(pos, "invalid attribute key %s: valid keys are %s", strconv.Quote(name), valid)
		}
		return Attribute, n, nil
	}
	if s.pos >= len(s.src) || s.src[s.pos] != '.' {
		return checkAttr(start, head)
	}
	s.pos++ // '.'
	keyStart := s.pos
	var key string
	if s.pos < len(s.src) && (s.src[s.pos] == '`' || s.src[s.pos] == '"') {
		k, err := s.quoted()
		if err != nil {
			return "", "", err
		}
		key = k
	} else {
		for s.pos < len(s.src) && (isWord(s.src[s.pos]) || s.src[s.pos] == '.') {
			s.pos++
		}
		key = s.src[keyStart:s.pos]
		if key != "" && (key[len(key)-1] == '.' || strings.Contains(key, "..")) {
			return "", "", s.errorf(keyStart, "invalid key %s (quote keys containing special characters with backticks or double quotes)", strconv.Quote(key))
		}
	}
	if key == "" {
		return "", "", s.errorf(keyStart, "expected a key after %s, found %s", strconv.Quote(head+"."), s.tokenAt(keyStart))
	}
	switch strings.ToLower(head) {
	case "tags", "tag":
		if !allowTags {
			return "", "", s.errorf(start, "ordering by tags is not supported; order by one of %s", valid)
		}
		return Tag, key, nil
	case "attributes", "attribute", "attr":
		return checkAttr(keyStart, key)
	}
	return "", "", s.errorf(start, "invalid entity type %s: expected tags or attributes", strconv.Quote(head))
}

// ParseExperimentFilter parses an experiments/search filter. An empty or all-whitespace string yields the
// empty Filter.
func ParseExperimentFilter(src string) (Filter, error) {
	s := &scanner{src: src, field: "filter"}
	var f Filter
	if s.eof() {
		return f, nil
	}
	for {
		entity, key, err := s.experimentIdentifier(experimentAttrs, true)
		if err != nil {
			return Filter{}, err
		}
		op, opPos, err := s.operator()
		if err != nil {
			return Filter{}, err
		}
		v, err := s.value()
		if err != nil {
			return Filter{}, err
		}
		c := Comparison{Entity: entity, Key: key, Op: op}
		what := string(entity) + " " + strconv.Quote(key)
		if entity == Attribute && experimentAttrs[key] {
			if !numericOp(op) {
				return Filter{}, s.errorf(opPos, "operator %s is not allowed for %s (use =, !=, >, >=, <, <=)", op, what)
			}
			n, perr := strconv.ParseInt(v.num, 10, 64)
			if v.kind != 'n' || perr != nil {
				return Filter{}, s.errorf(v.pos, "expected an integer (milliseconds since the epoch) for %s, found %s", what, s.tokenAt(v.pos))
			}
			c.Value = n
		} else {
			switch op {
			case OpEq, OpNe, OpLike, OpILike:
			default:
				return Filter{}, s.errorf(opPos, "operator %s is not allowed for %s (use =, !=, LIKE, ILIKE)", op, what)
			}
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

// ParseExperimentOrderBy parses experiments/search order_by entries.
func ParseExperimentOrderBy(items []string) ([]OrderKey, error) {
	keys := make([]OrderKey, 0, len(items))
	seen := map[string]bool{}
	for _, item := range items {
		s := &scanner{src: item, field: "order_by"}
		if s.eof() {
			return nil, s.errorf(0, "empty order_by entry")
		}
		_, key, err := s.experimentIdentifier(experimentOrderAttrs, false)
		if err != nil {
			return nil, err
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
		if seen[key] {
			return nil, s.errorf(0, "order_by contains duplicate fields: %s", key)
		}
		seen[key] = true
		keys = append(keys, k)
	}
	return keys, nil
}

// ExperimentFilterSQL renders an experiment filter as a WHERE fragment against the mlflow_experiments table
// aliased alias (tag comparisons are EXISTS subqueries on mlflow_experiment_tags, aliases f0, f1, ...), with
// the same string semantics as run search. The empty filter yields "".
func ExperimentFilterSQL(f Filter, d db.Dialect, alias string) (string, []any) {
	var parts []string
	var args []any
	for i, c := range f.Comparisons {
		if c.Entity == Attribute {
			cond, cargs := condition(d, alias+"."+c.Key, c)
			parts = append(parts, cond)
			args = append(args, cargs...)
			continue
		}
		cond, cargs := condition(d, fmt.Sprintf("f%d.tag_value", i), c)
		parts = append(parts, fmt.Sprintf("EXISTS (SELECT 1 FROM mlflow_experiment_tags f%d WHERE f%d.experiment_id = %s.experiment_id AND f%d.tag_key = ? AND %s)",
			i, i, alias, i, cond))
		args = append(args, c.Key)
		args = append(args, cargs...)
	}
	return strings.Join(parts, " AND "), args
}

// ExperimentOrderSQL renders experiment order keys as an ORDER BY list (without the keywords). No keys means
// MLflow's default, creation_time DESC; experiment_id ASC is appended as the tiebreaker unless ordered by
// already, so pages are stable. Names order byte-wise on every dialect (PostgreSQL through COLLATE "C"; the
// MySQL column is utf8mb4_bin), so "Beta" sorts before "alpha" everywhere.
func ExperimentOrderSQL(keys []OrderKey, d db.Dialect, alias string) string {
	if len(keys) == 0 {
		keys = []OrderKey{{Entity: Attribute, Key: "creation_time", Desc: true}}
	}
	var obs []string
	byID := false
	for _, k := range keys {
		dir := "ASC"
		if k.Desc {
			dir = "DESC"
		}
		byID = byID || k.Key == "experiment_id"
		col := alias + "." + k.Key
		if k.Key == "name" && d == db.Postgres {
			col += ` COLLATE "C"`
		}
		obs = append(obs, col+" "+dir)
	}
	if !byID {
		obs = append(obs, alias+".experiment_id ASC")
	}
	return strings.Join(obs, ", ")
}
