// Package sivi implements semi-implicit variational inference (Yin & Zhou
// 2018), importance weighted hierarchical VI (IWHVI; Sobolev & Vetrov
// 2019) and doubly semi-implicit VI (DSIVI; Molchanov, Kharitonov, Sobolev
// & Vetrov 2019) as auxiliary variable variational inference with an
// energy-inspired model, after "Energy-Inspired Models: Learning with
// Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS
// 2019), Sec. 5.2 and App. B.
//
// # Overview
//
// A semi-implicit family is q(z | x) = ∫ q(z | λ, x) q(λ | x) dλ (Family).
// SIVI's multi-sample bound, Eq. 7, has K terms in all, as the paper
// counts them (SIVI{K}, IWHVI{K}, DSIVI{K, L}, Selector and Reverse all
// count this way): the generating λ₁ and K − 1 further draws,
//
//	log p(x) ≥ E[ log p(x, z) − log (1/K) Σ_{k=1}^{K} q(z | λ_k, x) ],
//	λ_1, …, λ_K ~ q(λ | x),   z ~ q(z | λ₁, x).
//
// Yin & Zhou's J (draws besides λ₁) is K − 1.
//
// # Eq. 7 from Eq. 8 (App. B)
//
// Take in Eq. 8 (package avvi's AugmentedIntegrand) q(z, λ | x) =
// q(λ | x) q(z | λ, x), the reverse model r the SNIS family of package
// eimfamily over λ with K candidates, proposal q(λ | x) and energy
// U(λ | z, x) = −log q(z | λ, x), so that w(λ) = q(z | λ, x) and
//
//	r(λ, γ | z, x) = Π_j q(λ_j | x) · w(λ_i)/Σ_j w(λ_j) · δ_{λ_i}(λ),   γ = (λ_{1:K}, i),
//
// (Reverse), and s the selector of Sec. 5.2 (Selector),
//
//	s(γ | z, λ, x) = (1/K) δ_{λ_i}(λ) Π_{j≠i} q(λ_j | x).
//
// On the support of s, λ_i = λ, and the integrand
// log p(x, z) + log r(λ, γ | z, x) − log q(z, λ | x) − log s(γ | z, λ, x) is
//
//	log p(x, z) + Σ_j log q(λ_j | x) + log q(z | λ, x) − log Σ_j q(z | λ_j, x)
//	  − log q(λ | x) − log q(z | λ, x) + log K − Σ_{j≠i} log q(λ_j | x)
//	= log p(x, z) − log (1/K) Σ_j q(z | λ_j, x),
//
// Eq. 7 with λ₁ = λ, for every index i. SIVI.Integrand is the closed form
// (the fast path) and SIVI.Assembled the avvi assembly; they agree sample by
// sample on shared draws. Since r(λ | z, x) = p_SNIS is a normalized
// density, the bound is below Eq. 4 with that r, hence below the ELBO of
// the marginal q(z | x); exp of the integrand is an unbiased estimate of
// p(x); and the bound increases with K toward the marginal ELBO (the SNIS
// bound of Eq. 3 tightens with K).
//
// # IWHVI
//
// With a learned proposal τ(λ | z, x) (Tau, GaussianTau) in place of
// q(λ | x) for the K extra draws, r the SNIS family with proposal τ and
// energy U = log τ − log q(z | λ, x) − log q(λ | x), and s with τ, the same
// algebra gives Sobolev & Vetrov's bound
//
//	E[ log p(x, z) − log (1/K) Σ_{k=1}^{K} q(z | λ_k, x) q(λ_k | x) / τ(λ_k | z, x) ],
//	λ_{2:K} ~ τ(λ | z, x),
//
// which is SIVI for τ = q(λ | x) (MixingTau) and the marginal ELBO for
// every K when τ = q(λ | z, x). It needs log q(λ | x): write an implicit
// mixing λ = g(ε) as q(z | g(ε), x) with λ := ε explicit (Family).
//
// # DSIVI
//
// With a semi-implicit prior p(z) = ∫ p(z | ζ) p(ζ) dζ (Prior), log p(z)
// in the numerator is replaced by a lower bound from L prior draws,
// E log (1/L) Σ_l p(z | ζ_l) ≤ log p(z) (DSIVI): the bound is below SIVI_K
// with the exact prior, increases with L, and exp of its integrand is still
// unbiased for p(x).
//
// # Mixing distributions
//
// Family.Mixing is any eimfamily.Proposal, so an energy-inspired model is
// a mixing distribution with no adapter code: eimfamily.AsProposal(m,
// false) for an unconditional EIM (HIS draws are fully reparameterized;
// SNIS and TRS draws are pathwise in their proposal at the drawn
// selection). SIVI's closed form never evaluates log q(λ | x), so any EIM
// works there; IWHVI and the Eq. 8 assemblies need it, which only SNIS and
// TRS over a finite-support proposal have (AsProposal's LogProb panics
// otherwise).
//
// GaussianConditional reads x only when built for it
// (NewGaussianConditionalX, DX > 0); NewGaussianConditional builds the
// unconditional q(z | λ) of the toy targets, for which x only sets the
// batch size (documented, and the network's input size is checked).
//
// # Tests
//
// This package's tests check Assembled = Integrand to 1e-12 on shared
// draws (SIVI, and IWHVI with a learned τ), IWHVI with τ = q(λ | x) equal to
// SIVI, and equal gradients. The proofs_test package checks, on a finite
// model by enumeration, the assembly at every point of the augmented space,
// E[exp(integrand)] = p(x), SIVI_K and IWHVI_K non-decreasing in K and
// below the marginal ELBO, DSIVI non-decreasing in L and below SIVI_K; and
// the same orderings on a conjugate Gaussian model within 5 standard
// errors.
package sivi
