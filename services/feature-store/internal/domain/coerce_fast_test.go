package domain

import (
	"bytes"
	"encoding/json"
	"testing"
)

var coerceTypes = []string{"TEXT", "VARCHAR", "ASCII", "BLOB", "BOOLEAN", "INT", "BIGINT", "TIMESTAMP", "VARINT", "FLOAT", "DOUBLE"}

// checkFastPath fails when the fast path answers raw differently from the general path.
func checkFastPath(t *testing.T, typ string, raw []byte) {
	t.Helper()
	fast, ok := coerceFast(typ, raw)
	if !ok {
		return
	}
	slow, err := coerceSlow(typ, raw)
	if err != nil || !bytes.Equal(fast, slow) {
		t.Fatalf("%s %q: fast path %q, general path %q (%v)", typ, raw, fast, slow, err)
	}
}

func TestCoerceFastPathAgrees(t *testing.T) {
	inputs := []string{`"abc"`, `"a b-c_9"`, `"<b>"`, `"a\"b"`, `"é"`, `""`, `true`, `false`, `0`, `-0`, `7`, `-12`, `007`,
		`2147483647`, `2147483648`, `-2147483648`, `-2147483649`, `999999999999999999`, `9223372036854775807`, `1.5`, `-0.0`,
		`0.1`, `1.`, `.5`, `1e3`, `3.4028235e38`, `340282350000000000000000000000000000000.0`, `1.0000001`, `"12"`, `null`}
	fastHits := 0
	for _, typ := range coerceTypes {
		for _, in := range inputs {
			if _, ok := coerceFast(typ, []byte(in)); ok {
				fastHits++
			}
			checkFastPath(t, typ, []byte(in))
		}
	}
	if fastHits < 20 {
		t.Fatalf("the fast path answered only %d inputs", fastHits)
	}
	// Values the fast path must leave to the general path, which still decides them.
	for _, c := range []struct{ typ, in, want string }{{"INT", `2147483648`, ""}, {"TEXT", `"<b>"`, `"\u003cb\u003e"`}, {"BIGINT", `"12"`, `12`}, {"DOUBLE", `1e3`, `1000`}} {
		got, err := Coerce(c.typ, json.RawMessage(c.in))
		if (c.want == "") != (err != nil) || string(got) != c.want {
			t.Fatalf("Coerce(%s, %s) = %s, %v; want %q", c.typ, c.in, got, err, c.want)
		}
	}
}

func FuzzCoerceFastPath(f *testing.F) {
	for _, s := range []string{`"abc"`, `12`, `-0`, `1.25`, `true`, `"x<y"`, `0.30000000000000004`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, typ := range coerceTypes {
			checkFastPath(t, typ, []byte(in))
		}
	})
}
