// Package avvi holds auxiliary variable variational inference as
// "Energy-Inspired Models: Learning with Sampler-Induced Distributions"
// (Lawson, Tucker, Dai, Ranganath, NeurIPS 2019), Sec. 5, presents it: the
// interfaces of a model p(x, z), a variational distribution q(z, λ | x), a
// reverse model r(λ | z, x) and a further variational distribution
// s(γ | z, λ, x), the per-sample integrands of the bounds they give, and
// the helpers that turn integrands into bounds and estimates. It knows no
// concrete family: a sampler used as a variational family (package
// eimfamily) satisfies these interfaces by its methods, and the bound
// packages (iwae, sivi, hvi, vsmc) assemble the pieces.
//
// # Overview
//
// A bound is the expectation of a per-sample integrand, a log weight, and
// this package computes integrands, one tensor entry per data point. The
// evidence lower bound of Eq. 1 has the integrand
//
//	log p(x, z) − log q(z | x),   z ~ q(z | x),
//
//	log p(x) = E_q[ log p(x, z) − log q(z | x) ] + KL(q(z | x) ‖ p(z | x)).
//
// When q(z | x) = ∫ q(z, λ | x) dλ is intractable (a sampler's output), a
// reverse model r(λ | z, x) gives the auxiliary variable bound, Eq. 4,
//
//	E_q[ log p(x, z) − log q(z | x) ]
//	    = E_{q(z, λ | x)}[ log p(x, z) + log r(λ | z, x) − log q(z, λ | x) ]
//	      + E_{q(z | x)}[ KL(q(λ | z, x) ‖ r(λ | z, x)) ],
//
// so that log p(x) minus the bound is the sum of the two KL terms. When r
// is itself intractable, a further s(γ | z, λ, x) gives Eq. 8,
//
//	E_q[ log p(x, z) r(λ | z, x) / q(z, λ | x) ]
//	    ≥ E_{q(z, λ | x) s(γ | z, λ, x)}[ log p(x, z) r(λ, γ | z, x) / (q(z, λ | x) s(γ | z, λ, x)) ],
//
// with r(λ | z, x) = ∫ r(λ, γ | z, x) dγ and the gap
// E KL(s(γ | z, λ, x) ‖ r(γ | λ, z, x)). Eq. 8 is Eq. 4 for the variational
// distribution q·s over z and the pair (λ, γ) (Extend), so augmenting s
// again, as Sec. 5.2 suggests, is Extend applied once more: no new code.
// For IWAE (Sec. 5.1) q is the SNIS family with proposal q̃ and
// U = log q̃ − log p(x, ·), λ = (z_{1:K}, i), and r is Eq. 6,
//
//	r(z_{1:K}, i | z, x) = (1/K) δ_{z_i}(z) Π_{j≠i} q̃(z_j | x),
//
// which turns Eq. 4 into the IWAE bound, Eq. 5,
//
//	E_{z_{1:K} ~ Π_k q̃(z_k | x)} log (1/K) Σ_k p(x, z_k)/q̃(z_k | x)  ≤  log p(x).
//
// # Integrands, bounds and estimates
//
// For every integrand w above, exp w is an unbiased estimate of p(x) (where
// the variational side covers the support of p(x, z) r(λ | z, x)), and
// E w ≤ log p(x). From S draws of w ([S, n], Draws):
//
//	Bound             (1/S) Σ_s w_s                    the bound, estimated
//	MultiSample(w, k) log (1/k) Σ_{s in group} exp w_s  integrands of the k-sample bound
//	Summarize         mean and standard error of w
//	EstimateEvidence  p̂ = (1/S) Σ_s exp w_s and its standard error, in log space
//	SummarizeBatch    mean ± standard error over a batch of per-point bounds (Summary)
//
// The k-sample bound E log (1/k) Σ exp w_s is again a bound whose exp is
// unbiased, and it increases with k toward log p(x) (Burda et al. 2016).
//
// # Types
//
// The interfaces are generic over the data X, the latent Z, the auxiliary
// variable L and the further auxiliary G, so that a finite model can use
// ints and a VAE tensors. Log densities are tensors of one shape, one entry
// per data point ([n] for a batch of n); the integrands check that the
// shapes agree. Every call that samples takes a *rand.Rand; nothing here
// keeps random state.
package avvi
