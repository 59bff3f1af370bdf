package httpapi

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
)

func TestBodyDecoders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		decode     func([]byte) (any, error)
		want       any
		field      string
	}{
		{"rename", `{"cluster_name":"x","other":1}`, wrap(DecodeRename), "x", ""},
		{"rename missing", `{}`, wrap(DecodeRename), nil, "cluster_name"},
		{"rename null", `{"cluster_name":null}`, wrap(DecodeRename), nil, "cluster_name"},
		{"rename number", `{"cluster_name":1}`, wrap(DecodeRename), nil, "cluster_name"},
		{"rename array body", `[]`, wrap(DecodeRename), nil, "body"},
		{"rename empty body", ``, wrap(DecodeRename), nil, "body"},
		{"rename trailing data", `{"cluster_name":"x"} {}`, wrap(DecodeRename), nil, "body"},
		{"user", `{"cluster_user":"a@b.io"}`, wrap(DecodeChangeUser), "a@b.io", ""},
		{"user object", `{"cluster_user":{}}`, wrap(DecodeChangeUser), nil, "cluster_user"},
		{"tags", `{"tags":["a","b"]}`, wrap(DecodeTags), []string{"a", "b"}, ""},
		{"tags empty", `{"tags":[]}`, wrap(DecodeTags), []string{}, ""},
		{"tags string", `{"tags":"a"}`, wrap(DecodeTags), nil, "tags"},
		{"visit", `{"cluster_id":"id-1"}`, wrap(DecodeVisit), "id-1", ""},
		{"visit blank", `{"cluster_id":"  "}`, wrap(DecodeVisit), nil, "cluster_id"},
		{"visit too long", `{"cluster_id":"` + strings.Repeat("x", 256) + `"}`, wrap(DecodeVisit), nil, "cluster_id"},
		{"init script", `{"cluster_id":"id-1","status":"FAILED","message":"m","uid":"u"}`, wrap(DecodeInitScriptStatus),
			InitScriptReport{ClusterID: "id-1", Status: "FAILED", Message: "m", UID: "u"}, ""},
		{"init script lower-case status", `{"cluster_id":"id-1","status":"failed"}`, wrap(DecodeInitScriptStatus), nil, "status"},
		{"init script message type", `{"cluster_id":"id-1","status":"FAILED","message":[]}`, wrap(DecodeInitScriptStatus), nil, "message"},
		{"init script no cluster", `{"status":"FAILED"}`, wrap(DecodeInitScriptStatus), nil, "cluster_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.decode([]byte(tc.body))
			if tc.field != "" {
				if e := apierr.From(err); err == nil || e.Kind != apierr.InvalidArgument || e.Field != tc.field {
					t.Fatalf("want InvalidArgument naming %s, got %v (%v)", tc.field, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := tc.want.([]string); ok {
				if !slices.Equal(got.([]string), want) {
					t.Fatalf("got %v, want %v", got, want)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func wrap[T any](fn func([]byte) (T, error)) func([]byte) (any, error) {
	return func(b []byte) (any, error) { v, err := fn(b); return v, err }
}

func TestQueryDecoders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw   string
		parse func(string) (int, error)
		want  int
		field string
	}{
		{"", ParseEventsLimit, DefaultEventsLimit, ""},
		{"1", ParseEventsLimit, 1, ""},
		{"500", ParseEventsLimit, 500, ""},
		{"501", ParseEventsLimit, 0, "limit"},
		{"0", ParseEventsLimit, 0, "limit"},
		{"-1", ParseEventsLimit, 0, "limit"},
		{"1e3", ParseEventsLimit, 0, "limit"},
		{"0", ParseRunningMinutes, 0, ""},
		{"60", ParseRunningMinutes, 60, ""},
		{"", ParseRunningMinutes, 0, "running_time"},
		{strconv.Itoa(MaxRunningMinutes + 1), ParseRunningMinutes, 0, "running_time"},
		{"99999999999999999999", ParseRunningMinutes, 0, "running_time"},
	} {
		got, err := tc.parse(tc.raw)
		if tc.field != "" {
			if apierr.From(err).Field != tc.field {
				t.Errorf("%q: want an error naming %s, got %d %v", tc.raw, tc.field, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %d %v, want %d", tc.raw, got, err, tc.want)
		}
	}
	q, err := ParsePageQuery("", "", "", true)
	if err != nil || q != (PageQuery{Offset: 0, PageSize: 10, Desc: true}) {
		t.Fatalf("defaults %+v %v", q, err)
	}
	q, err = ParsePageQuery("5", "20", "ASC", true)
	if err != nil || q != (PageQuery{Offset: 5, PageSize: 20, Desc: false}) {
		t.Fatalf("explicit %+v %v", q, err)
	}
	for _, bad := range [][4]string{{"-1", "", "", "offset"}, {"", "0", "", "page_size"}, {"", "1001", "", "page_size"}, {"", "", "up", "sort_order"}} {
		if _, err := ParsePageQuery(bad[0], bad[1], bad[2], true); apierr.From(err).Field != bad[3] {
			t.Errorf("%v: got %v", bad, err)
		}
	}
}

// checkDecoded is the contract of every decoder: a value or an InvalidArgument naming a field, never a panic.
func checkDecoded(t *testing.T, err error) bool {
	t.Helper()
	fuzzCheck(t, err)
	return err == nil
}

// fieldOf decodes body generically and returns its top-level key (nil when absent or not an object).
func fieldOf(body []byte, key string) any {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	return m[key]
}

func FuzzDecodeRename(f *testing.F) {
	for _, s := range []string{`{"cluster_name":"renamed"}`, `{}`, `{"cluster_name":null}`, `{"cluster_name":5}`, `[]`, `"x"`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		name, err := DecodeRename(body)
		if checkDecoded(t, err) && fieldOf(body, "cluster_name") != name {
			t.Fatalf("decoded %q, the body's cluster_name is %v", name, fieldOf(body, "cluster_name"))
		}
	})
}

func FuzzDecodeChangeUser(f *testing.F) {
	for _, s := range []string{`{"cluster_user":"b@x.io"}`, `{"cluster_user":[]}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := DecodeChangeUser(body)
		if checkDecoded(t, err) && fieldOf(body, "cluster_user") != u {
			t.Fatalf("decoded %q, the body's cluster_user is %v", u, fieldOf(body, "cluster_user"))
		}
	})
}

func FuzzDecodeTags(f *testing.F) {
	for _, s := range []string{`{"tags":["a","b"]}`, `{"tags":[]}`, `{"tags":"a"}`, `{"tags":[1,null]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tags, err := DecodeTags(body)
		if checkDecoded(t, err) && tags == nil {
			t.Fatalf("decoded nil tags from %q", body)
		}
	})
}

func FuzzDecodeInitScriptStatus(f *testing.F) {
	for _, s := range []string{`{"cluster_id":"id-1","status":"SUCCESS","message":"done","uid":"u1"}`,
		`{"cluster_id":"id-1","status":"DONE"}`, `{"status":"STARTED"}`, `{"cluster_id":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, err := DecodeInitScriptStatus(body)
		if !checkDecoded(t, err) {
			return
		}
		if strings.TrimSpace(rep.ClusterID) == "" || len(rep.ClusterID) > maxIDLen {
			t.Fatalf("accepted cluster_id %q", rep.ClusterID)
		}
		if rep.Status != "STARTED" && rep.Status != "FAILED" && rep.Status != "SUCCESS" {
			t.Fatalf("accepted status %q", rep.Status)
		}
	})
}

func FuzzDecodeVisit(f *testing.F) {
	for _, s := range []string{`{"cluster_id":"id-abc"}`, `{"cluster_id":""}`, `{"cluster_id":{}}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := DecodeVisit(body)
		if checkDecoded(t, err) && (strings.TrimSpace(id) == "" || len(id) > maxIDLen) {
			t.Fatalf("accepted cluster_id %q", id)
		}
	})
}

func FuzzParseEventsLimit(f *testing.F) {
	for _, s := range []string{"", "1", "50", "500", "501", "0", "-1", "x", " 7 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseEventsLimit(raw)
		if checkDecoded(t, err) && (n < 1 || n > MaxEventsLimit) {
			t.Fatalf("accepted limit %d from %q", n, raw)
		}
	})
}

func FuzzParseRunningMinutes(f *testing.F) {
	for _, s := range []string{"0", "30", "-1", "abc", "9223372036854775807", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseRunningMinutes(raw)
		if checkDecoded(t, err) && (n < 0 || n > MaxRunningMinutes) {
			t.Fatalf("accepted minutes %d from %q", n, raw)
		}
	})
}

func FuzzParsePageQuery(f *testing.F) {
	f.Add("0", "10", "desc")
	f.Add("-1", "0", "up")
	f.Add("", "1001", "ASC")
	f.Fuzz(func(t *testing.T, offset, pageSize, sortOrder string) {
		q, err := ParsePageQuery(offset, pageSize, sortOrder, true)
		if checkDecoded(t, err) && (q.Offset < 0 || q.PageSize < 1 || q.PageSize > MaxPageSize) {
			t.Fatalf("accepted %+v", q)
		}
	})
}
