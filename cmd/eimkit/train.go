package main

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/experiment"
	"github.com/eimkit/eimkit/nn"
)

// checkpointFormat names the layout of this command's checkpoints (the
// training record moved to metrics.jsonl in /2); a checkpoint with another
// format is refused.
const checkpointFormat = "eimkit-synthetic/2"

// runSpec is one training run: a model on a target with all settings.
type runSpec struct {
	model, target string
	steps         int
	seed          uint64
	ms            modelSettings
	ev            evalSettings
	every         int           // checkpoint every this many steps
	curve         curveSettings // the held-out bound during training
	tag           string        // "" or "-var<v>" for a mismatched proposal
	dir           string        // DIR/<model>-<target><tag>
}

// curveSettings are the flags of the held-out bound during training.
type curveSettings struct {
	Every   int // evaluate after every this many steps; 0: never
	Points  int // held-out points
	Samples int // S of the S-sample bound; LARS's Z from 1000·S draws
}

// curveValue is the name of the held-out bound in the metrics log.
const curveValue = "heldout"

// name is "model/target" (with the tag), the run's name in messages.
func (r runSpec) name() string { return r.model + "/" + r.target + r.tag }

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
	if r.curve.Every > 0 {
		id["curve-every"] = strconv.Itoa(r.curve.Every)
		id["curve-points"] = strconv.Itoa(r.curve.Points)
		id["curve-samples"] = strconv.Itoa(r.curve.Samples)
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

// stream is experiment.Stream: the random stream of seed named by parts.
func stream(seed uint64, parts ...string) *rand.PCG { return experiment.Stream(seed, parts...) }

// checkpointPath is the run's checkpoint file.
func (r runSpec) checkpointPath() string { return filepath.Join(r.dir, experiment.CheckpointName) }

// bare returns the run as the harness sees it without its model: enough
// to read its checkpoint's step and its record.
func (r runSpec) bare() *experiment.Run {
	return &experiment.Run{Dir: r.dir, Name: r.name(), Identity: r.identity(), Steps: r.steps, CheckpointEvery: r.every}
}

// newRun builds the run's model, initialized from its init stream, and
// the harness run that trains it: each step draws a batch from the target
// and takes one Adam step on the model's objective.
func (r runSpec) newRun(prog *experiment.Progress) (*experiment.Run, model, error) {
	target, err := data.ByName(r.target)
	if err != nil {
		return nil, nil, err
	}
	m, ps, err := newModel(r.model, rand.New(stream(r.seed, "init", r.model, r.target)), r.ms)
	if err != nil {
		return nil, nil, err
	}
	opt := &nn.Adam{LR: r.ms.LR}
	pcg := stream(r.seed, "train", r.model, r.target)
	rng := rand.New(pcg)
	params := ps.Tensors()
	st, _ := m.(stateful)
	run := r.bare()
	run.Params, run.Adam, run.RNG, run.Progress = ps, opt, pcg, prog
	if st != nil {
		run.State = st
	}
	batch := r.ms.Batch
	heldout := r.heldout(target, m)
	run.Step = func(_ context.Context, step int) (experiment.Metrics, error) {
		xs := make([]float64, 2*batch)
		target.Sample(rng, xs)
		obj := ad.Mean(m.objective(rng, ad.New(xs, batch, 2)))
		v := obj.Item()
		if math.IsNaN(v) || math.IsInf(v, 0) {
			// The harness reports it; the parameters stay as they were.
			return experiment.Metrics{Objective: v}, nil
		}
		loss := ad.Neg(obj)
		g := ad.Grad(loss, params...)
		ad.Release(loss) // v has been read; the step's buffers go to the next step
		opt.Step(params, g)
		ad.Free(g...)
		if st != nil {
			st.commit()
		}
		if heldout == nil || (step+1)%r.curve.Every != 0 {
			return experiment.Metrics{Objective: v}, nil
		}
		h, err := heldout(step + 1)
		if err != nil || math.IsNaN(h) || math.IsInf(h, 0) {
			// A diagnostic: a non-finite estimate is left out of the log
			// (fig1.png shows a gap) rather than stopping the training.
			return experiment.Metrics{Objective: v}, err
		}
		return experiment.Metrics{Objective: v, Values: map[string]float64{curveValue: h}}, nil
	}
	return run, m, nil
}

// heldout returns the function that evaluates the model's test estimate
// (evaluate's, at the curve's settings) on the curve's held-out points
// after a given step, or nil if the curve is off. Each evaluation draws
// from its own stream, named by the step, so it changes nothing in the
// training and needs no state in the checkpoint.
func (r runSpec) heldout(target data.Target, m model) func(step int) (float64, error) {
	if r.curve.Every <= 0 {
		return nil
	}
	xs := make([]float64, 2*r.curve.Points)
	target.Sample(rand.New(stream(r.seed, "curve-points", r.target)), xs)
	x := ad.New(xs, r.curve.Points, 2)
	ev := evalSettings{Points: r.curve.Points, Samples: r.curve.Samples, LARSZSamples: 1000 * r.curve.Samples}
	return func(step int) (float64, error) {
		rng := rand.New(stream(r.seed, "curve", r.model, r.target, strconv.Itoa(step)))
		out, err := m.evaluate(context.Background(), rng, x, ev)
		if err != nil {
			return 0, err
		}
		mean, _ := meanStdErr(out.values)
		return mean, nil
	}
}
