package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/nn"
)

// Every EIM family is a variational family q(z, λ | x) of package avvi
// with the paper's reverse model r(λ | z, x): SNIS (SNISQ, Eq. 6), TRS
// (TRSQ), HIS (HISQ). LARS is trained on a plug-in estimate of its
// density, not on a bound, and has no variational form of its own: its
// process is TRS's, so use TRS.AsQ for it. SMC's is package vsmc.
var (
	_ avvi.Q[*ad.Tensor, *ad.Tensor, SNISAux]    = SNISQ{}
	_ avvi.R[*ad.Tensor, *ad.Tensor, SNISAux]    = SNISReverse{}
	_ avvi.Q[*ad.Tensor, *ad.Tensor, TRSAux]     = TRSQ{}
	_ avvi.R[*ad.Tensor, *ad.Tensor, TRSAux]     = TRSReverse{}
	_ avvi.Q[*ad.Tensor, *ad.Tensor, *ad.Tensor] = HISQ{}
	_ avvi.R[*ad.Tensor, *ad.Tensor, *ad.Tensor] = HISReverse{}
)

// IndexSummed returns, at candidates z_{1:K} drawn from the proposal, the
// Eq. 4 integrand of the SNIS family with the selected index summed out
// exactly,
//
//	Σ_i q(i | z_{1:K}, x) · [ log p(x, z_i) + log r(z_{1:K}, i | z_i, x) − log q(z_i, z_{1:K}, i | x) ],
//	q(i | z_{1:K}, x) = w(z_i | x) / Σ_k w(z_k | x),
//
// [n]. It has the expectation of the integrand at a drawn index, and its
// gradient is fully pathwise (through the candidates, the weights of the
// index and every term), so it is the objective that trains an SNIS q
// with a learned energy, or a learned reverse model, without a score
// function: iwae.Learned.Bound is this with r its learned reverse model
// and U = log q̃ − log p(x, ·). It costs K evaluations of p and r. exp of
// it is not an unbiased estimate of p(x) (use avvi.Integrand for that).
// It panics if x is not [n, c].
func (q SNISQ) IndexSummed(rng *rand.Rand, p avvi.Model[*ad.Tensor, *ad.Tensor], r avvi.R[*ad.Tensor, *ad.Tensor, SNISAux], x *ad.Tensor) *ad.Tensor {
	m := q.Model
	m.check("AsQ().IndexSummed")
	snisQContext("SNISQ.IndexSummed", x)
	return q.IndexSummedAt(p, r, x, m.Proposal.Sample(rng, x, m.K))
}

// IndexSummedAt is IndexSummed at given candidates [K, n, d].
func (q SNISQ) IndexSummedAt(p avvi.Model[*ad.Tensor, *ad.Tensor], r avvi.R[*ad.Tensor, *ad.Tensor, SNISAux], x, cand *ad.Tensor) *ad.Tensor {
	m := q.Model
	m.check("AsQ().IndexSummedAt")
	n := snisQContext("SNISQ.IndexSummedAt", x)
	checkEnergy("SNISQ.IndexSummedAt", m.Energy, x, m.Proposal.Dim())
	if cand == nil || cand.Rank() != 3 || cand.Dim(0) != m.K || cand.Dim(1) != n || cand.Dim(2) != m.Proposal.Dim() {
		panic(fmt.Sprintf("eimfamily: SNISQ.IndexSummedAt: candidates %v, want [%d, %d, %d]", shapeOrNil(cand), m.K, n, m.Proposal.Dim()))
	}
	logPi := m.Proposal.LogProb(x, cand)     // [K, n]
	negU := ad.Neg(m.Energy.Energy(x, cand)) // [K, n]
	prob := ad.Softmax(negU, 0)              // q(i | z_{1:K}, x)
	var sum *ad.Tensor
	for i := range m.K {
		idx := make([]int, n)
		for j := range idx {
			idx[j] = i
		}
		lambda := SNISAux{Candidates: cand, Index: idx}
		z, logq := assembleQ(lambda, logPi, negU)
		w := ad.Sub(ad.Add(p.LogJoint(x, z), r.LogProb(x, z, lambda)), logq)
		// A term whose index has zero probability contributes nothing,
		// even where its integrand is −Inf.
		pi := ad.Reshape(ad.Slice(prob, 0, i, i+1), n)
		term := ad.Where(ad.Greater(pi, ad.Scalar(0)), ad.Mul(pi, w), ad.Scalar(0))
		if sum == nil {
			sum = term
		} else {
			sum = ad.Add(sum, term)
		}
	}
	return sum
}

