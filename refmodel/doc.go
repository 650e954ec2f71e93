// Package refmodel holds the reference models of eimkit: small generative
// models whose evidence log p(x) and posterior p(z | x) are known exactly,
// with exact sampling, so that every bound of the toolkit can be checked
// against the truth. The tests of iwae, sivi, hvi and proofs_test and the
// documentation's examples use these, and only these, so that a model is
// defined once.
//
// It sits on layer 1 of the design (it imports ad and gonum only), so every
// package's tests and examples may import it.
//
// # Conjugate
//
// Conjugate is the model of the IWAE examples, in d dimensions with a
// learnable observation scale:
//
//	z ~ N(0, I),   x | z ~ N(z, diag σ²),
//	p(x)     = N(x; 0, diag(1 + σ²)),
//	p(z | x) = N(x / (1 + σ²), diag(σ² / (1 + σ²))).
//
// # LinearGaussian
//
// LinearGaussian generalizes it to a dx × dz loading matrix W:
//
//	z ~ N(0, I_dz),   x | z ~ N(W z, σ² I_dx),
//	p(x)     = N(x; 0, W Wᵀ + σ² I),
//	p(z | x) = N(Λ⁻¹ Wᵀ x / σ², Λ⁻¹),   Λ = I + Wᵀ W / σ².
//
// A diagonal Gaussian q cannot match a correlated posterior; the best one
// falls short of log p(x) by ½ (Σ_i log Λ_ii − log det Λ) (MeanFieldGap).
//
// # Finite
//
// Finite has a finite latent space, m support points s_1, …, s_m in dz
// dimensions, and a finite observation space, o points in dx dimensions:
//
//	p(z = s_j) = softmax(LogPrior)_j,   p(x = x_i | z = s_j) = exp LogLik[j][i],
//	p(x_i) = Σ_j p(s_j) p(x_i | s_j),   p(s_j | x_i) = p(s_j) p(x_i | s_j) / p(x_i),
//
// so that every expectation over z is a finite sum: bounds built on it are
// checked by enumeration to ~1e-12. Its support serves as an
// eimfamily.Discrete proposal (eimfamily.NewDiscrete(f.Points(), nil)).
//
// # Shapes
//
// The models follow the convention of iwae.Model and sivi.Model: LogJoint
// takes data x of shape [n, dx] and latents z of shape [..., n, dz] and
// returns log p(x, z) of shape [..., n]. Sample returns (z, x) as [n, dz]
// and [n, dx] constants.
package refmodel
