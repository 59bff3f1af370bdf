package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/darwinml/darwin/pkg/apierr"
)

// s3Store keeps objects in one bucket, under an optional key prefix.
type s3Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending with "/"
	partSize int64
	// checksum is the algorithm multipart uploads declare; empty with checksums=when_required.
	checksum types.ChecksumAlgorithm
	log      *slog.Logger
}

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10000

// s3Params are the query parameters an s3:// DSN accepts.
type s3Params struct {
	endpoint, region              string
	pathStyle                     bool
	accessKey, secretKey, sessTok string
	checksumsWhenRequired         bool
}

func parseS3DSN(dsn string) (bucket, prefix string, p s3Params, err error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", "", p, badDSN(err, "blob dsn is not a valid URL")
	}
	bucket = u.Host
	if bucket == "" || strings.ContainsAny(bucket, ":@") {
		return "", "", p, apierr.InvalidField("dsn", "s3 dsn must name a bucket: s3://bucket[/prefix]")
	}
	if u.User != nil {
		return "", "", p, apierr.InvalidField("dsn", "s3 dsn takes credentials as access_key/secret_key parameters, not user info")
	}
	if pre := strings.Trim(u.Path, "/"); pre != "" {
		if err := checkPath("prefix", pre); err != nil {
			return "", "", p, apierr.InvalidField("dsn", "s3 dsn prefix %q is not a valid key prefix", pre)
		}
		prefix = pre + "/"
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", p, badDSN(err, "s3 dsn query is malformed")
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return "", "", p, apierr.InvalidField("dsn", "s3 dsn parameter %q is repeated", name)
		}
		v := vals[0]
		switch name {
		case "endpoint":
			eu, err := url.Parse(v)
			if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
				return "", "", p, apierr.InvalidField("dsn", "s3 dsn endpoint %q must be an http(s) URL", v)
			}
			p.endpoint = v
		case "region":
			p.region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return "", "", p, apierr.InvalidField("dsn", "s3 dsn path_style %q is not a boolean", v)
			}
			p.pathStyle = b
		case "access_key":
			p.accessKey = v
		case "secret_key":
			p.secretKey = v
		case "session_token":
			p.sessTok = v
		case "checksums":
			switch v {
			case "when_supported":
			case "when_required":
				p.checksumsWhenRequired = true
			default:
				return "", "", p, apierr.InvalidField("dsn", "s3 dsn checksums %q must be when_supported or when_required", v)
			}
		default:
			return "", "", p, apierr.InvalidField("dsn", "s3 dsn parameter %q is unknown (want endpoint, region, path_style, access_key, secret_key, session_token, checksums)", name)
		}
	}
	if (p.accessKey == "") != (p.secretKey == "") {
		return "", "", p, apierr.InvalidField("dsn", "s3 dsn needs both access_key and secret_key, or neither")
	}
	if p.sessTok != "" && p.accessKey == "" {
		return "", "", p, apierr.InvalidField("dsn", "s3 dsn session_token needs access_key and secret_key")
	}
	return bucket, prefix, p, nil
}

func openS3(ctx context.Context, dsn string, o options) (*s3Store, error) {
	bucket, prefix, p, err := parseS3DSN(dsn)
	if err != nil {
		return nil, err
	}
	var loadOpts []func(*config.LoadOptions) error
	if p.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(p.region))
	}
	if p.accessKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(p.accessKey, p.secretKey, p.sessTok)))
	}
	loadOpts = append(loadOpts, config.WithLogger(sdkLogger(o.logger)))
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, badDSN(err, "load AWS configuration")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if p.endpoint != "" {
			so.BaseEndpoint = aws.String(p.endpoint)
		}
		so.UsePathStyle = p.pathStyle
		if p.checksumsWhenRequired {
			so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		if o.httpClient != nil {
			// Set on the S3 client rather than the loaded config: the config applies AWS_CA_BUNDLE to its own
			// client and refuses a plain *http.Client. A caller's client is used as is.
			so.HTTPClient = o.httpClient
		}
	})
	st := &s3Store{client: client, bucket: bucket, prefix: prefix, partSize: o.partSize, log: o.logger}
	if !p.checksumsWhenRequired {
		st.checksum = types.ChecksumAlgorithmCrc32
	}
	return st, nil
}

