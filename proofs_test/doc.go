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
//   - snis_interpolation_test.go: Sec. 3.2, p_SNIS interpolates between
//     π and π·e^{−U}/Z: on a finite support, exactly (SNISQ.At summed over
//     candidate multisets, cross-checked with SNIS.LogProb), K = 1 gives π
//     and KL(p_SNIS ‖ π e^{−U}/Z) decreases strictly in K toward 0, at the
//     delta method's rate.
//   - iwae_limit_test.go: Sec. 5.1, IWAE_K → log p(x) for iwae.IWAE by
//     multiset enumeration up to K = 32; the gap is its KL terms and
//     ≈ ½ Var(p̂)/p² with the second-order term.
//   - sivi_snis_reverse_test.go: Sec. 5.2, Eq. 7 ≤ Eq. 4 with r the exact
//     λ-marginal of the SNIS reverse model, ≤ ELBO, each gap its KL term.
//   - hvi_marginal_test.go: Sec. 5.3, the HVI bound ≤ the ELBO of the
//     marginal q(z_T | x) (2-D quadrature through HIS.Forward/Inverse) ≤
//     log p(x), on the linear-Gaussian reference model and a tanh model.
//   - infonce_ba_test.go: App. C, InfoNCE ≤ the Barber–Agakov bound with
//     the exact p_SNIS ≤ I(X; Y) on finite X, Y, by enumeration of pair sets.
//   - gap_variance_test.go: Sec. 5, the bound gap ≈ ½ Var(p̂)/p² to first
//     order for IWAE (Eq. 5) and SIVI (Eq. 7), exactly as the family meets
//     the posterior.
//
// Test files must sort after doc.go ("finite_…", not "avvi_…"): the go
// tool takes the package name from the first file it reads, and a first
// file named *_test.go declaring proofs_test reads as the external test
// package of a package "proofs", which doc.go then contradicts.
package proofs_test
