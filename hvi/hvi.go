package hvi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// Model is the generative model p(x, z). LogJoint takes data x of shape
// [n, dx] and latents z of shape [..., n, dz] and returns log p(x, z) of
// shape [...,  n]: leading axes of z (draws) pass through, as for
// eimfamily.Proposal with x as the context. It must be built from ad
// operations, since HVI differentiates it in z (twice, for training).
type Model = avvi.Model[*ad.Tensor, *ad.Tensor]

// Compile-time checks.
var (
	_ eimfamily.Proposal                         = (*GaussianProposal)(nil)
	_ eimfamily.Energy                           = Energy{}
	_ avvi.Q[*ad.Tensor, *ad.Tensor, *ad.Tensor] = (*HVI)(nil)
	_ avvi.R[*ad.Tensor, *ad.Tensor, *ad.Tensor] = Reverse{}
)

// Energy is the potential of Hamiltonian VI: the model's negative log
// joint with the data x as the context,
//
//	U(z | x) = −log p(x, z),
//
// so that the leapfrog steps of HIS follow ∇_z log p(x, z), the gradient
// of the log posterior. It is not learned: Params is nil (the model's
// parameters, if any, belong to the model and its caller).
type Energy struct {
	Model Model
}

// Energy returns −log p(x, z) for x [n, dx] and z [..., n, dz].
func (e Energy) Energy(x, z *ad.Tensor) *ad.Tensor { return ad.Neg(e.Model.LogJoint(x, z)) }

// Params returns nil.
func (Energy) Params() []*ad.Tensor { return nil }

// GaussianProposal is a conditional diagonal Gaussian π(z | x) (the initial
// distribution of HVI),
//
//	π(z | x) = N(z; μ(x), diag(exp(2 ℓ(x)))),   (μ, ℓ) = Net(x),
//
// with Net an MLP from dx inputs to 2·dz outputs (a single affine layer
// when it has no hidden layer: then μ and ℓ are affine in x, which covers
// the exact posterior of a linear-Gaussian model). It implements
// eimfamily.Proposal with x as the context: Sample(rng, x, k) gives
// reparameterized draws [k, n, dz] for x [n, dx], LogProb(x, z) takes z
// [..., n, dz]. A nil context is not allowed.
type GaussianProposal struct {
	Net *nn.MLP
	// D is dz.
	D int
}

// NewGaussianProposal returns a conditional Gaussian proposal from dx to
// dz with the given hidden widths (none: affine), its MLP initialized
// from rng with the last layer's log-scale bias at initLogScale.
func NewGaussianProposal(rng *rand.Rand, dx, dz int, initLogScale float64, hidden ...int) *GaussianProposal {
	if dx < 1 || dz < 1 {
		panic(fmt.Sprintf("hvi: NewGaussianProposal: dx = %d, dz = %d, want both ≥ 1", dx, dz))
	}
	sizes := append(append([]int{dx}, hidden...), 2*dz)
	net := nn.NewMLP(rng, sizes...)
	last := net.Layers[len(net.Layers)-1]
	b := last.B.Data()
	for j := dz; j < 2*dz; j++ {
		b[j] = initLogScale
	}
	return &GaussianProposal{Net: net, D: dz}
}

// Dim returns dz.
func (p *GaussianProposal) Dim() int { return p.D }

// Params returns the MLP's parameters.
func (p *GaussianProposal) Params() []*ad.Tensor { return p.Net.Params() }

// params returns μ(x) and ℓ(x), each [n, dz].
func (p *GaussianProposal) params(x *ad.Tensor) (mu, logSd *ad.Tensor) {
	if x == nil || x.Rank() != 2 || x.Dim(1) != p.Net.Layers[0].In() {
		panic(fmt.Sprintf("hvi: GaussianProposal: context shape %v, want [n, %d]", shapeOf(x), p.Net.Layers[0].In()))
	}
	out := p.Net.Forward(x)
	return ad.Slice(out, -1, 0, p.D), ad.Slice(out, -1, p.D, 2*p.D)
}

// Sample draws z = μ(x) + exp(ℓ(x)) ⊙ ε, ε ~ N(0, I): [k, n, dz],
// differentiable in the parameters.
func (p *GaussianProposal) Sample(rng *rand.Rand, x *ad.Tensor, k int) *ad.Tensor {
	mu, logSd := p.params(x)
	eps := ad.Randn(rng, k, x.Dim(0), p.D)
	return ad.Add(mu, ad.Mul(ad.Exp(logSd), eps))
}

// LogProb returns Σ_j log N(z_j; μ_j(x), exp(2ℓ_j(x))) for z [..., n, dz].
func (p *GaussianProposal) LogProb(x, z *ad.Tensor) *ad.Tensor {
	mu, logSd := p.params(x)
	if z.Rank() < 2 || z.Dim(-1) != p.D || z.Dim(-2) != x.Dim(0) {
		panic(fmt.Sprintf("hvi: GaussianProposal.LogProb: z shape %v for x shape %v, want [..., %d, %d]", z.Shape(), x.Shape(), x.Dim(0), p.D))
	}
	return diagNormalLogProb(z, mu, logSd)
}

