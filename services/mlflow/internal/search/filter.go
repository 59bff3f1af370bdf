// Package search implements MLflow's run-search language: the filter_string and order_by arguments of
// runs/search, and their translation to SQL against the tracking store schema.
//
// Schema assumed by default (DefaultSchema; the store implements it — Schema lets names differ):
//
//	runs(run_uuid, experiment_id, name, status, user_id, start_time, end_time, artifact_uri, lifecycle_stage)
//	latest_metrics(run_uuid, key, value, timestamp, step)
//	params(run_uuid, key, value)
//	tags(run_uuid, key, value)
//
// Filter grammar (MLflow's, documented at mlflow.org "Search Runs"):
//
//	filter     := comparison { AND comparison }            (AND is case-insensitive; there is no OR)
//	comparison := identifier operator value
//	identifier := entity "." key | attribute               (a bare name is an attribute, as in MLflow)
//	entity     := metrics|metric | params|param|parameter | tags|tag | attributes|attribute|attr|run
//	key        := bare | `quoted` | "quoted"               (bare keys may contain dots: tags.mlflow.runName)
//	value      := 'string' | "string" | number | ( 'string' {, 'string'} )
//
// Strings accept backslash escapes (\' \" \\) and doubled quotes ('it”s'); any other backslash is kept, so
// LIKE patterns can escape wildcards with \% and \_. Operators per entity:
//
//	metrics                       = != > >= < <=   with a number
//	params, tags                  = != LIKE ILIKE IN NOT IN   with strings
//	attributes run_id, status, run_name (alias "run name"), user_id, artifact_uri, lifecycle_stage
//	                              = != LIKE ILIKE IN NOT IN   with strings
//	attributes start_time (alias created), end_time
//	                              = != > >= < <=   with an integer (ms since the epoch)
//
// Attribute names are case-insensitive (MLflow documents attributes.Created and attributes.`Run Name`);
// entity prefixes and the keywords AND, LIKE, ILIKE, IN, NOT, ASC, DESC are case-insensitive too.
//
// Every error is an *apierr.Error of kind InvalidArgument (MLflow's INVALID_PARAMETER_VALUE) whose message names
// the offending token and its 0-based byte position.
package search

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Entity is the kind of thing a comparison or order key refers to.
type Entity string

// The entities.
const (
	Metric    Entity = "metric"
	Param     Entity = "param"
	Tag       Entity = "tag"
	Attribute Entity = "attribute"
)

// Op is a comparison operator in canonical upper-case form.
type Op string

// The operators.
const (
	OpEq    Op = "="
	OpNe    Op = "!="
	OpGt    Op = ">"
	OpGe    Op = ">="
	OpLt    Op = "<"
	OpLe    Op = "<="
	OpLike  Op = "LIKE"
	OpILike Op = "ILIKE"
	OpIn    Op = "IN"
	OpNotIn Op = "NOT IN"
)

// Comparison is one `<entity>.<key> <op> <value>` term.
//
// Value is float64 for metrics, int64 for the time attributes, []string for IN / NOT IN, and string otherwise.
// For attributes, Key is the canonical attribute name (run_id, status, run_name, user_id, start_time, end_time,
// artifact_uri, lifecycle_stage).
type Comparison struct {
	Entity Entity
	Key    string
	Op     Op
	Value  any
}

// Filter is a conjunction of comparisons; the zero Filter matches every run.
type Filter struct {
	Comparisons []Comparison
}

// Empty reports whether the filter has no comparisons.
func (f Filter) Empty() bool { return len(f.Comparisons) == 0 }

// attribute describes one run attribute: whether it is a numeric (time) attribute and whether IN is allowed.
// Columns come from the Schema.
type attribute struct {
	numeric bool
	in      bool // IN / NOT IN allowed
}

var attributes = map[string]attribute{
	"run_id":          {in: true},
	"status":          {in: true},
	"run_name":        {in: true},
	"user_id":         {in: true},
	"artifact_uri":    {in: true},
	"lifecycle_stage": {in: true},
	"start_time":      {numeric: true},
	"end_time":        {numeric: true},
}

// attributeAliases maps alternative spellings to canonical attribute names.
// Attribute names are matched case-insensitively, so `Created` and `Run Name` work as in MLflow's docs.
var attributeAliases = map[string]string{"created": "start_time", "run name": "run_name"}

func canonicalAttribute(name string) (string, bool) {
	n := strings.ToLower(name)
	if a, ok := attributeAliases[n]; ok {
		n = a
	}
	_, ok := attributes[n]
	return n, ok
}

