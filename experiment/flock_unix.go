//go:build unix

package experiment

import (
	"os"
	"syscall"
)

// flock takes an exclusive advisory lock on f without waiting; it fails
// with EWOULDBLOCK if another open file description holds one.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}

var errWouldBlock error = syscall.EWOULDBLOCK
