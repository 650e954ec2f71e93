package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// HIS is the Hamiltonian importance sampling model of Sec. 3.3 and
// Alg. 3 of Lawson et al. (2019), after Neal (2005): a proposal sample is
// moved by T leapfrog steps on a learned potential U, with a temperature
// change after each step, and the end point is the sample.
//
// Generative process (Alg. 3), with ε ∈ ℝᵈ the per-dimension step size
// and α₀, …, α_T > 0 the temperatures:
//
//	x₀ ~ π(x | c),   ρ₀ ~ N(0, I)
//	ρ ← α₀ ρ₀
//	for t = 1, …, T:
//	    ρ ← ρ − (ε/2) ⊙ ∇ₓU(x | c)
//	    x ← x + ε ⊙ ρ
//	    ρ ← α_t (ρ − (ε/2) ⊙ ∇ₓU(x | c))
//	return x_T = x  (and ρ_T = ρ)
//
// Forward computes this map (x₀, ρ₀) ↦ (x_T, ρ_T). Note that ρ₀ is the
// momentum drawn from N(0, I), before the scaling by α₀; the scaling is
// part of the map. Each half step of ρ and each step of x is a shear
// (Jacobian determinant 1) and the scaling by α_t multiplies the volume
// by α_tᵈ, so the whole map has
//
//	|det ∂(x_T, ρ_T)/∂(x₀, ρ₀)| = (∏_{t=0}^{T} α_t)ᵈ = 1
//
// because the temperatures are parameterized so that the product is 1
// (as in the authors' code):
//
//	log α_t = log σ(RawAlpha[t−1])   for t = 1, …, T   (so α_t ∈ (0, 1))
//	log α₀  = −Σ_{t=1}^{T} log α_t
//	ε       = softplus(RawEps)
//
// Inverse runs the dynamics backward, undoing the steps in reverse order:
//
//	for t = T, …, 1:
//	    ρ ← ρ/α_t + (ε/2) ⊙ ∇ₓU(x | c)
//	    x ← x − ε ⊙ ρ
//	    ρ ← ρ + (ε/2) ⊙ ∇ₓU(x | c)
//	ρ₀ = ρ/α₀
//
// which is the forward map run on the negated momentum with the
// temperatures reversed and inverted (α_{T−t}⁻¹ in place of α_t), then
// negated again.
//
// Because the map has unit Jacobian, p(x_T, ρ_T | c) = π(x₀ | c) N(ρ₀; 0, I)
// for (x₀, ρ₀) = Inverse(x_T, ρ_T), and Eq. (2) with a variational
// q(ρ_T | x_T, c) gives the bound (Sec. 3.3)
//
//	log p_HIS(x_T | c) ≥ E_{q(ρ_T | x_T, c)}[ log π(x₀ | c) + log N(ρ₀; 0, I) − log q(ρ_T | x_T, c) ]
//
// whose integrand is Bound, and its S-sample (importance-weighted) form
//
//	log p_HIS(x_T | c) ≥ E[ log (1/S) Σ_{s=1}^{S} exp(w_s) ],   w_s the integrand at ρ_T⁽ˢ⁾ ~ q
//
// which is BoundS; it increases with S to log p_HIS(x_T | c). Here q is a
// diagonal Gaussian whose mean and log standard deviation come from the
// network Q applied to [x_T, c]:
//
//	(μ, log s) = Q([x_T, c]),   q(ρ_T | x_T, c) = N(ρ_T; μ, diag(s)²)
//
// and ρ_T = μ + s ⊙ ξ with ξ ~ N(0, I), so all parameters get
// reparameterization gradients. Every ∇ₓU is recorded (ad.GradGraph), so
// training differentiates through it.
//
// Conditional use: with ctx nil the model is unconditional; with ctx of
// shape [n, c], the proposal, the energy and Q all see the context, which
// lines up with the second-to-last axis of x (the Proposal and Energy
// conventions).
//
// The fields may be set directly. RawEps and RawAlpha are learned if they
// require gradients (NewHIS marks them) and fixed otherwise.
type HIS struct {
	Proposal Proposal
	Energy   Energy
	// T is the number of leapfrog steps, at least 1.
	T int
	// RawEps, of shape [d], gives the step size ε = softplus(RawEps).
	RawEps *ad.Tensor
	// RawAlpha, of shape [T], gives α_t = σ(RawAlpha[t−1]) for t ≥ 1;
	// α₀ = 1/∏_{t≥1} α_t.
	RawAlpha *ad.Tensor
	// Q maps [x_T, c] (d + c inputs) to (μ, log s) (2d outputs) of
	// q(ρ_T | x_T, c).
	Q *nn.MLP
	// Chunk is the number of the s samples of Integrands and BoundS
	// computed at once; 0 means as many as fit in ChunkRows rows of
	// [s, n, d] (at least one). The result does not depend on it
	// (ChunkRows).
	Chunk int
}

