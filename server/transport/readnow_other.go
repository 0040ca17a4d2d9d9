//go:build !unix

package transport

import "errors"

// readNonblocking is not available here: a connection waits with its small buffer.
func readNonblocking(fd uintptr, p []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
