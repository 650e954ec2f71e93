package sivi

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
)

// SIVI is the multi-sample bound of Yin & Zhou (2018), Eq. 7 of Lawson et
// al. (2019), with K terms in all, as the paper counts them: the λ₁ that
// generated z and K − 1 further draws,
//
//	log p(x) ≥ E[ log p(x, z) − log (1/K) Σ_{k=1}^{K} q(z | λ_k, x) ],
//	λ_{1:K} ~ q(λ | x),   z ~ q(z | λ₁, x).
//
// K = 1 is Eq. 4 with r(λ | z, x) = q(λ | x); as K grows the bound
// increases to the ELBO of the marginal q(z | x). (Yin & Zhou's J, the
// number of draws besides λ₁, is K − 1; before this package counted as
// the paper does, SIVI{K: J} meant what SIVI{K: J + 1} means now.)
//
// Integrand is the closed form (the fast path); Assembled computes the
// same number as avvi's Eq. 8 with r the SNIS family over λ and s the
// selector of Sec. 5.2 (see the package comment). The bound holds only K;
// the model and the family are arguments. K < 1 panics.
type SIVI struct {
	K int
}

func (b SIVI) check(who string) {
	if b.K < 1 {
		panic(fmt.Sprintf("sivi: SIVI.%s: K = %d, want K ≥ 1 (the number of terms of Eq. 7)", who, b.K))
	}
}

// Integrand returns one draw of the Eq. 7 integrand for each data point,
// [n]: λ₁ ~ q(λ | x), z ~ q(z | λ₁, x), then λ_{2:K} ~ q(λ | x), in that
// order from rng, then IntegrandAt. exp of it is an unbiased estimate of
// p(x). It is differentiable in p's and the family's parameters through
// the reparameterized draws. It panics if K < 1 or x is not [n, dx].
func (b SIVI) Integrand(rng *rand.Rand, p Model, q Family, x *ad.Tensor) *ad.Tensor {
	b.check("Integrand")
	lambda0, z := q.draw("SIVI.Integrand", rng, x)
	var lambdas *ad.Tensor
	if b.K > 1 {
		lambdas = q.Mixing.Sample(rng, x, b.K-1)
	}
	return integrandAt("SIVI.Integrand", p, q, x, z, lambda0, lambdas)
}

// Integrands returns s independent draws of the integrand, [s, n].
func (b SIVI) Integrands(rng *rand.Rand, p Model, q Family, x *ad.Tensor, s int) *ad.Tensor {
	return avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor { return b.Integrand(rng, p, q, x) })
}

// IntegrandAt returns the Eq. 7 integrand at given draws: z [n, dz], the
// generating λ₁ [n, dλ] (lambda0) and the others λ_{2:K} [K − 1, n, dλ]
// (lambdas; nil for K = 1),
//
//	log p(x, z) − log (1/K) Σ_{k=1}^{K} exp log q(z | λ_k, x),   [n],
//
// a max-shifted log-mean-exp. K is the number of λ given.
//
// λ_{2:K} may also be [K − 1, 1, dλ], one set shared by the whole batch (as
// Yin & Zhou's code does, and what SharedIntegrand draws): the Conditional
// then sees λ of shape [K − 1, 1, dλ] and must broadcast it against z
// [n, dz] (GaussianConditional does, and evaluates its network on K − 1
// rows instead of (K − 1)·n). Each point's integrand is still a draw of
// Eq. 7; the points' draws are no longer independent.
func IntegrandAt(p Model, q Family, x, z, lambda0, lambdas *ad.Tensor) *ad.Tensor {
	return integrandAt("IntegrandAt", p, q, x, z, lambda0, lambdas)
}

func integrandAt(who string, p Model, q Family, x, z, lambda0, lambdas *ad.Tensor) *ad.Tensor {
	if lambdas != nil && lambdas.Rank() == 3 && lambdas.Dim(1) == 1 && lambda0 != nil && lambda0.Rank() == 2 && lambda0.Dim(0) != 1 {
		if lambdas.Dim(2) != lambda0.Dim(1) {
			panic(fmt.Sprintf("sivi: %s: λ_{2:K} shape %v for λ₁ %v, want [K−1, 1, %d]", who, lambdas.Shape(), lambda0.Shape(), lambda0.Dim(1)))
		}
		l0 := q.Conditional.LogProb(x, ad.Unsqueeze(lambda0, 0), z) // [1, n]
		lk := q.Conditional.LogProb(x, lambdas, z)                  // [K, n]
		return ad.Sub(p.LogJoint(x, z), ad.LogMeanExp(ad.Concat(0, l0, lk), 0))
	}
	all := stackLambdas(who, lambda0, lambdas)
	return ad.Sub(p.LogJoint(x, z), ad.LogMeanExp(q.Conditional.LogProb(x, all, z), 0))
}

