package experiment

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eimkit/eimkit/nn"
)

// ErrInterrupted is wrapped by the errors of a run that stopped because
// its context was cancelled (SIGINT or SIGTERM in a command), after
// saving what it had.
var ErrInterrupted = errors.New("interrupted")

// CheckpointName is the name of a run's checkpoint in its directory.
const CheckpointName = "checkpoint.bin"

// Keys of a checkpoint's Meta that the harness adds to the identity.
const (
	metaSeconds = "experiment.train-seconds" // wall time of training so far
	metaState   = "experiment.state"         // Run.State, as text
)

// Run is one training run: the settings that determine its computation,
// the objects it trains and the function that takes one step. Its
// directory holds its checkpoint and metrics log. The zero values of the
// optional fields are documented defaults.
//
// A Run is resumable bit for bit: everything a step depends on must be in
// Params, Adam, RNG or State, and everything else the step uses must be
// determined by Identity. The same Run trained in one go, or interrupted
// (or killed) any number of times and trained again, ends with bitwise the
// same parameters, optimizer state, random state and metrics.
type Run struct {
	// Dir is the run's directory, created if needed. One directory holds
	// one run; the caller locks it (or a parent) with OpenDir.
	Dir string
	// Name names the run in messages and progress; "" means Dir's base.
	Name string
	// Identity is the settings that determine the run's computation (model,
	// sizes, seed, learning rate, …). A checkpoint is continued only by a
	// run with the same identity; anything else is refused with the
	// differing settings named. The number of steps is not part of it: a
	// finished run may be continued to more steps. Keys starting with
	// "experiment." are reserved.
	Identity map[string]string
	// Steps is the number of training steps the run is to reach.
	Steps int
	// CheckpointEvery saves a checkpoint every this many steps; 0 saves
	// one only at the end and when the context is cancelled.
	CheckpointEvery int
	// Params are the trained parameters (checked for NaN and ±Inf after
	// every step); Adam, their optimizer; RNG, the stream the steps draw
	// from. Any may be nil if the run has none.
	Params *nn.Params
	Adam   *nn.Adam
	RNG    *rand.PCG
	// State, if not nil, is further training state (a moving average, a
	// baseline) saved in the checkpoint as text and restored on resume.
	State interface {
		encoding.TextMarshaler
		encoding.TextUnmarshaler
	}
	// Step takes training step step (0 for the first): it computes the
	// objective, its gradient and the optimizer's update. It should not
	// watch ctx (the harness stops between steps); an error from it ends
	// the run without a checkpoint, so the last good one is kept.
	Step func(ctx context.Context, step int) (Metrics, error)
	// Eval, if not nil, is called by Do after training with the run's
	// record. It should return ctx.Err() soon after ctx is cancelled; Do
	// then reports the run as interrupted.
	Eval func(ctx context.Context, rec *Record) error
	// Progress, if not nil, is told of every step.
	Progress *Progress
}

// Metrics is what a training step reports: the objective it maximized
// (or the loss it minimized; the harness only records it) and optional
// named values for the metrics log.
type Metrics struct {
	Objective float64
	Values    map[string]float64
}

// Record is a run's training record.
type Record struct {
	// Steps is the number of steps done, Points their metrics.
	Steps  int
	Points []Point
	// From is the step this session started at: 0 for a fresh run, the
	// checkpoint's step for a resumed one.
	From int
	// Seconds is the wall time of training over every session.
	Seconds float64
}

// Objectives returns the objective of every step done.
func (r *Record) Objectives() []float64 { return Objectives(r.Points) }

// name returns the run's name.
func (r *Run) name() string {
	if r.Name != "" {
		return r.Name
	}
	return filepath.Base(r.Dir)
}

// CheckpointPath and MetricsPath are the run's files.
func (r *Run) CheckpointPath() string { return filepath.Join(r.Dir, CheckpointName) }
func (r *Run) MetricsPath() string    { return filepath.Join(r.Dir, MetricsName) }

func (r *Run) check(method string) {
	switch {
	case r.Dir == "":
		panic("experiment: Run." + method + ": empty Dir")
	case r.Steps < 0:
		panic(fmt.Sprintf("experiment: Run.%s: Steps %d < 0", method, r.Steps))
	case r.CheckpointEvery < 0:
		panic(fmt.Sprintf("experiment: Run.%s: CheckpointEvery %d < 0", method, r.CheckpointEvery))
	}
	for k := range r.Identity {
		if strings.HasPrefix(k, "experiment.") {
			panic(fmt.Sprintf("experiment: Run.%s: identity key %q is reserved", method, k))
		}
	}
}

