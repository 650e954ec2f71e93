package iwae

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// Conditional is a density r(z' | z, x) over a latent z' given another
// latent z and the data x: the factor of the learned reverse model of
// Sec. 5.1 that scores each unselected candidate given the selected one.
//
// LogProb takes x of shape [n, dx] and z, z' of shapes [..., n, dz] whose
// leading axes broadcast against each other (NumPy rules), and returns
// log r(z' | z, x) of their broadcast leading shape followed by [n].
// Learned.Bound scores all K² pairs at once with z [K, 1, n, dz] and
// z' [1, K, n, dz].
type Conditional interface {
	LogProb(x, z, zp *ad.Tensor) *ad.Tensor
	Params() []*ad.Tensor
}

// Independent is the conditional r(z' | z, x) = q̃(z' | x), which ignores
// z. With it the learned reverse model is Eq. 6 and Learned is IWAE.
type Independent struct {
	Proposal eimfamily.Proposal
}

var _ Conditional = Independent{}

// LogProb returns log q̃(z' | x), broadcast to the leading shape of z and z'.
func (c Independent) LogProb(x, z, zp *ad.Tensor) *ad.Tensor {
	lp := c.Proposal.LogProb(x, zp)
	return ad.Add(lp, ad.Zeros(z.Shape()[:z.Rank()-1]...))
}

// Params returns nil: the proposal's parameters belong to the proposal.
func (Independent) Params() []*ad.Tensor { return nil }

// Gaussian is a learned conditional r(z' | z, x) = N(z'; μ, diag σ²) whose
// mean and log standard deviation come from a tanh MLP of z and x:
//
//	(μ, log σ) = Net([z, x]),   Net: dz + dx inputs, 2·dz outputs.
type Gaussian struct {
	Net *nn.MLP
}

var _ Conditional = (*Gaussian)(nil)

// NewGaussian returns a Gaussian conditional for latents of dimension dz
// and data of dimension dx, with the given hidden widths (tanh), its
// weights drawn from rng as nn.NewMLP does. It panics if dz < 1, dx < 0 or
// a width is not positive.
func NewGaussian(rng *rand.Rand, dz, dx int, hidden ...int) *Gaussian {
	if dz < 1 || dx < 0 {
		panic(fmt.Sprintf("iwae: NewGaussian: dz = %d, dx = %d", dz, dx))
	}
	sizes := append(append([]int{dz + dx}, hidden...), 2*dz)
	return &Gaussian{Net: nn.NewMLP(rng, sizes...)}
}

// LogProb returns log N(z'; μ, diag σ²) with (μ, log σ) = Net([z, x]). The
// network runs once per entry of z, not per pair (z, z'), so scoring K
// candidates against K conditioning points costs K evaluations.
func (g *Gaussian) LogProb(x, z, zp *ad.Tensor) *ad.Tensor {
	dz := g.Net.Layers[len(g.Net.Layers)-1].Out() / 2
	if z.Rank() < 2 || z.Dim(-1) != dz || z.Dim(-2) != x.Dim(0) {
		panic(fmt.Sprintf("iwae: Gaussian.LogProb: z shape %v for x shape %v, want [..., %d, %d]", z.Shape(), x.Shape(), x.Dim(0), dz))
	}
	xb := ad.BroadcastTo(x, append(slices.Clone(z.Shape()[:z.Rank()-1]), x.Dim(1))...)
	out := g.Net.Forward(ad.Concat(-1, z, xb))
	mu, logSigma := ad.Slice(out, -1, 0, dz), ad.Slice(out, -1, dz, 2*dz)
	return dist.NewNormalLogScale(mu, logSigma).LogProb(zp)
}

// Params returns the network's parameters.
func (g *Gaussian) Params() []*ad.Tensor { return g.Net.Params() }

