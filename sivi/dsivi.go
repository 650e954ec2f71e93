package sivi

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
)

// Prior is a semi-implicit prior (Molchanov et al. 2019),
//
//	p(z) = ∫ p(z | ζ) p(ζ) dζ,
//
// with p(ζ) an eimfamily.Proposal called with the data x as its context (so
// that it draws [L, n, dζ], L values per data point; an unconditional
// eimfamily.Normal ignores the values of x) and p(z | ζ) a Conditional
// (whose x argument is the data, which a prior ignores).
type Prior struct {
	Mixing      eimfamily.Proposal
	Conditional Conditional
}

// Likelihood is the observation model p(x | z): LogLik(x, z) returns
// log p(x | z), [n], for x [n, dx] and z [n, dz].
type Likelihood interface {
	LogLik(x, z *ad.Tensor) *ad.Tensor
}

// DSIVI is the doubly semi-implicit bound of Molchanov, Kharitonov,
// Sobolev and Vetrov (2019): SIVI (K terms, as SIVI counts them) with a
// semi-implicit prior whose log density is bounded from below by L prior
// draws,
//
//	log p(x) ≥ E[ log p(x | z) + log (1/L) Σ_{l=1}^{L} p(z | ζ_l)
//	              − log (1/K) Σ_{k=1}^{K} q(z | λ_k, x) ],
//	λ_{1:K} ~ q(λ | x),   z ~ q(z | λ₁, x),   ζ_{1:L} ~ p(ζ).
//
// The direction: log p(z) is in the numerator of the bound, and
// E_ζ log (1/L) Σ_l p(z | ζ_l) ≤ log E_ζ (1/L) Σ_l p(z | ζ_l) = log p(z)
// (Jensen), the IWAE bound on the prior's marginal with proposal p(ζ); so
// replacing log p(z) by it lowers SIVI_K with the exact prior by
// E_q[log p(z) − E_ζ log (1/L) Σ_l p(z | ζ_l)] ≥ 0, a gap that decreases
// in L (Burda et al. 2016, Thm. 1). As the ζ are drawn independently of
// everything else and E_ζ (1/L) Σ_l p(z | ζ_l) = p(z), exp of the
// integrand is still an unbiased estimate of p(x). K < 1 or L < 1
// panics.
type DSIVI struct {
	K, L int
}

func (b DSIVI) check(who string) {
	if b.K < 1 || b.L < 1 {
		panic(fmt.Sprintf("sivi: DSIVI.%s: K = %d, L = %d, want K ≥ 1 and L ≥ 1", who, b.K, b.L))
	}
}

// Integrand returns one draw of the DSIVI integrand, [n]: λ₁, z and
// λ_{2:K} as SIVI.Integrand draws them, then ζ_{1:L} ~ p(ζ), then
// DSIVIAt.
func (b DSIVI) Integrand(rng *rand.Rand, lik Likelihood, prior Prior, q Family, x *ad.Tensor) *ad.Tensor {
	b.check("Integrand")
	lambda0, z := q.draw("DSIVI.Integrand", rng, x)
	var lambdas *ad.Tensor
	if b.K > 1 {
		lambdas = q.Mixing.Sample(rng, x, b.K-1)
	}
	zetas := prior.Mixing.Sample(rng, x, b.L)
	return dsiviAt("DSIVI.Integrand", lik, prior, q, x, z, lambda0, lambdas, zetas)
}

// Integrands returns s independent draws of the integrand, [s, n].
func (b DSIVI) Integrands(rng *rand.Rand, lik Likelihood, prior Prior, q Family, x *ad.Tensor, s int) *ad.Tensor {
	return avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor { return b.Integrand(rng, lik, prior, q, x) })
}

// DSIVIAt returns the DSIVI integrand at given draws: z [n, dz], λ₁
// [n, dλ], λ_{2:K} [K − 1, n, dλ] (nil for K = 1) and ζ_{1:L} [L, n, dζ],
//
//	log p(x | z) + log (1/L) Σ_l p(z | ζ_l) − log (1/K) Σ_k q(z | λ_k, x).
func DSIVIAt(lik Likelihood, prior Prior, q Family, x, z, lambda0, lambdas, zetas *ad.Tensor) *ad.Tensor {
	return dsiviAt("DSIVIAt", lik, prior, q, x, z, lambda0, lambdas, zetas)
}

func dsiviAt(who string, lik Likelihood, prior Prior, q Family, x, z, lambda0, lambdas, zetas *ad.Tensor) *ad.Tensor {
	if zetas == nil || zetas.Rank() != 3 || zetas.Dim(1) != z.Dim(0) {
		panic(fmt.Sprintf("sivi: %s: ζ shape %v for z %v, want [L, %d, dζ]", who, shapeOf(zetas), z.Shape(), z.Dim(0)))
	}
	logPrior := ad.LogMeanExp(prior.Conditional.LogProb(x, zetas, z), 0)
	logQ := ad.LogMeanExp(q.Conditional.LogProb(x, stackLambdas(who, lambda0, lambdas), z), 0)
	return ad.Sub(ad.Add(lik.LogLik(x, z), logPrior), logQ)
}
