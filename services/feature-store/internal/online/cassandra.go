package online

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// Cassandra defaults.
const (
	DefaultCassandraKeyspace    = "ofs"
	DefaultCassandraReplication = "simple:1"
	DefaultCassandraConsistency = "LOCAL_QUORUM"
	DefaultCassandraTimeout     = 5 * time.Second
	// DefaultCassandraBatchRows is the most INSERTs one unlogged batch carries (Cassandra refuses batches above
	// batch_size_fail_threshold, 50 KiB by default).
	DefaultCassandraBatchRows = 100
	// DefaultCassandraInKeys is the most partition keys one SELECT ... IN ? carries.
	DefaultCassandraInKeys = 100
	// MaxCassandraTTL is the longest TTL Cassandra accepts (20 years).
	MaxCassandraTTL = 630720000 * time.Second
	// maxReadsInFlight bounds the concurrent SELECTs of one Read.
	maxReadsInFlight = 64
	// schemaRecheck is how long a cached table schema that misses a table or column is trusted before
	// system_schema is read again.
	schemaRecheck = 5 * time.Second
)

// CassandraOptions configure OpenCassandra.
type CassandraOptions struct {
	// Hosts are contact points, host or host:port (default port 9042).
	Hosts []string
	// Keyspace holds one table per entity (default ofs).
	Keyspace string
	// LocalDC makes the driver prefer this datacenter's nodes (token-aware, DC-aware round robin).
	LocalDC string
	// Replication of the keyspace when it is created: "simple:N" (SimpleStrategy) or
	// "network:DC=N[,DC=N...]" (NetworkTopologyStrategy). Default simple:1.
	Replication string
	// Consistency of reads, writes and DDL (default LOCAL_QUORUM).
	Consistency string
	Username    string
	Password    string
	// Timeout bounds connecting and each request (default 5s).
	Timeout time.Duration
	// BatchRows is the most rows per unlogged batch (default 100).
	BatchRows int
	// InKeys is the most keys per SELECT ... IN ? (default 100).
	InKeys int
	Logger *slog.Logger
}

var dcRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ParseCassandraReplication turns a replication spec (see CassandraOptions.Replication) into the CQL replication
// map of CREATE KEYSPACE.
func ParseCassandraReplication(spec string) (string, error) {
	if spec == "" {
		spec = DefaultCassandraReplication
	}
	kind, rest, ok := strings.Cut(spec, ":")
	factor := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 99 {
			return 0, fmt.Errorf("replication factor %q must be 1..99", s)
		}
		return n, nil
	}
	switch {
	case ok && kind == "simple":
		n, err := factor(rest)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", n), nil
	case ok && kind == "network":
		var b strings.Builder
		b.WriteString("{'class': 'NetworkTopologyStrategy'")
		seen := map[string]bool{}
		for _, part := range strings.Split(rest, ",") {
			dc, f, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || !dcRE.MatchString(dc) || seen[dc] {
				return "", fmt.Errorf("replication %q: want network:DC=N[,DC=N...] with distinct datacenter names", spec)
			}
			seen[dc] = true
			n, err := factor(f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, ", '%s': %d", dc, n)
		}
		b.WriteString("}")
		return b.String(), nil
	}
	return "", fmt.Errorf("replication %q: want simple:N or network:DC=N[,DC=N...]", spec)
}

// withDefaults fills unset options.
func (o CassandraOptions) withDefaults() CassandraOptions {
	if o.Keyspace == "" {
		o.Keyspace = DefaultCassandraKeyspace
	}
	if o.Replication == "" {
		o.Replication = DefaultCassandraReplication
	}
	if o.Consistency == "" {
		o.Consistency = DefaultCassandraConsistency
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultCassandraTimeout
	}
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultCassandraBatchRows
	}
	if o.InKeys <= 0 {
		o.InKeys = DefaultCassandraInKeys
	}
	return o
}

// Validate checks the options (after defaults).
func (o CassandraOptions) Validate() error {
	o = o.withDefaults()
	if len(o.Hosts) == 0 {
		return errors.New("cassandra: at least one host is required")
	}
	for _, h := range o.Hosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " \t/") {
			return fmt.Errorf("cassandra: invalid host %q", h)
		}
	}
	if !domain.ValidIdent(o.Keyspace) {
		return fmt.Errorf("cassandra: invalid keyspace %q", o.Keyspace)
	}
	if _, err := ParseCassandraReplication(o.Replication); err != nil {
		return fmt.Errorf("cassandra: %w", err)
	}
	if _, err := parseConsistency(o.Consistency); err != nil {
		return err
	}
	if o.Timeout < 0 {
		return errors.New("cassandra: timeout must be >= 0")
	}
	if o.Password != "" && o.Username == "" {
		return errors.New("cassandra: password without username")
	}
	return nil
}

