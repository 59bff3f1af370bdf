//go:build !unix

package blob

import (
	"fmt"
	"io/fs"
)

// fileETag identifies one version of a file by modification time and size.
func fileETag(fi fs.FileInfo) string {
	return fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size())
}
