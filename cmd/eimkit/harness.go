package main

// What every subcommand shares beyond package experiment: the output
// directory, flag validation and the memory check, each with its
// command-line wording.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/eimkit/eimkit/experiment"
)

// errInterrupted is returned by a command that stopped because its
// context was cancelled (SIGINT or SIGTERM) after saving what it had.
var errInterrupted = experiment.ErrInterrupted

// openOut opens (creates and locks) a command's -out directory.
func openOut(path string) (*experiment.Dir, error) {
	return experiment.OpenDir(path)
}

// reportOut tells on w (unless quiet) what opening the output directory
// found: a stale lock taken over, leftover temporary files removed.
func reportOut(w io.Writer, quiet bool, d *experiment.Dir) {
	if quiet {
		return
	}
	if d.Stale != "" {
		fmt.Fprintf(w, "%s: took over the lock of %s, which is no longer running\n", d.Path, d.Stale)
	}
	if n := len(d.Removed); n > 0 {
		fmt.Fprintf(w, "%s: removed %d temporary file(s) left by an interrupted run\n", d.Path, n)
	}
}

// newFlagSet returns the flag set of subcommand name, writing errors and
// its usage text (followed by the flags' defaults) to stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a subcommand's flags. For -h it prints the usage and
// returns flag.ErrHelp. Any other failure — a flag the command does not
// have, a value that does not parse, a float flag that is NaN or ±Inf
// (every float flag of every command must be finite; each command then
// checks its own ranges with a flagChecker) — is reported in one line and
// returns an error wrapping errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		io.Copy(out, &buf)
		return err
	}
	if err != nil {
		return usageError(out, fs.Name(), "%v", err)
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok || bad != nil {
			return
		}
		if v, ok := g.Get().(float64); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
			bad = usageError(out, fs.Name(), "-%s %v: want a finite number", f.Name, v)
		}
	})
	if bad == nil && fs.NArg() > 0 {
		bad = usageError(out, fs.Name(), "unexpected arguments %q", fs.Args())
	}
	return bad
}

// usageError prints one line, "eimkit <cmd>: <message> (eimkit help <cmd>
// lists the flags)", and returns an error wrapping errUsage.
func usageError(w io.Writer, cmd, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	msg = strings.TrimSpace(strings.ReplaceAll(msg, "\n", " "))
	fmt.Fprintf(w, "eimkit %s: %s (eimkit help %s lists the flags)\n", cmd, msg, cmd)
	return &usageErr{msg: msg, printed: true}
}

// usageErr is a usage error: wrong flags or settings, exit status 2.
// printed says whether its message has been printed already.
type usageErr struct {
	msg     string
	printed bool
}

func (e *usageErr) Error() string        { return e.msg }
func (e *usageErr) Is(target error) bool { return target == errUsage }

// errUsage is matched (errors.Is) by every usage error.
var errUsage = errors.New("usage")

// flagChecker collects the first range error of a command's parsed flags.
type flagChecker struct {
	fs  *flag.FlagSet
	err error
}

func newChecker(fs *flag.FlagSet) *flagChecker { return &flagChecker{fs: fs} }

// failf records a problem (only the first is reported).
func (c *flagChecker) failf(format string, args ...any) {
	if c.err == nil {
		c.err = usageError(c.fs.Output(), c.fs.Name(), format, args...)
	}
}

// atLeast checks that the int flag's value v is ≥ lo.
func (c *flagChecker) atLeast(name string, v, lo int) {
	if v < lo {
		c.failf("-%s %d: want ≥ %d", name, v, lo)
	}
}

// positive checks that the float flag's value v is > 0 (finiteness is
// checked by parseFlags for every float flag).
func (c *flagChecker) positive(name string, v float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		c.failf("-%s %v: want a positive number", name, v)
	}
}

// nonEmpty checks that a string flag is set.
func (c *flagChecker) nonEmpty(name, v string) {
	if v == "" {
		c.failf("-%s must not be empty", name)
	}
}

// done returns the first problem, or nil.
func (c *flagChecker) done() error { return c.err }

// checkMemory refuses a run whose estimated peak does not fit in the
// memory available, as a usage error (the settings are what is wrong):
// one line, exit status 2.
//
// It then sets the garbage collector's soft memory limit to the estimate
// (at least minMemoryLimit) unless GOMEMLIMIT is set: with GOGC at
// gcPercent the heap may grow to five times the live data before a
// collection, which costs nothing while training (a few megabytes live)
// but turned the evaluations' short peaks of 70–110 MB live into 400–550
// MB resident per run. Under the limit the collector runs earlier only
// when the heap nears it.
func checkMemory(cmd string, need uint64, what string) error {
	if err := experiment.CheckMemory(need, cmd+" with "+what); err != nil {
		return &usageErr{msg: err.Error() + "; use smaller settings"}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(min(max(need, minMemoryLimit), math.MaxInt64)))
	}
	return nil
}

// minMemoryLimit is the smallest soft memory limit checkMemory sets.
const minMemoryLimit = 256 << 20
