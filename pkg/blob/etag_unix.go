//go:build unix

package blob

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileETag identifies one version of a file: every Put renames a new file into place, so the inode changes
// even when two writes of the same size land within one tick of the file system's clock.
func fileETag(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%x-%x-%x", uint64(st.Ino), fi.ModTime().UnixNano(), fi.Size())
	}
	return fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size())
}