func parseConsistency(s string) (gocql.Consistency, error) {
	c, err := gocql.ParseConsistencyWrapper(s)
	if err != nil || c == gocql.Any || strings.Contains(strings.ToUpper(s), "SERIAL") {
		return 0, fmt.Errorf("cassandra: invalid consistency %q (ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE)", s)
	}
	return c, nil
}

// Cassandra stores tables as §5.2 lays them out: keyspace (default ofs) with one table per entity, the entity's
// primary key as the table's (first column partition key, the rest clustering columns) and cells as the
// <fg>__<version>__<col> columns, each of its CQL type. Identifiers are double-quoted (case kept).
//
// Write issues, per table, one UNLOGGED BATCH (of at most BatchRows rows) of
// INSERT INTO ks.t (pk..., cols...) VALUES (...) USING TTL ?, all batches concurrently; an INSERT of only the key
// columns creates the row marker, so a row written with no cells exists, and a nil cell binds null (deletes).
// Read issues, per ReadOp, SELECT pk..., cols... FROM ks.t WHERE p IN ? for a one-column key (chunks of InKeys
// keys) or one SELECT ... WHERE p = ? AND c = ? per key for a composite key, every SELECT of every op
// concurrently. Keys are domain.EncodeKey values, decoded with domain.DecodeKey and bound per the column types.
//
// Column types come from a schema cache filled by the Schema methods (the admin API's DDL) and, when cold or
// missing a table or column, from system_schema.columns (re-read at most every 5 s per table). Unknown tables and
// columns read as empty; writing one is an error.
//
// Batches are not atomic across partitions: a failed Write may have applied some rows (every write is an
// idempotent upsert, so retrying is safe). Composite keys are read per key rather than with a multi-column IN,
// whose cartesian product over partitions would return rows nobody asked for. TTLs are whole seconds (rounded
// up), at most 20 years; every INSERT carries USING TTL (0 = none, which also overrides the table default).
type Cassandra struct {
	s         session
	ks        string
	cl        gocql.Consistency
	repl      string
	batchRows int
	inKeys    int
	log       *slog.Logger
	now       func() time.Time

	mu     sync.RWMutex
	tables map[string]*tableInfo
}

// tableInfo is a table's cached schema.
type tableInfo struct {
	exists bool
	pk     []ColumnSchema
	types  map[string]string // every column (key columns too) → normalized type; "" for types the store cannot map
	loaded time.Time
}

func (t *tableInfo) isPK(col string) bool {
	for _, p := range t.pk {
		if p.Name == col {
			return true
		}
	}
	return false
}

func (t *tableInfo) hasAll(cols []string) bool {
	for _, c := range cols {
		if _, ok := t.types[c]; !ok {
			return false
		}
	}
	return true
}

// OpenCassandra connects to the cluster, creates the keyspace when it does not exist and returns the store.
func OpenCassandra(ctx context.Context, o CassandraOptions) (*Cassandra, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	cl, _ := parseConsistency(o.Consistency)
	cluster := gocql.NewCluster(o.Hosts...)
	cluster.Consistency = cl
	cluster.Timeout = o.Timeout
	cluster.ConnectTimeout = o.Timeout
	if o.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: o.Username, Password: o.Password}
	}
	if o.LocalDC != "" {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(o.LocalDC))
	} else {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	cluster.Logger = driverLogger{lg.With("component", "gocql")}
	sess, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("cassandra connect %v: %w", o.Hosts, err)
	}
	c, err := newCassandra(gocqlSession{sess}, o)
	if err != nil {
		sess.Close()
		return nil, err
	}
	if err := c.EnsureKeyspace(ctx); err != nil {
		sess.Close()
		return nil, err
	}
	return c, nil
}

