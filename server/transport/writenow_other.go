//go:build !unix

package transport

import (
	"errors"
	"net"
)

// socketFD is -1 here: every write goes through net.Conn.
func socketFD(net.Conn) int32 { return -1 }

func writeNonblocking(int, [][]byte) (int, error) { return 0, errors.ErrUnsupported }