// sdkLogger sends the SDK's messages to slog instead of stderr.
func sdkLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, args ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		l.Log(context.Background(), level, "s3 sdk", "detail", fmt.Sprintf(format, args...))
	})
}

func (s *s3Store) objectKey(key string) string { return s.prefix + key }

func (s *s3Store) URL(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if size < -1 {
		return apierr.InvalidField("size", "size must be -1 (unknown) or at least 0")
	}
	contentType := opts.ContentType
	if contentType == "" {
		contentType = contentTypeFor(key)
	}
	body := &sizeCheckedReader{r: ctxReader{ctx: ctx, r: r}, want: size}

	// Bodies that fit one part go up with a single PutObject; the rest as a multipart upload. Each part is
	// buffered so the SDK can sign it and retry it; the buffer grows with the body, so small streams stay small.
	limit := s.partSize
	if size >= 0 && size <= limit {
		limit = size + 1 // room to see the end of the body
	}
	var buf bytes.Buffer
	if size >= 0 {
		buf.Grow(int(min(size, s.partSize)))
	}
	last, err := fillPart(&buf, body, limit)
	if err != nil {
		return fmt.Errorf("put %s: read body: %w", key, err)
	}
	if last {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.bucket),
			Key:           aws.String(s.objectKey(key)),
			Body:          bytes.NewReader(buf.Bytes()),
			ContentLength: aws.Int64(int64(buf.Len())),
			ContentType:   aws.String(contentType),
		})
		return s.mapErr(err, "put", key)
	}
	return s.putMultipart(ctx, key, contentType, body, &buf)
}

// putMultipart uploads buf as the first part and the rest of body in parts of s.partSize. On any failure it
// aborts the upload, so no object appears and no parts are left behind.
func (s *s3Store) putMultipart(ctx context.Context, key, contentType string, body io.Reader, buf *bytes.Buffer) error {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.objectKey(key)),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: s.checksum,
	})
	if err != nil {
		return s.mapErr(err, "start upload", key)
	}
	uploadID := created.UploadId
	fail := func(err error) error {
		// Abort even when ctx is done: the parts would otherwise be billed until a lifecycle rule removes them.
		_, aerr := s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key)), UploadId: uploadID,
		})
		if aerr != nil {
			s.log.Warn("abort multipart upload", "bucket", s.bucket, "key", s.objectKey(key), "err", aerr)
		}
		return err
	}

	var parts []types.CompletedPart
	done := false
	for num := int32(1); ; num++ {
		if num > maxParts {
			return fail(apierr.InvalidField("size", "body is larger than %d parts of %d bytes", maxParts, s.partSize))
		}
		up, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(s.bucket),
			Key:               aws.String(s.objectKey(key)),
			UploadId:          uploadID,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf.Bytes()),
			ContentLength:     aws.Int64(int64(buf.Len())),
			ChecksumAlgorithm: s.checksum,
		})
		if err != nil {
			return fail(s.mapErr(err, "upload part", key))
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: up.ETag, ChecksumCRC32: up.ChecksumCRC32})
		if done {
			break
		}
		done, err = fillPart(buf, body, s.partSize)
		if err != nil {
			return fail(fmt.Errorf("put %s: read body: %w", key, err))
		}
		if buf.Len() == 0 {
			break // the body ended exactly at a part boundary
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(s.objectKey(key)),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fail(s.mapErr(err, "complete upload", key))
	}
	return nil
}

