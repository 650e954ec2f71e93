// Command eimkit runs the experiments of eimkit: it trains models, evaluates
// their bounds and writes results, tables and plots. See doc.go for the
// subcommands and their flags, or run `eimkit help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"

	"github.com/eimkit/eimkit/ad"
)

// A command is one subcommand: run parses its own flags from args and does
// the work, stopping cleanly when ctx is cancelled.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands maps each subcommand's name to its implementation. A later
// experiment (sivi, vsmc, …) adds one entry here and one file beside this.
var commands = map[string]command{
	"synthetic": {
		summary: "train TRS, SNIS, HIS and LARS on the 2-D synthetic targets (Sec. 4.1, Fig. 1, Fig. 2)",
		run:     runSynthetic,
	},
	"sivi": {summary: "fit SIVI and IWHVI to Yin & Zhou's 2-D toy targets; bounds vs log Z and pictures (Sec. 5.2)", run: runSIVI},
	"hvi":  {summary: "train Hamiltonian VI and a Gaussian q on a correlated Gaussian posterior; bounds vs log p(x) (Sec. 3.3, 5.3)", run: runHVI},
	"vsmc": {summary: "train variational SMC proposals on the linear-Gaussian model; ELBO, IWAE, FIVO vs Kalman (Sec. 5.3)", run: runVSMC},
}

// errInterrupted is returned by a command that stopped because its context
// was cancelled (SIGINT or SIGTERM) after saving what it had.
var errInterrupted = errors.New("interrupted")

// gcPercent is the garbage collector's target used unless GOGC is set.
// The ad package allocates a fresh tensor per operation and the live heap
// of these experiments is a few megabytes, so at Go's default of 100 the
// collector runs almost continuously: on two cores `eimkit synthetic` with
// GOGC=400 took 5.8 s instead of 9.4 s (and 0.3 s of system time instead
// of 3.3 s) for the same work, at 80 MB instead of 60 MB of memory.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// run dispatches args to a subcommand and returns the process exit status:
// 0 on success, 2 for a usage error, 130 when interrupted, 1 otherwise.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if c, ok := commands[rest[0]]; ok {
				// A subcommand prints its own flags for -h.
				return exitCode(c.run(ctx, []string{"-h"}), stderr)
			}
			fmt.Fprintf(stderr, "eimkit: unknown command %q\n\n", rest[0])
			usage(stderr)
			return 2
		}
		usage(stderr)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "eimkit: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return exitCode(c.run(ctx, rest), stderr)
}

// exitCode reports err on stderr and maps it to an exit status.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2 // the flag package has printed the message and the usage
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(stderr, "eimkit: %v\n", err)
		return 130
	default:
		fmt.Fprintf(stderr, "eimkit: %v\n", err)
		return 1
	}
}

// errUsage wraps flag parsing errors, which the flag package has already
// printed together with the usage.
var errUsage = errors.New("usage")

// concurrentRuns prepares for n computations at once: with two or more,
// each already keeps a core busy, so ad's helper goroutine is turned off
// (its spin-waiting would only compete with them). It returns the function
// that restores the previous setting.
func concurrentRuns(n int) (restore func()) {
	if n < 2 {
		return func() {}
	}
	prev := ad.SetMaxThreads(1)
	return func() { ad.SetMaxThreads(prev) }
}

// parseFlags parses a subcommand's flags; -h returns flag.ErrHelp, any
// other failure errUsage (the flag package has printed the reason).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// badFlags reports flags that parsed but make no sense, with the usage,
// and returns errUsage.
func badFlags(stderr io.Writer, fs *flag.FlagSet, cmd, format string, args ...any) error {
	fmt.Fprintf(stderr, "eimkit "+cmd+": "+format+"\n", args...)
	fs.Usage()
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `eimkit runs the experiments of "Energy-Inspired Models: Learning with
Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS 2019).

Usage:

	eimkit <command> [flags]
	eimkit help <command>

Commands:

`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "\t%-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
}