// StepsDone returns the step of the run's checkpoint: 0 if there is none,
// and an error if there is one that belongs to other settings, is past
// Steps, or cannot be read.
func (r *Run) StepsDone() (int, error) {
	r.check("StepsDone")
	step, _, err := r.readMeta()
	return step, err
}

// readMeta reads and checks the checkpoint's step and Meta.
func (r *Run) readMeta() (int, map[string]string, error) {
	var ck nn.Checkpoint
	err := nn.Load(r.CheckpointPath(), &ck)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w (delete %s to start the run afresh)", r.name(), err, r.Dir)
	}
	if diff := diffSettings(ck.Meta, r.Identity); diff != "" {
		return 0, nil, fmt.Errorf("%s was written by a run with other settings (%s); "+
			"use another -out, or delete %s to start this run afresh", r.CheckpointPath(), diff, r.Dir)
	}
	if ck.Step > r.Steps {
		return 0, nil, fmt.Errorf("%s is at step %d, past -steps %d; "+
			"use -steps %d or more, or another -out", r.CheckpointPath(), ck.Step, r.Steps, ck.Step)
	}
	return ck.Step, ck.Meta, nil
}

// diffSettings lists the keys of want whose values differ in got, as
// "key old, now new" (empty if none differ).
func diffSettings(got, want map[string]string) string {
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if !ok {
				g = "unset"
			}
			diffs = append(diffs, fmt.Sprintf("%s %s, now %s", k, g, w))
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}

// Record returns the record of the run as its checkpoint has it, without
// training: the metrics of the checkpoint's steps and their time. A run
// without a checkpoint has an empty record.
func (r *Run) Record() (*Record, error) {
	r.check("Record")
	step, meta, err := r.readMeta()
	if err != nil {
		return nil, err
	}
	return r.recordAt(step, meta)
}

func (r *Run) recordAt(step int, meta map[string]string) (*Record, error) {
	rec := &Record{Steps: step, From: step}
	if step == 0 {
		return rec, nil
	}
	pts, err := ReadMetrics(r.MetricsPath())
	if err != nil {
		return nil, err
	}
	if len(pts) < step {
		return nil, fmt.Errorf("%s: the metrics log has %d steps, the checkpoint %d (delete %s to start the run afresh)",
			r.name(), len(pts), step, r.Dir)
	}
	for i, p := range pts[:step] {
		if p.Step != i+1 {
			return nil, fmt.Errorf("%s: line %d of %s is step %d", r.name(), i+1, r.MetricsPath(), p.Step)
		}
	}
	rec.Points = pts[:step:step]
	if s, ok := meta[metaSeconds]; ok {
		if rec.Seconds, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("%s: training time: %w", r.CheckpointPath(), err)
		}
	}
	return rec, nil
}

