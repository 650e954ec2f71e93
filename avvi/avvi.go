package avvi

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/eimkit/eimkit/ad"
)

// Model is the generative model p(x, z). LogJoint returns log p(x, z) for
// each data point of x, in the shape that the variational side reports its
// log densities (usually [n] for a batch of n points).
type Model[X, Z any] interface {
	LogJoint(x X, z Z) *ad.Tensor
}

// Q is a variational distribution q(z, λ | x) over the latent variable z
// and an auxiliary variable λ. Sample draws (z, λ) ~ q(z, λ | x) and
// returns them with log q(z, λ | x), one entry per data point.
//
// A Q whose auxiliary type is None is an ordinary q(z | x) with a
// tractable density (the q of Eq. 1). A sampler used as a variational
// family (an EIM, Sec. 5) is a Q whose λ is the sampler's randomness.
//
// Draws are reparameterized where the family allows it, so the integrands
// built from them are differentiable in q's parameters.
type Q[X, Z, L any] interface {
	Sample(rng *rand.Rand, x X) (z Z, lambda L, logq *ad.Tensor)
}

// R is the reverse model r(λ | z, x) of Eq. 4, a normalized density over
// the auxiliary variable given z and x. LogProb returns log r(λ | z, x),
// one entry per data point.
type R[X, Z, L any] interface {
	LogProb(x X, z Z, lambda L) *ad.Tensor
}

// S is a further variational distribution s(γ | z, λ, x) of Eq. 8. Sample
// draws γ ~ s(γ | z, λ, x) and returns it with log s(γ | z, λ, x), one
// entry per data point.
type S[X, Z, L, G any] interface {
	Sample(rng *rand.Rand, x X, z Z, lambda L) (gamma G, logs *ad.Tensor)
}

// None is the empty auxiliary variable: a Q[X, Z, None] has no λ, and its
// log q is the log density log q(z | x) of its draw.
type None struct{}

// Aux is the auxiliary pair (λ, γ) of Eq. 8: the λ of q(z, λ | x) and the
// γ of s(γ | z, λ, x). Pairs nest: an augmentation of (λ, γ) by δ is
// Aux[Aux[L, G], D].
type Aux[L, G any] struct {
	Lambda L
	Gamma  G
}

// ELBO returns one draw of the integrand of the evidence lower bound,
// Eq. 1,
//
//	log p(x, z) − log q(z | x),   z ~ q(z | x),
//
// one entry per data point. Its expectation is the ELBO, and exp of it is
// an unbiased estimate of p(x). It panics if the shapes of log p and log q
// differ.
func ELBO[X, Z any](rng *rand.Rand, p Model[X, Z], q Q[X, Z, None], x X) *ad.Tensor {
	z, _, logq := q.Sample(rng, x)
	logp := p.LogJoint(x, z)
	if !sameShape(logp, logq) {
		panic(fmt.Sprintf("avvi: ELBO: shapes differ: log p %v, log q %v", shapeOf(logp), shapeOf(logq)))
	}
	return ad.Sub(logp, logq)
}

// Integrand returns one draw of the integrand of the auxiliary variable
// bound, Eq. 4,
//
//	log p(x, z) + log r(λ | z, x) − log q(z, λ | x),   (z, λ) ~ q(z, λ | x),
//
// one entry per data point. Its expectation is a lower bound on the ELBO of
// the marginal q(z | x) = ∫ q(z, λ | x) dλ, below it by
// E_q KL(q(λ | z, x) ‖ r(λ | z, x)), and exp of it is an unbiased estimate
// of p(x) (where q(z, λ | x) > 0 whenever p(x, z) r(λ | z, x) > 0).
//
// It is differentiable wherever q's draw and the three log densities are.
// The gradient is the pathwise one at the drawn λ: where λ has a discrete
// part (an index) whose distribution depends on the parameters, and the
// integrand depends on it, an unbiased gradient needs a score function
// term or the index summed out (see package iwae). It panics if the shapes
// of log p, log r and log q differ.
func Integrand[X, Z, L any](rng *rand.Rand, p Model[X, Z], q Q[X, Z, L], r R[X, Z, L], x X) *ad.Tensor {
	z, lambda, logq := q.Sample(rng, x)
	logp := p.LogJoint(x, z)
	logr := r.LogProb(x, z, lambda)
	if !sameShape(logp, logr, logq) {
		panic(fmt.Sprintf("avvi: Integrand: shapes differ: log p %v, log r %v, log q %v", shapeOf(logp), shapeOf(logr), shapeOf(logq)))
	}
	return ad.Sub(ad.Add(logp, logr), logq)
}

// AugmentedIntegrand returns one draw of the integrand of the augmented
// bound, Eq. 8,
//
//	log p(x, z) + log r(λ, γ | z, x) − log q(z, λ | x) − log s(γ | z, λ, x),
//	(z, λ) ~ q(z, λ | x),   γ ~ s(γ | z, λ, x),
//
// one entry per data point. When r(λ | z, x) = ∫ r(λ, γ | z, x) dγ, its
// expectation is below that of Eq. 4 by E KL(s(γ | z, λ, x) ‖ r(γ | λ, z, x)),
// and exp of it is again an unbiased estimate of p(x).
//
// It is Eq. 4 with the variational distribution Extend(q, s) over z and
// the auxiliary pair (λ, γ), which is how it is computed: augmenting s
// once more by δ ~ t(δ | z, (λ, γ), x) is
//
//	AugmentedIntegrand(rng, p, Extend(q, s), t, r3, x),   r3 an R over Aux[Aux[L, G], D],
//
// and so on to any depth (Sec. 5.2). It panics as Integrand does.
func AugmentedIntegrand[X, Z, L, G any](rng *rand.Rand, p Model[X, Z], q Q[X, Z, L], s S[X, Z, L, G], r R[X, Z, Aux[L, G]], x X) *ad.Tensor {
	return Integrand(rng, p, Extend(q, s), r, x)
}

// Extend returns the variational distribution q(z, λ | x) s(γ | z, λ, x)
// over z and the auxiliary pair (λ, γ): it draws (z, λ) from q, then γ
// from s, and reports log q + log s. It panics (when sampling) if the
// shapes of log q and log s differ.
func Extend[X, Z, L, G any](q Q[X, Z, L], s S[X, Z, L, G]) Q[X, Z, Aux[L, G]] {
	return extended[X, Z, L, G]{q, s}
}

type extended[X, Z, L, G any] struct {
	q Q[X, Z, L]
	s S[X, Z, L, G]
}

func (e extended[X, Z, L, G]) Sample(rng *rand.Rand, x X) (Z, Aux[L, G], *ad.Tensor) {
	z, lambda, logq := e.q.Sample(rng, x)
	gamma, logs := e.s.Sample(rng, x, z, lambda)
	if !sameShape(logq, logs) {
		panic(fmt.Sprintf("avvi: Extend: shapes differ: log q %v, log s %v", shapeOf(logq), shapeOf(logs)))
	}
	return z, Aux[L, G]{lambda, gamma}, ad.Add(logq, logs)
}

// sameShape reports whether the tensors are all non-nil and of one shape.
func sameShape(ts ...*ad.Tensor) bool {
	for _, t := range ts {
		if t == nil || !slices.Equal(t.Shape(), ts[0].Shape()) {
			return false
		}
	}
	return true
}

func shapeOf(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}
