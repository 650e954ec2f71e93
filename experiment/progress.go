package experiment

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

// Progress reports on the runs of one invocation, which may train
// concurrently. On a terminal it is one progress bar over the training
// steps of all runs, whose description shows each active run's running
// objective; elsewhere (a file, a pipe, CI) it prints a line when a run
// starts, at every quarter of its steps and when it ends. With quiet
// nothing is written. All methods are safe for concurrent use, and do
// nothing on a nil *Progress; a zero Progress writes nothing (a way to
// have only OnStep).
type Progress struct {
	// OnStep, if set, is called after every training step, outside the
	// lock (tests use it to interrupt a run at a chosen step).
	OnStep func(run string, step int)

	mu      sync.Mutex
	w       io.Writer                // nil when quiet
	bar     *progressbar.ProgressBar // nil unless on a terminal
	running map[string]string        // active run → its status: running objective or phase
	last    time.Time                // last description update
}

// NewProgress returns a Progress for totalSteps training steps writing to
// w (os.Stderr in a command), with a bar if w is a terminal.
func NewProgress(w io.Writer, totalSteps int, quiet bool) *Progress {
	p := &Progress{running: map[string]string{}}
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

// Logf prints a line, above the bar if there is one.
func (p *Progress) Logf(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printLocked(format, args...)
}

func (p *Progress) printLocked(format string, args ...any) {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Start records that run begins training at step from of steps.
func (p *Progress) Start(run string, from, steps int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if from > 0 {
		p.printLocked("%s: resuming at step %d of %d", run, from, steps)
	} else {
		p.printLocked("%s: training for %d steps", run, steps)
	}
	p.setLocked(run, "starting")
}

// Advance reports that run has taken one more step, reaching step of
// steps, with running objective avg.
func (p *Progress) Advance(run string, step, steps int, avg float64) {
	if p == nil {
		return
	}
	if p.OnStep != nil {
		p.OnStep(run, step)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.setLocked(run, fmt.Sprintf("%.3f", avg))
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

// Evaluating records that run has finished training and is being
// evaluated (without a bar, it prints a line saying so).
func (p *Progress) Evaluating(run string) {
	if p == nil {
		return
	}
	if p.bar == nil {
		p.Logf("%s: evaluating", run)
	}
	p.setStatus(run, "evaluating")
}

// Done records that run has finished.
func (p *Progress) Done(run string) { p.setStatus(run, "") }

// setStatus sets run's status, or removes the run if status is empty.
func (p *Progress) setStatus(run, status string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if status == "" {
		delete(p.running, run)
	} else {
		p.setLocked(run, status)
	}
	if p.bar != nil {
		p.bar.Describe(p.describeLocked())
	}
}

// setLocked sets run's status (the zero Progress has no map yet).
func (p *Progress) setLocked(run, status string) {
	if p.running == nil {
		p.running = map[string]string{}
	}
	p.running[run] = status
}

func (p *Progress) describeLocked() string {
	runs := slices.Sorted(func(yield func(string) bool) {
		for r := range p.running {
			if !yield(r) {
				return
			}
		}
	})
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = r + " " + p.running[r]
	}
	return strings.Join(parts, " · ")
}

// Finish ends the bar.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	}
}
