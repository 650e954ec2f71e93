package sivi

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// Model is the generative model p(x, z) over tensors: LogJoint takes data
// x [n, dx] and latents z [n, dz] and returns log p(x, z), [n].
type Model = avvi.Model[*ad.Tensor, *ad.Tensor]

// Conditional is the explicit layer q(z | λ, x) of a semi-implicit family
// (or p(z | ζ) of a semi-implicit prior).
type Conditional interface {
	// Dim returns the dimension of z.
	Dim() int
	// Sample draws z ~ q(z | λ, x) for λ of shape [n, dλ], giving [n, dz],
	// reparameterized where the family allows it.
	Sample(rng *rand.Rand, x, lambda *ad.Tensor) *ad.Tensor
	// LogProb returns log q(z | λ, x) for λ of shape [..., n, dλ] and z of
	// shape [n, dz] (broadcast against λ's leading axes), giving [..., n].
	LogProb(x, lambda, z *ad.Tensor) *ad.Tensor
}

// Tau is a proposal τ(λ | z, x) over the mixing variable: IWHVI's learned
// reverse proposal (Sobolev & Vetrov 2019), and, ignoring z, the mixing
// distribution q(λ | x) itself (MixingTau).
type Tau interface {
	// Dim returns the dimension of λ.
	Dim() int
	// Sample draws k values λ ~ τ(λ | z, x) for each of the n rows of z
	// ([n, dz]): [k, n, dλ], reparameterized where τ allows it.
	Sample(rng *rand.Rand, x, z *ad.Tensor, k int) *ad.Tensor
	// LogProb returns log τ(λ | z, x) for λ [..., n, dλ], giving [..., n].
	LogProb(x, z, lambda *ad.Tensor) *ad.Tensor
}

// Family is a semi-implicit variational family (Yin & Zhou 2018),
//
//	q(z | x) = ∫ q(z | λ, x) q(λ | x) dλ,
//
// as a Q of package avvi over z and the auxiliary λ. The mixing q(λ | x)
// is an eimfamily.Proposal with x as its context: Sample(rng, x, k) gives
// [k, n, dλ] and LogProb(x, λ) gives [..., n] (an unconditional
// eimfamily.Normal draws per row of x and ignores its values).
//
// Yin & Zhou's mixing is implicit, λ = g(ε), ε ~ q(ε). As Sobolev & Vetrov
// note (and Sec. 5.2 of Lawson et al. 2019), the same family is
// q(z | g(ε), x) q(ε): take λ = ε with an explicit q(ε) and put g into the
// Conditional (GaussianConditional's network), so that log q(λ | x) is
// available. SIVI's closed form never evaluates it; the avvi assembly and
// IWHVI do.
type Family struct {
	Mixing      eimfamily.Proposal
	Conditional Conditional
}

var _ avvi.Q[*ad.Tensor, *ad.Tensor, *ad.Tensor] = Family{}

// draw returns λ₁ ~ q(λ | x), [n, dλ], and z ~ q(z | λ₁, x), [n, dz], in
// that order from rng.
func (f Family) draw(who string, rng *rand.Rand, x *ad.Tensor) (lambda0, z *ad.Tensor) {
	n := checkX(who, x)
	l := f.Mixing.Sample(rng, x, 1)
	lambda0 = ad.Reshape(l, n, f.Mixing.Dim())
	return lambda0, f.Conditional.Sample(rng, x, lambda0)
}

// Sample draws λ ~ q(λ | x) and z ~ q(z | λ, x) and returns z ([n, dz]), λ
// ([n, dλ]) and log q(z, λ | x) = log q(λ | x) + log q(z | λ, x) ([n]).
// It panics if x is not [n, dx].
func (f Family) Sample(rng *rand.Rand, x *ad.Tensor) (z, lambda, logq *ad.Tensor) {
	lambda, z = f.draw("Family.Sample", rng, x)
	return z, lambda, ad.Add(f.Mixing.LogProb(x, lambda), f.Conditional.LogProb(x, lambda, z))
}

// SampleZ returns one z ~ q(z | x) for each row of x, [n, dz]: the
// family's exact samples (for pictures), as constants.
func (f Family) SampleZ(rng *rand.Rand, x *ad.Tensor) *ad.Tensor {
	_, z := f.draw("Family.SampleZ", rng, x)
	return ad.New(append([]float64(nil), z.Data()...), z.Shape()...)
}