// HIS's reference initialization (the PyTorch reference of the issue and the
// synthetic experiments): ε = 0.1 in every dimension and α_t = 0.995.
const (
	hisInitEps   = 0.1
	hisInitAlpha = 0.995
)

// NewHIS returns a HIS model with T leapfrog steps on the given proposal
// and energy, with ε = 0.1 and α_t = 0.995 for t ≥ 1 (so α₀ = 0.995⁻ᵀ),
// both learned, and a tanh MLP Q with d + c inputs, the given hidden
// widths (20, 20 if none are given, the paper's App. D.1 size) and 2d
// outputs, initialized from rng. c is the context size, 0 for an
// unconditional model. It panics if T < 1 or c < 0.
func NewHIS(rng *rand.Rand, proposal Proposal, energy Energy, T, c int, qHidden ...int) *HIS {
	if T < 1 || c < 0 {
		panic(fmt.Sprintf("eimfamily: NewHIS: T = %d, context size %d; want T ≥ 1, c ≥ 0", T, c))
	}
	d := proposal.Dim()
	if len(qHidden) == 0 {
		qHidden = []int{20, 20}
	}
	sizes := append(append([]int{d + c}, qHidden...), 2*d)
	rawEps := math.Log(math.Expm1(hisInitEps))              // softplus⁻¹(0.1)
	rawAlpha := math.Log(hisInitAlpha / (1 - hisInitAlpha)) // σ⁻¹(0.995)
	return &HIS{
		Proposal: proposal,
		Energy:   energy,
		T:        T,
		RawEps:   ad.Full(rawEps, d).RequireGrad(),
		RawAlpha: ad.Full(rawAlpha, T).RequireGrad(),
		Q:        nn.NewMLP(rng, sizes...),
	}
}

// Dim returns the dimension d of x.
func (h *HIS) Dim() int { return h.Proposal.Dim() }

// Params returns the learnable tensors: the proposal's, the energy's,
// RawEps and RawAlpha if they require gradients, and Q's.
func (h *HIS) Params() []*ad.Tensor {
	return append(params(h.Proposal, h.Energy, h.RawEps, h.RawAlpha), h.Q.Params()...)
}

// StepSize returns the current step size ε = softplus(RawEps), length d.
func (h *HIS) StepSize() []float64 {
	return append([]float64(nil), ad.Softplus(h.RawEps.Detach()).Data()...)
}

// Alphas returns the current temperatures α₀, …, α_T (length T + 1), whose
// product is 1 up to rounding.
func (h *HIS) Alphas() []float64 {
	la := ad.LogSigmoid(h.RawAlpha.Detach()).Data()
	a := make([]float64, h.T+1)
	s := 0.0
	for t, v := range la {
		a[t+1] = math.Exp(v)
		s += v
	}
	a[0] = math.Exp(-s)
	return a
}

