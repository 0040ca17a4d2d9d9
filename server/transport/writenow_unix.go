//go:build unix

package transport

import (
	"net"
	"syscall"
	"unsafe"
)

// socketFD returns nc's file descriptor if nc is a TCP socket, else -1.
func socketFD(nc net.Conn) int32 {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := int32(-1)
	rc.Control(func(s uintptr) { fd = int32(s) })
	return fd
}

// maxWriteNowFrames is how many frames one writev takes; what is left goes on
// through net.Conn, as what a full socket did not take does (writeNow).
const maxWriteNowFrames = 64

// writeNonblocking writes frames to the socket fd with one write or writev
// and returns how many bytes went. Go's sockets do not block (EAGAIN when the
// socket's buffer is full), so this is a raw system call, which the scheduler
// need not hand the processor off around: a fan-out makes thousands in a row,
// and with Syscall's bookkeeping the runtime's monitor keeps waking to check on
// them (BENCHMARKS.md, chat-load fanout).
func writeNonblocking(fd int, frames [][]byte) (int, error) {
	if len(frames) == 1 {
		if len(frames[0]) == 0 {
			return 0, nil
		}
		r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&frames[0][0])), uintptr(len(frames[0])))
		if errno != 0 {
			return 0, errno
		}
		return int(r), nil
	}
	var iov [maxWriteNowFrames]syscall.Iovec
	n := 0
	for _, f := range frames[:min(len(frames), len(iov))] {
		if len(f) > 0 {
			iov[n] = syscall.Iovec{Base: &f[0]}
			iov[n].SetLen(len(f))
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
