package vae

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// Encoder is the amortized posterior q(z | x) = N(μ(x), diag σ(x)²), with
//
//	(μ, ρ) = Net(x − x̄),   σ = max(ScaleMin, softplus(ρ)),
//
// as the authors' code parameterizes it (x̄ the training mean, which
// centers the input). It is an eimfamily.Proposal conditioned on x, the
// shape convention package iwae uses for its proposal q̃: Sample(rng, x, k)
// gives [k, n, dz] reparameterized draws and LogProb(x, z) scores
// z [..., n, dz] as [..., n].
type Encoder struct {
	Net *nn.MLP
	// Mean is x̄ ([dx], a constant), subtracted from the input; nil means
	// no centering.
	Mean *ad.Tensor
	// ScaleMin is the floor of σ.
	ScaleMin float64
}

var _ eimfamily.Proposal = (*Encoder)(nil)

// Dim returns dz.
func (e *Encoder) Dim() int { return e.Net.Layers[len(e.Net.Layers)-1].Out() / 2 }

// Params returns the network's parameters.
func (e *Encoder) Params() []*ad.Tensor { return e.Net.Params() }

// Dist returns q(z | x) for x of shape [n, dx] as a Normal with loc and
// scale [n, dz].
func (e *Encoder) Dist(x *ad.Tensor) *dist.Normal {
	in := e.Net.Layers[0].In()
	if x == nil || x.Rank() != 2 || x.Dim(1) != in {
		panic(fmt.Sprintf("vae: Encoder: x shape %v, want [n, %d]", shapeOf(x), in))
	}
	if e.Mean != nil {
		x = ad.Sub(x, e.Mean)
	}
	return e.fromOutput(e.Net.Forward(x))
}

// fromOutput returns the Normal of the network's output [n, 2·dz].
func (e *Encoder) fromOutput(out *ad.Tensor) *dist.Normal {
	d := e.Dim()
	loc := ad.Slice(out, -1, 0, d)
	scale := ad.Clamp(ad.Softplus(ad.Slice(out, -1, d, 2*d)), e.ScaleMin, math.Inf(1))
	return dist.NewNormal(loc, scale)
}

// Sample draws k reparameterized samples z = μ + σ ⊙ ε for each row of
// x ([n, dx]): [k, n, dz], with the k·n·dz standard normals drawn from rng
// in row-major order.
func (e *Encoder) Sample(rng *rand.Rand, x *ad.Tensor, k int) *ad.Tensor {
	return e.Dist(x).RSample(rng, k)
}

// LogProb returns log q(z | x) for z of shape [..., n, dz], as [..., n].
func (e *Encoder) LogProb(x, z *ad.Tensor) *ad.Tensor {
	return e.Dist(x).LogProb(z)
}

// Decoder is the likelihood p(x | z) = Π_d Bernoulli(x_d; σ(l_d(z))) with
// logits l = Net(z). NewModel starts the output bias at the logit of the
// (clipped) training mean, which is the authors' constant offset
// logit(clip(x̄, 10⁻⁴, 1 − 10⁻⁴)) folded into a bias that starts there.
//
// With RawScale set it is instead the Gaussian likelihood of continuous
// (logit-space) data, p(x | z) = N(x; Net(z), diag σ²) with the learned
// per-dimension σ = max(ScaleMin, softplus(RawScale)) (NewGaussianModel).
type Decoder struct {
	Net *nn.MLP
	// RawScale ([dx]) makes the decoder Gaussian; nil means Bernoulli.
	RawScale *ad.Tensor
	// ScaleMin is the floor of the Gaussian decoder's σ.
	ScaleMin float64
}

// Logits returns l(z) for z of shape [..., dz], as [..., dx] (the
// Gaussian decoder's mean).
func (d *Decoder) Logits(z *ad.Tensor) *ad.Tensor { return d.Net.Forward(z) }

// LogProb returns log p(x | z) for x [n, dx] and z [..., n, dz], as [..., n].
func (d *Decoder) LogProb(x, z *ad.Tensor) *ad.Tensor {
	return d.logProbOut(d.Logits(z), x)
}

// logProbOut returns log p(x | z) from the network's output at z.
func (d *Decoder) logProbOut(out, x *ad.Tensor) *ad.Tensor {
	if d.RawScale == nil {
		return dist.NewBernoulli(out).LogProb(x)
	}
	return dist.NewNormal(out, d.scale()).LogProb(x)
}

func (d *Decoder) scale() *ad.Tensor {
	return ad.Clamp(ad.Softplus(d.RawScale), d.ScaleMin, math.Inf(1))
}

// Params returns the network's parameters (and RawScale).
func (d *Decoder) Params() []*ad.Tensor {
	if d.RawScale != nil {
		return append(d.Net.Params(), d.RawScale)
	}
	return d.Net.Params()
}

// detach returns a Decoder sharing d's weights as constants.
func (d *Decoder) detach() *Decoder {
	out := &Decoder{Net: detachMLP(d.Net), ScaleMin: d.ScaleMin}
	if d.RawScale != nil {
		out.RawScale = d.RawScale.Detach()
	}
	return out
}

// means returns E[x | z]: σ(l(z)) (Bernoulli) or Net(z) (Gaussian).
func (d *Decoder) means(z *ad.Tensor) *ad.Tensor {
	if d.RawScale == nil {
		return ad.Sigmoid(d.Logits(z))
	}
	return d.Logits(z)
}

// sample draws x ~ p(x | z) for z [n, dz]: Bernoulli draws (constants,
// from the detached network) or μ(z) + σ ⊙ ε (on the graph).
func (d *Decoder) sample(rng *rand.Rand, z *ad.Tensor) *ad.Tensor {
	if d.RawScale == nil {
		return dist.NewBernoulli(d.detach().Logits(z)).Sample(rng)
	}
	return ad.Reshape(dist.NewNormal(d.Logits(z), d.scale()).RSample(rng, 1), z.Dim(0), -1)
}

// mlpSizes returns in, hidden..., out.
func mlpSizes(in int, hidden []int, out int) []int {
	return append(append([]int{in}, hidden...), out)
}

// detachMLP returns an MLP sharing m's weights as constants: evaluating it
// records nothing, so an evaluation holds no graph.
func detachMLP(m *nn.MLP) *nn.MLP {
	out := &nn.MLP{Layers: make([]*nn.Linear, len(m.Layers))}
	for i, l := range m.Layers {
		out.Layers[i] = &nn.Linear{W: l.W.Detach(), B: l.B.Detach()}
	}
	return out
}

// logit returns log(p/(1 − p)) of p clipped to [10⁻⁴, 1 − 10⁻⁴], the
// authors' clipping of the data mean.
func logit(p float64) float64 {
	p = min(max(p, 1e-4), 1-1e-4)
	return math.Log(p) - math.Log1p(-p)
}

func shapeOf(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}
