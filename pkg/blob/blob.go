// Package blob is Darwin's object storage: one Store interface with a local-directory backend (the embedded
// default) and an S3 backend (any S3 API: AWS, MinIO, Ceph, ...), selected by a DSN.
//
// Keys are slash-separated paths such as "mlp/cluster_manager/<artifact>". Both backends accept the same keys
// (see ValidateKey) and list them in the same byte-wise order, so code written against one runs on the other.
// Errors are apierr values: NotFound for a missing key, InvalidArgument for a bad key, size, prefix or page
// token, Unavailable when the storage cannot be reached, Internal otherwise.
package blob

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Store is object storage addressed by slash-separated keys.
type Store interface {
	// Put stores the content of r under key, replacing any existing object. size is the exact number of bytes r
	// yields, or -1 when unknown (the body is streamed; large bodies go up in parts). Readers see either the old
	// or the new object, never a partial one; when r fails or yields a different number of bytes than size, the
	// old object (if any) is kept.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error
	// Get opens the object. The caller closes the reader. A missing key is an apierr NotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat describes the object without reading it. A missing key is an apierr NotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the objects whose keys start with prefix (a plain string prefix, not only whole segments),
	// sorted by key, one page at a time.
	List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error)
	// URL names the object for people and logs: file:///dir/key or s3://bucket/prefix/key.
	URL(key string) string
}

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ModTime     time.Time
	ContentType string
	// ETag changes whenever the object is rewritten. Its format is backend-specific (the S3 ETag without
	// quotes; for local files one derived from the inode, modification time and size).
	ETag string
}

// PutOptions tune one Put.
type PutOptions struct {
	// ContentType is stored with the object on S3. When empty it is derived from the key's extension
	// (application/octet-stream when unknown). The local backend always derives it from the extension.
	ContentType string
}

// Listing limits.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 1000
	// MaxKeyLength is the longest key accepted, in bytes (S3's own limit).
	MaxKeyLength = 1024
)

// ListOptions select one page of a listing.
type ListOptions struct {
	// Limit is the page size: 0 means DefaultListLimit; values above MaxListLimit are clamped.
	Limit int
	// PageToken is the NextPageToken of the previous page, empty for the first page. Tokens are opaque and only
	// valid with the prefix they were issued for.
	PageToken string
}

// ListPage is one page of a listing.
type ListPage struct {
	Items []Info
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger     *slog.Logger
	httpClient *http.Client
	partSize   int64
}

// DefaultPartSize is the S3 multipart part size, and the largest body sent with a single PutObject.
const DefaultPartSize = 8 << 20

// S3's bounds on part sizes (the last part may be smaller than minPartSize).
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithHTTPClient sets the HTTP client the S3 backend uses, as is (default: the SDK's, which honours AWS_CA_BUNDLE).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithPartSize sets the S3 multipart part size in bytes (5 MiB to 5 GiB; default DefaultPartSize). Each
// upload buffers up to one part in memory.
func WithPartSize(n int64) Option { return func(o *options) { o.partSize = n } }

// Open returns the store a DSN names:
//
//	file:///abs/dir or a bare path (relative paths are made absolute) → local directory, created if missing
//	s3://bucket[/prefix][?endpoint=URL&region=R&path_style=true&access_key=AK&secret_key=SK&session_token=T
//	                     &checksums=when_required]
//
// checksums=when_required turns off the SDK's default CRC32 request checksums and response validation, for
// S3-compatible servers that reject them (the default, when_supported, suits AWS and current MinIO).
//
// For S3, credentials come from access_key/secret_key when given, otherwise from the SDK's default chain
// (AWS_* environment variables, shared config and credentials files, web identity, instance roles). The
// region defaults to the SDK's configured region, then us-east-1. Open makes no network call.
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	o := options{partSize: DefaultPartSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.partSize < minPartSize || o.partSize > maxPartSize {
		return nil, apierr.InvalidField("part_size", "part size %d is outside S3's range of %d to %d bytes", o.partSize, minPartSize, maxPartSize)
	}
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return nil, apierr.InvalidField("dsn", "blob dsn is empty")
	case strings.HasPrefix(dsn, "s3://"):
		return openS3(ctx, dsn, o)
	case strings.HasPrefix(dsn, "file:"):
		dir, err := fileURLPath(dsn)
		if err != nil {
			return nil, err
		}
		return openLocal(dir, o)
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return nil, apierr.InvalidField("dsn", "unsupported blob dsn scheme %q (want file or s3)", scheme)
	default:
		return openLocal(dsn, o)
	}
}

// badDSN is an InvalidArgument error on field dsn with an internal cause.
func badDSN(cause error, format string, args ...any) error {
	e := apierr.InvalidField("dsn", format, args...)
	e.Cause = cause
	return e
}

// ValidateKey reports whether key is acceptable to every backend: 1 to MaxKeyLength bytes of valid UTF-8, no
// control characters or backslashes, not starting or ending with "/", and no empty, "." or ".." segments.
// Segments starting with ".blobtmp-" are reserved for the local backend's temporary files.
func ValidateKey(key string) error {
	if key == "" {
		return apierr.InvalidField("key", "key is empty")
	}
	if strings.HasSuffix(key, "/") {
		return apierr.InvalidField("key", "key %q ends with a slash", key)
	}
	return checkPath("key", key)
}