// MixingTau is the mixing distribution q(λ | x) of a Family used as a Tau:
// it ignores z. IWHVI with it is SIVI.
type MixingTau struct {
	Mixing eimfamily.Proposal
}

var _ Tau = MixingTau{}

// Dim returns the dimension of λ.
func (t MixingTau) Dim() int { return t.Mixing.Dim() }

// Sample draws k values from q(λ | x): [k, n, dλ].
func (t MixingTau) Sample(rng *rand.Rand, x, _ *ad.Tensor, k int) *ad.Tensor {
	return t.Mixing.Sample(rng, x, k)
}

// LogProb returns log q(λ | x).
func (t MixingTau) LogProb(x, _, lambda *ad.Tensor) *ad.Tensor { return t.Mixing.LogProb(x, lambda) }

// GaussianConditional is q(z | λ, x) = N(z; Net([λ, x]), diag(exp(LogScale))²),
// the Conditional of Yin & Zhou's experiments (a fixed scale 0.1 in their
// toys), with the mean an MLP. LogScale has shape [dz]; it is learned if
// it requires gradients.
//
// DX is the number of data columns the network reads: with DX = 0 (what
// NewGaussianConditional builds) the family is unconditional, q(z | λ),
// for targets without data such as the toy densities, and x only gives
// the batch size: its values are not read, by design and not by
// accident. With DX > 0 (NewGaussianConditionalX) the mean is
// Net([λ, x]), x of shape [n, DX], for amortized inference. The network
// must have dλ + DX inputs; Sample and LogProb panic otherwise.
type GaussianConditional struct {
	Net      *nn.MLP
	LogScale *ad.Tensor
	DX       int
}

var _ Conditional = (*GaussianConditional)(nil)

// NewGaussianConditional returns the unconditional q(z | λ) (DX = 0) with a
// tanh MLP dλ-hidden…-dz for the mean and the fixed scale σ in every
// dimension.
func NewGaussianConditional(rng *rand.Rand, dLambda, dz int, sigma float64, hidden ...int) *GaussianConditional {
	return NewGaussianConditionalX(rng, dLambda, 0, dz, sigma, hidden...)
}

// NewGaussianConditionalX returns q(z | λ, x) with a tanh MLP
// (dλ + dx)-hidden…-dz of [λ, x] for the mean and the fixed scale σ. It
// panics if a size is not positive (dx may be 0) or σ ≤ 0.
func NewGaussianConditionalX(rng *rand.Rand, dLambda, dx, dz int, sigma float64, hidden ...int) *GaussianConditional {
	if dLambda < 1 || dx < 0 || dz < 1 || !(sigma > 0) {
		panic(fmt.Sprintf("sivi: NewGaussianConditionalX: dλ = %d, dx = %d, dz = %d, σ = %v", dLambda, dx, dz, sigma))
	}
	sizes := append(append([]int{dLambda + dx}, hidden...), dz)
	ls := make([]float64, dz)
	for i := range ls {
		ls[i] = math.Log(sigma)
	}
	return &GaussianConditional{Net: nn.NewMLP(rng, sizes...), LogScale: ad.New(ls, dz), DX: dx}
}

// Dim returns dz.
func (c *GaussianConditional) Dim() int { return c.LogScale.Len() }

// mean returns Net([λ, x]) (Net(λ) for DX = 0) for λ [..., n, dλ] or
// [K, 1, dλ] (broadcast against the n rows of x).
func (c *GaussianConditional) mean(who string, x, lambda *ad.Tensor) *ad.Tensor {
	in := c.Net.Layers[0].In()
	if lambda == nil || lambda.Rank() < 2 || lambda.Dim(-1)+c.DX != in {
		panic(fmt.Sprintf("sivi: GaussianConditional.%s: λ shape %v with DX = %d, the network takes %d inputs", who, shapeOf(lambda), c.DX, in))
	}
	if c.DX == 0 {
		return c.Net.Forward(lambda)
	}
	if x == nil || x.Rank() != 2 || x.Dim(1) != c.DX {
		panic(fmt.Sprintf("sivi: GaussianConditional.%s: x shape %v, want [n, %d]", who, shapeOf(x), c.DX))
	}
	shape := append([]int(nil), lambda.Shape()...)
	if shape[len(shape)-2] == 1 {
		shape[len(shape)-2] = x.Dim(0) // shared λ: one row per data point
	}
	l := ad.BroadcastTo(lambda, shape...)
	shape[len(shape)-1] = c.DX
	return c.Net.Forward(ad.Concat(-1, l, ad.BroadcastTo(x, shape...)))
}

