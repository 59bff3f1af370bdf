package domain

import (
	"math"
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
)

func TestValidateKey(t *testing.T) {
	ok := []string{"loss", "a/b", "a.b", "train/loss@1", "x..y", strings.Repeat("k", 250)}
	bad := []string{"", "/abs", "a/../b", "..", ".", "a//b", "a/", "a\\b", strings.Repeat("k", 251)}
	for _, k := range ok {
		if err := ValidateKey("metric", k); err != nil {
			t.Errorf("%q rejected: %v", k, err)
		}
	}
	for _, k := range bad {
		if err := ValidateKey("metric", k); !apierr.Is(err, apierr.InvalidArgument) {
			t.Errorf("%q accepted (%v)", k, err)
		}
	}
}

func TestValidateBatchLimits(t *testing.T) {
	if err := ValidateBatch(make([]Metric, 1000), nil, nil); err == nil || !strings.Contains(err.Error(), "key") {
		// 1000 metrics is within the count limit; the empty keys are what fails.
		t.Fatalf("err = %v", err)
	}
	for _, c := range []struct {
		m, p, tg int
		want     string
	}{{1001, 0, 0, "1000 metrics"}, {0, 101, 0, "100 params"}, {0, 0, 101, "100 tags"}, {901, 100, 0, "1000 total"}} {
		err := ValidateBatch(make([]Metric, c.m), make([]Param, c.p), make([]Tag, c.tg))
		if !apierr.Is(err, apierr.InvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := ValidateBatch(nil, []Param{{Key: "a", Value: strings.Repeat("v", 6001)}}, nil); err == nil {
		t.Error("oversized param value accepted")
	}
	if err := ValidateBatch(nil, nil, []Tag{{Key: "a", Value: strings.Repeat("v", 8001)}}); err == nil {
		t.Error("oversized tag value accepted")
	}
	if err := ValidateBatch(nil, []Param{{Key: "a", Value: "1"}, {Key: "a", Value: "1"}}, nil); err != nil {
		t.Errorf("duplicate identical params rejected: %v", err)
	}
}

func TestStoredValue(t *testing.T) {
	if v, n := StoredValue(math.NaN()); v != 0 || !n {
		t.Error("NaN")
	}
	if v, _ := StoredValue(math.Inf(-1)); v != -math.MaxFloat64 {
		t.Error("-Inf")
	}
	if v, n := StoredValue(1.5); v != 1.5 || n {
		t.Error("finite")
	}
}

func TestParseViewType(t *testing.T) {
	if v, err := ParseViewType("view_type", ""); v != ViewActiveOnly || err != nil {
		t.Error("default view")
	}
	if _, err := ParseViewType("view_type", "active_only"); err == nil {
		t.Error("lower-case view accepted")
	}
}