// check panics unless the fields are set and fit each other.
func (h *HIS) check(who string) {
	if h.Proposal == nil || h.Energy == nil || h.Q == nil || h.RawEps == nil || h.RawAlpha == nil {
		panic(fmt.Sprintf("eimfamily: HIS.%s: nil Proposal, Energy, Q, RawEps or RawAlpha", who))
	}
	d := h.Dim()
	if h.T < 1 || h.RawAlpha.Len() != h.T || h.RawEps.Len() != d {
		panic(fmt.Sprintf("eimfamily: HIS.%s: T = %d, RawAlpha shape %v, RawEps shape %v, d = %d; want T ≥ 1, RawAlpha [T], RawEps [d]",
			who, h.T, h.RawAlpha.Shape(), h.RawEps.Shape(), d))
	}
	if h.Chunk < 0 {
		panic(fmt.Sprintf("eimfamily: HIS.%s: Chunk = %d, want Chunk ≥ 0", who, h.Chunk))
	}
}

// checkPair panics unless x and rho are [..., d] tensors of one shape.
func (h *HIS) checkPair(who string, x, rho *ad.Tensor) {
	d := h.Dim()
	if x == nil || rho == nil || x.Rank() == 0 || x.Dim(-1) != d || !slices.Equal(x.Shape(), rho.Shape()) {
		var xs, rs any = "nil", "nil"
		if x != nil {
			xs = x.Shape()
		}
		if rho != nil {
			rs = rho.Shape()
		}
		panic(fmt.Sprintf("eimfamily: HIS.%s: x shape %v, ρ shape %v; want both [..., %d]", who, xs, rs, d))
	}
}

// gradU returns ∇ₓU(x | ctx) for x of shape [..., d], recorded so that it
// can be differentiated again. A constant x is replaced by a leaf with the
// same values (the caller's tensor is not marked).
func (h *HIS) gradU(ctx, x *ad.Tensor) *ad.Tensor {
	if !x.RequiresGrad() {
		x = x.Clone().RequireGrad()
	}
	return ad.GradGraph(ad.Sum(h.Energy.Energy(ctx, x)), x)[0]
}

// Forward returns (x_T, ρ_T), the result of Alg. 3's dynamics started at
// (x₀, ρ₀), where ρ₀ is the momentum before the scaling by α₀ (a draw
// from N(0, I) in the generative process). x0 and rho0 have shape
// [..., d] (ctx, if not nil, [n, c] lined up with the second-to-last
// axis). The map is differentiable in its inputs and in the parameters.
// It panics if the shapes do not fit.
func (h *HIS) Forward(ctx, x0, rho0 *ad.Tensor) (xT, rhoT *ad.Tensor) {
	h.check("Forward")
	h.checkPair("Forward", x0, rho0)
	eps := ad.Softplus(h.RawEps)
	half := ad.MulScalar(eps, 0.5)
	la := ad.LogSigmoid(h.RawAlpha)
	alpha := ad.Exp(la)
	x := x0
	rho := ad.Mul(rho0, ad.Exp(ad.Neg(ad.Sum(la)))) // α₀ ρ₀
	// kick = (ε/2) ⊙ ∇ₓU(x) serves the half step after one drift and the
	// half step before the next.
	kick := ad.Mul(half, h.gradU(ctx, x))
	for t := 1; t <= h.T; t++ {
		rho = ad.Sub(rho, kick)
		x = ad.Add(x, ad.Mul(eps, rho))
		kick = ad.Mul(half, h.gradU(ctx, x))
		rho = ad.Mul(ad.Sub(rho, kick), ad.Slice(alpha, 0, t-1, t))
	}
	return x, rho
}

