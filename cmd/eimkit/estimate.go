package main

// Memory estimates of each command's settings, checked before anything is
// allocated (see checkMemory). They count the large tensors a run holds at
// its peak — activations of the energy network over the points evaluated
// at once, kept for the backward pass, and the parameters with their
// gradients and Adam moments — and leave out everything small. They are
// estimates of the live data to within a small factor (for the defaults of
// synthetic 143–177 MB per run against 76–110 MB measured with
// GODEBUG=gctrace=1), enough to refuse settings that are out of reach by
// orders of magnitude (-K 100000000 needs terabytes) before allocating.

import (
	"fmt"
	"math"
)

// f64 is the size of a float64.
const f64 = 8

// mlpCosts returns, for an MLP with input d, the given hidden widths and
// output 1, the number of parameters and the floats of activations per
// input point (every layer's output, kept for the backward pass).
func mlpCosts(d int, hidden []int) (params, perPoint float64) {
	in := float64(d)
	perPoint = in
	for _, h := range append(hidden, 1) {
		params += (in + 1) * float64(h)
		perPoint += 2 * float64(h) // pre-activation and output
		in = float64(h)
	}
	return params, perPoint
}

// syntheticBytes estimates the peak memory of one synthetic run.
func syntheticBytes(model string, ms modelSettings, ev evalSettings) float64 {
	params, per := mlpCosts(2, ms.Hidden)
	// Forward values, their gradients, and the backward pass's temporaries.
	act := func(points float64) float64 { return 3 * f64 * per * points }
	b, K, T, hT := float64(ms.Batch), float64(ms.K), float64(ms.TRST), float64(ms.HIST)
	var train, eval float64
	switch model {
	case "snis":
		train = act(b + K)
		eval = act(math.Max(K, 1<<16))
	case "trs":
		train = act(b + T)
		eval = act(math.Max(T, 1<<16)) + f64*(1<<22)
	case "lars":
		train = act(b + K + T)
		eval = act(1 << 16)
	case "his":
		// The q network doubles the parameters; every leapfrog step keeps
		// a gradient of U, and the bound differentiates through them.
		params *= 2
		train = 3 * act(b*(hT+1))
		eval = act(1 << 16)
	}
	eval += f64 * float64(ev.Samples) * math.Min(float64(ev.Points), 1000) // integrands of a block
	eval += 2 * f64 * 2 * float64(ev.PlotSamples)                          // the picture's samples
	eval += 4 * f64 * float64(ev.Points)                                   // held-out points and their estimates
	// Values, gradients, Adam's two moments and the checkpoint's encoding.
	return 5*f64*params + math.Max(train, eval)
}

// recordBytes is the memory of a run's training record in memory
// (experiment.Record: a Point per step).
func recordBytes(steps int) float64 { return 64 * float64(steps) }

// checkMemory refuses settings whose runs cannot fit in memory.
func (c *syntheticConfig) checkMemory() error {
	jobs := min(c.jobs, len(c.specs()))
	var per []float64
	for _, m := range c.models {
		b := syntheticBytes(m, c.ms, c.ev) + recordBytes(c.steps)
		if c.curve.Every > 0 { // the curve's held-out points and one evaluation
			b += syntheticBytes(m, c.ms, evalSettings{Points: c.curve.Points, Samples: c.curve.Samples})
		}
		per = append(per, b)
	}
	// The jobs largest runs may train at once.
	total := 0.0
	for range jobs {
		i := argmax(per)
		total += per[i]
		if len(per) > 1 {
			per[i] = per[len(per)-1]
			per = per[:len(per)-1]
		}
	}
	what := fmt.Sprintf("-steps %d -K %d -T %d -his-T %d -hidden %s -batch %d -eval-points %d -eval-samples %d -plot-samples %d -jobs %d",
		c.steps, c.ms.K, c.ms.TRST, c.ms.HIST, intsString(c.ms.Hidden), c.ms.Batch, c.ev.Points, c.ev.Samples, c.ev.PlotSamples, jobs)
	return checkMemory("synthetic", toBytes(total), what)
}

func argmax(v []float64) int {
	i := 0
	for j, x := range v {
		if x > v[i] {
			i = j
		}
	}
	return i
}

// toBytes converts an estimate to bytes, saturating at the largest uint64.
func toBytes(v float64) uint64 {
	if !(v < math.MaxUint64) {
		return math.MaxUint64
	}
	return uint64(v)
}