func newCassandra(s CQLSession, o CassandraOptions) (*Cassandra, error) {
	o = o.withDefaults()
	if !domain.ValidIdent(o.Keyspace) {
		return nil, fmt.Errorf("cassandra: invalid keyspace %q", o.Keyspace)
	}
	repl, err := ParseCassandraReplication(o.Replication)
	if err != nil {
		return nil, fmt.Errorf("cassandra: %w", err)
	}
	cl, err := parseConsistency(o.Consistency)
	if err != nil {
		return nil, err
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Cassandra{s: session{s}, ks: o.Keyspace, cl: cl, repl: repl, batchRows: o.BatchRows, inKeys: o.InKeys, log: lg,
		now: time.Now, tables: map[string]*tableInfo{}}, nil
}

// Close closes the session.
func (c *Cassandra) Close() error {
	c.s.Close()
	return nil
}

// driverLogger sends the driver's log lines to slog at warning level (it logs connection trouble).
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) { d.l.Warn(strings.TrimSpace(fmt.Sprint(v...))) }
func (d driverLogger) Printf(format string, v ...any) {
	d.l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (d driverLogger) Println(v ...any) { d.l.Warn(strings.TrimSpace(fmt.Sprintln(v...))) }

// quote returns a CQL double-quoted identifier (case-sensitive).
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func (c *Cassandra) table(name string) string { return quote(c.ks) + "." + quote(name) }

// ttlSeconds converts a TTL to the whole seconds of USING TTL (rounded up; 0 = none).
func ttlSeconds(d time.Duration) (int32, error) {
	if d < 0 || d > MaxCassandraTTL {
		return 0, fmt.Errorf("cassandra: TTL %v out of range (0..%v)", d, MaxCassandraTTL)
	}
	return int32((d + time.Second - 1) / time.Second), nil
}

// Write implements Store.
func (c *Cassandra) Write(ctx context.Context, ops []WriteOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var batches [][]cqlStatement
	for _, op := range mergeSameKeys(ops) {
		if len(op.Rows) == 0 {
			continue
		}
		var need []string
		seen := map[string]bool{}
		for _, r := range op.Rows {
			for _, cell := range r.Cells {
				if !seen[cell.Column] {
					seen[cell.Column] = true
					need = append(need, cell.Column)
				}
			}
		}
		ti, err := c.schemaFor(ctx, op.Table, need, false)
		if err == nil && (!ti.exists || !ti.hasAll(need)) {
			// A write names only columns the admin API created: re-read a stale schema at once.
			ti, err = c.loadSchema(ctx, op.Table)
		}
		if err != nil {
			return err
		}
		if !ti.exists {
			return fmt.Errorf("cassandra: table %s.%s does not exist", c.ks, op.Table)
		}
		ttl, err := ttlSeconds(op.TTL)
		if err != nil {
			return err
		}
		var b []cqlStatement
		for _, r := range op.Rows {
			st, err := c.insert(ti, op.Table, r, ttl)
			if err != nil {
				return err
			}
			b = append(b, st)
			if len(b) == c.batchRows {
				batches, b = append(batches, b), nil
			}
		}
		if len(b) > 0 {
			batches = append(batches, b)
		}
	}
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.s.batch(ctx, gocql.UnloggedBatch, c.cl, b)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cassandra write: %w", err)
	}
	return nil
}

// mergeSameKeys folds the rows of one call that address the same table row (same table, TTL and key) into one
// row, cells in call order. Statements of one call share a client timestamp or run concurrently, so two INSERTs of
// one row would be ordered by Cassandra's tie-break (the larger value wins), not by the call's order; one INSERT
// whose repeated columns keep their last value applies them in order.
func mergeSameKeys(ops []WriteOp) []WriteOp {
	type slot struct{ op, row int }
	seen := map[string]slot{}
	out := make([]WriteOp, 0, len(ops))
	for _, op := range ops {
		cur := WriteOp{Table: op.Table, TTL: op.TTL, Rows: make([]Row, 0, len(op.Rows))}
		out = append(out, cur)
		oi := len(out) - 1
		for _, r := range op.Rows {
			k := op.Table + "\x00" + op.TTL.String() + "\x00" + string(r.Key)
			if at, ok := seen[k]; ok {
				prev := &out[at.op].Rows[at.row]
				prev.Cells = append(append([]Cell(nil), prev.Cells...), r.Cells...)
				continue
			}
			seen[k] = slot{oi, len(out[oi].Rows)}
			out[oi].Rows = append(out[oi].Rows, r)
		}
	}
	return out
}