// TRSAux is the auxiliary variable λ = (i, x_{1:i−1}) of TRS used as a
// variational family: the accepting step and the rejected proposals.
type TRSAux struct {
	// Index holds i for each of the n data points, 1-based (1..T).
	Index []int
	// Rejected holds the proposals of the rounds before acceptance,
	// [M, n, d] with M ≥ max(i) − 1 (row t of point p is used if
	// t < Index[p] − 1); nil when every i is 1.
	Rejected *ad.Tensor
}

// TRSQ is the TRS model conditioned on x, TRS(π(· | x), U(· | x), T), as a
// variational family over z and the sampler's randomness λ = (i, x_{1:i−1})
// (Sec. 5 applied to Alg. 1):
//
//	q(z, λ | x) = Π_{t<i} π(x_t | x)(1 − a(x_t | x)) · π(z | x) · a(z | x)^{[i<T]},
//
// the probability of rejecting x_{1:i−1} and accepting z = x_i (forced at
// i = T). The data x is the context, [n, c]. Sample, At and Reverse give
// the Q and the R of avvi's Eq. 4.
type TRSQ struct {
	Model *TRS
}

// AsQ returns the model conditioned on x as a variational family.
func (m *TRS) AsQ() TRSQ { return TRSQ{m} }

// Sample runs Alg. 1 for each data point on the graph (TRS.RSample) and
// returns z ([n, d]), λ and log q(z, λ | x) ([n]). z and log q are
// differentiable through the reparameterized proposal draws at the drawn
// accept decisions, which are constants (see package avvi on gradients
// with a discrete λ). It panics if x is not [n, c].
func (q TRSQ) Sample(rng *rand.Rand, x *ad.Tensor) (z *ad.Tensor, lambda TRSAux, logq *ad.Tensor) {
	m := q.Model
	m.check("AsQ().Sample")
	n := snisQContext("TRSQ.Sample", x)
	checkEnergy("TRSQ.Sample", m.Energy, x, m.Proposal.Dim())
	draws, _, idx := trsRun(rng, m.Proposal, m.Energy, x, 1, m.T) // [R, n, d]
	d := m.Proposal.Dim()
	g := make([]int, n*d)
	maxRej := 0
	for p, i := range idx {
		maxRej = max(maxRej, i-1)
		for c := range d {
			g[p*d+c] = i - 1
		}
	}
	z = ad.Reshape(ad.Gather(draws, 0, g, 1), n, d)
	if maxRej > 0 {
		lambda.Rejected = ad.Slice(draws, 0, 0, maxRej)
	}
	lambda.Index = idx
	return z, lambda, q.logQ("TRSQ.Sample", x, z, lambda)
}

// At returns log q(z, λ | x), [n], for given z ([n, d]) and λ: the
// density of Sample's draws, for enumerating λ or replaying draws. It
// panics if the shapes do not fit.
func (q TRSQ) At(x, z *ad.Tensor, lambda TRSAux) *ad.Tensor {
	q.Model.check("AsQ().At")
	return q.logQ("TRSQ.At", x, z, lambda)
}

func (q TRSQ) logQ(who string, x, z *ad.Tensor, lambda TRSAux) *ad.Tensor {
	m := q.Model
	n := trsCheckAux(who, x, z, lambda, m.Proposal.Dim(), m.T)
	checkEnergy(who, m.Energy, x, m.Proposal.Dim())
	logPiZ := m.Proposal.LogProb(x, z)
	logAZ := ad.LogSigmoid(ad.Neg(m.Energy.Energy(x, z)))
	last := make([]float64, n) // 1 where i < T: the accept carries a(z)
	for p, i := range lambda.Index {
		if i < m.T {
			last[p] = 1
		}
	}
	logq := ad.Add(logPiZ, ad.Where(ad.New(last, n), logAZ, ad.Scalar(0)))
	if lambda.Rejected == nil {
		return logq
	}
	rej := lambda.Rejected
	lp := m.Proposal.LogProb(x, rej)                                // [M, n]
	ell := ad.LogSigmoid(m.Energy.Energy(x, rej))                   // log(1 − a), [M, n]
	mask := rejectedMask(lambda.Index, rej.Dim(0), n)               // 1 where t < i − 1
	sum := ad.Sum(ad.Where(mask, ad.Add(lp, ell), ad.Scalar(0)), 0) // [n]
	return ad.Add(logq, sum)
}

