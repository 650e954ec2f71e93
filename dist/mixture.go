package dist

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// MixtureNormal is a finite mixture of m diagonal Normals over ℝᵈ:
//
//	p(x) = Σ_j π_j N(x; μ_j, diag σ_j²),   π = softmax(l),
//	log p(x) = logsumexp_j [log π_j + log N(x; μ_j, diag σ_j²)].
//
// Logits l has shape [m] (or B ++ [m] for a batch), the locs and scales
// [m, d] (or B ++ [m, d]); the batch parts broadcast. One draw has shape
// Shape() = B ++ [d]. Sampling is ancestral: a component j ~ π, then
// x ~ N(μ_j, diag σ_j²); it is not reparameterizable, so there is no
// RSample.
//
// A MixtureNormal is immutable and may be shared between goroutines, each
// with its own *rand.Rand.
type MixtureNormal struct {
	logits *ad.Tensor
	comp   *Normal // shape Bc ++ [m, d]
	shape  []int   // B ++ [d]
}

var (
	_ LogProber       = (*MixtureNormal)(nil)
	_ Sampler         = (*MixtureNormal)(nil)
	_ SampleLogProber = (*MixtureNormal)(nil)
)

// NewMixtureNormal returns the mixture with mixing logits and components
// N(locs[j], diag scales[j]²).
// It panics if the shapes do not fit (see the type comment).
func NewMixtureNormal(logits, locs, scales *ad.Tensor) *MixtureNormal {
	return newMixture("NewMixtureNormal", logits, NewNormal(locs, scales))
}

// NewMixtureNormalLogScale is NewMixtureNormal with the component standard
// deviations given as exp(logScales) (see NewNormalLogScale).
// It panics if the shapes do not fit (see the type comment).
func NewMixtureNormalLogScale(logits, locs, logScales *ad.Tensor) *MixtureNormal {
	return newMixture("NewMixtureNormalLogScale", logits, NewNormalLogScale(locs, logScales))
}

func newMixture(op string, logits *ad.Tensor, comp *Normal) *MixtureNormal {
	ls, cs := logits.Shape(), comp.shape
	if len(ls) == 0 || len(cs) < 2 || ls[len(ls)-1] != cs[len(cs)-2] || ls[len(ls)-1] == 0 {
		panic(fmt.Sprintf("dist: %s: logits shape %v and component shape %v; want [..., m] and [..., m, d] with m ≥ 1", op, ls, cs))
	}
	b, ok := ad.BroadcastShapes(ls[:len(ls)-1], cs[:len(cs)-2])
	if !ok {
		panic(fmt.Sprintf("dist: %s: batch shapes of logits %v and components %v do not broadcast", op, ls, cs))
	}
	return &MixtureNormal{logits: logits, comp: comp, shape: append(b, cs[len(cs)-1])}
}

// Logits returns the mixing logits l.
func (mx *MixtureNormal) Logits() *ad.Tensor { return mx.logits }

// Probs returns the mixing weights π = softmax(l).
func (mx *MixtureNormal) Probs() *ad.Tensor { return ad.Softmax(mx.logits, -1) }

// Components returns the components as one batched Normal of shape
// [..., m, d].
func (mx *MixtureNormal) Components() *Normal { return mx.comp }

// NumComponents returns m.
func (mx *MixtureNormal) NumComponents() int { return mx.logits.Dim(-1) }

// Shape returns the shape of one draw, B ++ [d]. The caller must not
// modify it.
func (mx *MixtureNormal) Shape() []int { return mx.shape }

// Sample returns ancestral draws of shape append(sampleShape, Shape()...)
// as a constant. For each draw in row-major order it uses one rng.Float64
// to pick the component and then d rng.NormFloat64 values.
// It panics if rng is nil, sampleShape has a negative entry or a row of
// logits has no finite maximum.
func (mx *MixtureNormal) Sample(rng *rand.Rand, sampleShape ...int) *ad.Tensor {
	checkSample("MixtureNormal.Sample", rng, sampleShape)
	m := mx.NumComponents()
	bshape := mx.shape[:len(mx.shape)-1]
	d := mx.shape[len(mx.shape)-1]
	nb := numel(bshape)
	ld := ad.BroadcastTo(mx.logits.Detach(), join(bshape, []int{m})...).Data()
	cshape := join(bshape, []int{m, d})
	loc := ad.BroadcastTo(mx.comp.loc.Detach(), cshape...).Data()
	scale := ad.BroadcastTo(mx.comp.scale.Detach(), cshape...).Data()
	cum := make([]float64, len(ld))
	for b := range nb {
		if !cumWeights(cum[b*m:(b+1)*m], ld[b*m:(b+1)*m]) {
			panic(fmt.Sprintf("dist: MixtureNormal.Sample: row %d of logits shape %v has no finite maximum", b, mx.logits.Shape()))
		}
	}
	out := ad.Zeros(join(sampleShape, mx.shape)...)
	od := out.Data()
	for i := 0; i < len(od)/max(d, 1); i++ {
		b := i % nb
		j := pick(rng, cum[b*m:(b+1)*m])
		c := (b*m + j) * d
		for k := range d {
			// The conversion rounds the product, so no fused multiply-add
			// changes the bits between architectures.
			od[i*d+k] = loc[c+k] + float64(scale[c+k]*rng.NormFloat64())
		}
	}
	return out
}

// LogProb returns log p(x). x has the event dimension d last and leading
// dimensions that broadcast with the batch shape B; the result has their
// broadcast shape. It is differentiable in x, the logits and the component
// parameters; components far from x get exactly zero weight in the
// gradient rather than NaN.
// It panics if x's shape does not fit.
func (mx *MixtureNormal) LogProb(x *ad.Tensor) *ad.Tensor {
	checkEventX("MixtureNormal.LogProb", x, mx.shape)
	// x as S ++ [1, d] against components Bc ++ [m, d].
	lc := mx.comp.LogProb(ad.Unsqueeze(x, -2)) // broadcast(S, Bc) ++ [m]
	return ad.LogSumExp(ad.Add(ad.LogSoftmax(mx.logits, -1), lc), -1)
}
