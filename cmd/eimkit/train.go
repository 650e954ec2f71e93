package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/nn"
)

// checkpointFormat names the layout of the Meta of this command's
// checkpoints; a checkpoint with another format is refused.
const checkpointFormat = "eimkit-synthetic/1"

// runSpec is one training run: a model on a target with all settings.
type runSpec struct {
	model, target string
	steps         int
	seed          uint64
	ms            modelSettings
	ev            evalSettings
	every         int    // checkpoint every this many steps
	dir           string // DIR/<model>-<target>
}

// name is "model/target", the run's name in messages.
func (r runSpec) name() string { return r.model + "/" + r.target }

// identity returns the settings that determine the run's training
// computation, as strings: a checkpoint is continued only by a run with
// the same identity. Only the settings the model uses are included, so
// changing -K does not invalidate a TRS or HIS checkpoint. The number of
// steps is not part of it: a run may be continued to more steps.
func (r runSpec) identity() map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	id := map[string]string{
		"format":       checkpointFormat,
		"model":        r.model,
		"target":       r.target,
		"seed":         strconv.FormatUint(r.seed, 10),
		"proposal-var": f(r.ms.ProposalVar),
		"hidden":       intsString(r.ms.Hidden),
		"batch":        strconv.Itoa(r.ms.Batch),
		"lr":           f(r.ms.LR),
	}
	switch r.model {
	case "snis":
		id["K"] = strconv.Itoa(r.ms.K)
	case "trs":
		id["T"] = strconv.Itoa(r.ms.TRST)
	case "lars":
		id["K"] = strconv.Itoa(r.ms.K)
		id["T"] = strconv.Itoa(r.ms.TRST)
	case "his":
		id["his-T"] = strconv.Itoa(r.ms.HIST)
	}
	return id
}

