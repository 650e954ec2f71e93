// Package dist holds probability distributions over ad tensors: exact
// sampling, reparameterized sampling and differentiable log densities, the
// building blocks of the proposals, priors, likelihoods and variational
// families of "Energy-Inspired Models: Learning with Sampler-Induced
// Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS 2019).
//
// # Overview
//
// Every distribution is batch-first. A draw has the shape Shape(): for a
// vector-valued distribution (Normal, Bernoulli, Uniform, MixtureNormal)
// the last axis is the event axis of length d and the leading axes are a
// batch; for Categorical a draw is a scalar index and Shape() is the batch.
// Parameters broadcast against each other by NumPy rules, so Loc [d] with
// Scale [d] is one distribution over ℝᵈ and Loc [n, d] is a batch of n.
//
//	Sample(rng, s...)    draws of shape s ++ Shape(), constant
//	RSample(rng, s...)   the same values, differentiable in the parameters
//	LogProb(x)           log p(x), summed over the event axis; x's leading
//	                     axes broadcast with the batch (x [K, n, d] scores
//	                     K samples of a batch of n against Loc [n, d])
//
// The interfaces name one ability each, after gonum's stat/distmv:
// LogProber, Sampler, RSampler, and SampleLogProber and RSampleLogProber
// for consumers that need two. Categorical draws []int rather than a
// tensor, so it is a LogProber only.
//
// # Formulas
//
// Normal, diagonal, with mean μ and standard deviation σ = exp(log σ):
//
//	log p(x)  = Σ_d [−½ ((x_d − μ_d)/σ_d)² − log σ_d − ½ log 2π]
//	x         = μ + σ ⊙ ε,   ε ~ N(0, I)                (RSample)
//	H         = Σ_d [½ log 2πe + log σ_d]
//	KL(p ‖ q) = ½ Σ_d [expm1(2ρ_d) − 2ρ_d + ((μ_d − μ'_d)/σ'_d)²],
//	            ρ_d = log σ_d − log σ'_d
//
// Bernoulli with logits l (P(x_d = 1) = σ(l_d)), one fused pass
// (ad.BernoulliLogLik) with c_d = x_d − [l_d > 0]:
//
//	log p(x) = Σ_d [x_d log σ(l_d) + (1 − x_d) log σ(−l_d)]
//	         = Σ_d [x_d·l_d − softplus(l_d)] = Σ_d [c_d·l_d − log1p(e^−|l_d|)]
//	∂/∂l_d   = x_d − σ(l_d) = c_d ± σ(−|l_d|)
//
// Categorical with logits l over k classes:
//
//	log P(x = j) = l_j − logsumexp(l)
//
// Uniform on the box Π_d [a_d, b_d]:
//
//	log p(x) = −Σ_d log(b_d − a_d) inside the (closed) box, −Inf outside
//	x        = a + (b − a) ⊙ u,   u ~ U[0, 1)ᵈ          (RSample)
//
// Mixture of m diagonal Normals with mixing logits l:
//
//	log p(x) = logsumexp_j [l_j − logsumexp(l) + log N(x; μ_j, diag σ_j²)]
//	j ~ Categorical(l),  x ~ N(μ_j, diag σ_j²)          (Sample, ancestral)
//
// # Invariants
//
//   - Every sampling call takes the caller's *rand.Rand; the package keeps
//     no random state. The same generator state gives bitwise the same
//     draws, and Sample and RSample consume the generator identically and
//     return the same bits.
//   - LogProb, Entropy, KL, RSample and Probs are built from ad operations,
//     so they are differentiable (to any order the ad operations support)
//     in their tensor arguments and the parameters; Sample is a constant.
//   - Log densities are computed in log space: log σ is used directly when
//     the Normal was built from it, Bernoulli uses the last form above (no
//     cancellation at large |l|, limits at infinite l), Categorical
//     and the mixture use max-shifted log-sum-exp.
//   - Caller bugs (shapes that do not fit, a negative sample dimension, an
//     out-of-range class index) panic with a message that starts with
//     "dist: <Type>.<Method>:" (or the constructor's name) and names the
//     shapes. Parameter values (a non-positive scale, high ≤ low) are not
//     checked.
//   - Distributions are immutable values and may be shared between
//     goroutines, each passing its own *rand.Rand.
package dist
