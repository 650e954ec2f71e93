// Package vsmc implements variational sequential Monte Carlo: the bounds
// E[log Ẑ] ≤ log p(y_{0:T−1}) of SMC run on a state-space model with a
// learned proposal — the ELBO, IWAE, FIVO (Maddison et al., "Filtering
// Variational Objectives", NeurIPS 2017), VSMC (Naesseth, Linderman,
// Ranganath & Blei, "Variational Sequential Monte Carlo", AISTATS 2018)
// and AESMC (Le, Igl, Rainforth, Jin & Wood, "Auto-Encoding Sequential
// Monte Carlo", ICLR 2018) — trained by reparameterization, with an
// optional score-function term that makes the gradient unbiased.
//
// In "Energy-Inspired Models: Learning with Sampler-Induced
// Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS 2019), Sec. 5.3,
// these bounds are the auxiliary-variable bound of Eq. (4) with the SMC
// sampler as the variational family: eimfamily.SMC is that family, and
// this package supplies its pieces for a state-space model.
//
// # Model and proposal
//
// A state-space model (Model) and a proposal (Proposal, e.g.
// GaussianProposal) over T steps t = 0, …, T−1,
//
//	p(x_{0:T−1}, y_{0:T−1}) = μ(x₀) g(y₀ | x₀) Π_{t≥1} f(x_t | x_{t−1}) g(y_t | x_t),
//	q(x_{0:T−1} | y)        = q(x₀ | y₀) Π_{t≥1} q(x_t | x_{t−1}, y_t),
//
// give SMC the targets γ_t = p(x_{0:t}, y_{0:t}) and the incremental
// weights
//
//	α₀ = μ(x₀) g(y₀ | x₀) / q(x₀ | y₀),   α_t = f(x_t | x_{t−1}) g(y_t | x_t) / q(x_t | x_{t−1}, y_t).
//
// # The bound
//
// With N particles, weights w_tⁱ and normalized weights W_tⁱ, resampling
// before step t when the criterion says so (estimators.RunSMC),
//
//	Ẑ = Ẑ₀ Π_{t≥1} Σᵢ W_{t−1}ⁱ α_tⁱ,   E[Ẑ] = p(y),   so   E[log Ẑ] ≤ log p(y),
//
// and the choice of criterion names the bound (Objective):
//
//	ELBO    N = 1                   E_q[log p(x, y) − log q(x | y)]
//	IWAE    never resample          E[log (1/N) Σᵢ Π_t α_tⁱ]
//	FIVO    resample if ESS < N/2   (the FIVO paper's adaptive scheme)
//	AESMC   resample every step     (VSMC and AESMC as published)
//
// With the never criterion SMC is importance sampling of whole
// trajectories, so IWAE is literally SMC with estimators.Never: the same
// draws from the same seed give the same bits (the tests check it).
//
// # Gradients
//
// The proposal draws are reparameterized, x_tⁱ = h_θ(x_{t−1}^{a_tⁱ}, y_t, ε_tⁱ),
// and the ancestors a_t are discrete draws with probabilities
// P_θ(a_t | F_{t−1}) = Πᵢ W_{t−1}^{a_tⁱ}, which depend on θ. So
//
//	∇_θ E[log Ẑ] = E[ ∇_θ log Ẑ |_{ε, a fixed} ]
//	             + E[ log Ẑ · Σ_{t resampled} ∇_θ log P_θ(a_t | F_{t−1}) ].
//
// The published methods keep only the first term (resampling passes no
// gradient): Bound's gradient by default. It is biased whenever SMC
// resamples; the second term is the one they drop, because its variance
// is high. With Options.ResamplingGradient, Bound adds the second term
// with the baseline log Ẑ_{t−1} (the estimate before the resampling at t,
// which does not depend on a_t, so subtracting it keeps the term unbiased
// and removes the factors of Ẑ fixed before t):
//
//	surrogate = log Ẑ + S − stop(S),   S = Σ_{t resampled} stop(log Ẑ − log Ẑ_{t−1}) · Σᵢ log W_{t−1}^{a_tⁱ},
//
// whose value is log Ẑ and whose gradient is the sum of both terms.
// Even so the coefficient log Ẑ − log Ẑ_{t−1}, the log-likelihood of
// y_{t:T−1}, is tens of nats away from zero, and training with the bare
// term fails (on the VSMC example the trained bound ends several nats below
// the published estimator's). Options.Baseline subtracts, per step t, a
// moving average of that coefficient over earlier calls (a control variate
// independent of the current run, so still unbiased); with it the
// unbiased estimator trains, on the VSMC example about as well as the
// published one.
// log P(a_t) = Σᵢ log W_{t−1}^{a_tⁱ} (up to a constant) holds for
// multinomial resampling; stratified, systematic and residual ancestors
// have other distributions, and Bound refuses them with the option.
//
// Which is which:
//
//   - Never (ELBO, IWAE): no resampling, no second term; the
//     reparameterization gradient is unbiased either way.
//   - Always, or any schedule fixed in advance: the default gradient is
//     biased; with ResamplingGradient it is unbiased (the tests check
//     this exactly, by enumeration, on a finite model).
//   - ESSBelow: the decision to resample is a deterministic, θ-dependent
//     threshold of the weights, and log Ẑ jumps where it flips. The
//     gradient of E[log Ẑ] then has a boundary term that neither
//     estimator contains, so with continuous states even the
//     ResamplingGradient estimator is not exactly unbiased. (With finite
//     states and a fixed proposal the decision is locally constant in θ
//     and the estimator is unbiased wherever E[log Ẑ] is differentiable.)
//
// # Reference model
//
// LinearGaussian wraps statespace.LinearGaussian with differentiable log
// densities; its Kalman filter (statespace) gives log p(y) exactly, so the
// bounds are checked against the truth: statespace.VSMCExample is the VSMC
// paper's setup (T = 10, dx = 5, dy = 3, A_ij = 0.42^(|i−j|+1), Q = I,
// R = 0.1·I, C = [I₃ 0]).
//
// # Invariants
//
//   - Every call that samples takes the caller's *rand.Rand; the same seed
//     gives the same bits.
//   - Bound's value is log Ẑ whatever the Options; only its gradient
//     differs.
//   - Misuse (shapes, N < 0, a resampler the score term cannot use)
//     panics with a message starting "vsmc: ".
package vsmc
