//go:build !unix

package experiment

import (
	"errors"
	"os"
)

// flock is a no-op where flock(2) does not exist: the lock file still
// names the holder, but a second process is not refused.
func flock(f *os.File) error { return nil }

var errWouldBlock = errors.New("would block")