// diagNormalLogProb returns Σ_j log N(v_j; m_j, exp(2 ℓ_j)) over the last
// axis (broadcasting m and ℓ against v).
func diagNormalLogProb(v, m, logSd *ad.Tensor) *ad.Tensor {
	u := ad.Div(ad.Sub(v, m), ad.Exp(logSd))
	lp := ad.Sub(ad.MulScalar(ad.Square(u), -0.5), ad.BroadcastTo(logSd, u.Shape()...))
	return ad.AddScalar(ad.Sum(lp, -1), -0.5*float64(v.Dim(-1))*math.Log(2*math.Pi))
}

// stdNormalLogProb returns Σ_j log N(v_j; 0, 1) over the last axis.
func stdNormalLogProb(v *ad.Tensor) *ad.Tensor {
	return ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(v), -1), -0.5), -0.5*float64(v.Dim(-1))*math.Log(2*math.Pi))
}

// HVI is Hamiltonian variational inference (Salimans, Kingma & Welling
// 2015; Caterini, Doucet & Sejdinovic 2018) as Lawson et al. (2019),
// Sec. 5.3, derive it: the HIS family (Sec. 3.3, Alg. 3) conditioned on
// the data x, on the potential U(z | x) = −log p(x, z), used as the
// variational family q(z, λ | x) of Eq. 4, with λ = ρ_T the final
// momentum and a learned Gaussian reverse model r(ρ_T | z_T, x).
//
//	z₀ ~ π(z₀ | x),   ρ₀ ~ N(0, I),   (z_T, ρ_T) = F_x(z₀, ρ₀)   (HIS.Forward)
//	log q(z_T, ρ_T | x) = log π(z₀ | x) + log N(ρ₀; 0, I)          (|det ∂F| = 1)
//	integrand = log p(x, z_T) + log r(ρ_T | z_T, x) − log q(z_T, ρ_T | x).
//
// HIS holds π (a GaussianProposal, or any eimfamily.Proposal that takes x
// as the context), the Energy of the model, the learned step sizes and
// temperatures, and the network HIS.Q, which is r: (μ, log s) =
// HIS.Q([z_T, x]), r = N(μ, diag s²) — the same network that, for HIS as a
// model, is its variational q(ρ_T | x_T, c). The model p is an argument of
// the bound, not owned (except through the Energy, which must be built on
// the same model).
//
// HVI implements avvi.Q (λ = ρ_T, [n, dz]) and Reverse implements avvi.R,
// so that avvi.Integrand(rng, p, h, h.Reverse(), x) is the integrand. It is
// the HIS family as a variational family, eimfamily.HIS.AsQ with
// eimfamily.HISReverse, specialized to U = −log p(x, ·); the tests check
// that the two give the same integrand draw for draw.
type HVI struct {
	HIS *eimfamily.HIS
}

// New returns HVI for the model p with data of dimension dx and latents of
// dimension dz: a GaussianProposal π(z | x) with the given hidden widths
// (none: affine in x) initialized at scale e^{initLogScale}, T leapfrog
// steps on U = −log p(x, ·), and a reverse model r with hidden widths
// rHidden (none: 20, 20). It panics if T < 1 or a dimension is < 1.
func New(rng *rand.Rand, p Model, dx, dz, T int, initLogScale float64, proposalHidden, rHidden []int) *HVI {
	prop := NewGaussianProposal(rng, dx, dz, initLogScale, proposalHidden...)
	return &HVI{HIS: eimfamily.NewHIS(rng, prop, Energy{Model: p}, T, dx, rHidden...)}
}

// Params returns the learned tensors: π's, the step sizes and
// temperatures, and r's.
func (h *HVI) Params() []*ad.Tensor { return h.HIS.Params() }

// Reverse returns the reverse model r(ρ_T | z_T, x) (HIS.Q).
func (h *HVI) Reverse() Reverse { return Reverse{Net: h.HIS.Q} }

// Draw runs the sampler s times for each of the n points of x ([n, dx]):
// z_T and ρ_T are [s, n, dz] and logq = log π(z₀ | x) + log N(ρ₀; 0, I) is
// [s, n]. Everything is reparameterized: differentiable in π's
// parameters, ε and α. It panics if s < 1 or x is not [n, dx].
func (h *HVI) Draw(rng *rand.Rand, x *ad.Tensor, s int) (zT, rhoT, logq *ad.Tensor) {
	return h.draw("Draw", rng, x, s)
}

