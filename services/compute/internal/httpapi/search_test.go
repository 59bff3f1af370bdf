package httpapi

import (
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/domain"
)

func TestDecodeSearch(t *testing.T) {
	t.Parallel()
	q, req, err := DecodeSearch([]byte(`{"query":" demo ","filters":{"status":["active"],"user":"a@x.io"},"page_size":10,"offset":5,"sort_by":"created_on","sort_order":"desc"}`))
	if err != nil {
		t.Fatal(err)
	}
	if q.Query != "demo" || q.Limit != 10 || q.Offset != 5 || !q.SortDesc || *req.PageSize != 10 || len(q.Users) != 1 {
		t.Fatalf("query %+v", q)
	}
	for _, s := range q.Statuses {
		if domain.UIStatus(s) != domain.UIActive {
			t.Fatalf("status filter expanded to %v", q.Statuses)
		}
	}
	if len(q.Statuses) != 3 || q.IsJobCluster == nil || *q.IsJobCluster {
		t.Fatalf("statuses %v job %v", q.Statuses, q.IsJobCluster)
	}
	for body, field := range map[string]string{
		`{"page_size": 5000}`:              "page_size",
		`{"offset": -1}`:                   "offset",
		`{"sort_by": "cost"}`:              "sort_by",
		`{"filters": {"status": ["zzz"]}}`: "filters.status",
		`{"filters": {"tags": {"a": 1}}}`:  "filters.tags",
		`{"query": 5}`:                     "query",
		`[]`:                               "body",
	} {
		_, _, err := DecodeSearch([]byte(body))
		if e := apierr.From(err); err == nil || e.Field != field {
			t.Errorf("%s: want field %s, got %v", body, field, err)
		}
	}
}

func TestDecodeClusterSearch(t *testing.T) {
	t.Parallel()
	q, ps, err := DecodeClusterSearch([]byte(`{"filters":{"status":{"values":["inactive"]},"is_job_cluster":{"select_all":true}},"page_size":20}`))
	if err != nil || ps != 20 || q.IsJobCluster != nil || len(q.Statuses) != 1 {
		t.Fatalf("%+v %d %v", q, ps, err)
	}
	q, _, _ = DecodeClusterSearch([]byte(`{}`))
	if q.IsJobCluster == nil || *q.IsJobCluster {
		t.Fatal("is_job_cluster must default to false")
	}
	if _, _, err := DecodeClusterSearch([]byte(`{"filters":{"user":{"values":[{}]}}}`)); apierr.From(err).Field != "filters.user.values[0]" {
		t.Fatalf("bad value: %v", err)
	}
}

func fuzzCheck(t *testing.T, err error) {
	if err != nil && (apierr.KindOf(err) != apierr.InvalidArgument || apierr.From(err).Field == "") {
		t.Fatalf("error must be InvalidArgument naming a field: %v", err)
	}
}

func FuzzDecodeSearch(f *testing.F) {
	f.Add([]byte(`{"query":"","filters":{},"page_size":100,"offset":0,"sort_by":"created_on","sort_order":"desc"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q, _, err := DecodeSearch(body)
		fuzzCheck(t, err)
		if err == nil && (q.Limit < 1 || q.Limit > MaxPageSize || q.Offset < 0) {
			t.Fatalf("accepted bad paging %+v", q)
		}
	})
}

func FuzzDecodeClusterSearch(f *testing.F) {
	f.Add([]byte(`{"query":"x","filters":{"status":{"values":["active"]}},"page_size":10}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q, _, err := DecodeClusterSearch(body)
		fuzzCheck(t, err)
		if err == nil && (q.Limit < 1 || q.Limit > MaxPageSize || q.Offset < 0) {
			t.Fatalf("accepted bad paging %+v", q)
		}
	})
}