// Inverse returns (x₀, ρ₀) with Forward(x₀, ρ₀) = (x_T, ρ_T): the dynamics
// run backward, ρ₀ again the momentum before the scaling by α₀. Shapes are
// as for Forward.
func (h *HIS) Inverse(ctx, xT, rhoT *ad.Tensor) (x0, rho0 *ad.Tensor) {
	h.check("Inverse")
	h.checkPair("Inverse", xT, rhoT)
	eps := ad.Softplus(h.RawEps)
	half := ad.MulScalar(eps, 0.5)
	la := ad.LogSigmoid(h.RawAlpha)
	inv := ad.Exp(ad.Neg(la)) // 1/α_t, t = 1, …, T
	x, rho := xT, rhoT
	kick := ad.Mul(half, h.gradU(ctx, x)) // (ε/2) ⊙ ∇ₓU(x), as in Forward
	for t := h.T; t >= 1; t-- {
		rho = ad.Add(ad.Mul(rho, ad.Slice(inv, 0, t-1, t)), kick)
		x = ad.Sub(x, ad.Mul(eps, rho))
		kick = ad.Mul(half, h.gradU(ctx, x))
		rho = ad.Add(rho, kick)
	}
	return x, ad.Mul(rho, ad.Exp(ad.Sum(la))) // ρ/α₀ = ρ ∏_{t≥1} α_t
}

// Sample draws n exact samples x_T from the model: x₀ from the proposal,
// ρ₀ ~ N(0, I), then Forward. With ctx nil the result is [n, d]; with ctx
// of shape [m, c] it is [n, m, d], n samples for each context (the
// Proposal convention). As for the other families the draws are
// constants, computed in chunks of about 2¹⁴ rows so that memory stays
// bounded for any n; Forward on draws of the proposal and of N(0, I) is
// the reparameterized sampler.
func (h *HIS) Sample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	h.check("Sample")
	checkCtx("HIS.Sample", ctx, h.Dim(), h.Energy)
	if n < 0 {
		panic(fmt.Sprintf("eimfamily: HIS.Sample: n = %d", n))
	}
	d, rows := h.Dim(), 1
	shape := []int{n, d}
	if ctx != nil {
		rows = ctx.Dim(0)
		shape = []int{n, rows, d}
	}
	out := make([]float64, 0, n*rows*d)
	chunk := max(1, (1<<14)/max(rows, 1))
	for lo := 0; lo < n; lo += chunk {
		k := min(chunk, n-lo)
		x0 := h.Proposal.Sample(rng, ctx, k).Detach()
		rho0 := ad.Randn(rng, x0.Shape()...)
		xT, _ := h.Forward(ctx, x0, rho0)
		out = append(out, xT.Data()...)
	}
	return ad.New(out, shape...)
}

// Integrands returns s independent draws of the integrand of the bound on
// log p_HIS(x | c), as a [s, n] tensor:
//
//	w = log π(x₀ | c) + log N(ρ₀; 0, I) − log q(ρ_T | x, c),
//	ρ_T ~ q(ρ_T | x, c),   (x₀, ρ₀) = Inverse(x, ρ_T).
//
// exp(w) is an unbiased estimate of p_HIS(x | c). x has shape [n, d], ctx
// is nil or [n, c]. The samples are computed Chunk at a time, ξ drawn in
// order from rng as one [s, n, d] draw would be (ChunkRows). It panics if
// the shapes do not fit or s < 1.
func (h *HIS) Integrands(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	return unflat(h.integrands("Integrands", rng, ctx, x, s, false), lead, s)
}

func (h *HIS) integrands(who string, rng *rand.Rand, ctx, x *ad.Tensor, s int, detach bool) *ad.Tensor {
	h.check(who)
	n := checkBatch("HIS."+who, ctx, x, h.Dim(), h.Energy)
	if s < 1 {
		panic(fmt.Sprintf("eimfamily: HIS.%s: s = %d, want s ≥ 1", who, s))
	}
	if s == 1 {
		return ad.Reshape(h.integrand(rng, ctx, x), 1, n)
	}
	return chunked(chunkSize(h.Chunk, n), s, detach, func(c int) *ad.Tensor {
		return h.integrand(rng, ctx, ad.BroadcastTo(ad.Unsqueeze(x, 0), c, n, h.Dim()))
	})
}