func (h *HVI) draw(who string, rng *rand.Rand, x *ad.Tensor, s int) (zT, rhoT, logq *ad.Tensor) {
	if s < 1 {
		panic(fmt.Sprintf("hvi: HVI.%s: s = %d, want s ≥ 1", who, s))
	}
	if x == nil || x.Rank() != 2 {
		panic(fmt.Sprintf("hvi: HVI.%s: x shape %v, want [n, dx]", who, shapeOf(x)))
	}
	z0 := h.HIS.Proposal.Sample(rng, x, s)
	rho0 := ad.Randn(rng, z0.Shape()...)
	logq = ad.Add(h.HIS.Proposal.LogProb(x, z0), stdNormalLogProb(rho0))
	zT, rhoT = h.HIS.Forward(x, z0, rho0)
	return zT, rhoT, logq
}

// Sample draws (z_T, ρ_T) ~ q(z, λ | x), each [n, dz], with log q(z_T, ρ_T
// | x) [n]: avvi.Q with λ = ρ_T.
func (h *HVI) Sample(rng *rand.Rand, x *ad.Tensor) (z, rho, logq *ad.Tensor) {
	zT, rhoT, lq := h.draw("Sample", rng, x, 1)
	n, d := x.Dim(0), zT.Dim(-1)
	return ad.Reshape(zT, n, d), ad.Reshape(rhoT, n, d), ad.Reshape(lq, n)
}

// Integrand returns one draw of the Eq. 4 integrand for each point of x,
// [n]: avvi.Integrand with q = h and r = h.Reverse().
func (h *HVI) Integrand(rng *rand.Rand, p Model, x *ad.Tensor) *ad.Tensor {
	return avvi.Integrand(rng, p, avvi.Q[*ad.Tensor, *ad.Tensor, *ad.Tensor](h), avvi.R[*ad.Tensor, *ad.Tensor, *ad.Tensor](h.Reverse()), x)
}

// Integrands returns s independent draws of the Eq. 4 integrand, [s, n],
// computed in one pass (the s draws as a leading axis):
//
//	w = log p(x, z_T) + log r(ρ_T | z_T, x) − log π(z₀ | x) − log N(ρ₀; 0, I).
//
// exp(w) is an unbiased estimate of p(x); the mean of w is a lower bound
// on the ELBO of the marginal q(z_T | x), below it by E KL(q(ρ_T | z_T, x)
// ‖ r(ρ_T | z_T, x)). It panics if s < 1 or x is not [n, dx].
func (h *HVI) Integrands(rng *rand.Rand, p Model, x *ad.Tensor, s int) *ad.Tensor {
	return h.integrands("Integrands", rng, p, x, s)
}

func (h *HVI) integrands(who string, rng *rand.Rand, p Model, x *ad.Tensor, s int) *ad.Tensor {
	zT, rhoT, logq := h.draw(who, rng, x, s)
	return ad.Sub(ad.Add(p.LogJoint(x, zT), h.Reverse().LogProb(x, zT, rhoT)), logq)
}

// Bound returns the Monte Carlo estimate of the Eq. 4 bound from s draws
// for each point, [n], differentiable (the training objective).
func (h *HVI) Bound(rng *rand.Rand, p Model, x *ad.Tensor, s int) *ad.Tensor {
	return avvi.Bound(h.integrands("Bound", rng, p, x, s))
}

// Reverse is the reverse model of HVI,
//
//	r(ρ_T | z_T, x) = N(ρ_T; μ, diag s²),   (μ, log s) = Net([z_T, x]),
//
// with Net an MLP from dz + dx inputs to 2·dz outputs. It implements
// avvi.R with λ = ρ_T.
type Reverse struct {
	Net *nn.MLP
}

// LogProb returns log r(ρ | z, x) for z and ρ of shape [..., n, dz] and x
// [n, dx], of shape [..., n].
func (r Reverse) LogProb(x, z, rho *ad.Tensor) *ad.Tensor {
	if z == nil || rho == nil || x == nil || x.Rank() != 2 || z.Rank() < 2 || !slices.Equal(z.Shape(), rho.Shape()) ||
		z.Dim(-2) != x.Dim(0) || z.Dim(-1)+x.Dim(1) != r.Net.Layers[0].In() {
		panic(fmt.Sprintf("hvi: Reverse.LogProb: x shape %v, z shape %v, ρ shape %v; want [n, dx], [..., n, dz] twice, dz + dx = %d",
			shapeOf(x), shapeOf(z), shapeOf(rho), r.Net.Layers[0].In()))
	}
	d := z.Dim(-1)
	shape := slices.Clone(z.Shape())
	shape[len(shape)-1] = x.Dim(1)
	out := r.Net.Forward(ad.Concat(-1, z, ad.BroadcastTo(x, shape...)))
	return diagNormalLogProb(rho, ad.Slice(out, -1, 0, d), ad.Slice(out, -1, d, 2*d))
}

func shapeOf(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}