func validAttributeNames() string {
	return "run_id, status, run_name, user_id, artifact_uri, lifecycle_stage, start_time, end_time"
}

func entityFor(word string) (Entity, bool) {
	switch strings.ToLower(word) {
	case "metrics", "metric":
		return Metric, true
	case "params", "param", "parameter":
		return Param, true
	case "tags", "tag":
		return Tag, true
	case "attributes", "attribute", "attr", "run":
		return Attribute, true
	}
	return "", false
}

// scanner is a hand-written, parser-driven lexer: the parser asks for the token class it expects next.
type scanner struct {
	src   string
	pos   int
	field string // request field name used in errors
}

func (s *scanner) errorf(pos int, format string, args ...any) error {
	return apierr.InvalidField(s.field, "invalid %s at position %d: %s", s.field, pos, fmt.Sprintf(format, args...))
}

// tokenAt returns a short description of the text at pos for error messages.
func (s *scanner) tokenAt(pos int) string {
	if pos >= len(s.src) {
		return "end of input"
	}
	end := pos + 1
	if isWord(s.src[pos]) {
		for end < len(s.src) && isWord(s.src[end]) {
			end++
		}
	}
	return strconv.Quote(s.src[pos:end])
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) eof() bool { s.skipSpace(); return s.pos >= len(s.src) }

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// word reads a run of [A-Za-z0-9_] at the current position (no leading space skip).
func (s *scanner) word() string {
	start := s.pos
	for s.pos < len(s.src) && isWord(s.src[s.pos]) {
		s.pos++
	}
	return s.src[start:s.pos]
}

// keyword consumes kw (case-insensitive) if it is the next whole word.
func (s *scanner) keyword(kw string) bool {
	s.skipSpace()
	end := s.pos + len(kw)
	if end > len(s.src) || !strings.EqualFold(s.src[s.pos:end], kw) {
		return false
	}
	if end < len(s.src) && isWord(s.src[end]) {
		return false
	}
	s.pos = end
	return true
}

// quoted reads a string delimited by q starting at the current position (which holds q). Backslash escapes
// \q and \\ and a doubled delimiter qq stand for themselves; other backslashes are kept verbatim.
func (s *scanner) quoted() (string, error) {
	start := s.pos
	q := s.src[s.pos]
	s.pos++
	var b strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\\' && s.pos+1 < len(s.src) && (s.src[s.pos+1] == q || s.src[s.pos+1] == '\\'):
			b.WriteByte(s.src[s.pos+1])
			s.pos += 2
		case c == q && s.pos+1 < len(s.src) && s.src[s.pos+1] == q:
			b.WriteByte(q)
			s.pos += 2
		case c == q:
			s.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	return "", s.errorf(start, "unterminated quoted string %s", strconv.Quote(s.src[start:]))
}

// identifier reads `entity.key` or a bare attribute name.
func (s *scanner) identifier() (Entity, string, error) {
	s.skipSpace()
	start := s.pos
	if s.pos >= len(s.src) {
		return "", "", s.errorf(start, "expected an identifier such as metrics.<key>, found end of input")
	}
	var head string
	var headQuoted bool
	switch c := s.src[s.pos]; {
	case c == '`' || c == '"':
		h, err := s.quoted()
		if err != nil {
			return "", "", err
		}
		head, headQuoted = h, true
	case isWord(c):
		head = s.word()
	default:
		return "", "", s.errorf(start, "expected an identifier such as metrics.<key>, found %s", s.tokenAt(start))
	}
	if s.pos >= len(s.src) || s.src[s.pos] != '.' {
		// No entity prefix: a bare attribute name.
		name, ok := canonicalAttribute(head)
		if !ok {
			if _, isEntity := entityFor(head); isEntity && !headQuoted {
				return "", "", s.errorf(s.pos, "expected '.' and a key after %q", head)
			}
			return "", "", s.errorf(start, "invalid identifier %s: expected <entity>.<key> with entity one of metrics, params, tags, attributes, or an attribute (%s)", strconv.Quote(head), validAttributeNames())
		}
		return Attribute, name, nil
	}
	entity, ok := entityFor(head)
	if !ok {
		return "", "", s.errorf(start, "invalid entity type %s: expected metrics, params, tags or attributes", strconv.Quote(head))
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
		if s.pos < len(s.src) && (isWord(s.src[s.pos]) || s.src[s.pos] == '.') {
			return "", "", s.errorf(s.pos, "unexpected %s after quoted key", s.tokenAt(s.pos))
		}
	} else {
		for s.pos < len(s.src) && (isWord(s.src[s.pos]) || s.src[s.pos] == '.') {
			s.pos++
		}
		key = s.src[keyStart:s.pos]
		if key == "" {
			return "", "", s.errorf(keyStart, "expected a key after %s, found %s", strconv.Quote(head+"."), s.tokenAt(keyStart))
		}
		if key[len(key)-1] == '.' || strings.Contains(key, "..") {
			return "", "", s.errorf(keyStart, "invalid key %s (quote keys containing special characters with backticks or double quotes)", strconv.Quote(key))
		}
	}
	if key == "" {
		return "", "", s.errorf(keyStart, "empty key after %s", strconv.Quote(head+"."))
	}
	if entity == Attribute {
		name, ok := canonicalAttribute(key)
		if !ok {
			return "", "", s.errorf(keyStart, "invalid attribute key %s: valid keys are %s", strconv.Quote(key), validAttributeNames())
		}
		key = name
	}
	return entity, key, nil
}

