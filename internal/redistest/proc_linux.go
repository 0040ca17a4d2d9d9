package redistest

import "syscall"

// sysProcAttr makes the kernel kill redis-server when the test binary dies, so that a
// test that panics or times out (and so never runs its cleanups) leaves no orphan
// server behind to hold a port or keep CI waiting.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
