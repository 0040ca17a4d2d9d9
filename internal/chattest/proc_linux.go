package chattest

import "syscall"

// sysProcAttr makes the kernel kill a launched server when the process that
// launched it dies, so that a test binary that panics or times out, or a load run
// that is killed, leaves no orphan server behind holding a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
