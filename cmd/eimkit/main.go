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
	"sivi":   {summary: "fit SIVI and IWHVI to Yin & Zhou's 2-D toy targets; bounds vs log Z and pictures (Sec. 5.2)", run: runSIVI},
	"hvi":    {summary: "train Hamiltonian VI and a Gaussian q on a correlated Gaussian posterior; bounds vs log p(x) (Sec. 3.3, 5.3)", run: runHVI},
	"vsmc":   {summary: "train variational SMC proposals on the linear-Gaussian model; ELBO, IWAE, FIVO vs Kalman (Sec. 5.3)", run: runVSMC},
	"vae":    {summary: "train VAEs with Gaussian, TRS, SNIS, HIS and LARS priors on binarized MNIST / Fashion-MNIST; test IWAE-1000 (Table 1)", run: runVAE},
	"fig3":   {summary: "train the VAE on dynamic MNIST with SNIS priors at several K and HIS priors at several T; test bound and time per step (Fig. 3)", run: runFig3},
	"paired": {summary: "compare two evaluated runs image by image: each mean bound, and A − B ± its paired standard error", run: runPaired},
	"eimdata": {
		summary: "train a VAE, then SNIS, LARS or HIS over the data with it as proposal; test bounds (Table 1's w/ VAE proposal rows, Table 2)",
		run:     runEIMData,
	},
}

// gcPercent is the garbage collector's target used unless GOGC is set.
// The ad package allocates a fresh tensor per operation and the live heap
// of these experiments is a few megabytes, so at Go's default of 100 the
// collector runs almost continuously: on two cores `eimkit synthetic` with
// GOGC=400 took 5.8 s instead of 9.4 s (and 0.3 s of system time instead
// of 3.3 s) for the same work. That 80 MB was a short training run: on its
// own GOGC=400 lets the heap grow to five times the live data, and the
// evaluations' peaks of 70–110 MB live made the README's job peak at
// 800–1080 MB resident. Each command therefore also sets a soft memory
// limit at its estimated need (checkMemory, harness.go), which brought that
// job to about 330 MB with the same CPU time (docs/experiment.md).
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
		if ue := (*usageErr)(nil); errors.As(err, &ue) && !ue.printed {
			fmt.Fprintf(stderr, "eimkit: %v\n", err)
		}
		return 2
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(stderr, "eimkit: %v\n", err)
		return 130
	default:
		fmt.Fprintf(stderr, "eimkit: %v\n", err)
		return 1
	}
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
