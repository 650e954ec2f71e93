package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LockName is the lock file OpenDir keeps in an output directory.
const LockName = ".lock"

// ErrLocked is wrapped by the error OpenDir returns for a directory that
// another live process holds.
var ErrLocked = errors.New("output directory in use")

// Dir is an output directory held by this process: OpenDir creates it,
// takes its lock and removes the temporary files a killed run left
// behind; Close releases the lock. While a Dir is open no other process
// can open it, so two runs never interleave their checkpoints and
// results.
type Dir struct {
	// Path is the directory.
	Path string
	// Stale describes the lock of a process that died holding it (killed,
	// crashed) and that OpenDir took over; empty if there was none.
	Stale string
	// Removed lists the leftover temporary files OpenDir removed.
	Removed []string
	f       *os.File
}

// OpenDir creates the directory path if needed and locks it for this
// process. The lock is an advisory lock (flock(2)) on path/.lock, which
// the kernel releases when the process ends however it ends; the file
// records the holder's pid, command line and start time so that a second
// process is refused with a message naming the first, and a lock left by
// a dead process is recognised as stale and taken over. The file itself
// stays (emptied on Close); removing it would let two processes lock two
// different files. OpenDir then removes leftover temporary files (see
// RemoveTemp) in path and its subdirectories.
func OpenDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, err
	}
	lp := filepath.Join(path, LockName)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		holder := describeHolder(readAll(f))
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%s is in use by %s; wait for it to finish, stop it, or use another directory: %w", path, holder, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	d := &Dir{Path: path, f: f}
	if prev := strings.TrimSpace(readAll(f)); prev != "" {
		d.Stale = describeHolder(prev)
	}
	exe, _ := os.Executable()
	args := append([]string{filepath.Base(exe)}, os.Args[1:]...)
	if exe == "" {
		args[0] = filepath.Base(os.Args[0])
	}
	rec := fmt.Sprintf("pid %d\ncommand %s\nstarted %s\n", os.Getpid(), strings.Join(args, " "), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err != nil {
		d.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(rec), 0); err != nil {
		d.Close()
		return nil, err
	}
	f.Sync()
	if d.Removed, err = RemoveTemp(path, 2); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close empties the lock file and releases the lock. It is safe to call
// more than once.
func (d *Dir) Close() error {
	if d == nil || d.f == nil {
		return nil
	}
	d.f.Truncate(0)
	err := d.f.Close() // closing the descriptor releases the flock
	d.f = nil
	return err
}

// Join returns the path of name inside the directory.
func (d *Dir) Join(name ...string) string {
	return filepath.Join(append([]string{d.Path}, name...)...)
}

func readAll(f *os.File) string {
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	return string(b[:n])
}

// describeHolder turns a lock file's record into "pid 12 (eimkit
// synthetic -out r, started …)".
func describeHolder(rec string) string {
	var pid, cmd, started string
	for _, line := range strings.Split(rec, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "pid":
			pid = v
		case "command":
			cmd = v
		case "started":
			started = v
		}
	}
	if _, err := strconv.Atoi(pid); err != nil {
		return "another process"
	}
	s := "pid " + pid
	if cmd != "" {
		s += " (" + cmd
		if started != "" {
			s += ", started " + started
		}
		s += ")"
	}
	return s
}
