// Package eimfamily implements energy-inspired models: samplers treated as
// models with exact samples and tractable lower bounds on their
// log-likelihood, from "Energy-Inspired Models: Learning with
// Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS
// 2019), Sec. 3, and the LARS baseline of Bauer & Mnih (2018), "Resampled
// Priors for Variational Autoencoders".
//
// # Overview
//
// Every family combines a proposal π (Proposal) and a learned energy U
// (Energy) with a size parameter, and offers exact sampling (Sample) and a
// lower bound on log p(x) whose per-point integrand is a tensor (Bound,
// Integrands, BoundS). The bound of Eq. (2),
//
//	log p(x) ≥ E_{q(λ|x)} [ log p(λ) p(x | λ) − log q(λ | x) ],
//
// treats the sampler's randomness λ as latent variables. An integrand
// ℓ_λ(x) = log p(x, λ) − log q(λ | x) is one draw; exp ℓ_λ is an unbiased
// estimate of p(x), and the S-sample bound log (1/S) Σ_s exp ℓ_λs
// increases with S toward log p(x).
//
// Families work unconditionally (ctx nil; x is [n, d]) or conditionally
// (ctx [n, c]; proposal and energy take the context), so later packages
// can use them as priors and as variational families q(z | x). Shapes:
// Bound is [n], Integrands is [s, n], Sample is [n, d] (or [n, m, d] for a
// context [m, c]). Unconditionally, Bound, BoundS, Integrands and the
// exact LogProb of SNIS, TRS and HIS also take x of any batch shape
// [..., d] (for instance [s, n, d], s latent draws of a VAE with an EIM
// prior) and return [...] (Integrands [s, ...]), so no reshape is needed. Exact draws are constants; bounds are differentiable
// in every parameter (proposal draws are reparameterized where the
// proposal allows it).
//
// Discrete is a finite-support proposal under which p_SNIS and p_TRS can
// be computed exactly by enumeration; the tests of this package and of
// proofs_test use it. Over a Discrete, SNIS.LogProb and TRS.LogProb return
// the exact log-density (differentiable; no hand-made ZEstimate or dummy
// context), and LARS.ExactZ gives the exact Z for LARS.LogProb. Over any
// other proposal they return ErrIntractable: p_SNIS and p_TRS then have no
// closed form, and neither has p_HIS or q_SMC, which have no LogProb.
//
// # Integrands at given draws
//
// Every sampled integrand can also be evaluated at draws the caller
// supplies, which is how exact checks enumerate a finite λ and how
// replayed draws are scored: SNIS.IntegrandsAt (the candidates x_{2:K}),
// TRS.IntegrandsAt (the indices i, from TRS.SampleIndex, and the rejected
// draws; TRS.IndexLogProbs is q(i | x)) and TRS.BoundAt (the T − 1 draws
// of Bound), HIS.IntegrandsAt (the normal draws ξ of ρ_T). With the draws
// Integrands takes from rng, each returns Integrands' bits. LARS has no
// sampled integrand: LARS.LogProb at a given ZEstimate is its value at
// given draws.
//
// # Families as variational families and as proposals
//
// Every family is also a variational family q(z, λ | x) of package avvi,
// conditioned on x as its context, with the paper's reverse model:
// SNIS.AsQ (λ = (z_{1:K}, i), r of Eq. 6), TRS.AsQ (λ = (i, x_{1:i−1}), r
// = q(i | z, x) Π π(x_t | x), which makes the Eq. 4 integrand
// log p(x, z) − ℓ_λ(z)), HIS.AsQ (λ = ρ_T, r = HIS.Q). LARS is trained on
// a plug-in density, not a bound; its process is TRS's, so TRS.AsQ serves
// it. SNISQ.IndexSummed is the Eq. 4 integrand with the selected index
// summed out, whose pathwise gradient trains a learned energy or reverse
// model without a score function (iwae.Learned.Bound is an instance).
//
// RSample draws a family's samples on the graph (HIS: fully
// reparameterized; SNIS, TRS, LARS: the selected or accepted proposal
// draw, pathwise in the proposal at the drawn decisions), and
// AsProposal(m, conditional) makes any family a Proposal: the proposal of
// another family, or the mixing distribution of a semi-implicit family
// (sivi.Family.Mixing), with its exact LogProb where one exists.
//
// A context given to an unconditional MLPEnergy (or none to a conditional
// one) panics with the family method's name (checkEnergy), not a
// network layer's.
//
// # Chunking over S
//
// The S-sample bounds (BoundS, Integrands) of SNIS, TRS and HIS compute
// their samples Chunk at a time (a field of each family; 0 holds about
// ChunkRows = 2¹⁶ proposal draws per chunk) and join the [c, n]
// integrands before one log-mean-exp over S, so the result is the same for
// every chunk size; EvaluateS is BoundS's value without a graph, holding
// one chunk at a time. See ChunkRows for the exact conditions of bitwise
// equality and what chunking does to memory.
//
// # TRS
//
// Truncated rejection sampling, Alg. 1: x_t ~ π accepted with probability
// a(x_t) = σ(−U(x_t)) for t < T, x_T accepted always. With Z = E_π[a],
//
//	p_TRS(x) = π(x) · ( a(x)(1 − α)/Z + α ),   α = (1 − Z)^{T−1}
//	p(i | x) ∝ (1 − Z)^{i−1} a(x)^{[i<T]}
//
// (no factor a(x) for the forced accept at i = T). The variational family
// q(i | x) ∝ (1 − Ẑ)^{i−1} a(x)^{[i<T]} with learned Ẑ = σ(LogitZ), and the
// rejected x_{1:i−1} drawn from π, give the integrand
//
//	ℓ_λ(x) = log π(x) + log Q(x) + Σ_{t<i} ( log(1 − a(x_t)) − log(1 − Ẑ) ),
//	Q(x)   = a(x)(1 − α̂)/Ẑ + α̂,   α̂ = (1 − Ẑ)^{T−1},
//
// and TRS.Bound sums over i exactly:
//
//	log π(x) + log Q(x) + E_q[i − 1] · ( mean_t log(1 − a(x_t)) − log(1 − Ẑ) ).
//
// At Ẑ = Z the gap to log p_TRS(x) is E_q[i − 1] · (log(1 − Z) − E_π log(1 − a)).
//
// # SNIS
//
// Self-normalized importance sampling, Alg. 2: K candidates x_k ~ π, one
// returned with probability ∝ w(x_k) = exp(−U(x_k)). Eq. (3), with the data
// point one of the K terms of the normalizer:
//
//	log p_SNIS(x) ≥ E_{x_{2:K} ~ π} log [ π(x) w(x) / ( (1/K)(w(x) + Σ_{j=2}^{K} w(x_j)) ) ].
//
// # LARS
//
// Learned accept/reject sampling (Bauer & Mnih 2018): the process of TRS,
// trained on the closed form
//
//	log p(x) = log π(x) + log( a(x)(1 − α)/Z + α ),   α = (1 − Z)^{T−1},
//
// with Z estimated from K proposal draws per step and smoothed by a moving
// average (the forward pass uses the average, the gradient flows through
// the current estimate), and evaluated with Z from many draws. It is an
// estimate of log p(x), not a bound.
//
// # HIS
//
// Hamiltonian importance sampling, Sec. 3.3, Alg. 3 (after Neal 2005): a
// proposal draw moved by T leapfrog steps on the learned potential U, with a
// temperature change after each step. With step size ε ∈ ℝᵈ and
// temperatures α₀, …, α_T,
//
//	x₀ ~ π(x | c),   ρ₀ ~ N(0, I),   ρ ← α₀ ρ₀
//	for t = 1, …, T:
//	    ρ ← ρ − (ε/2) ⊙ ∇ₓU(x | c)
//	    x ← x + ε ⊙ ρ
//	    ρ ← α_t (ρ − (ε/2) ⊙ ∇ₓU(x | c))
//	return x_T
//
// parameterized, as in the authors' code, so that the temperatures multiply
// to 1:
//
//	ε = softplus(RawEps),   log α_t = log σ(RawAlpha_t) (t ≥ 1),   log α₀ = −Σ_{t≥1} log α_t.
//
// Every kick and drift is a shear and each α_t scales volume by α_tᵈ, so the
// map F: (x₀, ρ₀) ↦ (x_T, ρ_T), ρ₀ the momentum before the scaling by α₀,
// has |det ∂F| = (∏_t α_t)ᵈ = 1 and p(x_T, ρ_T | c) = π(x₀ | c) N(ρ₀; 0, I)
// at (x₀, ρ₀) = F⁻¹(x_T, ρ_T). F⁻¹ runs the dynamics backward: the same
// leapfrog on the negated momentum with the temperatures reversed and
// inverted. With q(ρ_T | x_T, c) = N(μ, diag(s)²), (μ, log s) = Q([x_T, c]),
// Eq. (2) gives
//
//	ℓ(x_T) = log π(x₀ | c) + log N(ρ₀; 0, I) − log q(ρ_T | x_T, c),   ρ_T = μ + s ⊙ ξ,
//	log p_HIS(x_T | c) ≥ E_ξ[ℓ(x_T)],   and BoundS: E log (1/s) Σ_r exp ℓ_r.
//
// Every ∇ₓU is recorded (ad.GradGraph), so training differentiates through
// it.
//
// # SMC
//
// Sequential Monte Carlo as a model (Sec. 5.3): run SMC with N particles
// (estimators.RunSMC) and return one final trajectory, chosen with
// probability proportional to its final weight and traced back through the
// ancestry. Its density has the exact representation of particle MCMC's
// extended target, with CSMC(x) conditional SMC around the reference
// trajectory x and γ the final target,
//
//	q_SMC(x) = γ(x) · E_{CSMC(x)}[ 1/Ẑ ],   log q_SMC(x) ≥ E_{CSMC(x)}[ log γ(x) − log Ẑ ],
//
// the multi-step analogue of Eq. (3). As a variational family with r =
// CSMC, the Eq. (4) integrand is log Ẑ: the FIVO / VSMC / AESMC bound.
package eimfamily
