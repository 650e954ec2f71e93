package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress reports on the runs of one invocation, which may train
// concurrently. On a terminal it is one progress bar over the training
// steps of all runs, whose description shows each active run's running
// objective; elsewhere (a file, a pipe, CI) it prints a line when a run
// starts, at every quarter of its steps and when it ends. With quiet
// nothing is written. All methods are safe for concurrent use.
type progress struct {
	mu      sync.Mutex
	w       io.Writer                // nil when quiet
	bar     *progressbar.ProgressBar // nil unless on a terminal
	running map[string]string        // active run → its status: running objective or phase
	last    time.Time                // last description update
	// onStep, if set, is called after every training step, outside the
	// lock (tests use it to interrupt a run at a chosen step).
	onStep func(run string, step int)
}

// newProgress returns a progress for totalSteps training steps writing to
// w (os.Stderr in the command), with a bar if w is a terminal.
func newProgress(w io.Writer, totalSteps int, quiet bool) *progress {
	p := &progress{running: map[string]string{}}
	if quiet {
		return p
	}
	p.w = w
	if isTerminal(w) && totalSteps > 0 {
		p.bar = progressbar.NewOptions(totalSteps,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("training"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(),
		)
	}
	return p
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// logf prints a line, above the bar if there is one.
func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printLocked(format, args...)
}

func (p *progress) printLocked(format string, args ...any) {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// start records that run begins training at step from of steps.
func (p *progress) start(run string, from, steps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if from > 0 {
		p.printLocked("%s: resuming at step %d of %d", run, from, steps)
	} else {
		p.printLocked("%s: training for %d steps", run, steps)
	}
	p.running[run] = "starting"
}

// advance reports that run has taken one more step, reaching step of
// steps, with running objective avg.
func (p *progress) advance(run string, step, steps int, avg float64) {
	if p.onStep != nil {
		p.onStep(run, step)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.running[run] = fmt.Sprintf("%.3f", avg)
		p.bar.Add(1)
		if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond {
			p.last = now
			p.bar.Describe(p.describeLocked())
		}
		return
	}
	if q := steps / 4; q > 0 && step%q == 0 && step < steps {
		p.printLocked("%s: step %d of %d, running objective %.4f", run, step, steps, avg)
	}
}

// evaluating records that run has finished training and is being
// evaluated.
func (p *progress) evaluating(run string) { p.setStatus(run, "evaluating") }

// done records that run has finished.
func (p *progress) done(run string) { p.setStatus(run, "") }

// setStatus sets run's status, or removes the run if status is empty.
func (p *progress) setStatus(run, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if status == "" {
		delete(p.running, run)
	} else {
		p.running[run] = status
	}
	if p.bar != nil {
		p.bar.Describe(p.describeLocked())
	}
}

func (p *progress) describeLocked() string {
	runs := make([]string, 0, len(p.running))
	for r := range p.running {
		runs = append(runs, r)
	}
	slices.Sort(runs)
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = r + " " + p.running[r]
	}
	return strings.Join(parts, " · ")
}

// finish ends the bar.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	}
}
