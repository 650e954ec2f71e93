// Package hvi implements Hamiltonian variational inference (Salimans,
// Kingma & Welling 2015, "Markov chain Monte Carlo and variational
// inference: bridging the gap"; Caterini, Doucet & Sejdinovic 2018,
// "Hamiltonian variational auto-encoder") as "Energy-Inspired Models:
// Learning with Sampler-Induced Distributions" (Lawson, Tucker, Dai,
// Ranganath, NeurIPS 2019), Sec. 3.3 and 5.3, derive it: the Hamiltonian
// importance sampling family of package eimfamily, conditioned on the data
// x, used as the variational family of the auxiliary variable bound, Eq. 4.
//
// # The family
//
// HIS (Alg. 3) with the model's log joint as the potential and x as the
// context, with step sizes ε ∈ ℝᵈ and temperatures α₀ … α_T (∏ α_t = 1)
// learned:
//
//	U(z | x) = −log p(x, z)
//	z₀ ~ π(z₀ | x),   ρ₀ ~ N(0, I),   ρ ← α₀ ρ₀
//	for t = 1, …, T:
//	    ρ ← ρ − (ε/2) ⊙ ∇_z U(z | x)
//	    z ← z + ε ⊙ ρ
//	    ρ ← α_t (ρ − (ε/2) ⊙ ∇_z U(z | x))
//	(z_T, ρ_T) = F_x(z₀, ρ₀)
//
// π is a conditional diagonal Gaussian (GaussianProposal),
// N(μ(x), diag exp(2ℓ(x))) with (μ, ℓ) an MLP of x. F_x is a composition of
// shears and scalings whose determinant is (∏_t α_t)ᵈ = 1, so the joint
// density of the sampler's output and final momentum is
//
//	q(z_T, ρ_T | x) = π(z₀ | x) N(ρ₀; 0, I),   (z₀, ρ₀) = F_x⁻¹(z_T, ρ_T).
//
// # The bound
//
// With λ = ρ_T and a learned reverse model r(ρ_T | z_T, x) = N(μ, diag s²),
// (μ, log s) an MLP of [z_T, x], Eq. 4 gives
//
//	log p(x) ≥ E_q[ log p(x, z_T) + log r(ρ_T | z_T, x) − log π(z₀ | x) − log N(ρ₀; 0, I) ]
//	         = E_q[ log p(x, z_T) − log q(z_T | x) ] − E_q KL(q(ρ_T | z_T, x) ‖ r(ρ_T | z_T, x)),
//
// the ELBO of the intractable marginal q(z_T | x) less the reverse model's
// gap. Every draw is reparameterized (z₀ = μ(x) + e^{ℓ(x)} ⊙ ξ), so the
// integrand is differentiable in π's and r's parameters and in ε and α,
// through the recorded ∇_z log p(x, z) of each leapfrog step. exp of the
// integrand is an unbiased estimate of p(x). As ε → 0 the dynamics are the
// identity up to the rescaling α₀ ∏ α_t = 1, z_T = z₀, ρ_T = ρ₀, and the
// integrand is the ELBO integrand of π plus log r(ρ₀ | z₀, x) − log N(ρ₀; 0, I).
//
// HVI is an avvi.Q (λ = ρ_T) and its Reverse an avvi.R, so the integrand is
// avvi.Integrand(rng, p, h, h.Reverse(), x); Integrands computes s draws in
// one pass.
//
// The package imports ad, nn, avvi and eimfamily.
package hvi
