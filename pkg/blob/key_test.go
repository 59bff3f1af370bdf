package blob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/darwinml/darwin/pkg/apierr"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	valid := []string{"a", "a/b/c", "mlp/cluster_manager/id-1-v2.tgz", "a..b", ".env", "x/.y", "é/ü", strings.Repeat("k", MaxKeyLength)}
	for _, k := range valid {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	invalid := map[string]string{
		"":                                  "empty",
		"/a":                                "absolute",
		"a/":                                "ends with a slash",
		"a//b":                              "empty segment",
		"a/./b":                             `"." segment`,
		"a/../b":                            `".." segment`,
		"a\\b":                              "backslash",
		"a\nb":                              "control character",
		"\xff":                              "UTF-8",
		".blobtmp-1":                        "reserved",
		strings.Repeat("k", MaxKeyLength+1): "longer than",
	}
	for k, want := range invalid {
		err := ValidateKey(k)
		if !apierr.Is(err, apierr.InvalidArgument) || apierr.From(err).Field != "key" {
			t.Errorf("ValidateKey(%q) = %v, want InvalidArgument on field key", k, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateKey(%q) = %q, want it to mention %q", k, err, want)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "a", "a/", "a/b", "a/.", "a/..", ".", "..", "a/.blobtmp"} {
		if err := validatePrefix(p); err != nil {
			t.Errorf("validatePrefix(%q) = %v, want nil (a partial last segment)", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "a//", "../x", "a/../", "./", "a\\", "a\x00"} {
		err := validatePrefix(p)
		if !apierr.Is(err, apierr.InvalidArgument) || apierr.From(err).Field != "prefix" {
			t.Errorf("validatePrefix(%q) = %v, want InvalidArgument on field prefix", p, err)
		}
	}
}

// FuzzValidateKey checks that every accepted key is a clean, local, relative path (so the local backend
// cannot leave its directory) and a valid listing prefix, and that rejections are InvalidArgument.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a/../../b", "/etc/passwd", "a//b", "a/", ".", "..", "a\\..\\b",
		"a\x00", "é", "\xc3", ".blobtmp-x", "mlp/cluster_manager/x.tgz", "a/./b", "C:/x", "a/.../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		if err != nil {
			if !apierr.Is(err, apierr.InvalidArgument) || apierr.From(err).Field != "key" {
				t.Fatalf("ValidateKey(%q) = %v, want InvalidArgument on field key", key, err)
			}
			return
		}
		if path.Clean(key) != key || path.IsAbs(key) || !filepath.IsLocal(filepath.FromSlash(key)) {
			t.Fatalf("accepted key %q is not a clean local relative path", key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == ".." || seg == "." || seg == "" || strings.HasPrefix(seg, tempPrefix) {
				t.Fatalf("accepted key %q has segment %q", key, seg)
			}
		}
		if validatePrefix(key) != nil || validatePrefix(key+"/") != nil {
			t.Fatalf("accepted key %q is not a valid prefix", key)
		}
		got, err := decodePageToken(encodePageToken(key), "")
		if err != nil || got != key {
			t.Fatalf("page token round trip of %q = %q, %v", key, got, err)
		}
	})
}

// FuzzDecodePageToken checks that arbitrary tokens never panic and that accepted ones respect the prefix.
func FuzzDecodePageToken(f *testing.F) {
	f.Add("", "")
	f.Add(encodePageToken("p/1"), "p/")
	f.Add("!!", "a")
	f.Add(encodePageToken("q/1"), "p/")
	f.Fuzz(func(t *testing.T, token, prefix string) {
		after, err := decodePageToken(token, prefix)
		if err != nil {
			if !apierr.Is(err, apierr.InvalidArgument) {
				t.Fatalf("decodePageToken error %v is not InvalidArgument", err)
			}
			return
		}
		if token != "" && !strings.HasPrefix(after, prefix) {
			t.Fatalf("token %q decoded to %q outside prefix %q", token, after, prefix)
		}
	})
}

func TestS3MapErr(t *testing.T) {
	t.Parallel()
	s := &s3Store{bucket: "b"}
	httpErr := func(code int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
			Err:      errors.New("http error"),
		}}
	}
	op := func(err error) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: err}
	}
	cases := []struct {
		name string
		err  error
		want apierr.Kind
	}{
		{"NoSuchKey type", op(&types.NoSuchKey{}), apierr.NotFound},
		{"NotFound type", op(&types.NotFound{}), apierr.NotFound},
		{"generic NoSuchKey", op(&smithy.GenericAPIError{Code: "NoSuchKey"}), apierr.NotFound},
		{"bare 404", op(httpErr(404)), apierr.NotFound},
		{"NoSuchBucket", op(&types.NoSuchBucket{}), apierr.Internal},
		{"SlowDown", op(&smithy.GenericAPIError{Code: "SlowDown"}), apierr.Unavailable},
		{"503", op(httpErr(503)), apierr.Unavailable},
		{"429", op(httpErr(429)), apierr.Unavailable},
		{"403", op(httpErr(403)), apierr.Internal},
		{"transport", op(&smithyhttp.RequestSendError{Err: errors.New("connection refused")}), apierr.Unavailable},
		{"apierr passes", fmt.Errorf("wrapped: %w", apierr.InvalidField("size", "bad")), apierr.InvalidArgument},
		{"other", op(errors.New("???")), apierr.Internal},
	}
	for _, c := range cases {
		if got := s.mapErr(c.err, "get", "k"); apierr.KindOf(got) != c.want {
			t.Errorf("%s: mapErr = %v (kind %v), want %v", c.name, got, apierr.KindOf(got), c.want)
		}
	}
	if err := s.mapErr(op(context.Canceled), "get", "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("mapErr(canceled) = %v, want context.Canceled kept", err)
	}
	if s.mapErr(nil, "get", "k") != nil {
		t.Errorf("mapErr(nil) != nil")
	}
	if msg := apierr.From(s.mapErr(op(&types.NoSuchKey{}), "get", "a/b")).Message; msg != `object "a/b" not found` {
		t.Errorf("not-found message = %q", msg)
	}
}
