package online

import (
	"encoding/json"
	"math"
	"math/big"
	"net"
	"testing"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"

	"github.com/darwinml/darwin/services/feature-store/internal/domain"
)

// TestCQLValueRoundTrip sends client JSON through domain.Coerce (the canonical form the store receives), the
// bind conversion, gocql's marshaller (the bytes Cassandra stores) and back to JSON, for every column type.
func TestCQLValueRoundTrip(t *testing.T) {
	cases := []struct {
		typ, in, want string // want "" = the canonical form itself
	}{
		{"TEXT", `"héllo \"x\" <b>"`, ""}, {"TEXT", `""`, ""}, {"TEXT", `"a\u0000b"`, ""},
		{"VARCHAR", `"v"`, ""}, {"ASCII", `"plain"`, ""},
		{"BLOB", `"bytes ✓"`, ""}, {"BLOB", `""`, ""},
		{"BOOLEAN", `true`, ""}, {"BOOLEAN", `false`, ""},
		{"INT", `2147483647`, ""}, {"INT", `-2147483648`, ""}, {"INT", `"12"`, `12`}, {"INT", `0`, ""},
		{"BIGINT", `9223372036854775807`, ""}, {"BIGINT", `-9223372036854775808`, ""},
		{"TIMESTAMP", `1700000000123`, ""}, {"TIMESTAMP", `-1`, ""},
		{"VARINT", `123456789012345678901234567890`, ""}, {"VARINT", `-1`, ""}, {"VARINT", `0`, ""},
		{"FLOAT", `1.1`, ""}, {"FLOAT", `-3.4028235e+38`, ""}, {"FLOAT", `1e-45`, ""},
		{"DOUBLE", `0.1`, ""}, {"DOUBLE", `1e+300`, ""}, {"DOUBLE", `-0`, ""}, {"DOUBLE", `5e-324`, ""},
		{"DECIMAL", `1.50`, ""}, {"DECIMAL", `-0.001`, ""}, {"DECIMAL", `12345678901234567890.123456789`, ""},
		{"DECIMAL", `1e3`, ""}, {"DECIMAL", `1.5e3`, `15e2`}, {"DECIMAL", `25E-2`, `0.25`}, {"DECIMAL", `0`, ""},
		{"DECIMAL", `1e-70`, ""},
		{"UUID", `"6BA7B810-9DAD-41D1-80B4-00C04FD430C8"`, `"6ba7b810-9dad-41d1-80b4-00c04fd430c8"`},
		{"TIMEUUID", `"d2177dd0-eaa2-11de-a572-001b779c76e3"`, ""},
		{"INET", `"10.1.2.3"`, ""}, {"INET", `"2001:DB8::1"`, `"2001:db8::1"`}, {"INET", `"::ffff:1.2.3.4"`, `"1.2.3.4"`},
	}
	for _, c := range cases {
		canon, err := domain.Coerce(c.typ, json.RawMessage(c.in))
		if err != nil {
			t.Fatalf("%s %s: coerce: %v", c.typ, c.in, err)
		}
		want := c.want
		if want == "" {
			want = string(canon)
		}
		v, err := jsonToCQL(c.typ, canon)
		if err != nil {
			t.Fatalf("%s %s: to CQL: %v", c.typ, canon, err)
		}
		b, err := marshalCQL(c.typ, v)
		if err != nil {
			t.Fatalf("%s %s: marshal %T: %v", c.typ, canon, v, err)
		}
		got, err := cqlToJSON(c.typ, b)
		if err != nil {
			t.Fatalf("%s %s: from CQL: %v", c.typ, canon, err)
		}
		if string(got) != want {
			t.Errorf("%s %s: round trip %s, want %s", c.typ, canon, got, want)
		}
		// What comes back is itself canonical: coercing it again changes nothing.
		if again, err := domain.Coerce(c.typ, got); err != nil || (c.typ != "DECIMAL" && string(again) != string(got)) {
			t.Errorf("%s: read value %s is not canonical (%s, %v)", c.typ, got, again, err)
		}
	}
}

