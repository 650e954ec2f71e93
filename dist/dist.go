package dist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/eimkit/eimkit/ad"
)

// LogProber is a distribution with a log density (or log mass function).
//
// LogProb returns log p(x), summed over the event axis for vector-valued
// distributions, as a tensor built from ad operations, so that it can be
// differentiated with respect to x and to the distribution's parameters.
type LogProber interface {
	LogProb(x *ad.Tensor) *ad.Tensor
}

// Sampler is a distribution that draws exact samples.
//
// Sample returns draws of shape append(sampleShape, Shape()...) made with
// rng. The result is a constant: no gradient flows through it. The same rng
// state gives bitwise the same draws.
type Sampler interface {
	Sample(rng *rand.Rand, sampleShape ...int) *ad.Tensor
}

// RSampler is a distribution with a reparameterized sampler: RSample
// returns the same values as Sample would for the same rng state, but
// computed from the parameters with ad operations, as a deterministic
// differentiable function of them and of parameter-free noise, so that
// gradients of f(RSample(...)) flow to the parameters.
type RSampler interface {
	RSample(rng *rand.Rand, sampleShape ...int) *ad.Tensor
}

// SampleLogProber draws exact samples and scores them, as a proposal for
// importance sampling must.
type SampleLogProber interface {
	Sampler
	LogProber
}

// RSampleLogProber draws reparameterized samples and scores them, as a
// variational distribution trained with the reparameterization gradient
// must.
type RSampleLogProber interface {
	RSampler
	LogProber
}

// halfLog2Pi is ½ log 2π.
var halfLog2Pi = 0.5 * math.Log(2*math.Pi)

// numel returns the number of entries of a tensor of the given shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// join returns a new slice holding a followed by b.
func join(a, b []int) []int {
	return append(slices.Clip(slices.Clone(a)), b...)
}

// checkSample panics if rng is nil or a sample shape has a negative
// dimension.
func checkSample(op string, rng *rand.Rand, sampleShape []int) {
	if rng == nil {
		panic(fmt.Sprintf("dist: %s: nil *rand.Rand", op))
	}
	checkSampleShape(op, sampleShape)
}

// checkSampleShape panics if a sample shape has a negative dimension.
func checkSampleShape(op string, sampleShape []int) {
	for _, d := range sampleShape {
		if d < 0 {
			panic(fmt.Sprintf("dist: %s: negative dimension in sample shape %v", op, sampleShape))
		}
	}
}

// checkEventX panics unless x can be scored by a vector-valued distribution
// whose single draw has shape: x must have rank at least 1, the same event
// (last) dimension, and leading dimensions that broadcast with shape's. It
// returns the broadcast shape of x and shape.
func checkEventX(op string, x *ad.Tensor, shape []int) []int {
	xs := x.Shape()
	d := shape[len(shape)-1]
	if len(xs) == 0 || xs[len(xs)-1] != d {
		panic(fmt.Sprintf("dist: %s: x shape %v does not end in the event dimension %d of parameter shape %v", op, xs, d, shape))
	}
	bs, ok := ad.BroadcastShapes(xs, shape)
	if !ok {
		panic(fmt.Sprintf("dist: %s: x shape %v does not broadcast with parameter shape %v", op, xs, shape))
	}
	return bs
}

// paramShape returns the broadcast shape of two parameters of a
// vector-valued distribution, panicking unless they broadcast to a shape
// of rank at least 1 (the last axis is the event axis).
func paramShape(op, na, nb string, a, b *ad.Tensor) []int {
	s, ok := ad.BroadcastShapes(a.Shape(), b.Shape())
	if !ok {
		panic(fmt.Sprintf("dist: %s: %s shape %v and %s shape %v do not broadcast", op, na, a.Shape(), nb, b.Shape()))
	}
	if len(s) == 0 {
		panic(fmt.Sprintf("dist: %s: %s shape %v and %s shape %v broadcast to a scalar; want rank ≥ 1 (the last axis is the event axis)", op, na, a.Shape(), nb, b.Shape()))
	}
	return s
}

// cumWeights sets cum to the running sums of exp(l − max l) over one row of
// logits. It reports false if the row has no finite maximum (all −Inf, a
// +Inf or a NaN), for which the weights are undefined.
func cumWeights(cum, logits []float64) bool {
	m := math.Inf(-1)
	for _, l := range logits {
		if math.IsNaN(l) {
			return false
		}
		m = math.Max(m, l)
	}
	if math.IsInf(m, 0) {
		return false
	}
	s := 0.0
	for i, l := range logits {
		s += math.Exp(l - m)
		cum[i] = s
	}
	return true
}

// pick draws an index with probability proportional to the increments of
// cum, a row filled by cumWeights, by inversion of one rng.Float64: the
// first i with cum[i] > u, u = rng.Float64()·total. The search always
// succeeds at an index of positive weight: u ≥ 0, and u < total because
// rng.Float64() ≤ 1 − 2⁻⁵³ and (1 − 2⁻⁵³)·c rounds to below c for every
// c ≥ 1 (total ≥ 1, as the maximal logit has weight exp(0) = 1).
func pick(rng *rand.Rand, cum []float64) int {
	u := rng.Float64() * cum[len(cum)-1]
	return sort.Search(len(cum), func(i int) bool { return cum[i] > u })
}
