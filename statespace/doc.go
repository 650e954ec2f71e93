// Package statespace holds the linear-Gaussian state-space model, its
// exact log marginal likelihood by the Kalman filter, and the bootstrap and
// locally optimal proposals for particle filters: the reference model on
// which sequential Monte Carlo and variational SMC (Sec. 5.3 of
// "Energy-Inspired Models: Learning with Sampler-Induced Distributions",
// Lawson, Tucker, Dai, Ranganath, NeurIPS 2019) are checked against an
// exact answer.
//
// # Model
//
// With latent dimension dx, observation dimension dy and T steps t = 0, …,
// T−1 (zero-based, as everywhere in eimkit):
//
//	x₀ ~ N(μ₀, Σ₀)
//	x_t = A x_{t−1} + w_t,   w_t ~ N(0, Q)
//	y_t = C x_t + v_t,       v_t ~ N(0, R)
//
// VSMCExample is the model of Naesseth, Linderman, Ranganath & Blei,
// "Variational Sequential Monte Carlo" (AISTATS 2018), Sec. 5.1: dx = 5,
// dy = 3, T = 10, A_ij = 0.42^(|i−j|+1), Q = I, R = 0.1·I, μ₀ = 0, Σ₀ = I
// and C = [I₃ 0].
//
// # Kalman filter
//
// p(y_{0:T−1}) = Π_t p(y_t | y_{0:t−1}), and every factor is Gaussian:
//
//	m₀⁻ = μ₀,  P₀⁻ = Σ₀;   m_t⁻ = A m_{t−1},  P_t⁻ = A P_{t−1} Aᵀ + Q   (t ≥ 1)
//	e_t = y_t − C m_t⁻,   S_t = C P_t⁻ Cᵀ + R = L_t L_tᵀ   (Cholesky)
//	log p(y_t | y_{0:t−1}) = −½ (|L_t⁻¹ e_t|² + log det S_t + dy log 2π)
//	K_t = P_t⁻ Cᵀ S_t⁻¹,   m_t = m_t⁻ + K_t e_t
//	P_t = (I − K_t C) P_t⁻ (I − K_t C)ᵀ + K_t R K_tᵀ   (Joseph form)
//
// (Kalman 1960; the prediction-error decomposition of the likelihood, e.g.
// Särkkä, "Bayesian Filtering and Smoothing", 2013.) Matrices are
// factorized, never inverted. The tests check the filter against the
// density of the joint Gaussian of y_{0:T−1}, assembled densely from
//
//	E x_t = A^t μ₀,   Var x_t = Σ_t = A Σ_{t−1} Aᵀ + Q,   Cov(x_t, x_s) = A^{t−s} Σ_s  (s ≤ t),
//	E y_t = C E x_t,  Cov(y_t, y_s) = C Cov(x_t, x_s) Cᵀ + [s = t] R.
//
// # Proposals
//
// A Proposal draws particles and their incremental weights for a particle
// filter. The bootstrap proposal (Gordon, Salmond & Smith 1993) moves by
// the dynamics and weights by the observation density; the locally optimal
// proposal (Doucet, Godsill & Andrieu 2000) draws x_t from p(x_t | x_{t−1},
// y_t), whose weight depends on x_{t−1} only:
//
//	Bootstrap        x_t ~ N(A x_{t−1}, Q),            log α_t = log N(y_t; C x_t, R)
//	LocallyOptimal   x_t ~ N(F x_{t−1} + K y_t, Σ),    log α_t = log N(y_t; C A x_{t−1}, C Q Cᵀ + R)
//	                 K = Q Cᵀ (C Q Cᵀ + R)⁻¹,  F = (I − K C) A,  Σ = (I − K C) Q
//
// (at t = 0, Σ₀ and μ₀ take the place of Q and A x_{t−1}). Both work on
// row-major [n, dx] float64 slices owned by the caller, so a particle
// filter built on them allocates nothing per step.
//
// # Particle filters
//
// SMCModel runs any Proposal as an estimators.SMCModel (particles
// [n, dx] in a Particles, log weights a []float64), so the toolkit's SMC
// routine runs on it directly:
//
//	res := estimators.RunSMC(rng, estimators.SMC{N: 1000}, m.SMCModel(m.Bootstrap(ys)), T)
//	// res.LogZ estimates m.KalmanLogLikelihood(ys)
//
// It satisfies that interface by its methods, without importing
// estimators.
//
// # Invariants
//
//   - A LinearGaussian and its proposals are immutable after construction and
//     may be shared between goroutines; every call that samples takes the
//     caller's *rand.Rand, and the package keeps no random state.
//   - Shapes that do not fit are caller bugs and panic with a message that
//     starts with "statespace:"; a covariance without a Cholesky factor is a
//     property of the data and New returns an error for it.
//
// statespace imports gonum only; it sits on layer 1, beside dist, nn and
// data.
package statespace