// insert builds one row's INSERT: key columns from the decoded key, then the cells (a repeated column keeps its
// first position and last value), then the TTL.
func (c *Cassandra) insert(ti *tableInfo, table string, r Row, ttl int32) (cqlStatement, error) {
	parts, err := domain.DecodeKey(r.Key, len(ti.pk))
	if err != nil {
		return cqlStatement{}, fmt.Errorf("cassandra: table %s: %w", table, err)
	}
	cols := make([]string, 0, len(ti.pk)+len(r.Cells))
	vals := make([]any, 0, len(ti.pk)+len(r.Cells)+1)
	for i, p := range ti.pk {
		v, err := jsonToCQL(p.Type, parts[i])
		if err != nil {
			return cqlStatement{}, fmt.Errorf("cassandra: %s.%s: %w", table, p.Name, err)
		}
		cols, vals = append(cols, quote(p.Name)), append(vals, v)
	}
	pos := map[string]int{}
	for _, cell := range r.Cells {
		typ, ok := ti.types[cell.Column]
		switch {
		case !ok:
			return cqlStatement{}, fmt.Errorf("cassandra: table %s has no column %s", table, cell.Column)
		case ti.isPK(cell.Column):
			return cqlStatement{}, fmt.Errorf("cassandra: %s.%s is a primary key column, not a cell", table, cell.Column)
		case typ == "":
			return cqlStatement{}, fmt.Errorf("cassandra: %s.%s has a type the store cannot write", table, cell.Column)
		}
		v, err := jsonToCQL(typ, cell.Value)
		if err != nil {
			return cqlStatement{}, fmt.Errorf("cassandra: %s.%s: %w", table, cell.Column, err)
		}
		if i, dup := pos[cell.Column]; dup {
			vals[i] = v
			continue
		}
		pos[cell.Column] = len(vals)
		cols, vals = append(cols, quote(cell.Column)), append(vals, v)
	}
	marks := strings.Repeat("?, ", len(cols))
	q := "INSERT INTO " + c.table(table) + " (" + strings.Join(cols, ", ") + ") VALUES (" + marks[:len(marks)-2] + ") USING TTL ?"
	return cqlStatement{CQL: q, Values: append(vals, ttl)}, nil
}

// readQuery is one SELECT of a read: its statement, then its rows or error.
type readQuery struct {
	st   cqlStatement
	rows [][][]byte
	err  error
}

// Read implements Store.
func (c *Cassandra) Read(ctx context.Context, ops []ReadOp) ([]ReadResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]ReadResult, len(ops))
	errs := make([]error, len(ops))
	sem := make(chan struct{}, maxReadsInFlight)
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.readOp(ctx, op, sem)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cassandra read: %w", err)
	}
	return out, nil
}

// readOp answers one op; a schema error (table dropped, column undefined) re-reads the schema and retries once,
// and a table that is gone reads as empty.
func (c *Cassandra) readOp(ctx context.Context, op ReadOp, sem chan struct{}) (ReadResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.readOnce(ctx, op, sem, attempt > 0)
		if err == nil {
			return res, nil
		}
		if !isSchemaError(err) {
			return ReadResult{}, err
		}
		c.invalidate(op.Table)
		if attempt > 0 {
			if isUnconfiguredTable(err) {
				return newResult(op), nil
			}
			return ReadResult{}, err
		}
	}
}