// IntegrandsAt returns the integrands [s, n] at given standard normal
// draws ξ ([s, n, d]) of ρ_T = μ + s ⊙ ξ: Integrands with its draws
// supplied, for exact checks and replayed draws. x is [n, d], ctx nil or
// [n, c]. It panics if the shapes do not fit.
func (h *HIS) IntegrandsAt(ctx, x, xi *ad.Tensor) *ad.Tensor {
	h.check("IntegrandsAt")
	n := checkBatch("HIS.IntegrandsAt", ctx, x, h.Dim(), h.Energy)
	if xi == nil || xi.Rank() != 3 || xi.Dim(1) != n || xi.Dim(2) != h.Dim() {
		panic(fmt.Sprintf("eimfamily: HIS.IntegrandsAt: ξ shape %v for x %v, want [s, %d, %d]", shapeOrNil(xi), x.Shape(), n, h.Dim()))
	}
	return h.integrandAt(ctx, ad.BroadcastTo(ad.Unsqueeze(x, 0), xi.Dim(0), n, h.Dim()), xi.Detach())
}

// integrand returns one draw of the integrand for x of shape [..., n, d]
// (ctx nil or [n, c]), as a tensor of shape [..., n].
func (h *HIS) integrand(rng *rand.Rand, ctx, x *ad.Tensor) *ad.Tensor {
	return h.integrandAt(ctx, x, ad.Randn(rng, x.Shape()...))
}

// integrandAt is integrand at the draws ξ (the shape of x).
func (h *HIS) integrandAt(ctx, x, xi *ad.Tensor) *ad.Tensor {
	d := h.Dim()
	in := x
	if ctx != nil {
		shape := slices.Clone(x.Shape())
		shape[len(shape)-1] = ctx.Dim(1)
		in = ad.Concat(-1, x, ad.BroadcastTo(ctx, shape...))
	}
	out := h.Q.Forward(in)
	mu := ad.Slice(out, -1, 0, d)
	logSd := ad.Slice(out, -1, d, 2*d)
	rhoT := ad.Add(mu, ad.Mul(ad.Exp(logSd), xi))
	// log q = Σ_j (−ξ_j²/2 − log s_j) − (d/2) log 2π; the ξ part is a constant.
	halfLog2Pi := 0.5 * math.Log(2*math.Pi)
	xd := xi.Data()
	cq := make([]float64, len(xd)/d)
	for i := range cq {
		v := 0.0
		for _, e := range xd[i*d : (i+1)*d] {
			v += e * e
		}
		cq[i] = -0.5*v - float64(d)*halfLog2Pi
	}
	logq := ad.Sub(ad.New(cq, x.Shape()[:x.Rank()-1]...), ad.Sum(logSd, -1))

	x0, rho0 := h.Inverse(ctx, x, rhoT)
	logRho0 := ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(rho0), -1), -0.5), -float64(d)*halfLog2Pi)
	return ad.Sub(ad.Add(h.Proposal.LogProb(ctx, x0), logRho0), logq)
}

// Bound returns one draw of the integrand of the bound on log p_HIS(x | c)
// for each point, shape [n]: its expectation over the draw is the lower
// bound of Sec. 3.3. x has shape [n, d], ctx is nil or [n, c].
func (h *HIS) Bound(rng *rand.Rand, ctx, x *ad.Tensor) *ad.Tensor {
	h.check("Bound")
	x, lead := flatX(ctx, x)
	checkBatch("HIS.Bound", ctx, x, h.Dim(), h.Energy)
	return unflat(h.integrand(rng, ctx, x), lead)
}

// BoundS returns the s-sample bound for each point, shape [n]:
//
//	log (1/s) Σ_{r=1}^{s} exp(w_r),   w_r i.i.d. draws of the integrand,
//
// whose expectation increases with s to log p_HIS(x | c) (the IWAE bound
// of the estimator exp(w)), computed Chunk samples at a time (ChunkRows).
// x has shape [n, d], ctx is nil or [n, c]. It panics if s < 1.
func (h *HIS) BoundS(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	return unflat(ad.LogMeanExp(h.integrands("BoundS", rng, ctx, x, s, false), 0), lead)
}
