package main

import "syscall"

// dieWithParent makes the kernel send SIGTERM to a child when the demo's process dies, so no daemon
// outlives a demo that was killed or whose output pipe closed.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