// SharedIntegrand is Integrand with one set of K − 1 auxiliary draws
// λ_{2:K} ~ q(λ | x₁) shared by all points of the batch (drawn with the
// first row of x as the context, so it suits an unconditional mixing): λ₁,
// z, then λ_{2:K} from rng. Every entry is a draw of the Eq. 7 integrand,
// so the batch mean is an unbiased estimate of the bound, but the entries
// are correlated; a standard error needs independent batches. It costs
// K − 1 evaluations of q(z | λ, x)'s parameters instead of (K − 1)·n.
func (b SIVI) SharedIntegrand(rng *rand.Rand, p Model, q Family, x *ad.Tensor) *ad.Tensor {
	b.check("SharedIntegrand")
	lambda0, z := q.draw("SIVI.SharedIntegrand", rng, x)
	var lambdas *ad.Tensor
	if b.K > 1 {
		lambdas = q.Mixing.Sample(rng, ad.Slice(x, 0, 0, 1), b.K-1)
	}
	return integrandAt("SIVI.SharedIntegrand", p, q, x, z, lambda0, lambdas)
}

// Assembled returns one draw of the augmented integrand of Eq. 8,
//
//	avvi.AugmentedIntegrand(rng, p, q, s, r, x),
//
// with s = Selector{MixingTau{q.Mixing}, K} (λ placed at a uniform index
// among K candidates, the others drawn from q(λ | x)) and r = Reverse{q,
// nil, K}, the SNIS family over λ with proposal q(λ | x), energy
// U(λ | z, x) = −log q(z | λ, x) and K candidates. It equals Integrand
// at the same draws up to rounding (App. B): both draw λ₁, z and λ_{2:K}
// from rng in the same order (Assembled then draws the index).
func (b SIVI) Assembled(rng *rand.Rand, p Model, q Family, x *ad.Tensor) *ad.Tensor {
	b.check("Assembled")
	s := Selector{Tau: MixingTau{q.Mixing}, K: b.K}
	r := Reverse{Family: q, K: b.K}
	return avvi.AugmentedIntegrand(rng, p, q, s, r, x)
}

// IWHVI is the importance weighted hierarchical variational bound of
// Sobolev & Vetrov (2019): SIVI with the K − 1 extra λ drawn from a
// learned τ(λ | z, x) instead of q(λ | x), K terms in all as for SIVI,
//
//	log p(x) ≥ E[ log p(x, z) − log (1/K) Σ_{k=1}^{K} q(z | λ_k, x) q(λ_k | x) / τ(λ_k | z, x) ],
//	λ₁ ~ q(λ | x),   z ~ q(z | λ₁, x),   λ_{2:K} ~ τ(λ | z, x).
//
// With τ = q(λ | x) (MixingTau) every ratio q(λ_k | x)/τ(λ_k | z, x) is 1
// and it is SIVI. In Eq. 8 it is r = SNIS over λ with proposal τ and
// energy U = log τ(λ | z, x) − log q(z | λ, x) − log q(λ | x), and s the
// selector with τ in place of q(λ | x) (end of Sec. 5.2). K < 1 panics.
type IWHVI struct {
	K int
}

func (b IWHVI) check(who string) {
	if b.K < 1 {
		panic(fmt.Sprintf("sivi: IWHVI.%s: K = %d, want K ≥ 1 (the number of terms)", who, b.K))
	}
}

// Integrand returns one draw of the IWHVI integrand, [n]: λ₁ ~ q(λ | x),
// z ~ q(z | λ₁, x), then λ_{2:K} ~ τ(λ | z, x), then IWHVIAt.
func (b IWHVI) Integrand(rng *rand.Rand, p Model, q Family, tau Tau, x *ad.Tensor) *ad.Tensor {
	b.check("Integrand")
	lambda0, z := q.draw("IWHVI.Integrand", rng, x)
	var lambdas *ad.Tensor
	if b.K > 1 {
		lambdas = tau.Sample(rng, x, z, b.K-1)
	}
	return iwhviAt("IWHVI.Integrand", p, q, tau, x, z, lambda0, lambdas)
}

// Integrands returns s independent draws of the integrand, [s, n].
func (b IWHVI) Integrands(rng *rand.Rand, p Model, q Family, tau Tau, x *ad.Tensor, s int) *ad.Tensor {
	return avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor { return b.Integrand(rng, p, q, tau, x) })
}