// Sample draws z = Net([λ, x]) + exp(LogScale) ⊙ ε, ε ~ N(0, I).
func (c *GaussianConditional) Sample(rng *rand.Rand, x, lambda *ad.Tensor) *ad.Tensor {
	mu := c.mean("Sample", x, lambda)
	return ad.Add(mu, ad.Mul(ad.Exp(c.LogScale), ad.Randn(rng, mu.Shape()...)))
}

// LogProb returns Σ_j log N(z_j; Net([λ, x])_j, exp(LogScale_j)²).
func (c *GaussianConditional) LogProb(x, lambda, z *ad.Tensor) *ad.Tensor {
	return diagNormalLogProb(z, c.mean("LogProb", x, lambda), c.LogScale)
}

// Params returns the network's parameters and LogScale if it requires
// gradients.
func (c *GaussianConditional) Params() []*ad.Tensor {
	ps := c.Net.Params()
	if c.LogScale.RequiresGrad() {
		ps = append(ps, c.LogScale)
	}
	return ps
}

// GaussianTau is IWHVI's learned proposal τ(λ | z) = N(λ; μ, diag(s)²),
// (μ, log s) = Net(z): an MLP with dz inputs and 2dλ outputs. It ignores x.
type GaussianTau struct {
	Net *nn.MLP
	D   int
}

var _ Tau = (*GaussianTau)(nil)

// NewGaussianTau returns τ(λ | z) with a tanh MLP dz-hidden…-2dλ.
func NewGaussianTau(rng *rand.Rand, dz, dLambda int, hidden ...int) *GaussianTau {
	sizes := append(append([]int{dz}, hidden...), 2*dLambda)
	return &GaussianTau{Net: nn.NewMLP(rng, sizes...), D: dLambda}
}

// Dim returns dλ.
func (t *GaussianTau) Dim() int { return t.D }

func (t *GaussianTau) params(z *ad.Tensor) (mu, logS *ad.Tensor) {
	out := t.Net.Forward(z)
	return ad.Slice(out, -1, 0, t.D), ad.Slice(out, -1, t.D, 2*t.D)
}

// Sample draws λ = μ + s ⊙ ε, [k, n, dλ].
func (t *GaussianTau) Sample(rng *rand.Rand, _, z *ad.Tensor, k int) *ad.Tensor {
	mu, logS := t.params(z)
	return ad.Add(mu, ad.Mul(ad.Exp(logS), ad.Randn(rng, k, z.Dim(0), t.D)))
}

// LogProb returns log τ(λ | z) for λ [..., n, dλ].
func (t *GaussianTau) LogProb(_, z, lambda *ad.Tensor) *ad.Tensor {
	mu, logS := t.params(z)
	return diagNormalLogProb(lambda, mu, logS)
}

// Params returns the network's parameters.
func (t *GaussianTau) Params() []*ad.Tensor { return t.Net.Params() }

// diagNormalLogProb returns Σ_j log N(x_j; mu_j, exp(logS_j)²) over the
// last axis, with broadcasting.
func diagNormalLogProb(x, mu, logS *ad.Tensor) *ad.Tensor {
	u := ad.Div(ad.Sub(x, mu), ad.Exp(logS))
	lp := ad.AddScalar(ad.Sub(ad.MulScalar(ad.Square(u), -0.5), logS), -0.5*math.Log(2*math.Pi))
	return ad.Sum(lp, -1)
}

func checkX(who string, x *ad.Tensor) int {
	if x == nil || x.Rank() != 2 {
		panic(fmt.Sprintf("sivi: %s: x shape %v, want [n, dx]", who, shapeOf(x)))
	}
	return x.Dim(0)
}

func shapeOf(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}
