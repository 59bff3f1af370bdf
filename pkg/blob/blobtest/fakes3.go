package blobtest

import (
	"io"
	"maps"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// replacingBackend makes gofakes3's in-memory backend replace an object's metadata on overwrite, as S3
// does. s3mem carries the previous version's metadata over to the new one, so a stale
// x-amz-checksum-crc32 from an earlier PutObject survives a multipart overwrite and the SDK then rejects
// the new body. PutObject marks every old key absent from the new metadata with an empty value (which the
// carry-over then leaves alone) and reads drop empty values.
type replacingBackend struct {
	*s3mem.Backend
}

func (b replacingBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	if old, err := b.Backend.HeadObject(bucket, key); err == nil {
		for k := range old.Metadata {
			if _, ok := meta[k]; !ok {
				meta[k] = ""
			}
		}
	}
	return b.Backend.PutObject(bucket, key, meta, input, size, conditions)
}

func (b replacingBackend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	obj, err := b.Backend.GetObject(bucket, key, rng)
	return dropEmptyMetadata(obj), err
}

func (b replacingBackend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	obj, err := b.Backend.HeadObject(bucket, key)
	return dropEmptyMetadata(obj), err
}

func dropEmptyMetadata(obj *gofakes3.Object) *gofakes3.Object {
	if obj == nil {
		return nil
	}
	out := *obj
	out.Metadata = maps.Clone(obj.Metadata)
	maps.DeleteFunc(out.Metadata, func(_, v string) bool { return v == "" })
	return &out
}
