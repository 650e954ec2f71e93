package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/eimkit/eimkit/ad"
)

// Discrete is a proposal with finite support: a categorical distribution
// over m distinct points s₁, …, s_m in d dimensions,
//
//	π(x) = Σ_j softmax(logits)_j · [x = s_j],
//
// so that p_SNIS and p_TRS built on it can be computed exactly by
// enumeration. LogProb matches x against the support points exactly (bit
// for bit, with −0 equal to +0) and is −Inf off the support.
//
// The logits are learned if they require gradients (NewDiscrete with a
// logits tensor marked RequireGrad); LogProb is then differentiable in
// them. Sample is not reparameterizable: its draws are constants, and a
// gradient with respect to the logits through samples needs a score
// function estimator.
//
// A Discrete ignores the values of a context: with ctx of shape [n, c],
// Sample returns [k, n, d] draws from the same π for every row, and LogProb
// only checks that the shapes line up. This lets conditional code paths be
// tested against exact answers (the energy may still depend on the
// context).
type Discrete struct {
	points *ad.Tensor // [m, d], constant
	logits *ad.Tensor // [m]
	index  map[string]int
}

var _ Proposal = (*Discrete)(nil)

// NewDiscrete returns the categorical proposal over the rows of points
// ([m, d]) with the given logits ([m]); nil logits mean the uniform
// distribution. points is copied and detached; logits is used as given,
// so a tensor marked with RequireGrad is learned.
//
// It panics if points is not [m, d] with m, d ≥ 1, if a coordinate is not
// finite, if two rows are equal, or if logits is not [m].
func NewDiscrete(points, logits *ad.Tensor) *Discrete {
	if points == nil || points.Rank() != 2 || points.Dim(0) < 1 || points.Dim(1) < 1 {
		var s any = "nil"
		if points != nil {
			s = points.Shape()
		}
		panic(fmt.Sprintf("eimfamily: NewDiscrete: points shape %v, want [m, d] with m, d ≥ 1", s))
	}
	m, d := points.Dim(0), points.Dim(1)
	if logits == nil {
		logits = ad.Zeros(m)
	}
	if logits.Rank() != 1 || logits.Dim(0) != m {
		panic(fmt.Sprintf("eimfamily: NewDiscrete: logits shape %v, want [%d]", logits.Shape(), m))
	}
	p := &Discrete{points: points.Clone(), logits: logits, index: make(map[string]int, m)}
	pd := p.points.Data()
	for j := range m {
		row := pd[j*d : (j+1)*d]
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				panic(fmt.Sprintf("eimfamily: NewDiscrete: point %d has coordinate %v", j, v))
			}
		}
		key := pointKey(row)
		if i, dup := p.index[key]; dup {
			panic(fmt.Sprintf("eimfamily: NewDiscrete: points %d and %d are equal", i, j))
		}
		p.index[key] = j
	}
	return p
}

// pointKey is an exact map key for a point: its coordinates' bits, with
// −0 read as +0 (adding +0 does that and changes nothing else).
func pointKey(x []float64) string {
	var b strings.Builder
	b.Grow(8 * len(x))
	for _, v := range x {
		u := math.Float64bits(v + 0)
		for range 8 {
			b.WriteByte(byte(u))
			u >>= 8
		}
	}
	return b.String()
}

// Dim returns d.
func (p *Discrete) Dim() int { return p.points.Dim(1) }

// Len returns m, the number of support points.
func (p *Discrete) Len() int { return p.points.Dim(0) }

// Points returns the support [m, d] (a constant; do not modify its Data).
func (p *Discrete) Points() *ad.Tensor { return p.points }

// Logits returns the logits tensor [m] as given to NewDiscrete.
func (p *Discrete) Logits() *ad.Tensor { return p.logits }

// LogWeights returns log π(s_j) for j = 1..m, the normalized log
// probabilities of the support points, as plain numbers.
func (p *Discrete) LogWeights() []float64 {
	return ad.LogSoftmax(p.logits.Detach(), 0).Data()
}

// Index returns j such that x (of length d) is the support point s_j, or
// −1 if x is off the support.
func (p *Discrete) Index(x []float64) int {
	if len(x) != p.Dim() {
		panic(fmt.Sprintf("eimfamily: Discrete.Index: point of length %d, want %d", len(x), p.Dim()))
	}
	if j, ok := p.index[pointKey(x)]; ok {
		return j
	}
	return -1
}

// Sample draws k points: [k, d] with ctx nil, [k, n, d] with ctx [n, c].
// The draws are constants (see the type's comment).
func (p *Discrete) Sample(rng *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor {
	checkCtx("Discrete.Sample", ctx, p.Dim())
	if k < 0 {
		panic(fmt.Sprintf("eimfamily: Discrete.Sample: k = %d", k))
	}
	d := p.Dim()
	shape := []int{k, d}
	if ctx != nil {
		shape = []int{k, ctx.Dim(0), d}
	}
	draws := k
	if ctx != nil {
		draws *= ctx.Dim(0)
	}
	lw := p.LogWeights()
	cdf := make([]float64, len(lw))
	cum := 0.0
	for j, v := range lw {
		cum += math.Exp(v)
		cdf[j] = cum
	}
	pd := p.points.Data()
	out := make([]float64, draws*d)
	for i := range draws {
		u := rng.Float64() * cum
		j := 0
		for j < len(cdf)-1 && !(cdf[j] > u) {
			j++
		}
		for j > 0 && lw[j] == math.Inf(-1) { // rounding at the top: step back to a point with mass
			j--
		}
		copy(out[i*d:(i+1)*d], pd[j*d:(j+1)*d])
	}
	return ad.New(out, shape...)
}

// LogProb returns log π(x) for x of shape [..., d] as a tensor [...]:
// log softmax(logits)_j where x equals s_j, and −Inf where x is no support
// point. With ctx [n, c], x must be [..., n, d].
func (p *Discrete) LogProb(ctx, x *ad.Tensor) *ad.Tensor {
	d := p.Dim()
	if x.Rank() < 1 || x.Dim(-1) != d {
		panic(fmt.Sprintf("eimfamily: Discrete.LogProb: x shape %v, want [..., %d]", x.Shape(), d))
	}
	if ctx != nil && (ctx.Rank() != 2 || x.Rank() < 2 || x.Dim(-2) != ctx.Dim(0)) {
		panic(fmt.Sprintf("eimfamily: Discrete.LogProb: x shape %v does not line up with ctx shape %v", x.Shape(), ctx.Shape()))
	}
	rows := x.Len() / d
	xd := x.Data()
	idx := make([]int, rows)
	on := make([]float64, rows)
	for r := range rows {
		if j, ok := p.index[pointKey(xd[r*d:(r+1)*d])]; ok {
			idx[r], on[r] = j, 1
		}
	}
	logw := ad.LogSoftmax(p.logits, 0)
	sel := ad.IndexSelect(logw, 0, idx)
	out := ad.Where(ad.New(on, rows), sel, ad.Scalar(math.Inf(-1)))
	return ad.Reshape(out, x.Shape()[:x.Rank()-1]...)
}

// Params returns the logits if they require gradients.
func (p *Discrete) Params() []*ad.Tensor {
	if p.logits.RequiresGrad() {
		return []*ad.Tensor{p.logits}
	}
	return nil
}
