// Package data holds the synthetic 2-D targets of Sec. 4.1 and App. D.1 of
// "Energy-Inspired Models: Learning with Sampler-Induced Distributions"
// (Lawson, Tucker, Dai, Ranganath, NeurIPS 2019): nine Gaussians, a
// checkerboard and two rings. Each target draws exact samples and evaluates
// its exact log density, so a learned model's log-likelihood bound can be
// compared with the best attainable value E_p[log p].
//
// # Overview
//
// A Target is a density p on the plane. Points are plain float64 slices: a
// point is a slice of length 2, and a batch of n points is a row-major
// [n, 2] slice of length 2n, following the toolkit's batch-first layout.
// The package imports no other eimkit package.
//
// Nine Gaussians (NineGaussians, "nine-gaussians"): an equal mixture of
// isotropic Gaussians with variance 0.01 on the grid {-1, 0, 1}²,
//
//	p(x) = (1/9) Σ_{a,b ∈ {-1,0,1}} N(x; (a, b), 0.01·I)
//	     = f(x₁) f(x₂),   f(t) = (1/3) Σ_{m ∈ {-1,0,1}} N(t; m, 0.01),
//	E_p[log p] = 2 ∫ f log f dt ≈ -0.429929.
//
// Checkerboard (Checkerboard, "checkerboard"): uniform on the 8 cells of the
// 4×4 unit grid over [-2, 2)² whose indices have an even sum, the corner
// cell [-2, -1)² included,
//
//	cell (i, j) = [-2+i, -1+i) × [-2+j, -1+j),   i, j ∈ {0, 1, 2, 3},
//	p(x) = 1/8 on cells with i + j even, 0 elsewhere,
//	E_p[log p] = -log 8 ≈ -2.079442.
//
// Two rings (TwoRings, "two-rings"): a uniform angle and a radius from an
// equal mixture of N(0.6, 0.1²) and N(1.3, 0.1²), reflected at 0 (a
// negative draw, probability ≈ 4.9e-10, is replaced by its absolute value),
//
//	p_ρ(ρ) = p_s(ρ) + p_s(-ρ),   p_s = ½ N(0.6, 0.1²) + ½ N(1.3, 0.1²),
//	p(x)   = p_ρ(|x|) / (2π |x|),
//	E_p[log p] = E[log p_ρ(ρ)] - log 2π - E[log ρ] ≈ -1.513712.
//
// The paper writes the two rings as p(x, y) ∝ N(√(x²+y²); 0.6, 0.1) +
// N(√(x²+y²); 1.3, 0.1); this package follows the authors' reference code,
// which samples the radius as above and so gives both rings equal mass
// (see TwoRings).
//
// # Invariants
//
//   - Sample takes the caller's *rand.Rand and keeps no random state: the
//     same generator state gives bitwise the same samples.
//   - LogDensity is the exact log density of what Sample draws, including
//     edge cases (half-open checkerboard cells, the reflected radius).
//   - MeanLogDensity is computed, not stored: in closed form for the
//     checkerboard and by composite Gauss–Legendre quadrature, accurate to
//     about 1e-15, for the other two. The tests check it against 40-digit
//     reference values, against Monte Carlo estimates from exact samples,
//     and against a 2-D quadrature of p log p built on LogDensity.
//   - Caller bugs (an odd-length batch, a point that is not 2-D, a nil
//     generator) panic with a message that starts with "data:"; an unknown
//     name passed to ByName is an error.
package data
