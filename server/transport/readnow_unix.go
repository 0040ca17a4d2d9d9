//go:build unix

package transport

import "syscall"

// readNonblocking reads what has arrived on the socket fd (Go's sockets do not
// block): EAGAIN when nothing has.
func readNonblocking(fd uintptr, p []byte) (int, error) {
	return syscall.Read(int(fd), p)
}