// rejectedMask returns the [M, n] mask of the rejected rounds in use.
func rejectedMask(idx []int, M, n int) *ad.Tensor {
	mask := make([]float64, M*n)
	for p, i := range idx {
		for t := range i - 1 {
			mask[t*n+p] = 1
		}
	}
	return ad.New(mask, M, n)
}

// trsCheckAux panics unless x is [n, c], z [n, d] and λ fits them; it
// returns n.
func trsCheckAux(who string, x, z *ad.Tensor, lambda TRSAux, d, T int) int {
	n := snisQContext(who, x)
	if z == nil || z.Rank() != 2 || z.Dim(0) != n || z.Dim(1) != d || len(lambda.Index) != n {
		panic(fmt.Sprintf("eimfamily: %s: z shape %v and %d indices for x %v, want [%d, %d] and %d", who, shapeOrNil(z), len(lambda.Index), x.Shape(), n, d, n))
	}
	maxRej := 0
	for _, i := range lambda.Index {
		if i < 1 || i > T {
			panic(fmt.Sprintf("eimfamily: %s: index %d, want 1 ≤ i ≤ T = %d", who, i, T))
		}
		maxRej = max(maxRej, i-1)
	}
	r := lambda.Rejected
	if maxRej > 0 && (r == nil || r.Rank() != 3 || r.Dim(0) < maxRej || r.Dim(1) != n || r.Dim(2) != d) {
		panic(fmt.Sprintf("eimfamily: %s: rejected draws %v for indices up to %d, want [M ≥ %d, %d, %d]", who, shapeOrNil(r), maxRej+1, maxRej, n, d))
	}
	return n
}

// Reverse returns the paper's reverse model for TRS (TRSReverse).
func (q TRSQ) Reverse() TRSReverse { return TRSReverse{q.Model} }

// TRSReverse is the reverse model of the TRS family, the variational
// posterior of Sec. 3.1 over the sampler's randomness given its output:
//
//	r(i, x_{1:i−1} | z, x) = q(i | z, x) · Π_{t<i} π(x_t | x),
//	q(i | z, x) ∝ (1 − Ẑ)^{i−1} a(z | x)^{[i<T]},   Ẑ = σ(LogitZ),
//
// so that the Eq. 4 integrand is log p(x, z) − ℓ_λ(z), ℓ_λ the TRS
// integrand of TRS.IntegrandsAt at z (the bound on log p_TRS(z | x) that
// the model trains on): with Ẑ = Z, q(i | z, x) is the exact posterior of i.
type TRSReverse struct {
	Model *TRS
}

// LogProb returns log r(λ | z, x), [n]. It is differentiable in LogitZ,
// the energy and the proposal. It panics if the shapes do not fit.
func (r TRSReverse) LogProb(x, z *ad.Tensor, lambda TRSAux) *ad.Tensor {
	m := r.Model
	m.check("AsQ().Reverse().LogProb")
	n := trsCheckAux("TRSReverse.LogProb", x, z, lambda, m.Proposal.Dim(), m.T)
	checkEnergy("TRSReverse.LogProb", m.Energy, x, m.Proposal.Dim())
	if m.T == 1 {
		return ad.Zeros(n)
	}
	q := m.q()
	logA := ad.LogSigmoid(ad.Neg(m.Energy.Energy(x, z)))
	logQ := q.logQ(logA)
	rej := make([]float64, n)
	last := make([]float64, n)
	for p, i := range lambda.Index {
		rej[p] = float64(i - 1)
		if i < m.T {
			last[p] = 1
		}
	}
	logr := ad.Sub(ad.Add(ad.Mul(ad.New(rej, n), q.logR), ad.Where(ad.New(last, n), logA, ad.Scalar(0))), logQ)
	if lambda.Rejected == nil {
		return logr
	}
	lp := m.Proposal.LogProb(x, lambda.Rejected)
	mask := rejectedMask(lambda.Index, lambda.Rejected.Dim(0), n)
	return ad.Add(logr, ad.Sum(ad.Where(mask, lp, ad.Scalar(0)), 0))
}