// validatePrefix checks a List prefix: empty, or a string whose complete segments (those before the last
// slash) are valid key segments; the last segment may be any partial segment, or empty.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.HasPrefix(prefix, "/") {
		return apierr.InvalidField("prefix", "prefix %q is absolute", prefix)
	}
	head, tail := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		head, tail = prefix[:i], prefix[i+1:]
	}
	if head != "" {
		if err := checkPath("prefix", head); err != nil {
			return err
		}
	}
	return checkChars("prefix", tail)
}

// checkPath checks everything ValidateKey does except emptiness and a trailing slash; field names the
// argument in messages.
func checkPath(field, s string) error {
	if err := checkChars(field, s); err != nil {
		return err
	}
	if strings.HasPrefix(s, "/") {
		return apierr.InvalidField(field, "%s %q is absolute", field, s)
	}
	for seg := range strings.SplitSeq(s, "/") {
		switch {
		case seg == "":
			return apierr.InvalidField(field, "%s %q has an empty segment", field, s)
		case seg == "." || seg == "..":
			return apierr.InvalidField(field, "%s %q has a %q segment", field, s, seg)
		case strings.HasPrefix(seg, tempPrefix):
			return apierr.InvalidField(field, "%s %q uses the reserved segment prefix %q", field, s, tempPrefix)
		}
	}
	return nil
}

// checkChars checks length, encoding and characters.
func checkChars(field, s string) error {
	if len(s) > MaxKeyLength {
		return apierr.InvalidField(field, "%s is longer than %d bytes", field, MaxKeyLength)
	}
	if !utf8.ValidString(s) {
		return apierr.InvalidField(field, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return apierr.InvalidField(field, "%s %q contains a control character or backslash", field, s)
		}
	}
	return nil
}

// tempPrefix starts the names of the local backend's in-flight temporary files.
const tempPrefix = ".blobtmp-"

// contentTypeFor derives a content type from the key's extension.
func contentTypeFor(key string) string {
	if ct := mime.TypeByExtension(path.Ext(key)); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// listArgs validates List's arguments and returns the page size and the key to resume after.
func listArgs(prefix string, opts ListOptions) (limit int, after string, err error) {
	if err := validatePrefix(prefix); err != nil {
		return 0, "", err
	}
	switch {
	case opts.Limit < 0:
		return 0, "", apierr.InvalidField("limit", "limit must not be negative")
	case opts.Limit == 0:
		limit = DefaultListLimit
	default:
		limit = min(opts.Limit, MaxListLimit)
	}
	after, err = decodePageToken(opts.PageToken, prefix)
	return limit, after, err
}

// Page tokens carry the last key returned, so a listing resumes after it on any backend.

func encodePageToken(lastKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastKey))
}

// decodePageToken returns the key to resume after ("" for the first page).
func decodePageToken(token, prefix string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	// The token is only compared with keys, never used as a path; S3 may resume after a key that ValidateKey
	// rejects (written by another tool), so only the encoding and the prefix are checked.
	if err != nil || len(raw) == 0 || !utf8.Valid(raw) || !strings.HasPrefix(string(raw), prefix) {
		return "", apierr.InvalidField("page_token", "page token is invalid for this listing")
	}
	return string(raw), nil
}

// Copy copies the object at srcKey in src to dstKey in dst (the stores may be the same or of different kinds)
// and returns the source object's Info.
func Copy(ctx context.Context, dst Store, dstKey string, src Store, srcKey string) (Info, error) {
	if err := ValidateKey(dstKey); err != nil {
		return Info{}, err
	}
	rc, info, err := src.Get(ctx, srcKey)
	if err != nil {
		return Info{}, fmt.Errorf("copy %s: %w", src.URL(srcKey), err)
	}
	defer rc.Close()
	if err := dst.Put(ctx, dstKey, rc, info.Size, PutOptions{ContentType: info.ContentType}); err != nil {
		return Info{}, fmt.Errorf("copy to %s: %w", dst.URL(dstKey), err)
	}
	return info, nil
}

// sizeCheckedReader enforces a declared size: it fails with an InvalidArgument error as soon as the body is
// longer than want, or at EOF when it is shorter.
type sizeCheckedReader struct {
	r    io.Reader
	want int64 // -1: unknown
	n    int64
}

func (s *sizeCheckedReader) Read(p []byte) (int, error) {
	if s.want >= 0 && int64(len(p)) > s.want-s.n+1 {
		p = p[:s.want-s.n+1] // read at most one byte past the declared size, to detect overruns
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.want >= 0 && s.n > s.want {
		return n, errSizeMismatch(s.want, "more")
	}
	if err == io.EOF && s.want >= 0 && s.n < s.want {
		return n, errSizeMismatch(s.want, "fewer")
	}
	return n, err
}

func errSizeMismatch(want int64, what string) error {
	return apierr.InvalidField("size", "body has %s bytes than the declared size %d", what, want)
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
