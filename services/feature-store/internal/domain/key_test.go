package domain

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestDecodeKeyRoundTrip(t *testing.T) {
	cases := []struct {
		typ  []string
		vals []string
	}{
		{[]string{"BIGINT"}, []string{`42`}},
		{[]string{"TEXT", "INT"}, []string{`"a\u0000b"`, `-7`}},
		{[]string{"TEXT", "BOOLEAN", "DOUBLE"}, []string{`"x\ny"`, `true`, `1.5`}},
		{[]string{"UUID", "INET", "VARINT"}, []string{`"6BA7B810-9DAD-11D1-80B4-00C04FD430C8"`, `"::ffff:1.2.3.4"`, `"123456789012345678901234567890"`}},
	}
	for _, c := range cases {
		parts := make([]json.RawMessage, len(c.vals))
		for i, v := range c.vals {
			canon, err := Coerce(c.typ[i], json.RawMessage(v))
			if err != nil {
				t.Fatal(err)
			}
			parts[i] = canon
		}
		got, err := DecodeKey(EncodeKey(parts), len(parts))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%s", got) != fmt.Sprintf("%s", parts) {
			t.Fatalf("round trip %s -> %s", parts, got)
		}
	}
}

func TestDecodeKeyRejects(t *testing.T) {
	for _, c := range []struct {
		key string
		n   int
	}{
		{"1", 2}, {"1\x002", 1}, {"", 1}, {"\x001", 2}, {"k", 1}, {"1\x00", 2}, {`"a`, 1}, {"1", 0},
	} {
		if got, err := DecodeKey([]byte(c.key), c.n); err == nil {
			t.Errorf("DecodeKey(%q, %d) = %s, want an error", c.key, c.n, got)
		}
	}
}

func FuzzDecodeKey(f *testing.F) {
	f.Add([]byte("1\x00\"a\""), 2)
	f.Add([]byte(`"x"`), 1)
	f.Add([]byte("\x00"), 2)
	f.Fuzz(func(t *testing.T, key []byte, n int) {
		if n > 64 {
			return
		}
		parts, err := DecodeKey(key, n)
		if err != nil {
			return
		}
		if string(EncodeKey(parts)) != string(key) {
			t.Fatalf("decoded %q does not re-encode", key)
		}
	})
}
