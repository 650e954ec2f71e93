package dist

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Categorical is a distribution over the class indices {0, …, k−1} with
// logits over the last axis:
//
//	P(x = j) = exp(l_j) / Σ_i exp(l_i),
//	log P(x = j) = l_j − logsumexp(l).
//
// Logits has shape append(Shape(), k): [k] for one distribution, [n, k]
// for a batch of n. A draw is a scalar index, so Shape() is the shape of
// Logits without the last axis. A logit of −Inf gives its class
// probability 0.
//
// Indices are passed in two forms. Sample returns []int, row-major, and
// LogProbIndex scores such a slice; LogProb scores a tensor whose entries
// are integer-valued float64 indices, so that a Categorical is a
// LogProber. The gradient flows to the logits only; there is none with
// respect to an index.
//
// A Categorical is immutable and may be shared between goroutines, each
// with its own *rand.Rand.
type Categorical struct {
	logits *ad.Tensor
	shape  []int // logits shape without the last axis
}

var _ LogProber = (*Categorical)(nil)

// NewCategorical returns the categorical distribution with the given
// logits over the last axis.
// It panics if logits is a scalar or its last axis has length 0.
func NewCategorical(logits *ad.Tensor) *Categorical {
	s := logits.Shape()
	if len(s) == 0 || s[len(s)-1] == 0 {
		panic(fmt.Sprintf("dist: NewCategorical: logits shape %v; want rank ≥ 1 and at least one class on the last axis", s))
	}
	return &Categorical{logits: logits, shape: s[: len(s)-1 : len(s)-1]}
}

// Logits returns the logits.
func (c *Categorical) Logits() *ad.Tensor { return c.logits }

// NumClasses returns k, the length of the last axis of Logits.
func (c *Categorical) NumClasses() int { return c.logits.Dim(-1) }

// Shape returns the shape of one draw: the shape of Logits without the last
// axis. The caller must not modify it.
func (c *Categorical) Shape() []int { return c.shape }

// Probs returns the exact class probabilities softmax(l) over the last
// axis, of Logits' shape.
func (c *Categorical) Probs() *ad.Tensor { return ad.Softmax(c.logits, -1) }

// LogProbs returns the log class probabilities l − logsumexp(l) over the
// last axis, of Logits' shape.
func (c *Categorical) LogProbs() *ad.Tensor { return ad.LogSoftmax(c.logits, -1) }

// Sample returns class indices drawn with rng, row-major with shape
// append(sampleShape, Shape()...): one rng.Float64 per draw, inverted
// through the cumulative class weights.
// It panics if rng is nil, sampleShape has a negative entry or a row of
// logits has no finite maximum (all −Inf, or a +Inf or NaN entry).
func (c *Categorical) Sample(rng *rand.Rand, sampleShape ...int) []int {
	checkSample("Categorical.Sample", rng, sampleShape)
	k := c.NumClasses()
	ld := c.logits.Detach().Data()
	nb := len(ld) / k
	cum := make([]float64, len(ld))
	for b := range nb {
		if !cumWeights(cum[b*k:(b+1)*k], ld[b*k:(b+1)*k]) {
			panic(fmt.Sprintf("dist: Categorical.Sample: row %d of logits shape %v has no finite maximum", b, c.logits.Shape()))
		}
	}
	out := make([]int, numel(sampleShape)*nb)
	for i := range out {
		b := i % nb
		out[i] = pick(rng, cum[b*k:(b+1)*k])
	}
	return out
}

// LogProbIndex returns log P(x = idx) for indices laid out as Sample
// returns them: row-major with shape append(sampleShape, Shape()...). The
// result has that shape.
// It panics if len(idx) does not match the shape or an index is out of
// range.
func (c *Categorical) LogProbIndex(idx []int, sampleShape ...int) *ad.Tensor {
	checkSampleShape("Categorical.LogProbIndex", sampleShape)
	s := join(sampleShape, c.shape)
	if len(idx) != numel(s) {
		panic(fmt.Sprintf("dist: Categorical.LogProbIndex: %d indices for sample shape %v and distribution shape %v (want %d)", len(idx), sampleShape, c.shape, numel(s)))
	}
	k := c.NumClasses()
	for _, j := range idx {
		if j < 0 || j >= k {
			panic(fmt.Sprintf("dist: Categorical.LogProbIndex: index %d out of range for %d classes", j, k))
		}
	}
	return c.gather(idx, s)
}

// LogProb returns log P(x) for a tensor x of class indices stored as
// integer-valued float64s. x's shape broadcasts with Shape() and the result
// has the broadcast shape. x's values only select entries: no gradient
// flows to x.
// It panics if the shapes do not broadcast or an entry of x is not an
// integer in [0, k).
func (c *Categorical) LogProb(x *ad.Tensor) *ad.Tensor {
	s, ok := ad.BroadcastShapes(x.Shape(), c.shape)
	if !ok {
		panic(fmt.Sprintf("dist: Categorical.LogProb: x shape %v does not broadcast with distribution shape %v", x.Shape(), c.shape))
	}
	k := c.NumClasses()
	xd := ad.BroadcastTo(x.Detach(), s...).Data()
	idx := make([]int, len(xd))
	for i, v := range xd {
		if v != math.Trunc(v) || v < 0 || v >= float64(k) {
			panic(fmt.Sprintf("dist: Categorical.LogProb: entry %v of x is not a class index in [0, %d)", v, k))
		}
		idx[i] = int(v)
	}
	return c.gather(idx, s)
}

// gather returns log P(x = idx) with idx row-major of shape s, where s ends
// in a broadcast of Shape(): s = S ++ B with B the batch part.
func (c *Categorical) gather(idx []int, s []int) *ad.Tensor {
	k := c.NumClasses()
	nbatch := len(c.shape)
	bshape := s[len(s)-nbatch:]
	lp := ad.LogSoftmax(c.logits, -1)
	lp = ad.BroadcastTo(lp, join(bshape, []int{k})...) // no-op unless x widens the batch
	nb := numel(bshape)
	m := len(idx) / max(nb, 1)
	if nb == 0 || m == 0 {
		return ad.Zeros(s...)
	}
	// Gather along the class axis of lp seen as [nb, k], with the m sample
	// draws of each batch row laid out batch-major: out[b, i] = lp[b, idx].
	bm := make([]int, len(idx))
	for i := range m {
		for b := range nb {
			bm[b*m+i] = idx[i*nb+b]
		}
	}
	g := ad.Gather(ad.Reshape(lp, nb, k), 1, bm, m) // [nb, m]
	if m > 1 && nb > 1 {
		g = ad.Transpose(g) // [m, nb]
	}
	return ad.Reshape(g, s...)
}
