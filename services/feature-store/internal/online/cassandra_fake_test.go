package online

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gocql/gocql"
)

// call is one recorded session call.
type call struct {
	Kind  string // exec, query, batch
	CL    gocql.Consistency
	Batch gocql.BatchType
	Stmts []cqlStatement
}

// schemaCol is one system_schema.columns row of the fake.
type schemaCol struct {
	name, kind string
	pos        int
	typ        string
}

// cqlErr is a server error as gocql reports it (RequestError).
type cqlErr struct {
	code int
	msg  string
}

func (e cqlErr) Code() int       { return e.code }
func (e cqlErr) Message() string { return e.msg }
func (e cqlErr) Error() string   { return e.msg }

// recSession records every call; system_schema queries answer from schemas, other SELECTs from answer, and fail
// (when set) may fail any call.
type recSession struct {
	mu      sync.Mutex
	calls   []call
	schemas map[string][]schemaCol
	answer  func(st cqlStatement) [][][]byte
	fail    func(kind string, st cqlStatement) error
	onExec  func(st cqlStatement)
	closed  bool
}

func newRec() *recSession { return &recSession{schemas: map[string][]schemaCol{}} }

func (r *recSession) record(c call) error {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		for _, st := range c.Stmts {
			if err := fail(c.Kind, st); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *recSession) Exec(ctx context.Context, cl gocql.Consistency, stmt string, values ...any) error {
	st := cqlStatement{stmt, values}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.record(call{Kind: "exec", CL: cl, Stmts: []cqlStatement{st}}); err != nil {
		return err
	}
	if r.onExec != nil {
		r.onExec(st)
	}
	return nil
}

func (r *recSession) Query(ctx context.Context, cl gocql.Consistency, ncols int, stmt string, values ...any) ([][][]byte, error) {
	st := cqlStatement{stmt, values}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.record(call{Kind: "query", CL: cl, Stmts: []cqlStatement{st}}); err != nil {
		return nil, err
	}
	if st.CQL == schemaQuery {
		r.mu.Lock()
		cols := r.schemas[st.Values[1].(string)]
		r.mu.Unlock()
		var rows [][][]byte
		for _, c := range cols {
			rows = append(rows, [][]byte{mustMarshal("TEXT", c.name), mustMarshal("TEXT", c.kind), mustMarshal("INT", int32(c.pos)), mustMarshal("TEXT", c.typ)})
		}
		return rows, nil
	}
	if r.answer == nil {
		return nil, nil
	}
	rows := r.answer(st)
	for _, row := range rows {
		if len(row) != ncols {
			return nil, fmt.Errorf("fake: row of %d columns for %d", len(row), ncols)
		}
	}
	return rows, nil
}

func (r *recSession) Batch(ctx context.Context, typ gocql.BatchType, cl gocql.Consistency, stmts []string, values [][]any) error {
	sts := make([]cqlStatement, len(stmts))
	for i := range stmts {
		sts[i] = cqlStatement{stmts[i], values[i]}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.record(call{Kind: "batch", CL: cl, Batch: typ, Stmts: sts})
}

func (r *recSession) Close() { r.closed = true }

// take returns and clears the recorded calls other than system_schema reads, sorted by their text (concurrent
// calls arrive in any order).
func (r *recSession) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.Kind == "query" && c.Stmts[0].CQL == schemaQuery {
			continue
		}
		out = append(out, c)
	}
	r.calls = nil
	sort.SliceStable(out, func(i, j int) bool { return fmtCall(out[i]) < fmtCall(out[j]) })
	return out
}

// schemaReads counts system_schema reads since the last take.
func (r *recSession) schemaReads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.Kind == "query" && c.Stmts[0].CQL == schemaQuery {
			n++
		}
	}
	return n
}

// fmtCall renders a call: kind, batch type, consistency, then each statement with its values as %#v-like text.
func fmtCall(c call) string {
	var b strings.Builder
	b.WriteString(c.Kind)
	if c.Kind == "batch" {
		fmt.Fprintf(&b, " type=%d", c.Batch)
	}
	fmt.Fprintf(&b, " cl=%s", c.CL)
	for _, st := range c.Stmts {
		fmt.Fprintf(&b, "\n  %s | %s", st.CQL, fmtVals(st.Values))
	}
	return b.String()
}

func fmtVals(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		switch x := v.(type) {
		case nil:
			parts[i] = "nil"
		case []any:
			parts[i] = "[" + fmtVals(x) + "]"
		case string:
			parts[i] = fmt.Sprintf("%q", x)
		case []byte:
			parts[i] = fmt.Sprintf("[]byte(%q)", x)
		case fmt.Stringer:
			parts[i] = fmt.Sprintf("%T(%s)", v, x)
		default:
			parts[i] = fmt.Sprintf("%T(%v)", v, v)
		}
	}
	return strings.Join(parts, ", ")
}

func mustMarshal(typ string, v any) []byte {
	b, err := marshalCQL(typ, v)
	if err != nil {
		panic(err)
	}
	return b
}

func checkCalls(t *testing.T, got []call, want ...string) {
	t.Helper()
	var g []string
	for _, c := range got {
		g = append(g, fmtCall(c))
	}
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}
