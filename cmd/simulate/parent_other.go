//go:build !linux

package main

import "syscall"

// dieWithParent has no portable equivalent outside Linux; the demo stops its daemons itself on exit.
func dieWithParent() *syscall.SysProcAttr { return nil }