// IWHVIAt returns the IWHVI integrand at given draws (shapes as for
// IntegrandAt: λ₁ [n, dλ], λ_{2:K} [K − 1, n, dλ] or nil),
//
//	log p(x, z) − log (1/K) Σ_{k=1}^{K} exp( log q(z | λ_k, x) + log q(λ_k | x) − log τ(λ_k | z, x) ).
func IWHVIAt(p Model, q Family, tau Tau, x, z, lambda0, lambdas *ad.Tensor) *ad.Tensor {
	return iwhviAt("IWHVIAt", p, q, tau, x, z, lambda0, lambdas)
}

func iwhviAt(who string, p Model, q Family, tau Tau, x, z, lambda0, lambdas *ad.Tensor) *ad.Tensor {
	all := stackLambdas(who, lambda0, lambdas)
	return ad.Sub(p.LogJoint(x, z), ad.LogMeanExp(iwhviLogW(q, tau, x, z, all), 0))
}

// iwhviLogW returns log q(z | λ_k, x) + log q(λ_k | x) − log τ(λ_k | z, x)
// for λ [K, n, dλ], [K, n].
func iwhviLogW(q Family, tau Tau, x, z, lambda *ad.Tensor) *ad.Tensor {
	return ad.Sub(ad.Add(q.Conditional.LogProb(x, lambda, z), q.Mixing.LogProb(x, lambda)), tau.LogProb(x, z, lambda))
}

// Assembled returns one draw of the Eq. 8 integrand with s =
// Selector{tau, K} and r = Reverse{q, tau, K}; it equals Integrand at the
// same draws up to rounding.
func (b IWHVI) Assembled(rng *rand.Rand, p Model, q Family, tau Tau, x *ad.Tensor) *ad.Tensor {
	b.check("Assembled")
	return avvi.AugmentedIntegrand(rng, p, q, Selector{Tau: tau, K: b.K}, Reverse{Family: q, Tau: tau, K: b.K}, x)
}

// stackLambdas returns λ₁ [n, dλ] stacked before λ_{2:K} [K − 1, n, dλ]:
// [K, n, dλ].
func stackLambdas(who string, lambda0, lambdas *ad.Tensor) *ad.Tensor {
	if lambda0 == nil || lambda0.Rank() != 2 {
		panic(fmt.Sprintf("sivi: %s: λ₁ shape %v, want [n, dλ]", who, shapeOf(lambda0)))
	}
	first := ad.Unsqueeze(lambda0, 0)
	if lambdas == nil {
		return first
	}
	if lambdas.Rank() != 3 || lambdas.Dim(1) != lambda0.Dim(0) || lambdas.Dim(2) != lambda0.Dim(1) {
		panic(fmt.Sprintf("sivi: %s: λ_{2:K} shape %v for λ₁ %v, want [K−1, %d, %d]", who, lambdas.Shape(), lambda0.Shape(), lambda0.Dim(0), lambda0.Dim(1)))
	}
	return ad.Concat(0, first, lambdas)
}

// Aux is the auxiliary γ = (λ_{1:K}, i) of Sec. 5.2: K candidates
// [K, n, dλ] and, per data point, the index of the one equal to λ.
type Aux = eimfamily.SNISAux

// Selector is the s(γ | z, λ, x) of Sec. 5.2, with τ in place of q(λ | x)
// for IWHVI:
//
//	s(λ_{1:K}, i | z, λ, x) = (1/K) δ_{λ_i}(λ) Π_{j≠i} τ(λ_j | z, x),
//
// the generating λ always one of the K candidates, at a uniform index.
type Selector struct {
	Tau Tau
	K   int
}

var _ avvi.S[*ad.Tensor, *ad.Tensor, *ad.Tensor, Aux] = Selector{}

// Sample draws the K − 1 others λ' ~ τ(λ | z, x) ([K − 1, n, dλ]) first,
// then an index i uniform on {0, …, K − 1} for each data point, and
// returns the candidates with λ at i and the others in order around it,
// with log s = −log K + Σ_j log τ(λ'_j | z, x), [n].
func (s Selector) Sample(rng *rand.Rand, x, z, lambda *ad.Tensor) (Aux, *ad.Tensor) {
	if s.K < 1 {
		panic(fmt.Sprintf("sivi: Selector.Sample: K = %d, want K ≥ 1", s.K))
	}
	n, d := lambda.Dim(0), lambda.Dim(1)
	logs := ad.Full(-math.Log(float64(s.K)), n)
	var others *ad.Tensor
	if s.K > 1 {
		others = s.Tau.Sample(rng, x, z, s.K-1)
		logs = ad.Add(logs, ad.Sum(s.Tau.LogProb(x, z, others), 0))
	}
	idx := make([]int, n)
	for r := range n {
		idx[r] = rng.IntN(s.K)
	}
	all := stackLambdas("Selector.Sample", lambda, others) // row 0 is λ
	k1 := s.K
	perm := make([]int, k1*n*d)
	for j := range k1 {
		for r, i := range idx {
			src := j + 1 // others before i
			switch {
			case j == i:
				src = 0
			case j > i:
				src = j
			}
			for c := range d {
				perm[(j*n+r)*d+c] = src
			}
		}
	}
	cand := ad.Gather(all, 0, perm, k1)
	return Aux{Candidates: cand, Index: idx}, logs
}

