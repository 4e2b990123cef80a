//go:build unix

package policy

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the test process has used (user and system, every thread). On a
// shared machine wall-clock ns/op also counts the time other processes held the CPU; this does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