// fillPart replaces buf's content with up to limit bytes of r. last reports that r ended before limit.
func fillPart(buf *bytes.Buffer, r io.Reader, limit int64) (last bool, err error) {
	buf.Reset()
	_, err = io.CopyN(buf, r, limit)
	switch {
	case err == nil:
		return false, nil
	case err == io.EOF:
		return true, nil
	default:
		return false, err
	}
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))})
	if err != nil {
		return nil, Info{}, s.mapErr(err, "get", key)
	}
	info := Info{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ModTime:     aws.ToTime(out.LastModified).UTC(),
		ContentType: aws.ToString(out.ContentType),
		ETag:        strings.Trim(aws.ToString(out.ETag), `"`),
	}
	return out.Body, info, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))})
	if err != nil {
		return Info{}, s.mapErr(err, "stat", key)
	}
	return Info{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ModTime:     aws.ToTime(out.LastModified).UTC(),
		ContentType: aws.ToString(out.ContentType),
		ETag:        strings.Trim(aws.ToString(out.ETag), `"`),
	}, nil
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))})
	if err = s.mapErr(err, "delete", key); apierr.Is(err, apierr.NotFound) {
		return nil
	}
	return err
}

// List maps onto ListObjectsV2 with StartAfter, so page tokens mean the same as the local backend's.
// ListObjectsV2 does not return content types: Items have an empty ContentType.
func (s *s3Store) List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error) {
	limit, after, err := listArgs(prefix, opts)
	if err != nil {
		return ListPage{}, err
	}
	// Ask for one key more than the page holds, so the page knows whether more follow without trusting
	// IsTruncated (some S3-compatible servers set it when only non-matching keys follow). S3 caps MaxKeys at
	// 1000; a capped answer falls back to IsTruncated.
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(s.prefix + prefix),
		MaxKeys: aws.Int32(int32(limit + 1)),
	}
	if after != "" {
		in.StartAfter = aws.String(s.objectKey(after))
	}
	out, err := s.client.ListObjectsV2(ctx, in)
	if err != nil {
		return ListPage{}, s.mapErr(err, "list", prefix)
	}
	contents := out.Contents
	more := false
	switch {
	case len(contents) > limit:
		contents, more = contents[:limit], true
	case aws.ToBool(out.IsTruncated):
		more = true
	}
	page := ListPage{Items: make([]Info, 0, len(contents))}
	for _, obj := range contents {
		key := strings.TrimPrefix(aws.ToString(obj.Key), s.prefix)
		if ValidateKey(key) != nil {
			continue // written by another tool with a key this package cannot address
		}
		page.Items = append(page.Items, Info{
			Key:     key,
			Size:    aws.ToInt64(obj.Size),
			ModTime: aws.ToTime(obj.LastModified).UTC(),
			ETag:    strings.Trim(aws.ToString(obj.ETag), `"`),
		})
	}
	if more {
		// Resume after the last key examined, even when it was skipped above.
		page.NextPageToken = encodePageToken(strings.TrimPrefix(aws.ToString(contents[len(contents)-1].Key), s.prefix))
	}
	return page, nil
}

// mapErr turns SDK errors into apierr kinds: a missing key is NotFound, throttling, server errors and
// transport failures are Unavailable, everything else (including a missing bucket or denied access, both
// configuration problems) is Internal. Context errors keep their identity.
func (s *s3Store) mapErr(err error, op, key string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, s.URL(key), err)
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return err
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return apierr.Wrap(apierr.NotFound, err, "object %q not found", key)
		case "NoSuchBucket":
			return apierr.Wrap(apierr.Internal, err, "object storage bucket %q does not exist", s.bucket)
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed":
			return apierr.Wrap(apierr.Unavailable, err, "object storage is unavailable")
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusNotFound:
			return apierr.Wrap(apierr.NotFound, err, "object %q not found", key)
		case code >= 500 || code == http.StatusTooManyRequests:
			return apierr.Wrap(apierr.Unavailable, err, "object storage is unavailable")
		}
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return apierr.Wrap(apierr.Unavailable, err, "object storage is unavailable")
	}
	return apierr.Wrap(apierr.Internal, err, "object storage error during %s", op)
}