// Reverse is the r(λ, γ | z, x) of Sec. 5.2: the SNIS family of package
// eimfamily over λ, conditioned on (z, x), with K candidates, proposal
// τ(λ | z, x) (q(λ | x) when Tau is nil) and energy
//
//	U(λ | z, x) = −log q(z | λ, x)                                    (Tau nil: SIVI)
//	U(λ | z, x) = log τ(λ | z, x) − log q(z | λ, x) − log q(λ | x)     (IWHVI)
//
// so w(λ) = exp(−U) is the importance weight of λ for the target
// q(λ | z, x) ∝ q(z | λ, x) q(λ | x). Its density over λ and γ =
// (λ_{1:K}, i) is eimfamily.SNISQ's,
//
//	r(λ, γ | z, x) = Π_j τ(λ_j | z, x) · w(λ_i)/Σ_j w(λ_j) · δ_{λ_i}(λ),
//
// and r(λ | z, x) = ∫ r(λ, γ | z, x) dγ is p_SNIS, a normalized density.
// K < 1 panics.
type Reverse struct {
	Family Family
	Tau    Tau
	K      int
}

var _ avvi.R[*ad.Tensor, *ad.Tensor, avvi.Aux[*ad.Tensor, Aux]] = Reverse{}

// LogProb returns log r(λ, γ | z, x), [n], computed by
// eimfamily.SNISQ.At with z as the SNIS context: −Inf where λ is not the
// selected candidate.
func (r Reverse) LogProb(x, z *ad.Tensor, a avvi.Aux[*ad.Tensor, Aux]) *ad.Tensor {
	tau := r.Tau
	var u eimfamily.Energy = siviEnergy{r.Family, x}
	if tau == nil {
		tau = MixingTau{r.Family.Mixing}
	} else {
		u = iwhviEnergy{r.Family, tau, x}
	}
	if r.K < 1 {
		panic(fmt.Sprintf("sivi: Reverse.LogProb: K = %d, want K ≥ 1", r.K))
	}
	m := &eimfamily.SNIS{Proposal: tauProposal{tau, x}, Energy: u, K: r.K}
	sel, logr := m.AsQ().At(z, a.Gamma)
	// δ_{λ_i}(λ)
	same := make([]float64, sel.Dim(0))
	ld, sd := a.Lambda.Data(), sel.Data()
	d := sel.Dim(1)
	for row := range same {
		same[row] = 1
		for c := range d {
			if ld[row*d+c] != sd[row*d+c] {
				same[row] = 0
			}
		}
	}
	return ad.Where(ad.New(same, len(same)), logr, ad.Scalar(math.Inf(-1)))
}

// tauProposal is τ(λ | z, x) as an eimfamily.Proposal whose context is z.
type tauProposal struct {
	tau Tau
	x   *ad.Tensor
}

func (t tauProposal) Dim() int { return t.tau.Dim() }
func (t tauProposal) Sample(rng *rand.Rand, z *ad.Tensor, k int) *ad.Tensor {
	return t.tau.Sample(rng, t.x, z, k)
}
func (t tauProposal) LogProb(z, lambda *ad.Tensor) *ad.Tensor { return t.tau.LogProb(t.x, z, lambda) }
func (t tauProposal) Params() []*ad.Tensor                    { return nil }

// siviEnergy is U(λ | z, x) = −log q(z | λ, x), with z the context.
type siviEnergy struct {
	q Family
	x *ad.Tensor
}

func (e siviEnergy) Energy(z, lambda *ad.Tensor) *ad.Tensor {
	return ad.Neg(e.q.Conditional.LogProb(e.x, lambda, z))
}
func (siviEnergy) Params() []*ad.Tensor { return nil }

// iwhviEnergy is U(λ | z, x) = log τ(λ | z, x) − log q(z | λ, x) − log q(λ | x).
type iwhviEnergy struct {
	q   Family
	tau Tau
	x   *ad.Tensor
}

func (e iwhviEnergy) Energy(z, lambda *ad.Tensor) *ad.Tensor {
	return ad.Neg(iwhviLogW(e.q, e.tau, e.x, z, lambda))
}
func (iwhviEnergy) Params() []*ad.Tensor { return nil }