// TestCQLBindTypes pins the Go types bound per column type (what the statement tests show).
func TestCQLBindTypes(t *testing.T) {
	uuid, _ := gocql.ParseUUID("6ba7b810-9dad-41d1-80b4-00c04fd430c8")
	for _, c := range []struct {
		typ, in string
		want    any
	}{
		{"TEXT", `"x"`, "x"}, {"ASCII", `"x"`, "x"}, {"VARCHAR", `"x"`, "x"}, {"BLOB", `"x"`, []byte("x")},
		{"BOOLEAN", `true`, true}, {"INT", `7`, int32(7)}, {"BIGINT", `7`, int64(7)}, {"TIMESTAMP", `7`, int64(7)},
		{"VARINT", `7`, big.NewInt(7)}, {"FLOAT", `0.5`, float32(0.5)}, {"DOUBLE", `0.5`, 0.5},
		{"DECIMAL", `0.50`, inf.NewDec(50, 2)}, {"UUID", `"6ba7b810-9dad-41d1-80b4-00c04fd430c8"`, uuid},
		{"INET", `"1.2.3.4"`, net.IPv4(1, 2, 3, 4).To4()},
	} {
		got, err := jsonToCQL(c.typ, []byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		if fmtVals([]any{got}) != fmtVals([]any{c.want}) {
			t.Errorf("%s %s: bound %s, want %s", c.typ, c.in, fmtVals([]any{got}), fmtVals([]any{c.want}))
		}
	}
	if v, err := jsonToCQL("INT", nil); v != nil || err != nil {
		t.Fatalf("null binds %v %v", v, err)
	}
	if v, err := jsonToCQL("INT", []byte("null")); v != nil || err != nil {
		t.Fatalf("JSON null binds %v %v", v, err)
	}
}

func TestCQLValueErrors(t *testing.T) {
	for _, c := range []struct{ typ, in string }{
		{"TEXT", `1`}, {"ASCII", `"é"`}, {"BOOLEAN", `1`}, {"INT", `2147483648`}, {"INT", `1.5`}, {"BIGINT", `9223372036854775808`},
		{"VARINT", `"1"`}, {"FLOAT", `"x"`}, {"FLOAT", `1e39`}, {"DOUBLE", `true`}, {"DECIMAL", `"1"`}, {"DECIMAL", `1.`},
		{"DECIMAL", `.5`}, {"DECIMAL", `1e99999999999`}, {"UUID", `"nope"`},
		{"TIMEUUID", `"6ba7b810-9dad-41d1-80b4-00c04fd430c8"`}, {"INET", `"1.2.3"`}, {"LIST", `"x"`},
	} {
		if v, err := jsonToCQL(c.typ, []byte(c.in)); err == nil {
			t.Errorf("%s %s bound as %v", c.typ, c.in, v)
		}
	}
	for _, c := range []struct {
		typ  string
		data []byte
	}{
		{"INT", []byte{1, 2}}, {"BIGINT", []byte{1}}, {"DOUBLE", []byte{1, 2, 3}}, {"UUID", []byte{1}}, {"INET", []byte{1, 2, 3}},
		{"DECIMAL", []byte{0, 0, 0, 1}}, {"BOOLEAN", []byte{1, 1}}, {"LIST", []byte{1}},
	} {
		if v, err := cqlToJSON(c.typ, c.data); err == nil {
			t.Errorf("%s %x read as %s", c.typ, c.data, v)
		}
	}
}

func TestCQLReadOnlyForms(t *testing.T) {
	// Values only other writers make: nulls, empty cells, non-UTF-8 blobs, non-finite floats.
	for _, c := range []struct {
		typ  string
		data []byte
		want string
	}{
		{"INT", nil, "<nil>"}, {"INT", []byte{}, "<nil>"}, {"TEXT", []byte{}, `""`}, {"TEXT", nil, "<nil>"},
		{"BLOB", []byte{0xff, 0x00}, `"0xff00"`},
		{"DOUBLE", mustMarshal("DOUBLE", math.NaN()), `"NaN"`}, {"DOUBLE", mustMarshal("DOUBLE", math.Inf(-1)), `"-Infinity"`},
		{"FLOAT", mustMarshal("FLOAT", float32(math.Inf(1))), `"Infinity"`},
		{"DECIMAL", mustMarshal("DECIMAL", inf.NewDec(-5, 3)), `-0.005`},
		{"INET", net.ParseIP("::1"), `"::1"`},
	} {
		got, err := cqlToJSON(c.typ, c.data)
		s := "<nil>"
		if got != nil {
			s = string(got)
		}
		if err != nil || s != c.want {
			t.Errorf("%s %x: %s %v, want %s", c.typ, c.data, s, err, c.want)
		}
	}
}

func FuzzCQLToJSON(f *testing.F) {
	f.Add("DECIMAL", mustMarshal("DECIMAL", inf.NewDec(150, 2)))
	f.Add("VARINT", mustMarshal("VARINT", big.NewInt(-1)))
	f.Add("INET", []byte{1, 2, 3, 4})
	f.Add("BLOB", []byte{0xff})
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		v, err := cqlToJSON(typ, data)
		if err != nil || v == nil {
			return
		}
		if !json.Valid(v) {
			t.Fatalf("%s %x read as invalid JSON %q", typ, data, v)
		}
	})
}
