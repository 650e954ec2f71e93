// Package iwae implements the importance weighted bound (Burda, Grosse,
// Salakhutdinov 2016) as auxiliary variable variational inference with an
// energy-inspired model, after "Energy-Inspired Models: Learning with
// Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS
// 2019), Sec. 5.1 and App. A, and the learned reverse model the paper
// proposes there.
//
// # Overview
//
// With a proposal q̃(z | x) and K samples, the IWAE bound is Eq. 5,
//
//	log p(x) ≥ E_{z_{1:K} ~ Π_k q̃(z_k | x)} log (1/K) Σ_k w_k,   w_k = p(x, z_k)/q̃(z_k | x).
//
// It is the auxiliary variable bound of package avvi, Eq. 4,
//
//	E_{q(z, λ | x)}[ log p(x, z) + log r(λ | z, x) − log q(z, λ | x) ],
//
// with q the SNIS family (eimfamily.SNIS conditioned on x) with proposal q̃
// and energy
//
//	U(z | x) = log q̃(z | x) − log p(x, z),
//
// so that λ = (z_{1:K}, i), z = z_i and
//
//	q(z, λ | x) = Π_k q̃(z_k | x) · w_i / Σ_k w_k,
//
// and r the reverse model of Eq. 6,
//
//	r(z_{1:K}, i | z, x) = (1/K) δ_{z_i}(z) Π_{j≠i} q̃(z_j | x).
//
// Plugging in (App. A), with log w_i = log p(x, z_i) − log q̃(z_i | x),
//
//	log p(x, z_i) + log(1/K) + Σ_{j≠i} log q̃(z_j | x) − Σ_k log q̃(z_k | x) − log w_i + log Σ_k w_k
//	    = log (1/K) Σ_k w_k,
//
// the integrand of Eq. 5, for every λ. IWAE.Integrand is the closed form
// (the fast path); IWAE.Assembled computes avvi.Integrand with the family
// and Eq. 6, and the tests check that the two agree sample by sample, and
// that K = 1 gives the ELBO of q̃.
//
// # Learned reverse model
//
// Eq. 6 approximates q(z_{−i} | i, z, x), the optimal reverse model, by
// Π_{j≠i} q̃(z_j | x). The end of Sec. 5.1 proposes a learned
// r(z_{1:K}, i | z, x) = (1/K) δ_{z_i}(z) Π_{j≠i} r(z_j | z, x) instead.
// The same algebra gives the integrand
//
//	log (1/K) Σ_k w_k + Σ_{j≠i} [ log r(z_j | z_i, x) − log q̃(z_j | x) ],
//
// IWAE's plus a correction that vanishes for r = q̃, with expectation
//
//	log p(x) − KL(q(z | x) ‖ p(z | x)) − E_q KL(q(z_{1:K}, i | z, x) ‖ r(z_{1:K}, i | z, x)),
//
// where only the second KL term depends on r: the r that maximizes the
// bound over a family containing q̃ is at least as tight as IWAE. The
// proofs_test package computes the best factorized r of a finite model by
// enumeration, and the tests of this package train the Gaussian conditional on a
// conjugate model; both beat IWAE. The integrand depends
// on i, so Learned.Bound sums i out exactly, with P(i | z_{1:K}) = w_i/Σ_k w_k,
//
//	log (1/K) Σ_k w_k + Σ_i (w_i / Σ_k w_k) Σ_{j≠i} [ log r(z_j | z_i, x) − log q̃(z_j | x) ],
//
// for pathwise gradients; Learned.Integrand keeps the drawn i, for
// unbiased estimates of p(x). Gaussian is a learned r(z' | z, x) from an
// MLP of [z, x]; Independent is r = q̃.
//
// # Chunking over K
//
// IWAE draws and scores its K samples Chunk at a time (IWAE.Chunk; 0 is
// DefaultChunk(n) = max(1, ChunkRows/n), ChunkRows = 2¹³ latent rows), and
// joins only the [K, n] log weights before one log-mean-exp, so the
// bound's computation does not depend on the chunk size: the same bits
// for any Chunk where the model scores a row independently of its batch
// (see IWAE). Integrand keeps every chunk's graph, so its gradient is the
// unchunked one (to rounding in the accumulation); Evaluate drops each
// chunk's graph at once, so an evaluation holds one chunk of activations
// whatever K: 419 MB peak resident for K = 1000 on 100 MNIST images
// against 3.9 GB unchunked (ChunkRows). Learned is not chunked (its Bound scores K² pairs).
//
// # Shapes
//
// Data x is [n, dx] and serves as the proposal's context; K samples of the
// latent are [K, n, dz]; integrands are [n], and s draws [s, n]. The model's
// LogJoint takes z of shape [..., n, dz] (see Model).
package iwae
