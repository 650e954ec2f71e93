package experiment

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrTooBig is wrapped by the error of CheckMemory for a run that cannot
// fit in the memory available.
var ErrTooBig = errors.New("not enough memory")

// Available returns the memory this process may still allocate, in bytes,
// and what bounds it: the smallest of the machine's available memory
// (MemAvailable in /proc/meminfo), the room left under the cgroup's
// memory.max, and the room left under RLIMIT_AS (ulimit -v) beyond the
// address space already mapped. ok is false where none of these can be
// read (not Linux).
func Available() (bytes uint64, source string, ok bool) {
	consider := func(b uint64, s string) {
		if !ok || b < bytes {
			bytes, source, ok = b, s, true
		}
	}
	if m, err := meminfo("/proc/meminfo"); err == nil {
		if v, has := m["MemAvailable"]; has {
			consider(v, "available memory (MemAvailable in /proc/meminfo)")
		}
	}
	if lim, ok := readUint("/sys/fs/cgroup/memory.max"); ok {
		cur, _ := readUint("/sys/fs/cgroup/memory.current")
		consider(sat(lim, cur), "room under the cgroup's memory.max")
	}
	if lim, ok := addressSpaceLimit(); ok {
		var used uint64
		if st, err := meminfo("/proc/self/status"); err == nil {
			used = st["VmSize"]
		}
		consider(sat(lim, used), "room under the address-space limit (ulimit -v)")
	}
	return bytes, source, ok
}

// sat returns a − b, or 0 if b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// meminfo reads "Key: value kB" lines (as in /proc/meminfo and
// /proc/self/status) into bytes.
func meminfo(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) != 2 || fs[1] != "kB" {
			continue
		}
		n, err := strconv.ParseUint(fs[0], 10, 64)
		if err != nil {
			continue
		}
		m[k] = n << 10
	}
	return m, sc.Err()
}

// readUint reads a file holding one number ("max" and errors give false).
func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// CheckMemory returns an error wrapping ErrTooBig if need bytes exceed
// what Available reports. what describes the run and its settings for
// the message ("synthetic with -K 100000000"). Where the available
// memory cannot be read, it allows the run.
func CheckMemory(need uint64, what string) error {
	avail, source, ok := Available()
	if !ok || need <= avail {
		return nil
	}
	return fmt.Errorf("%s needs about %s, more than the %s of %s: %w", what, FormatBytes(need), source, FormatBytes(avail), ErrTooBig)
}

// FormatBytes formats n as "512 B", "3.2 MB", "1.5 GB", "2.0e+03 TB".
func FormatBytes(n uint64) string {
	v := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB"} {
		if v < 1000 {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", v, u)
		}
		v /= 1000
	}
	if v < 1000 {
		return fmt.Sprintf("%.1f TB", v)
	}
	return fmt.Sprintf("%.1e TB", v)
}