func (s *scanner) operator() (Op, int, error) {
	s.skipSpace()
	start := s.pos
	rest := s.src[s.pos:]
	for _, op := range []Op{OpNe, OpGe, OpLe, OpEq, OpGt, OpLt} {
		if strings.HasPrefix(rest, string(op)) {
			s.pos += len(op)
			return op, start, nil
		}
	}
	switch {
	case s.keyword("LIKE"):
		return OpLike, start, nil
	case s.keyword("ILIKE"):
		return OpILike, start, nil
	case s.keyword("IN"):
		return OpIn, start, nil
	case s.keyword("NOT"):
		if s.keyword("IN") {
			return OpNotIn, start, nil
		}
		s.skipSpace()
		return "", start, s.errorf(s.pos, "expected IN after NOT, found %s", s.tokenAt(s.pos))
	}
	return "", start, s.errorf(start, "expected a comparison operator (=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN), found %s", s.tokenAt(start))
}

// rawValue is a scanned right-hand side before entity-specific validation.
type rawValue struct {
	pos    int
	kind   byte // 's' string, 'n' number, 'l' list
	str    string
	num    string
	list   []string
	quoted byte
}

func (s *scanner) number() (string, bool) {
	start := s.pos
	i := s.pos
	if i < len(s.src) && (s.src[i] == '-' || s.src[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s.src) && s.src[i] >= '0' && s.src[i] <= '9' {
		i++
		digits++
	}
	if i < len(s.src) && s.src[i] == '.' {
		i++
		for i < len(s.src) && s.src[i] >= '0' && s.src[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return "", false
	}
	if i < len(s.src) && (s.src[i] == 'e' || s.src[i] == 'E') {
		j := i + 1
		if j < len(s.src) && (s.src[j] == '-' || s.src[j] == '+') {
			j++
		}
		expDigits := 0
		for j < len(s.src) && s.src[j] >= '0' && s.src[j] <= '9' {
			j++
			expDigits++
		}
		if expDigits == 0 {
			return "", false
		}
		i = j
	}
	if i < len(s.src) && (isWord(s.src[i]) || s.src[i] == '.') {
		return "", false
	}
	s.pos = i
	return s.src[start:i], true
}

func (s *scanner) value() (rawValue, error) {
	s.skipSpace()
	start := s.pos
	if s.pos >= len(s.src) {
		return rawValue{}, s.errorf(start, "expected a value, found end of input")
	}
	switch c := s.src[s.pos]; {
	case c == '\'' || c == '"':
		str, err := s.quoted()
		if err != nil {
			return rawValue{}, err
		}
		return rawValue{pos: start, kind: 's', str: str, quoted: c}, nil
	case c == '(':
		s.pos++
		var list []string
		for {
			s.skipSpace()
			p := s.pos
			if p >= len(s.src) {
				return rawValue{}, s.errorf(p, "unterminated value list, expected ')'")
			}
			if c := s.src[p]; c != '\'' && c != '"' {
				return rawValue{}, s.errorf(p, "expected a quoted string in value list, found %s", s.tokenAt(p))
			}
			str, err := s.quoted()
			if err != nil {
				return rawValue{}, err
			}
			list = append(list, str)
			s.skipSpace()
			if s.pos < len(s.src) && s.src[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.pos < len(s.src) && s.src[s.pos] == ')' {
				s.pos++
				return rawValue{pos: start, kind: 'l', list: list}, nil
			}
			return rawValue{}, s.errorf(s.pos, "expected ',' or ')' in value list, found %s", s.tokenAt(s.pos))
		}
	default:
		if n, ok := s.number(); ok {
			return rawValue{pos: start, kind: 'n', num: n}, nil
		}
		return rawValue{}, s.errorf(start, "expected a quoted string, a number or a parenthesised list, found %s", s.tokenAt(start))
	}
}

// ParseFilter parses an MLflow runs/search filter_string. An empty or all-whitespace string yields the empty
// Filter.
func ParseFilter(src string) (Filter, error) {
	s := &scanner{src: src, field: "filter"}
	var f Filter
	if s.eof() {
		return f, nil
	}
	for {
		c, err := s.comparison()
		if err != nil {
			return Filter{}, err
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

func (s *scanner) comparison() (Comparison, error) {
	entity, key, err := s.identifier()
	if err != nil {
		return Comparison{}, err
	}
	op, opPos, err := s.operator()
	if err != nil {
		return Comparison{}, err
	}
	v, err := s.value()
	if err != nil {
		return Comparison{}, err
	}
	c := Comparison{Entity: entity, Key: key, Op: op}
	what := string(entity) + " " + strconv.Quote(key)
	switch {
	case entity == Metric:
		if !numericOp(op) {
			return Comparison{}, s.errorf(opPos, "operator %s is not allowed for %s (use =, !=, >, >=, <, <=)", op, what)
		}
		if v.kind != 'n' {
			return Comparison{}, s.errorf(v.pos, "expected a numeric value for %s, found %s", what, s.tokenAt(v.pos))
		}
		x, err := strconv.ParseFloat(v.num, 64)
		if err != nil || math.IsInf(x, 0) {
			return Comparison{}, s.errorf(v.pos, "invalid number %s", strconv.Quote(v.num))
		}
		c.Value = x
	case entity == Attribute && attributes[key].numeric:
		if !numericOp(op) {
			return Comparison{}, s.errorf(opPos, "operator %s is not allowed for %s (use =, !=, >, >=, <, <=)", op, what)
		}
		if v.kind != 'n' {
			return Comparison{}, s.errorf(v.pos, "expected an integer (milliseconds since the epoch) for %s, found %s", what, s.tokenAt(v.pos))
		}
		x, err := strconv.ParseInt(v.num, 10, 64)
		if err != nil {
			return Comparison{}, s.errorf(v.pos, "expected an integer (milliseconds since the epoch) for %s, found %s", what, strconv.Quote(v.num))
		}
		c.Value = x
	default: // params, tags, string attributes
		allowIn := entity != Attribute || attributes[key].in
		switch op {
		case OpEq, OpNe, OpLike, OpILike:
			if v.kind != 's' {
				return Comparison{}, s.errorf(v.pos, "expected a quoted string for %s, found %s", what, s.tokenAt(v.pos))
			}
			c.Value = v.str
		case OpIn, OpNotIn:
			if !allowIn {
				return Comparison{}, s.errorf(opPos, "operator %s is not allowed for %s (use =, !=, LIKE, ILIKE)", op, what)
			}
			if v.kind != 'l' {
				return Comparison{}, s.errorf(v.pos, "expected a parenthesised list of strings after %s, found %s", op, s.tokenAt(v.pos))
			}
			c.Value = v.list
		default:
			ops := "=, !=, LIKE, ILIKE"
			if allowIn {
				ops += ", IN, NOT IN"
			}
			return Comparison{}, s.errorf(opPos, "operator %s is not allowed for %s (use %s)", op, what, ops)
		}
	}
	return c, nil
}

func numericOp(op Op) bool {
	switch op {
	case OpEq, OpNe, OpGt, OpGe, OpLt, OpLe:
		return true
	}
	return false
}

// OrderKey is one parsed order_by entry.
type OrderKey struct {
	Entity Entity
	Key    string // canonical attribute name for attributes
	Desc   bool
}

// ParseOrderBy parses MLflow order_by entries: `<identifier> [ASC|DESC]` each (case-insensitive direction,
// ASC by default). Identifiers follow the filter grammar, e.g. "metrics.rmse DESC", "attributes.start_time",
// "params.alpha ASC", "`tags`.`a b`", "start_time". Any number of entries is allowed, as in MLflow.
func ParseOrderBy(items []string) ([]OrderKey, error) {
	keys := make([]OrderKey, 0, len(items))
	for _, item := range items {
		s := &scanner{src: item, field: "order_by"}
		if s.eof() {
			return nil, s.errorf(0, "empty order_by entry")
		}
		entity, key, err := s.identifier()
		if err != nil {
			return nil, err
		}
		k := OrderKey{Entity: entity, Key: key}
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
