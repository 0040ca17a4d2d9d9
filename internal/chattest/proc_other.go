//go:build !linux

package chattest

import "syscall"

// sysProcAttr has nothing to add where the kernel cannot tie a child's life to its
// parent's; the caller's cleanup stops the server.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
