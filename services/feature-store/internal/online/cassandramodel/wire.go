package cassandramodel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/gocql/gocql"
)

// WireServer speaks enough of the CQL native protocol v4 (OPTIONS, STARTUP with optional password
// authentication, REGISTER, QUERY, PREPARE, EXECUTE, BATCH; system.local/peers for the driver's host discovery)
// to run the real gocql driver — and so online.OpenCassandra and its session adapter — against a Model. It checks
// the driver's side of the wire: frames, prepared bind types, result metadata, server errors. It is not Cassandra.
type WireServer struct {
	ln    net.Listener
	model *Model
	user  string
	pass  string

	mu       sync.Mutex
	prepared map[string]wirePrepared
	conns    map[net.Conn]bool
	seen     []string // "EXECUTE <cl> <stmt>", "BATCH type=<n> <cl> <stmts>", "QUERY <stmt>"
	wg       sync.WaitGroup
}

type wirePrepared struct {
	stmt   string
	binds  []wireCol
	result []wireCol
}

type wireCol struct {
	name string
	typ  string // model type name, or "LIST<T>"/"SET<T>"
}

// ServeWire serves model on a loopback port; user, when set, requires password authentication with pass.
func ServeWire(model *Model, user, pass string) (*WireServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &WireServer{ln: ln, model: model, user: user, pass: pass, prepared: map[string]wirePrepared{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops accepting, closes every connection and waits for the server's goroutines.
func (s *WireServer) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Addr is the host:port to connect to.
func (s *WireServer) Addr() string { return s.ln.Addr().String() }

func (s *WireServer) log(line string) {
	s.mu.Lock()
	s.seen = append(s.seen, line)
	s.mu.Unlock()
}

// Lines returns the logged requests starting with prefix: "QUERY <consistency> <statement>", "EXECUTE
// <consistency> <statement>", "BATCH type=<n> <consistency> <statements>".
func (s *WireServer) Lines(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.seen {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func (s *WireServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil {
			s.conns = map[net.Conn]bool{}
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Opcodes of protocol v4.
const (
	opError        = 0x00
	opStartup      = 0x01
	opReady        = 0x02
	opAuthenticate = 0x03
	opOptions      = 0x05
	opSupported    = 0x06
	opQuery        = 0x07
	opResult       = 0x08
	opPrepare      = 0x09
	opExecute      = 0x0A
	opRegister     = 0x0B
	opBatch        = 0x0D
	opAuthResponse = 0x0F
	opAuthSuccess  = 0x10
)

func (s *WireServer) serve(c net.Conn) {
	defer c.Close()
	var wmu sync.Mutex
	hdr := make([]byte, 9)
	authed := s.user == ""
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		if hdr[0] != 0x04 {
			// Only v4: answer as Cassandra does, naming the supported version.
			s.reply(c, &wmu, hdr, opError, errBody(0x000A, "Invalid or unsupported protocol version (5); supported versions are (3/v3, 4/v4)"))
			continue
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[5:]))
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		r := &wireReader{b: body}
		op := hdr[4]
		if !authed && op != opStartup && op != opOptions && op != opAuthResponse {
			s.reply(c, &wmu, hdr, opError, errBody(0x0100, "not authenticated"))
			continue
		}
		var (
			rop  byte
			resp []byte
		)
		switch op {
		case opOptions:
			var w wireWriter
			w.short(2)
			w.str("CQL_VERSION")
			w.strList([]string{"3.4.5"})
			w.str("COMPRESSION")
			w.strList(nil)
			rop, resp = opSupported, w.b
		case opStartup:
			if s.user != "" {
				var w wireWriter
				w.str("org.apache.cassandra.auth.PasswordAuthenticator")
				rop, resp = opAuthenticate, w.b
			} else {
				rop = opReady
			}
		case opAuthResponse:
			tok := r.bytes()
			if string(tok) == "\x00"+s.user+"\x00"+s.pass {
				authed = true
				var w wireWriter
				w.int(-1)
				rop, resp = opAuthSuccess, w.b
			} else {
				rop, resp = opError, errBody(0x0100, "Provided username and/or password are incorrect")
			}
		case opRegister:
			rop = opReady
		case opQuery:
			rop, resp = s.query(r.longStr(), r)
		case opPrepare:
			rop, resp = s.prepare(r.longStr())
		case opExecute:
			rop, resp = s.execute(r)
		case opBatch:
			rop, resp = s.batch(r)
		default:
			rop, resp = opError, errBody(0x000A, fmt.Sprintf("opcode %d", op))
		}
		if r.err != nil {
			rop, resp = opError, errBody(0x000A, "malformed frame: "+r.err.Error())
		}
		s.reply(c, &wmu, hdr, rop, resp)
	}
}

func (s *WireServer) reply(c net.Conn, mu *sync.Mutex, req []byte, op byte, body []byte) {
	out := make([]byte, 9, 9+len(body))
	out[0] = 0x84
	copy(out[2:4], req[2:4])
	out[4] = op
	binary.BigEndian.PutUint32(out[5:], uint32(len(body)))
	out = append(out, body...)
	mu.Lock()
	defer mu.Unlock()
	_, _ = c.Write(out)
}

func errBody(code int, msg string) []byte {
	var w wireWriter
	w.int(int32(code))
	w.str(msg)
	return w.b
}

func modelErr(err error) (byte, []byte) {
	var re interface {
		Code() int
		Message() string
	}
	if errors.As(err, &re) {
		return opError, errBody(re.Code(), re.Message())
	}
	return opError, errBody(0x0000, err.Error())
}

var (
	localCols = []wireCol{{"key", "TEXT"}, {"data_center", "TEXT"}, {"rack", "TEXT"}, {"host_id", "UUID"}, {"release_version", "TEXT"},
		{"partitioner", "TEXT"}, {"tokens", "SET<TEXT>"}, {"schema_version", "UUID"}, {"rpc_address", "INET"}}
	peerCols   = []wireCol{{"peer", "INET"}, {"data_center", "TEXT"}, {"host_id", "UUID"}, {"rack", "TEXT"}, {"release_version", "TEXT"}, {"rpc_address", "INET"}, {"schema_version", "UUID"}, {"tokens", "SET<TEXT>"}}
	hostID, _  = gocql.ParseUUID("11111111-2222-4333-8444-555555555555")
	schemaV, _ = gocql.ParseUUID("aaaaaaaa-2222-4333-8444-555555555555")
	ddlTarget  = regexp.MustCompile(`^(CREATE|ALTER|DROP) (KEYSPACE|TABLE)(?: IF (?:NOT )?EXISTS)? "([^"]+)"(?:\."([^"]+)")?`)
)

func (s *WireServer) query(stmt string, r *wireReader) (byte, []byte) {
	cl := r.short()
	s.log(fmt.Sprintf("QUERY %s %s", gocql.Consistency(cl), stmt))
	switch {
	case strings.HasPrefix(stmt, "SELECT * FROM system.local"):
		var tw wireWriter // set<text> {"0"}: count, then each element as [bytes]
		tw.int(1)
		tw.bytes([]byte("0"))
		tok := tw.b
		return opResult, rowsBody(localCols, [][][]byte{{mustMarshal("TEXT", "local"), mustMarshal("TEXT", "dc1"), mustMarshal("TEXT", "r1"),
			hostID.Bytes(), mustMarshal("TEXT", "4.1.0"), mustMarshal("TEXT", "org.apache.cassandra.dht.Murmur3Partitioner"), tok, schemaV.Bytes(),
			net.ParseIP("127.0.0.1").To4()}})
	case strings.HasPrefix(stmt, "SELECT schema_version FROM system.local"):
		return opResult, rowsBody([]wireCol{{"schema_version", "UUID"}}, [][][]byte{{schemaV.Bytes()}})
	case strings.Contains(stmt, "FROM system.peers"):
		return opResult, rowsBody(peerCols, nil)
	}
	m := ddlTarget.FindStringSubmatch(stmt)
	if m == nil {
		return opError, errBody(0x2000, "wire: unsupported query "+stmt)
	}
	if err := s.model.Exec(context.Background(), gocql.Consistency(cl), stmt); err != nil {
		return modelErr(err)
	}
	// A schema change result makes the driver wait for schema agreement (system.local/peers above).
	var w wireWriter
	w.int(5)
	w.str(map[string]string{"CREATE": "CREATED", "ALTER": "UPDATED", "DROP": "DROPPED"}[m[1]])
	w.str(m[2])
	w.str(m[3])
	if m[2] == "TABLE" {
		w.str(m[4])
	}
	return opResult, w.b
}

var (
	wireInsert = regexp.MustCompile(`^INSERT INTO "([^"]+)"\."([^"]+)" \((.*)\) VALUES \([?, ]*\) USING TTL \?$`)
	wireSelect = regexp.MustCompile(`^SELECT (.*) FROM "([^"]+)"\."([^"]+)" WHERE (.*)$`)
)

func quotedNames(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ", ") {
		out = append(out, strings.Trim(p, `"`))
	}
	return out
}

// prepare describes a statement's bind markers and result columns from the model's schema; unknown tables and
// columns fail here, as they do in Cassandra.
func (s *WireServer) prepare(stmt string) (byte, []byte) {
	p := wirePrepared{stmt: stmt}
	switch {
	case stmt == SchemaQuery:
		p.binds = []wireCol{{"keyspace_name", "TEXT"}, {"table_name", "TEXT"}}
		p.result = []wireCol{{"column_name", "TEXT"}, {"kind", "TEXT"}, {"position", "INT"}, {"type", "TEXT"}}
	case wireInsert.MatchString(stmt):
		m := wireInsert.FindStringSubmatch(stmt)
		types, _, ok := s.model.Table(m[1], m[2])
		if !ok {
			return opError, errBody(gocql.ErrCodeInvalid, "unconfigured table "+m[2])
		}
		for _, c := range quotedNames(m[3]) {
			if types[c] == "" {
				return opError, errBody(gocql.ErrCodeInvalid, "Undefined column name "+c)
			}
			p.binds = append(p.binds, wireCol{c, types[c]})
		}
		p.binds = append(p.binds, wireCol{"[ttl]", "INT"})
	case wireSelect.MatchString(stmt):
		m := wireSelect.FindStringSubmatch(stmt)
		types, _, ok := s.model.Table(m[2], m[3])
		if !ok {
			return opError, errBody(gocql.ErrCodeInvalid, "unconfigured table "+m[3])
		}
		for _, c := range quotedNames(m[1]) {
			if types[c] == "" {
				return opError, errBody(gocql.ErrCodeInvalid, "Undefined column name "+c)
			}
			p.result = append(p.result, wireCol{c, types[c]})
		}
		where, limit := strings.CutSuffix(m[4], " LIMIT ?")
		for _, cond := range strings.Split(where, " AND ") {
			name, op, _ := strings.Cut(cond, " ")
			name = strings.Trim(name, `"`)
			switch op {
			case "= ?":
				p.binds = append(p.binds, wireCol{name, types[name]})
			case "IN ?":
				p.binds = append(p.binds, wireCol{"in(" + name + ")", "LIST<" + types[name] + ">"})
			default:
				return opError, errBody(0x2000, "wire: condition "+cond)
			}
		}
		if limit {
			p.binds = append(p.binds, wireCol{"[limit]", "INT"})
		}
	default:
		return opError, errBody(0x2000, "wire: cannot prepare "+stmt)
	}
	id := fmt.Sprintf("%016x", len(stmt)*7919+int(stmt[len(stmt)/2]))
	s.mu.Lock()
	for s.prepared[id].stmt != "" && s.prepared[id].stmt != stmt {
		id += "x"
	}
	s.prepared[id] = p
	s.mu.Unlock()
	var w wireWriter
	w.int(4)
	w.shortBytes([]byte(id))
	// Bind metadata: global table spec, no partition key indexes (the driver then routes without a token).
	w.int(0x0001)
	w.int(int32(len(p.binds)))
	w.int(0)
	w.str("ks")
	w.str("t")
	for _, c := range p.binds {
		w.str(c.name)
		w.option(c.typ)
	}
	w.metadata(p.result)
	return opResult, w.b
}

// rawValue binds exact wire bytes through the model's gocql.Marshal.
type wireRaw []byte

func (r wireRaw) MarshalCQL(gocql.TypeInfo) ([]byte, error) { return r, nil }

// values decodes bound values: list markers into []any of raw elements, the INSERT TTL into int32.
func (s *WireServer) values(r *wireReader, p wirePrepared) []any {
	n := int(r.short())
	vals := make([]any, n)
	for i := 0; i < n; i++ {
		b := r.bytes()
		switch {
		case b == nil:
			vals[i] = nil
		case i < len(p.binds) && strings.HasPrefix(p.binds[i].typ, "LIST<"):
			lr := &wireReader{b: b}
			cnt := int(lr.int())
			list := make([]any, cnt)
			for j := range list {
				list[j] = wireRaw(lr.bytes())
			}
			vals[i] = list
		case i < len(p.binds) && (p.binds[i].name == "[ttl]" || p.binds[i].name == "[limit]"):
			var ttl int32
			if err := gocql.Unmarshal(gocql.NewNativeType(4, gocql.TypeInt, ""), b, &ttl); err != nil {
				r.err = err
			}
			vals[i] = ttl
		case i < len(p.binds) && p.binds[i].typ == "TEXT" && p.stmt == SchemaQuery:
			vals[i] = string(b)
		default:
			vals[i] = wireRaw(b)
		}
	}
	return vals
}

func (s *WireServer) lookup(id []byte) (wirePrepared, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.prepared[string(id)]
	return p, ok
}

func (s *WireServer) execute(r *wireReader) (byte, []byte) {
	p, ok := s.lookup(r.shortBytes())
	if !ok {
		return opError, errBody(0x2500, "unprepared")
	}
	cl := gocql.Consistency(r.short())
	flags := r.byte()
	var vals []any
	if flags&0x01 != 0 {
		vals = s.values(r, p)
	}
	if len(vals) != len(p.binds) {
		return opError, errBody(0x2200, fmt.Sprintf("expected %d values, got %d", len(p.binds), len(vals)))
	}
	s.log(fmt.Sprintf("EXECUTE %s %s", cl, p.stmt))
	rows, err := s.model.Query(context.Background(), cl, len(p.result), p.stmt, vals...)
	if err != nil {
		return modelErr(err)
	}
	return opResult, rowsBody(p.result, rows)
}

func (s *WireServer) batch(r *wireReader) (byte, []byte) {
	typ := gocql.BatchType(r.byte())
	n := int(r.short())
	stmts, values := make([]string, n), make([][]any, n)
	for i := 0; i < n; i++ {
		if kind := r.byte(); kind != 1 {
			return opError, errBody(0x000A, "wire: batch of unprepared statements")
		}
		p, ok := s.lookup(r.shortBytes())
		if !ok {
			return opError, errBody(0x2500, "unprepared")
		}
		stmts[i], values[i] = p.stmt, s.values(r, p)
	}
	cl := gocql.Consistency(r.short())
	s.log(fmt.Sprintf("BATCH type=%d %s %d", typ, cl, n))
	if err := s.model.Batch(context.Background(), typ, cl, stmts, values); err != nil {
		return modelErr(err)
	}
	var w wireWriter
	w.int(1)
	return opResult, w.b
}

func rowsBody(cols []wireCol, rows [][][]byte) []byte {
	var w wireWriter
	w.int(2)
	w.metadata(cols)
	w.int(int32(len(rows)))
	for _, row := range rows {
		for _, v := range row {
			w.bytes(v)
		}
	}
	return w.b
}

type wireWriter struct{ b []byte }

func (w *wireWriter) int(v int32)  { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *wireWriter) short(v int)  { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *wireWriter) str(s string) { w.short(len(s)); w.b = append(w.b, s...) }
func (w *wireWriter) shortBytes(b []byte) {
	w.short(len(b))
	w.b = append(w.b, b...)
}
func (w *wireWriter) bytes(b []byte) {
	if b == nil {
		w.int(-1)
		return
	}
	w.int(int32(len(b)))
	w.b = append(w.b, b...)
}
func (w *wireWriter) strList(l []string) {
	w.short(len(l))
	for _, s := range l {
		w.str(s)
	}
}

var wireTypeIDs = map[string]int{"ASCII": 1, "BIGINT": 2, "BLOB": 3, "BOOLEAN": 4, "DECIMAL": 6, "DOUBLE": 7, "FLOAT": 8, "INT": 9,
	"TIMESTAMP": 0x0B, "UUID": 0x0C, "TEXT": 0x0D, "VARINT": 0x0E, "TIMEUUID": 0x0F, "INET": 0x10}

func (w *wireWriter) option(typ string) {
	switch {
	case strings.HasPrefix(typ, "LIST<"):
		w.short(0x20)
		w.option(strings.TrimSuffix(strings.TrimPrefix(typ, "LIST<"), ">"))
	case strings.HasPrefix(typ, "SET<"):
		w.short(0x22)
		w.option(strings.TrimSuffix(strings.TrimPrefix(typ, "SET<"), ">"))
	default:
		id, ok := wireTypeIDs[typ]
		if !ok {
			panic("wire: type " + typ)
		}
		w.short(id)
	}
}

// metadata writes result metadata with a global table spec (NO_METADATA when there are no columns).
func (w *wireWriter) metadata(cols []wireCol) {
	if len(cols) == 0 {
		w.int(0x0004)
		w.int(0)
		return
	}
	w.int(0x0001)
	w.int(int32(len(cols)))
	w.str("ks")
	w.str("t")
	for _, c := range cols {
		w.str(c.name)
		w.option(c.typ)
	}
}

type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) need(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		if r.err == nil {
			r.err = fmt.Errorf("short frame")
		}
		return make([]byte, max(n, 0))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wireReader) byte() byte      { return r.need(1)[0] }
func (r *wireReader) short() uint16   { return binary.BigEndian.Uint16(r.need(2)) }
func (r *wireReader) int() int32      { return int32(binary.BigEndian.Uint32(r.need(4))) }
func (r *wireReader) longStr() string { return string(r.need(int(r.int()))) }
func (r *wireReader) shortBytes() []byte {
	return bytes.Clone(r.need(int(r.short())))
}
func (r *wireReader) bytes() []byte {
	n := r.int()
	if n < 0 {
		return nil
	}
	return bytes.Clone(r.need(int(n)))
}
