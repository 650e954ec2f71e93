package dist

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Normal is a Gaussian with diagonal covariance over the last axis:
//
//	p(x) = Π_d N(x_d; μ_d, σ_d²),
//	log p(x) = Σ_d [−½ ((x_d − μ_d)/σ_d)² − log σ_d − ½ log 2π].
//
// Loc (μ) and Scale (σ) broadcast against each other to the shape of one
// draw, Shape(), whose last axis is the event axis of length d: a Normal
// with Loc [d] is one distribution over ℝᵈ, one with Loc [n, d] is a batch
// of n of them (an amortized posterior q(z | x) over a batch of n inputs).
// Scale must be positive; it is not checked.
//
// A Normal is immutable and may be shared between goroutines, each with its
// own *rand.Rand.
type Normal struct {
	loc, scale, logScale *ad.Tensor
	shape                []int
}

var (
	_ LogProber        = (*Normal)(nil)
	_ Sampler          = (*Normal)(nil)
	_ RSampler         = (*Normal)(nil)
	_ SampleLogProber  = (*Normal)(nil)
	_ RSampleLogProber = (*Normal)(nil)
)

// NewNormal returns the diagonal Normal with mean loc and standard
// deviation scale. LogProb and Entropy use log σ = Log(scale), computed
// here once.
// It panics if loc and scale do not broadcast to a shape of rank ≥ 1.
func NewNormal(loc, scale *ad.Tensor) *Normal {
	s := paramShape("NewNormal", "loc", "scale", loc, scale)
	return &Normal{loc: loc, scale: scale, logScale: ad.Log(scale), shape: s}
}

// NewNormalLogScale returns the diagonal Normal with mean loc and standard
// deviation exp(logScale), the usual parameterization of a learned scale.
// LogProb and Entropy use logScale directly, so they stay exact (and their
// gradients finite) where exp(logScale) under- or overflows.
// It panics if loc and logScale do not broadcast to a shape of rank ≥ 1.
func NewNormalLogScale(loc, logScale *ad.Tensor) *Normal {
	s := paramShape("NewNormalLogScale", "loc", "logScale", loc, logScale)
	return &Normal{loc: loc, scale: ad.Exp(logScale), logScale: logScale, shape: s}
}

// Loc returns the mean μ.
func (n *Normal) Loc() *ad.Tensor { return n.loc }

// Scale returns the standard deviation σ.
func (n *Normal) Scale() *ad.Tensor { return n.scale }

// LogScale returns log σ.
func (n *Normal) LogScale() *ad.Tensor { return n.logScale }

// Shape returns the shape of one draw, the broadcast shape of Loc and
// Scale; its last entry is the event dimension d. The caller must not
// modify it.
func (n *Normal) Shape() []int { return n.shape }

// Detach returns the same distribution with its parameters cut from the
// gradient graph (ad.Tensor.Detach): scoring samples under n.Detach() is
// the stop-gradient that the "sticking the landing" and doubly
// reparameterized estimators need.
func (n *Normal) Detach() *Normal {
	return &Normal{loc: n.loc.Detach(), scale: n.scale.Detach(), logScale: n.logScale.Detach(), shape: n.shape}
}

// RSample returns loc + scale ⊙ ε with ε standard normal of shape
// append(sampleShape, Shape()...), drawn with rng.NormFloat64 in row-major
// order. The result is recorded, so gradients flow to Loc and Scale.
// It panics if rng is nil or sampleShape has a negative entry.
func (n *Normal) RSample(rng *rand.Rand, sampleShape ...int) *ad.Tensor {
	checkSample("Normal.RSample", rng, sampleShape)
	eps := ad.Randn(rng, join(sampleShape, n.shape)...)
	return ad.Add(n.loc, ad.Mul(n.scale, eps))
}

// Sample returns draws of shape append(sampleShape, Shape()...) as a
// constant. It consumes rng exactly as RSample does and returns bitwise the
// same values.
// It panics if rng is nil or sampleShape has a negative entry.
func (n *Normal) Sample(rng *rand.Rand, sampleShape ...int) *ad.Tensor {
	checkSample("Normal.Sample", rng, sampleShape)
	return n.Detach().RSample(rng, sampleShape...)
}

// LogProb returns log p(x) summed over the last axis. x has the event
// dimension d last and leading dimensions that broadcast with those of
// Shape() (x [K, n, d] against Loc [n, d] scores K samples of a batch);
// the result has their broadcast shape without the last axis.
// It panics if x's shape does not fit.
func (n *Normal) LogProb(x *ad.Tensor) *ad.Tensor {
	checkEventX("Normal.LogProb", x, n.shape)
	z := ad.Div(ad.Sub(x, n.loc), n.scale)
	lp := ad.Sub(ad.MulScalar(ad.Square(z), -0.5), n.logScale)
	d := n.shape[len(n.shape)-1]
	return ad.AddScalar(ad.Sum(lp, -1), -float64(d)*halfLog2Pi)
}

// Entropy returns the differential entropy
//
//	H = Σ_d (½ log 2πe + log σ_d),
//
// of shape Shape() without the last axis.
func (n *Normal) Entropy() *ad.Tensor {
	d := n.shape[len(n.shape)-1]
	ls := ad.BroadcastTo(n.logScale, n.shape...)
	return ad.AddScalar(ad.Sum(ls, -1), float64(d)*(0.5+halfLog2Pi))
}

// KL returns the Kullback–Leibler divergence KL(n ‖ q) in closed form,
//
//	KL = ½ Σ_d [expm1(2ρ_d) − 2ρ_d + ((μ_d − μ'_d)/σ'_d)²],
//	ρ_d = log σ_d − log σ'_d,
//
// which is Σ_d [log(σ'_d/σ_d) + (σ_d² + (μ_d − μ'_d)²)/(2σ'_d²) − ½]
// written so that it is exactly 0 for q = n and accurate when σ ≈ σ'.
// The shapes of n and q must broadcast and share the event dimension; the
// result has their broadcast shape without the last axis.
// It panics otherwise.
func (n *Normal) KL(q *Normal) *ad.Tensor {
	s, ok := ad.BroadcastShapes(n.shape, q.shape)
	if !ok || n.shape[len(n.shape)-1] != q.shape[len(q.shape)-1] {
		panic(fmt.Sprintf("dist: Normal.KL: shapes %v and %v do not broadcast with a common event dimension", n.shape, q.shape))
	}
	rho := ad.Sub(n.logScale, q.logScale)
	t := ad.Div(ad.Sub(n.loc, q.loc), q.scale)
	term := ad.Add(ad.Sub(ad.Expm1(ad.MulScalar(rho, 2)), ad.MulScalar(rho, 2)), ad.Square(t))
	return ad.MulScalar(ad.Sum(ad.BroadcastTo(term, s...), -1), 0.5)
}
