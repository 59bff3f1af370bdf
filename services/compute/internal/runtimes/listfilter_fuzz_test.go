package runtimes

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/envelope"
)

// FuzzDecodeListFilter covers the body of POST /runtime/v2/get-all: decoded as the handler does, then
// validated as ListV2 does. It must give either a normalized filter within bounds or an InvalidArgument
// naming a field.
func FuzzDecodeListFilter(f *testing.F) {
	for _, s := range []string{`{}`, `{"search_query":"0.","offset":0,"page_size":10,"class":"CPU","type":"Ray Only","is_deleted":false}`,
		`{"class":"CUSTOM","type":"Created By Me"}`, `{"class":"GPU","type":"Created By Me"}`, `{"offset":-1}`, `{"page_size":0}`,
		`{"page_size":"10"}`, `{"class":"TPU"}`, `[]`, `null`, `{"search_query":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var lf ListFilter
		err := envelope.DecodeBytes(body, &lf)
		var n normalizedFilter
		if err == nil {
			n, err = lf.validate()
		}
		if err != nil {
			if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field == "" {
				t.Fatalf("%q: error is not an InvalidArgument naming a field: %v", body, err)
			}
			return
		}
		if n.offset < 0 || n.pageSize < 1 || n.pageSize > MaxPageSize {
			t.Fatalf("%q: accepted paging %+v", body, n)
		}
		if n.class != "" && !slices.Contains(Classes, n.class) {
			t.Fatalf("%q: accepted class %q", body, n.class)
		}
	})
}

// FuzzDecoderErrors feeds one body to DecodeV1 and DecodeV2: each gives a value or an InvalidArgument naming a
// field (FuzzDecodeV1/FuzzDecodeV2 in handler_test.go check the decoded values).
func FuzzDecoderErrors(f *testing.F) {
	for _, s := range []string{`{"runtime":"r","image":"i","type":"gpu"}`, `{"runtime":"r","class":"CPU","type":"Ray Only","image":"i","user":"u"}`,
		`{"class":"TPU"}`, `{"components":[{"name":"Go"}]}`, `{"type":5}`, `[]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := func() *http.Request { return httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)) }
		_, errV1 := DecodeV1(req())
		_, errV2 := DecodeV2(req())
		for _, err := range []error{errV1, errV2} {
			if err != nil {
				if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field == "" {
					t.Fatalf("%q: error is not an InvalidArgument naming a field: %v", body, err)
				}
			}
		}
	})
}