// HISQ is the HIS model conditioned on x as a variational family over z =
// x_T and λ = ρ_T, the final momentum (Sec. 3.3 and 5.3):
//
//	z₀ ~ π(z₀ | x),   ρ₀ ~ N(0, I),   (z, ρ_T) = Forward(x, z₀, ρ₀),
//	log q(z, ρ_T | x) = log π(z₀ | x) + log N(ρ₀; 0, I)   (|det ∂Forward| = 1),
//
// with the reverse model r(ρ_T | z, x) = N(μ, diag s²), (μ, log s) =
// Q([z, x]) (HISReverse), the network that is HIS's own q(ρ_T | x_T, c).
// Everything is reparameterized. The data x is the context, [n, c];
// package hvi is this family with U = −log p(x, ·).
type HISQ struct {
	Model *HIS
}

// AsQ returns the model conditioned on x as a variational family.
func (h *HIS) AsQ() HISQ { return HISQ{h} }

// Sample draws z₀ from the proposal and ρ₀ ~ N(0, I), in that order from
// rng, runs Forward, and returns z = x_T ([n, d]), λ = ρ_T ([n, d]) and
// log q ([n]). It panics if x is not [n, c].
func (q HISQ) Sample(rng *rand.Rand, x *ad.Tensor) (z, rhoT, logq *ad.Tensor) {
	h := q.Model
	h.check("AsQ().Sample")
	n := snisQContext("HISQ.Sample", x)
	checkEnergy("HISQ.Sample", h.Energy, x, h.Dim())
	d := h.Dim()
	z0 := ad.Reshape(h.Proposal.Sample(rng, x, 1), n, d)
	rho0 := ad.Randn(rng, n, d)
	logq = ad.Add(h.Proposal.LogProb(x, z0), logNormalStd(rho0))
	z, rhoT = h.Forward(x, z0, rho0)
	return z, rhoT, logq
}

// Reverse returns the reverse model r(ρ_T | z, x) = HIS.Q.
func (q HISQ) Reverse() HISReverse { return HISReverse{Net: q.Model.Q} }

// HISReverse is r(ρ_T | z, x) = N(ρ_T; μ, diag s²), (μ, log s) = Net([z, x]),
// Net an MLP from d + c inputs to 2d outputs.
type HISReverse struct {
	Net *nn.MLP
}

// LogProb returns log r(ρ | z, x) for z and ρ of shape [n, d] (or
// [..., n, d]) and x [n, c], of shape [n] (or [..., n]). It panics if the
// shapes do not fit.
func (r HISReverse) LogProb(x, z, rho *ad.Tensor) *ad.Tensor {
	if r.Net == nil || x == nil || z == nil || rho == nil || x.Rank() != 2 || z.Rank() < 2 || z.Dim(-2) != x.Dim(0) ||
		z.Dim(-1)+x.Dim(1) != r.Net.Layers[0].In() || !sameShapes(z, rho) {
		in := -1
		if r.Net != nil {
			in = r.Net.Layers[0].In()
		}
		panic(fmt.Sprintf("eimfamily: HISReverse.LogProb: x shape %v, z shape %v, ρ shape %v; want [n, c], [..., n, d] twice, d + c = %d",
			shapeOrNil(x), shapeOrNil(z), shapeOrNil(rho), in))
	}
	d := z.Dim(-1)
	shape := append([]int(nil), z.Shape()...)
	shape[len(shape)-1] = x.Dim(1)
	out := r.Net.Forward(ad.Concat(-1, z, ad.BroadcastTo(x, shape...)))
	mu, logS := ad.Slice(out, -1, 0, d), ad.Slice(out, -1, d, 2*d)
	u := ad.Div(ad.Sub(rho, mu), ad.Exp(logS))
	lp := ad.Sub(ad.MulScalar(ad.Square(u), -0.5), logS)
	return ad.AddScalar(ad.Sum(lp, -1), -0.5*float64(d)*math.Log(2*math.Pi))
}

func sameShapes(a, b *ad.Tensor) bool {
	if a.Rank() != b.Rank() {
		return false
	}
	for i := range a.Rank() {
		if a.Dim(i) != b.Dim(i) {
			return false
		}
	}
	return true
}
