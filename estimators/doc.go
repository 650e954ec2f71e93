// Package estimators holds estimators of normalizing constants and of
// their gradients: importance sampling, annealed importance sampling and
// sequential Monte Carlo estimates of log Z; the gradient estimators of
// importance-weighted bounds (reparameterization, STL, DReG, score
// function), VIMCO and Gumbel straight-through; InfoNCE. They are the
// partition-function machinery of "Energy-Inspired Models: Learning with
// Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS
// 2019) and its App. C. The package imports ad, dist, nn and data only.
//
// # Overview
//
// Every estimator returns log Ẑ with Ẑ an unbiased estimate of Z, so that
// E[log Ẑ] ≤ log Z (Jensen) is a lower bound: the integrand of the bounds
// built on top of this package. Results are small structs in log space
// (LogZ, LogWeights, ESS).
//
// # Sequential Monte Carlo
//
// RunSMC is one SMC routine for every use (FIVO's lesson: IWAE is SMC
// that never resamples; Maddison et al. 2017). A model (SMCModel) gives
// targets γ₀, …, γ_{T−1} through proposals q_t and log incremental
// weights
//
//	α₀ⁱ = γ₀(x₀ⁱ) / q₀(x₀ⁱ)
//	α_tⁱ = γ_t(x_{0:t}ⁱ) / (γ_{t−1}(x_{0:t−1}ⁱ) q_t(x_tⁱ | x_{0:t−1}ⁱ)),   1 ≤ t < T.
//
// With N particles, weights w and normalized weights W_tⁱ = w_tⁱ/Σⱼ w_tʲ:
//
//	w₀ⁱ = α₀ⁱ,   Ẑ₀ = (1/N) Σᵢ w₀ⁱ
//	before step t ≥ 1, if the criterion holds for ESS(W_{t−1}):
//	    a ~ resampling(W_{t−1}),   x_{0:t−1}ⁱ ← x_{0:t−1}^{aⁱ},   w_{t−1}ⁱ ← Ẑ_{t−1}
//	w_tⁱ = w_{t−1}ⁱ α_tⁱ,   Ẑ_t = (1/N) Σᵢ w_tⁱ
//	Ẑ = Ẑ_{T−1},   ESS(W) = 1 / Σᵢ (Wⁱ)²
//
// Resetting the weights to Ẑ_{t−1} keeps the mean weight equal to the
// running estimate, so that
//
//	log Ẑ = log Ẑ₀ + Σ_{t=1}^{T−1} log Σᵢ W_{t−1}ⁱ α_tⁱ
//
// holds for any resampling schedule (when nothing is resampled W_{t−1} is
// the running normalized weight; after resampling it is uniform), and
// log Ẑ = log (1/N) Σᵢ w_{T−1}ⁱ is read off the final weights. E[Ẑ] = Z =
// ∫ γ_{T−1} for every resampling scheme below and every criterion (Del
// Moral 2004, "Feynman–Kac Formulae"; the tests check it exactly by
// enumeration). With
// Never it is importance sampling of whole trajectories, log Ẑ =
// log (1/N) Σᵢ Π_t α_tⁱ, the IWAE integrand; with T = 1 every criterion
// gives that.
//
// The criteria are Never, Always and ESSBelow(frac) (resample when
// ESS < frac·N; the zero Criterion is ESSBelow(0.5)).
//
// The log weights are []float64 on the fast path and *ad.Tensor on the
// differentiable path (LogWeights), with one algorithm: the weights are
// updated by ad operations on the second, so ad.LogMeanExp(LogWeights, 0)
// is log Ẑ with the gradient of every reparameterized proposal draw and
// incremental weight — the FIVO / VSMC / AESMC gradient estimator, in
// which resampling indices are constants (the model resamples particles
// with ad.IndexSelect).
//
// # Resampling
//
// A Resampler draws M ancestors from the weights Wⁱ ∝ exp(logwⁱ) (log
// weights max-shifted, normalized or not), each unbiased:
// E[#{k : a_k = i}] = M·Wⁱ. With F the cumulative distribution of W and
// F⁻¹(u) the index i with F_{i−1} ≤ u < F_i:
//
//	Multinomial   a_k = F⁻¹(U₍ₖ₎),        U₍₀₎ ≤ … ≤ U₍M−1₎ sorted iid U[0, 1)
//	Stratified    a_k = F⁻¹((k + u_k)/M),  u_k iid U[0, 1)
//	Systematic    a_k = F⁻¹((k + u)/M),    u ~ U[0, 1)
//	Residual      ⌊M·Wⁱ⌋ copies of i, then R = M − Σᵢ⌊M·Wⁱ⌋ multinomial draws
//	              from the residuals M·Wⁱ − ⌊M·Wⁱ⌋
//
// (Douc, Cappé & Moulines 2005 compare them.) The sorted uniforms of
// Multinomial are generated in order (1 − U₍ₖ₎ = Π_{j≤k} V_j^{1/(M−j)},
// Bentley & Saxe 1980) and merged with the cumulative weights, so every
// scheme takes O(N + M) time with no buffer and writes its ancestors in
// nondecreasing order.
//
// Cumulative sums are floating point: F_{N−1} may round below 1, and a
// point u·Σw may then land at or past the last sum. Such a point goes to
// the last index of positive weight, and a zero-weight index (log weight
// −Inf, or one whose exp underflows after the max-shift) has an empty
// interval: no scheme returns an index out of range or of zero weight.
//
// # Invariants
//
//   - Every sampling call takes the caller's *rand.Rand; the package keeps
//     no random state. The same generator state gives bitwise the same
//     result.
//   - Caller bugs (N < 1, T < 1, log weights of the wrong length, NaN log
//     weights handed to a Resampler) panic with a message that starts with
//     "estimators: ". Weights that turn all zero, NaN or +Inf inside an
//     SMC run are not a caller bug: RunSMC stops resampling and its LogZ
//     is −Inf, NaN or +Inf.
//
// # Estimates of log Z
//
// Every estimate of a normalizing constant is an Estimate built from n log
// weights wᵢ, each exp(wᵢ) an unbiased estimate of Z, kept in log space:
//
//	log Ẑ  = log (1/n) Σᵢ exp(wᵢ)                           (max-shifted)
//	ESS    = (Σᵢ exp wᵢ)² / Σᵢ exp(2wᵢ)
//	StdErr = √( Σᵢ (rᵢ − 1)² / (n(n − 1)) ) = √((n/ESS − 1)/(n − 1)),
//	         rᵢ = exp(wᵢ − log Ẑ)
//
// StdErr is the relative standard error of Ẑ, which by the delta method is
// the standard error of log Ẑ. E[Ẑ] = Z, and E[log Ẑ] ≤ log Z (Jensen).
// One SMC run's particles are not independent, so its weights do not give
// a standard error; ReplicateSMC runs SMC r times and builds the Estimate
// from the r values of log Ẑ.
//
// # Importance sampling
//
// Importance, for an unnormalized target γ with Z = ∫ γ and a normalized
// proposal q that covers γ's support:
//
//	xᵢ ~ q,   wᵢ = log γ(xᵢ) − log q(xᵢ),   Ẑ = (1/n) Σᵢ exp(wᵢ).
//
// # Annealed importance sampling
//
// AIS (Neal 2001) on the geometric path from a normalized π₀ to γ,
//
//	π_β(x) ∝ π₀(x)^{1−β} γ(x)^β,   0 = β₀ < β₁ < … < β_T = 1,
//
//	x₀ ~ π₀,   x_t ~ K_t(x_{t−1}, ·) for t = 1, …, T − 1,
//	w = Σ_{t=1}^{T} (β_t − β_{t−1}) (log γ(x_{t−1}) − log π₀(x_{t−1})),
//
// with each K_t leaving π_{β_t} invariant, so that E[exp w] = Z. The
// kernels are Metropolis–Hastings,
//
//	α = min(1, exp( log π(x′) − log π(x) + log q(x | x′) − log q(x′ | x) )),
//
// with a Gaussian random walk x′ = x + s·ε as the default proposal, and
// Hamiltonian Monte Carlo: ρ ~ N(0, I), L leapfrog steps of size ε,
//
//	ρ ← ρ + (ε/2) ∇ log π(x),   x ← x + ε ρ,   ρ ← ρ + (ε/2) ∇ log π(x),
//	α = min(1, exp( H(x, ρ) − H(x′, ρ′) )),   H(x, ρ) = −log π(x) + ½|ρ|².
//
// # Gradient estimators of importance-weighted bounds
//
// Which bound and which gradient estimator are kept apart: a bound code
// supplies the pieces of L = log (1/K) Σ_k exp(w_k), w_k = log p(x, z_k) −
// log q(z_k | x) (IWAETerms), and IWAESurrogate returns a surrogate whose
// value is L and whose gradient is the estimator chosen by value
// (GradientEstimator). With w̃_k the normalized weights, θ the model's and φ
// q's parameters and z_k = z(ε_k; φ):
//
//	Reparameterized  ∇ L                                          (the default)
//	STL              ∇_φ = Σ_k w̃_k ∂w_k/∂z_k ∂z_k/∂φ             (Roeder et al. 2017; biased for K > 1)
//	DReG             ∇_φ = Σ_k w̃_k² ∂w_k/∂z_k ∂z_k/∂φ            (Tucker et al. 2019; unbiased)
//	ScoreFunction    ∇ = Σ_k w̃_k ∇w_k + L Σ_k ∇ log q(z_k | x)   (z_k constants)
//
// with ∇_θ = Σ_k w̃_k ∇_θ log p(x, z_k) for all of them.
//
// # VIMCO
//
// For K draws h_k ~ q(h | x) of latents that cannot be reparameterized,
// w_k = log p(x, h_k) − log q(h_k | x) and the K-sample bound
// L = log (1/K) Σ_k exp(w_k), the VIMCO estimator (Mnih & Rezende 2016) is
//
//	∇L ≈ Σ_k L̂_k ∇ log q(h_k | x) + Σ_k w̃_k ∇ w_k,   w̃_k = exp(w_k) / Σ_j exp(w_j),
//	L̂_k = L − log (1/K) ( Σ_{j≠k} exp(w_j) + exp(ŵ_{−k}) ),   ŵ_{−k} = (1/(K−1)) Σ_{j≠k} w_j,
//
// computed as the gradient of the surrogate
//
//	L + Σ_k stopgrad(L̂_k) · (log q(h_k | x) − stopgrad(log q(h_k | x))),
//
// whose value is L.
//
// # Numerics
//
// Log weights and scores may be of any finite size and may be ±Inf; the
// results stay right and are never NaN unless an input is NaN. The rule
// behind it: shift by a maximum before exponentiating, and never subtract
// two numbers of the size of the shift.
//
// Estimate computes ESS and StdErr from the max-shifted weights
// uᵢ = exp(wᵢ − max w), with rᵢ = n·uᵢ/Σⱼ uⱼ, never from exp(wᵢ − log Ẑ):
// log Ẑ is rounded at the size of the weights (at 1e16 by up to 1), which
// made [1e16, −Inf] report ESS 4 for n = 2.
//
// VIMCO's leave-one-out sums are prefix plus suffix sums,
//
//	Σ_{j≠k} exp(w_j − m) = Σ_{j<k} e_j + Σ_{j>k} e_j,   e_j = exp(w_j − m),
//	Σ_{j≠k} w_j          = Σ_{j<k} w_j + Σ_{j>k} w_j,
//
// O(K) per point and exact to rounding: no total minus w_k, which cancels
// when w_k dominates and is −Inf − (−Inf) at zero weights. With m the
// maximum, the first sum is at least 1 for every k but the argmax, so
// nothing underflows; the argmax's own sum is shifted by the largest of
// the others. A +Inf log weight makes L = +Inf with zero signals and a
// zero gradient for that point; a log q of ±Inf gets no score-function
// term.
//
// InfoNCE computes
//
//	ℓ_i = log K − log Σ_j exp( f(x_i, y_j) − f(x_i, y_i) )
//
// from differences of scores only, so 1e300 against −1e300 gives log 2 and
// ℓ_i ≤ log K holds exactly; rows with infinite scores get their limits
// (all −Inf: 0) and a zero gradient.
//
// # Gumbel-softmax and straight-through Gumbel
//
// With gᵢ = −log(−log uᵢ), uᵢ ~ U(0, 1), and logits l over k classes:
//
//	Gumbel-max:        j = argmaxᵢ (lᵢ + gᵢ) ~ Categorical(softmax l)
//	Gumbel-softmax:    y = softmax((l + g)/τ)
//	straight-through:  y = onehot(j) + (y_soft − stopgrad(y_soft))
//
// The Gumbel-softmax gradient ∇_l f(y) is unbiased for ∇_l E[f(y)], the
// gradient of the relaxed objective (Jang et al. 2017; Maddison et al. 2017).
// The straight-through value is an exact categorical draw and its gradient
// is ∇f(onehot(j))ᵀ ∂y_soft/∂l, biased for ∇_l E[f(onehot(j))]; the paper
// trains its discrete proposals with it at τ = 0.7.
//
// # InfoNCE and ranking NCE
//
// For K pairs (x_i, y_i) ~ p(x, y) and a critic f (van den Oord et al. 2018),
//
//	ℓ_i = f(x_i, y_i) − log (1/K) Σ_j exp f(x_i, y_j),
//	I_NCE = E[(1/K) Σ_i ℓ_i] ≤ I(X; Y),   ℓ_i ≤ log K.
//
// ℓ_i is the Barber–Agakov integrand log q(y_i | x_i) − log p(y_i) with q
// the SNIS model of Eq. (3) for π = p(y), U(y | x) = −f(x, y) and the other
// pairs' y_j as candidates (App. C). The ranking NCE objective (Ma & Collins
// 2018) for a data point x₀ and noise x_{1:K−1} ~ p_N,
//
//	J = s̄(x₀) − log Σ_{k=0}^{K−1} exp s̄(x_k),   s̄ = s − log p_N,
//
// satisfies, with π = p_N and U = log p_N − s in Eq. (3) (Sec. 3.2),
//
//	log [ π(x₀) e^{−U(x₀)} / ((1/K) Σ_k e^{−U(x_k)}) ] = J + log p_N(x₀) + log K,
//
// a constant in s.
package estimators