// Reverse is the learned reverse model proposed at the end of Sec. 5.1
// for the SNIS family,
//
//	r(z_{1:K}, i | z, x) = (1/K) δ_{z_i}(z) Π_{j≠i} R(z_j | z, x),
//
// an avvi.R over eimfamily.SNISAux. With R = Independent{q̃} it is the
// reverse model of Eq. 6 (eimfamily.SNISReverse).
type Reverse struct {
	R Conditional
}

// LogProb returns log r(λ | z, x), [n]: −log K + Σ_{j≠i} log R(z_j | z, x)
// where z is the selected candidate, −Inf where it is not.
func (r Reverse) LogProb(x, z *ad.Tensor, lambda eimfamily.SNISAux) *ad.Tensor {
	return eimfamily.SNISReverseLogProb(z, lambda, r.R.LogProb(x, z, lambda.Candidates))
}

// Learned is IWAE with a learned reverse model (the extension proposed at
// the end of Sec. 5.1; the published code has none): Eq. 4 with q the
// SNIS family of IWAE.Family and r = Reverse{R}. Its integrand, at
// candidates z_{1:K} ~ q̃(· | x) and selected index i,
//
//	log (1/K) Σ_k w_k + Σ_{j≠i} [ log R(z_j | z_i, x) − log q̃(z_j | x) ],   w_k = p(x, z_k)/q̃(z_k | x),
//
// is the IWAE integrand plus a correction that vanishes for R = q̃. Its
// expectation is log p(x) − KL(q(z | x) ‖ p(z | x)) − E_q KL(q(λ | z, x) ‖ r(λ | z, x)),
// where only the last term depends on R, so the best R in a family that
// contains q̃ is at least as tight as IWAE.
//
// Unlike IWAE's, this integrand depends on i, whose distribution
// P(i | z_{1:K}) = w_i/Σ_k w_k depends on the parameters; so the gradient
// at a drawn i (Integrand, Assembled) lacks a score function term. Bound
// sums i out exactly,
//
//	log (1/K) Σ_k w_k + Σ_i (w_i/Σ_k w_k) Σ_{j≠i} [ log R(z_j | z_i, x) − log q̃(z_j | x) ],
//
// which has the same expectation and a fully pathwise gradient: train with
// Bound, estimate p(x) with Integrand (exp of Bound is not unbiased). The
// same index-summed objective for any SNIS variational family and reverse
// model is eimfamily.SNISQ.IndexSummed; Bound is its closed form here,
// which scores the K(K − 1) pairs in one call of R.
//
// The zero value is not usable: K ≥ 1 and R must be set.
type Learned struct {
	K int
	R Conditional
}

func (b Learned) check(who string) {
	if b.K < 1 || b.R == nil {
		panic(fmt.Sprintf("iwae: Learned.%s: K = %d, R nil: %t; want K ≥ 1 and R set", who, b.K, b.R == nil))
	}
}

// Reverse returns the learned reverse model as an avvi.R.
func (b Learned) Reverse() Reverse { return Reverse{b.R} }

// Integrand returns one draw of the Eq. 4 integrand for each data point,
// [n]: K candidates z_k ~ q̃(· | x), an index i ~ w_i/Σ_k w_k for each data
// point, then IntegrandAt. exp of it is an unbiased estimate of p(x). See
// the type's comment for its gradient.
func (b Learned) Integrand(rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor) *ad.Tensor {
	b.check("Integrand")
	checkX("Learned.Integrand", x)
	z := qt.Sample(rng, x, b.K)
	logw := logWeightsWho("Learned.Integrand", p, qt, x, z)
	idx := dist.NewCategorical(ad.Transpose(logw.Detach(), 1, 0)).Sample(rng)
	return b.integrandAt(p, qt, x, eimfamily.SNISAux{Candidates: z, Index: idx}, logw)
}

