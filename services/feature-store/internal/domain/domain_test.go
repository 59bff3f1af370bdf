package domain

import (
	"encoding/json"
	"testing"
)

func TestCoerce(t *testing.T) {
	cases := []struct {
		typ, in, want string // want "ERR" for an error, "" for null
	}{
		{"INT", `1`, `1`}, {"INT", `"42"`, `42`}, {"INT", `2147483647`, `2147483647`}, {"INT", `2147483648`, "ERR"},
		{"INT", `1.5`, "ERR"}, {"INT", `1e2`, "ERR"}, {"INT", `"x"`, "ERR"}, {"INT", `true`, "ERR"}, {"INT", `null`, ""},
		{"BIGINT", `-9223372036854775808`, `-9223372036854775808`}, {"BIGINT", `9223372036854775808`, "ERR"},
		{"VARINT", `123456789012345678901234567890`, `123456789012345678901234567890`},
		{"TIMESTAMP", `1700000000000`, `1700000000000`},
		{"DOUBLE", `1.50`, `1.5`}, {"DOUBLE", `"2.5"`, `2.5`}, {"DOUBLE", `1e400`, "ERR"}, {"DOUBLE", `"NaN"`, "ERR"},
		{"FLOAT", `0.1`, `0.1`}, {"DECIMAL", `12.50`, `12.50`}, {"DECIMAL", `"12.50"`, `12.50`},
		{"TEXT", `"héllo"`, `"héllo"`}, {"TEXT", `1`, "ERR"}, {"VARCHAR", `"a"`, `"a"`},
		{"ASCII", `"abc"`, `"abc"`}, {"ASCII", `"é"`, "ERR"},
		{"BOOLEAN", `true`, `true`}, {"BOOLEAN", `"true"`, "ERR"},
		{"UUID", `"0F8FAD5B-D9CB-469F-A165-70867728950E"`, `"0f8fad5b-d9cb-469f-a165-70867728950e"`}, {"UUID", `"nope"`, "ERR"},
		{"INET", `"::0001"`, `"::1"`}, {"INET", `"300.1.1.1"`, "ERR"}, {"BLOB", `"AAEC"`, `"AAEC"`},
		{"MAP", `1`, "ERR"},
	}
	for _, c := range cases {
		got, err := Coerce(c.typ, json.RawMessage(c.in))
		switch {
		case c.want == "ERR":
			if err == nil {
				t.Errorf("%s %s: want error, got %s", c.typ, c.in, got)
			}
		case err != nil:
			t.Errorf("%s %s: %v", c.typ, c.in, err)
		case c.want == "" && got != nil, c.want != "" && string(got) != c.want:
			t.Errorf("%s %s: got %q want %q", c.typ, c.in, got, c.want)
		}
	}
}

func TestVersionsAndNames(t *testing.T) {
	for in, want := range map[string]int{"v1": 1, "v12": 12, "v0": 0, "v01": 0, "1": 0, "v": 0, "v-1": 0, "V1": 0, "v1x": 0} {
		n, ok := ParseVersion(in)
		if (want == 0) == ok || n != want && ok {
			t.Errorf("ParseVersion(%q) = %d %v", in, n, ok)
		}
	}
	m := FeatureGroupMetadata{Name: "fg", Version: "v3", VersionEnabled: true}
	if m.StoreColumn("c") != "fg__v3__c" {
		t.Fatal(m.StoreColumn("c"))
	}
	m.VersionEnabled = false
	if m.StoreColumn("c") != "fg__c" {
		t.Fatal(m.StoreColumn("c"))
	}
	for s, ok := range map[string]bool{"users": true, "u_1": true, "1u": false, "a__b": false, "": false, "a-b": false} {
		if ValidIdent(s) != ok {
			t.Errorf("ValidIdent(%q) != %v", s, ok)
		}
	}
	if string(EncodeKey([]json.RawMessage{json.RawMessage(`1`), json.RawMessage(`"a"`)})) != "1\x00\"a\"" {
		t.Fatal("EncodeKey")
	}
	if !Is(E(ErrFGNotFound, ""), ErrFGNotFound) || Is(E(ErrFGNotFound, ""), ErrEntityNotFound) || As(json.Unmarshal([]byte("{"), &m)).Code != ErrUnknown {
		t.Fatal("error helpers")
	}
}
