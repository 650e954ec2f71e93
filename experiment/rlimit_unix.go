//go:build unix

package experiment

import "syscall"

// addressSpaceLimit returns RLIMIT_AS's soft limit, if one is set.
func addressSpaceLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &r); err != nil || r.Cur >= 1<<63 {
		return 0, false
	}
	return uint64(r.Cur), true
}