// IntegrandAt returns the Eq. 4 integrand at a given λ = (z_{1:K}, i),
// [n], in the closed form of the type's comment.
func (b Learned) IntegrandAt(p Model, qt eimfamily.Proposal, x *ad.Tensor, lambda eimfamily.SNISAux) *ad.Tensor {
	b.check("IntegrandAt")
	return b.integrandAt(p, qt, x, lambda, logWeightsWho("Learned.IntegrandAt", p, qt, x, lambda.Candidates))
}

func (b Learned) integrandAt(p Model, qt eimfamily.Proposal, x *ad.Tensor, lambda eimfamily.SNISAux, logw *ad.Tensor) *ad.Tensor {
	z := lambda.Candidates
	k, n, d := z.Dim(0), z.Dim(1), z.Dim(2)
	if len(lambda.Index) != n {
		panic(fmt.Sprintf("iwae: Learned.IntegrandAt: %d indices for candidates %v", len(lambda.Index), z.Shape()))
	}
	sel := make([]int, 0, n*d)
	others := make([]float64, k*n) // 1 where j ≠ i
	for r, i := range lambda.Index {
		if i < 0 || i >= k {
			panic(fmt.Sprintf("iwae: Learned.IntegrandAt: index %d out of range for %d candidates", i, k))
		}
		for range d {
			sel = append(sel, i)
		}
		for j := range k {
			if j != i {
				others[j*n+r] = 1
			}
		}
	}
	zi := ad.Reshape(ad.Gather(z, 0, sel, 1), n, d)
	corr := ad.Sub(b.R.LogProb(x, zi, z), qt.LogProb(x, z)) // [K, n]
	corr = ad.Sum(ad.Where(ad.New(others, k, n), corr, ad.Scalar(0)), 0)
	return ad.Add(ad.LogMeanExp(logw, 0), corr)
}

// Bound returns one draw of the Rao–Blackwellized integrand for each data
// point, [n]: K candidates z_k ~ q̃(· | x), then BoundAt. Its expectation
// is the Eq. 4 bound, and its gradient is pathwise and unbiased where q̃
// reparameterizes its draws.
func (b Learned) Bound(rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor) *ad.Tensor {
	b.check("Bound")
	checkX("Learned.Bound", x)
	return b.BoundAt(p, qt, x, qt.Sample(rng, x, b.K))
}

// BoundAt returns the integrand with the index summed out (the type's
// comment) at candidates z ([K, n, dz]), [n]. It scores all K(K − 1)
// pairs with R.
func (b Learned) BoundAt(p Model, qt eimfamily.Proposal, x, z *ad.Tensor) *ad.Tensor {
	b.check("BoundAt")
	logw := logWeightsWho("Learned.BoundAt", p, qt, x, z) // [K, n]
	k, n := z.Dim(0), z.Dim(1)
	offDiag := make([]float64, 0, k*k*n) // 1 where j ≠ i
	for i := range k {
		for j := range k {
			v := 0.0
			if i != j {
				v = 1
			}
			for range n {
				offDiag = append(offDiag, v)
			}
		}
	}
	// pair[i, j, n] = log R(z_j | z_i, x) − log q̃(z_j | x)
	pair := ad.Sub(b.R.LogProb(x, ad.Unsqueeze(z, 1), ad.Unsqueeze(z, 0)), qt.LogProb(x, z))
	corr := ad.Sum(ad.Where(ad.New(offDiag, k, k, n), pair, ad.Scalar(0)), 1) // [K, n]
	return ad.Add(ad.LogMeanExp(logw, 0), ad.Sum(ad.Mul(ad.Softmax(logw, 0), corr), 0))
}

// Assembled returns one draw of the Eq. 4 integrand computed by package
// avvi, [n]:
//
//	avvi.Integrand(rng, p, IWAE{K}.Family(p, qt).AsQ(), b.Reverse(), x),
//
// which equals IntegrandAt at the λ drawn.
func (b Learned) Assembled(rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor) *ad.Tensor {
	b.check("Assembled")
	return avvi.Integrand(rng, p, IWAE{K: b.K}.Family(p, qt).AsQ(), b.Reverse(), x)
}
