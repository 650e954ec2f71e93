// Package proofs_test holds eimkit's cross-package property tests: the
// claims of "Energy-Inspired Models: Learning with Sampler-Induced
// Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS 2019) that tie
// two packages together, and the unbiasedness and ordering claims checked
// across every bound, so that no package has to import another of its own
// layer (or a higher one) just to be tested.
//
// The directory holds tests only; this file exists to document them. Each
// test file states the identity or inequality it checks, where in the
// paper it comes from, and its tolerance: identities that hold sample by
// sample are checked on shared draws to about 1e-12, expectations over
// finite latent spaces by enumeration to about 1e-12, and the rest by
// Monte Carlo at fixed seeds within 5 standard errors.
//
//   - infonce_snis_test.go: App. C, InfoNCE (CPC) is the Barber–Agakov
//     bound with the SNIS model of package eimfamily as the variational
//     distribution (estimators.InfoNCE against eimfamily.SNIS); Sec. 3.2,
//     the SNIS bound with π = p_N and U = log p_N − s is the ranking NCE
//     objective (estimators.RankingNCE) plus a constant in s.
//   - finite_avvi_test.go: Sec. 5, Eq. 1, 4 and 8 on a finite model by
//     enumeration through package avvi: log p(x) ≥ ELBO ≥ Eq. 4 ≥ Eq. 8 ≥
//     Eq. 8 augmented once more (Sec. 5.2), each gap equal to its KL
//     terms, E[exp(integrand)] = p(x) for every bound and for the
//     two-sample bound of avvi.MultiSample.
//   - finite_iwae_test.go: Sec. 5.1 and App. A on a finite model by
//     enumeration of λ = (z_{1:K}, i): the AVVI assembly of IWAE (SNIS
//     family, Eq. 6) equals Eq. 5 at every λ, IWAE_1 is the ELBO, IWAE_K
//     increases with K, log p(x) − IWAE_K splits into its two KL terms; the
//     learned reverse model is a valid bound, is IWAE for r = q̃, and beats
//     IWAE for the best factorized r.
//   - gradient_iwae_test.go: the gradient estimators of package
//     estimators on the closed-form IWAE bound of package iwae: every
//     surrogate's value is iwae.IntegrandAt at the same draws, and at
//     q = p(z | x) the STL and DReG gradients for q vanish draw by draw.
//   - gaussian_avvi_test.go: the same orderings on the conjugate Gaussian
//     model by Monte Carlo within 5σ, against closed forms of log p(x),
//     the ELBO, Eq. 4 and Eq. 8.
//   - sivi_finite_test.go: Sec. 5.2 and App. B on a finite model by
//     enumeration: the avvi assembly of SIVI (SNIS over λ, the selector s)
//     equals Eq. 7 at every point; E[exp(integrand)] = p(x) for SIVI,
//     IWHVI and DSIVI; SIVI_K and IWHVI_K non-decreasing in K and below
//     the marginal ELBO (IWHVI equal to it for τ = q(λ | z), to SIVI for
//     τ = q(λ)); DSIVI non-decreasing in L and below SIVI_K.
//   - sivi_gaussian_test.go: the same orderings on a conjugate Gaussian
//     model with a Gaussian semi-implicit family, within 5σ.
//
// Test files must sort after doc.go ("finite_…", not "avvi_…"): the go
// tool takes the package name from the first file it reads, and a first
// file named *_test.go declaring proofs_test reads as the external test
// package of a package "proofs", which doc.go then contradicts.
package proofs_test