// intsString formats 20, 20 as "20,20".
func intsString(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// stream returns the random stream named by parts, split from the seed:
// PCG(seed, FNV-1a(parts)). Every run and purpose has its own stream, so
// results do not depend on which runs are selected, their order, or how
// they are scheduled.
func stream(seed uint64, parts ...string) *rand.PCG {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return rand.NewPCG(seed, h.Sum64())
}

// Keys of the checkpoint's Meta beyond the identity.
const (
	metaBounds       = "bounds"        // JSON array: the training objective of every step so far
	metaTrainSeconds = "train-seconds" // wall time spent training so far
	metaModelState   = "model-state"   // a stateful model's state
)

// trained is a model after training, with its record.
type trained struct {
	m       model
	bounds  []float64 // training objective per step
	seconds float64   // wall time of training, over all sessions
}

// checkpointPath is the run's checkpoint file.
func (r runSpec) checkpointPath() string { return filepath.Join(r.dir, "checkpoint.bin") }

// readCheckpointMeta reads the step and Meta of the run's checkpoint and
// checks that it belongs to this run: it returns ok = false if there is
// none, and an error if there is one from other settings or one that
// cannot be read.
func (r runSpec) readCheckpointMeta() (step int, meta map[string]string, ok bool, err error) {
	var ck nn.Checkpoint
	err = nn.Load(r.checkpointPath(), &ck)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	if diff := diffSettings(ck.Meta, r.identity()); diff != "" {
		return 0, nil, false, fmt.Errorf("%s was written by a run with other settings (%s); "+
			"use another -out, or delete %s to start this run afresh", r.checkpointPath(), diff, r.dir)
	}
	if ck.Step > r.steps {
		return 0, nil, false, fmt.Errorf("%s is at step %d, past -steps %d; "+
			"use -steps %d or more, or another -out", r.checkpointPath(), ck.Step, r.steps, ck.Step)
	}
	return ck.Step, ck.Meta, true, nil
}

// diffSettings lists the keys of want whose values differ in got, as
// "key: got ≠ want" (empty if none differ).
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

// train trains the run's model from scratch, or continues it from its
// checkpoint, to r.steps steps, saving a checkpoint every r.every steps
// and at the end. If ctx is cancelled it saves a checkpoint at the step
// reached and returns an error wrapping errInterrupted. The result is
// bitwise the same however often the run was interrupted and resumed.
func (r runSpec) train(ctx context.Context, prog *progress) (*trained, error) {
	target, err := data.ByName(r.target)
	if err != nil {
		return nil, err
	}
	m, ps, err := newModel(r.model, rand.New(stream(r.seed, "init", r.model, r.target)), r.ms)
	if err != nil {
		return nil, err
	}
	opt := &nn.Adam{LR: r.ms.LR}
	pcg := stream(r.seed, "train", r.model, r.target)
	rng := rand.New(pcg)
	t := &trained{m: m}

	step, meta, ok, err := r.readCheckpointMeta()
	if err != nil {
		return nil, err
	}
	if ok {
		ck := nn.Checkpoint{Params: ps, Adam: opt, RNG: pcg}
		if err := nn.Load(r.checkpointPath(), &ck); err != nil {
			return nil, err
		}
		if err := t.restore(meta, step); err != nil {
			return nil, fmt.Errorf("%s: %w", r.checkpointPath(), err)
		}
	}

	params := ps.Tensors()
	st, _ := m.(stateful)
	start := time.Now()
	save := func(step int) error {
		meta := r.identity()
		b, err := json.Marshal(t.bounds)
		if err != nil {
			return err
		}
		meta[metaBounds] = string(b)
		meta[metaTrainSeconds] = strconv.FormatFloat(t.seconds+time.Since(start).Seconds(), 'g', -1, 64)
		if st != nil {
			meta[metaModelState] = st.state()
		}
		return nn.Save(r.checkpointPath(), &nn.Checkpoint{Step: step, Params: ps, Adam: opt, RNG: pcg, Meta: meta})
	}

	if step < r.steps {
		prog.start(r.name(), step, r.steps)
	}
	avg := runningMean(t.bounds)
	from := step
	for ; step < r.steps; step++ {
		if ctx.Err() != nil {
			if err := save(step); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s: stopped at step %d of %d, checkpoint saved: %w", r.name(), step, r.steps, errInterrupted)
		}
		xs := make([]float64, 2*r.ms.Batch)
		target.Sample(rng, xs)
		obj := ad.Mean(m.objective(rng, ad.New(xs, r.ms.Batch, 2)))
		v := obj.Item()
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: training objective is %v at step %d (the last checkpoint is kept)", r.name(), v, step+1)
		}
		loss := ad.Neg(obj)
		g := ad.Grad(loss, params...)
		ad.Release(loss) // v has been read; the step's buffers go to the next step
		opt.Step(params, g)
		if st != nil {
			st.commit()
		}
		t.bounds = append(t.bounds, v)
		avg = avg.add(v)
		prog.advance(r.name(), step+1, r.steps, avg.value())
		if (step+1)%r.every == 0 && step+1 < r.steps {
			if err := save(step + 1); err != nil {
				return nil, err
			}
		}
	}
	if step == from && ok {
		return t, nil // the checkpoint was final already
	}
	if err := save(step); err != nil {
		return nil, err
	}
	t.seconds += time.Since(start).Seconds()
	return t, nil
}

// restore reads the training record and model state from a checkpoint's
// meta at the given step.
func (t *trained) restore(meta map[string]string, step int) error {
	if err := json.Unmarshal([]byte(meta[metaBounds]), &t.bounds); err != nil {
		return fmt.Errorf("training record: %w", err)
	}
	if len(t.bounds) != step {
		return fmt.Errorf("training record has %d steps, the checkpoint %d", len(t.bounds), step)
	}
	secs, err := strconv.ParseFloat(meta[metaTrainSeconds], 64)
	if err != nil {
		return fmt.Errorf("training time: %w", err)
	}
	t.seconds = secs
	if s, ok := t.m.(stateful); ok {
		if err := s.setState(meta[metaModelState]); err != nil {
			return err
		}
	}
	return nil
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

func (e ema) value() float64 { return e.v }

// runningMean returns the ema after the given values.
func runningMean(xs []float64) ema {
	var e ema
	for _, x := range xs {
		e = e.add(x)
	}
	return e
}