// keyID identifies a primary key by its columns' CQL encodings (length-prefixed), matching rows to requested keys.
func keyID(cols [][]byte) string {
	var b []byte
	for _, c := range cols {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return string(b)
}

func (c *Cassandra) readOnce(ctx context.Context, op ReadOp, sem chan struct{}, reload bool) (ReadResult, error) {
	res := newResult(op)
	if len(op.Keys) == 0 {
		return res, nil
	}
	ti, err := c.schemaFor(ctx, op.Table, op.Columns, reload)
	if err != nil {
		return res, err
	}
	if !ti.exists {
		return res, nil
	}
	// Selected columns: the key, then each known requested column once.
	sel := make([]string, 0, len(ti.pk)+len(op.Columns))
	selTypes := make([]string, 0, cap(sel))
	for _, p := range ti.pk {
		sel, selTypes = append(sel, quote(p.Name)), append(selTypes, p.Type)
	}
	colAt := make([]int, len(op.Columns)) // position in sel, -1 when unknown
	seen := map[string]int{}
	for i, col := range op.Columns {
		typ, ok := ti.types[col]
		if !ok || typ == "" || ti.isPK(col) {
			colAt[i] = -1
			continue
		}
		if j, ok := seen[col]; ok {
			colAt[i] = j
			continue
		}
		seen[col] = len(sel)
		colAt[i] = len(sel)
		sel, selTypes = append(sel, quote(col)), append(selTypes, typ)
	}
	// Bind each key; keys that do not decode to this table's key types cannot exist.
	byID := map[string][]int{}
	var order []string
	bound := map[string][]any{}
	for k, key := range op.Keys {
		vals, enc, ok := bindKey(ti, key)
		if !ok {
			continue
		}
		id := keyID(enc)
		if _, dup := byID[id]; !dup {
			order = append(order, id)
			bound[id] = vals
		}
		byID[id] = append(byID[id], k)
	}
	head := "SELECT " + strings.Join(sel, ", ") + " FROM " + c.table(op.Table) + " WHERE "
	var qs []*readQuery
	if len(ti.pk) == 1 {
		q := head + quote(ti.pk[0].Name) + " IN ?"
		for start := 0; start < len(order); start += c.inKeys {
			chunk := order[start:min(len(order), start+c.inKeys)]
			in := make([]any, len(chunk))
			for i, id := range chunk {
				in[i] = bound[id][0]
			}
			qs = append(qs, &readQuery{st: cqlStatement{CQL: q, Values: []any{in}}})
		}
	} else {
		conds := make([]string, len(ti.pk))
		for i, p := range ti.pk {
			conds[i] = quote(p.Name) + " = ?"
		}
		q := head + strings.Join(conds, " AND ")
		for _, id := range order {
			qs = append(qs, &readQuery{st: cqlStatement{CQL: q, Values: bound[id]}})
		}
	}
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				q.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			q.rows, q.err = c.s.query(ctx, c.cl, q.st, len(sel))
		}()
	}
	wg.Wait()
	for _, q := range qs {
		if q.err != nil {
			return res, q.err
		}
		for _, row := range q.rows {
			ks := byID[keyID(row[:len(ti.pk)])]
			if len(ks) == 0 {
				continue
			}
			vals := make([][]byte, len(sel))
			for j := len(ti.pk); j < len(sel); j++ {
				v, err := cqlToJSON(selTypes[j], row[j])
				if err != nil {
					return res, fmt.Errorf("%s.%s: %w", op.Table, strings.Trim(sel[j], `"`), err)
				}
				vals[j] = v
			}
			for _, k := range ks {
				res.Found[k] = true
				for i, j := range colAt {
					if j >= 0 {
						res.Values[k][i] = vals[j]
					}
				}
			}
		}
	}
	return res, nil
}

// bindKey decodes key into the table's key column values and their CQL encodings; ok is false when the key
// cannot be a key of this table.
func bindKey(ti *tableInfo, key []byte) (vals []any, enc [][]byte, ok bool) {
	parts, err := domain.DecodeKey(key, len(ti.pk))
	if err != nil {
		return nil, nil, false
	}
	vals, enc = make([]any, len(parts)), make([][]byte, len(parts))
	for i, p := range ti.pk {
		v, err := jsonToCQL(p.Type, parts[i])
		if err != nil || v == nil {
			return nil, nil, false
		}
		b, err := marshalCQL(p.Type, v)
		if err != nil {
			return nil, nil, false
		}
		vals[i], enc[i] = v, b
	}
	return vals, enc, true
}

// requestError is the part of gocql's server errors the store inspects.
type requestError interface {
	Code() int
	Message() string
}

func errMessage(err error, code int) string {
	var re requestError
	if errors.As(err, &re) && re.Code() == code {
		return strings.ToLower(re.Message())
	}
	return ""
}

func isUnconfiguredTable(err error) bool {
	return strings.Contains(errMessage(err, gocql.ErrCodeInvalid), "unconfigured table")
}

func isSchemaError(err error) bool {
	m := errMessage(err, gocql.ErrCodeInvalid)
	return strings.Contains(m, "unconfigured table") || strings.Contains(m, "undefined column")
}

// isAlreadyExists reports a DDL error meaning the object is already there.
func isAlreadyExists(err error) bool {
	if errMessage(err, gocql.ErrCodeAlreadyExists) != "" {
		return true
	}
	m := errMessage(err, gocql.ErrCodeInvalid)
	return strings.Contains(m, "conflicts with an existing column") || strings.Contains(m, "already exists")
}

var (
	_ Store  = (*Cassandra)(nil)
	_ Schema = (*Cassandra)(nil)
)