// Train trains the run to Steps steps: from scratch, or continued from
// its checkpoint (parameters, optimizer, random stream, State and metrics
// restored). It saves a checkpoint every CheckpointEvery steps and at the
// end. Between steps it watches ctx: once ctx is cancelled it saves a
// checkpoint at the step reached and returns an error wrapping
// ErrInterrupted. A NaN or ±Inf objective or parameter ends the run with
// an error naming the step and the quantity, keeping the last good
// checkpoint. A checkpoint that is already at Steps is loaded and
// returned without training.
func (r *Run) Train(ctx context.Context) (*Record, error) {
	r.check("Train")
	if r.Step == nil && r.Steps > 0 {
		panic("experiment: Run.Train: nil Step")
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, err
	}
	step, meta, err := r.readMeta()
	if err != nil {
		return nil, err
	}
	rec, err := r.recordAt(step, meta)
	if err != nil {
		return nil, err
	}
	if step > 0 {
		ck := nn.Checkpoint{Params: r.Params, Adam: r.Adam, RNG: r.RNG}
		if err := nn.Load(r.CheckpointPath(), &ck); err != nil {
			return nil, fmt.Errorf("%s: %w", r.name(), err)
		}
		if r.State != nil {
			if err := r.State.UnmarshalText([]byte(meta[metaState])); err != nil {
				return nil, fmt.Errorf("%s: training state: %w", r.CheckpointPath(), err)
			}
		}
	}
	name := r.name()
	if step >= r.Steps {
		return rec, nil
	}
	// The log is rewritten to the checkpoint's steps: lines past it come
	// from a session killed after the checkpoint and are redone.
	var buf []byte
	for _, p := range rec.Points {
		if buf, err = appendPoint(buf, p); err != nil {
			return nil, err
		}
	}
	if err := WriteFile(r.MetricsPath(), func(w io.Writer) error { _, err := w.Write(buf); return err }); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(r.MetricsPath(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	buf = buf[:0]

	start, before := time.Now(), rec.Seconds
	save := func(step int) error {
		if _, err := log.Write(buf); err != nil {
			return err
		}
		buf = buf[:0]
		if err := log.Sync(); err != nil {
			return err
		}
		meta := maps.Clone(r.Identity)
		if meta == nil {
			meta = map[string]string{}
		}
		meta[metaSeconds] = strconv.FormatFloat(before+time.Since(start).Seconds(), 'g', -1, 64)
		if r.State != nil {
			b, err := r.State.MarshalText()
			if err != nil {
				return fmt.Errorf("%s: training state: %w", name, err)
			}
			meta[metaState] = string(b)
		}
		return nn.Save(r.CheckpointPath(), &nn.Checkpoint{Step: step, Params: r.Params, Adam: r.Adam, RNG: r.RNG, Meta: meta})
	}
	r.Progress.Start(name, step, r.Steps)
	defer r.Progress.Done(name)
	var avg ema
	for _, p := range rec.Points {
		avg = avg.add(p.Objective)
	}
	for step < r.Steps {
		if ctx.Err() != nil {
			if err := save(step); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s: stopped at step %d of %d, checkpoint saved: %w", name, step, r.Steps, ErrInterrupted)
		}
		m, err := r.Step(ctx, step)
		if err != nil {
			return nil, fmt.Errorf("%s: step %d: %w (the last checkpoint is kept)", name, step+1, err)
		}
		if err := r.checkFinite(m, step+1); err != nil {
			return nil, err
		}
		step++
		p := Point{Step: step, Objective: m.Objective, Seconds: before + time.Since(start).Seconds(), Values: m.Values}
		if buf, err = appendPoint(buf, p); err != nil {
			return nil, err
		}
		if len(buf) > 1<<16 {
			if _, err := log.Write(buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
		rec.Points = append(rec.Points, p)
		rec.Steps = step
		avg = avg.add(m.Objective)
		r.Progress.Advance(name, step, r.Steps, avg.v)
		if r.CheckpointEvery > 0 && step%r.CheckpointEvery == 0 && step < r.Steps {
			if err := save(step); err != nil {
				return nil, err
			}
		}
	}
	if err := save(step); err != nil {
		return nil, err
	}
	rec.Seconds = before + time.Since(start).Seconds()
	return rec, nil
}

// checkFinite reports a NaN or ±Inf objective, named value or parameter
// after step.
func (r *Run) checkFinite(m Metrics, step int) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	what := ""
	var v float64
	switch {
	case bad(m.Objective):
		what, v = "the objective", m.Objective
	default:
		for _, k := range slices.Sorted(maps.Keys(m.Values)) {
			if bad(m.Values[k]) {
				what, v = "the value "+strconv.Quote(k), m.Values[k]
				break
			}
		}
	}
	if what == "" && r.Params != nil {
	params:
		for name, t := range r.Params.All() {
			for i, x := range t.Data() {
				if bad(x) {
					what, v = fmt.Sprintf("parameter %s (entry %d)", name, i), x
					break params
				}
			}
		}
	}
	if what == "" {
		return nil
	}
	return fmt.Errorf("%s: %s is %v after step %d; stopped, the last checkpoint is kept (try a smaller learning rate)", r.name(), what, v, step)
}

// Do trains the run (see Train) and then calls Eval with its record. If
// ctx is cancelled during the evaluation it returns an error wrapping
// ErrInterrupted; training is saved and the evaluation is redone by the
// next Do.
func (r *Run) Do(ctx context.Context) (*Record, error) {
	rec, err := r.Train(ctx)
	if err != nil || r.Eval == nil {
		return rec, err
	}
	name := r.name()
	r.Progress.Evaluating(name)
	defer r.Progress.Done(name)
	if err := r.Eval(ctx, rec); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: evaluation stopped (training is saved): %w", name, ErrInterrupted)
		}
		return nil, err
	}
	return rec, nil
}

// ema is the running objective shown while training: an exponential
// moving average over about 100 steps, started as a plain mean so the
// first steps are not biased toward zero.
type ema struct {
	n int
	v float64
}

func (e ema) add(x float64) ema {
	e.n++
	e.v += (x - e.v) / float64(min(e.n, 100))
	return e
}
