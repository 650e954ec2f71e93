// Package ad provides dense float64 tensors with define-by-run
// reverse-mode automatic differentiation, including gradients of
// gradients.
//
// # Overview
//
// A Tensor is a row-major N-d array. Operations (Add, MatMul, Tanh,
// LogSumExp, ...) build new tensors; binary operations broadcast by NumPy's
// rules. If any input of an operation requires a gradient (it was marked
// with RequireGrad, or computed from such a tensor), the operation records
// a node holding its inputs and its backward function; otherwise nothing is
// recorded and the operation costs what the arithmetic costs.
//
// Grad(y, w₁, …, wₙ) walks the recorded graph from the scalar y in reverse
// topological order and returns ∂y/∂wᵢ. Each operation contributes its
// vector–Jacobian product: for y = f(x) and an incoming gradient g = ∂L/∂y,
//
//	∂L/∂x = gᵀ ∂f/∂x
//
// and contributions to a tensor used more than once are summed. Only the
// part of the graph that leads to some wᵢ is visited.
//
// GradGraph does the same but records the backward computation itself,
// because every backward function is written with the same differentiable
// operations. Its results can be differentiated again: Hamiltonian
// importance sampling needs ∇_θ of a loss built from ∇ₓU_θ(x), which is
//
//	g  = GradGraph(Sum(U(x)), x)[0]     // ∇ₓU, recorded
//	L  = Mean(U(x − ε·g))
//	∇θ = Grad(L, θ...)                  // differentiates through g
//
// Detach is the stop-gradient: a detached tensor shares values and is a
// constant to the graph.
//
// # Numerics
//
// LogSumExp is max-shifted,
//
//	logsumexp(x) = m + log Σᵢ exp(xᵢ − m),  m = maxᵢ xᵢ,
//
// and a slice that is all −Inf gives −Inf, never NaN; its gradient, the
// softmax exp(xᵢ − logsumexp(x)), is exactly 0 at −Inf entries (and on all
// −Inf slices). LogMeanExp subtracts log n; LogSoftmax and Softmax follow.
// Sigmoid, LogSigmoid and Softplus are evaluated in forms that do not
// overflow for large |x|. BernoulliLogLik fuses the Bernoulli
// log-likelihood summed over the last axis,
//
//	Σ_d [x_d·l_d − softplus(l_d)] = Σ_d [c_d·l_d − log1p(e^−|l_d|)],  c_d = x_d − [l_d > 0],
//
// which does not cancel at large |l| and has the right limits at
// infinite l; its l-gradient x − σ(l) is computed as c ± σ(−|l|).
//
// # Invariants
//
// Tensors are immutable once used: operations never write to their inputs,
// and Reshape shares the input's backing array. Optimizers update
// parameter leaves in place between steps, which is safe because no
// operation caches values across calls.
//
// Shape mismatches are programming errors and panic with a message that
// starts with "ad: ", names the operation and the shapes.
//
// On amd64 with AVX2 and FMA, matrix products, tanh and tanh's backward,
// and exp, log, log1p, softplus, log-sigmoid, sigmoid and the Bernoulli
// log-likelihood and its gradient are assembly kernels (the purego build
// tag turns them off). Small and skinny products run on strided 4×8
// tiles, larger ones on a packed, cache-blocked product with an AVX-512
// 8×24 micro-kernel where the CPU has AVX-512 (the 4×8 tile otherwise).
// Every entry of a product is one FMA chain over the inner index in
// increasing order, whichever path, tile, block size or number of
// goroutines computes it, so products give the same bits on every machine
// with the kernels; they round differently from the portable loops. tanh
// is within 1.4 ulp of the exact value as math.Tanh is; exp, log and
// log1p are within 1 ulp, softplus and log-sigmoid 1.5, sigmoid 2.5
// (docs/ad.md, "Transcendentals"). The portable path computes the same
// algorithms in scalar Go, not through package math, whose amd64 exp
// overflows from x ≈ 709.5 and whose log is wrong on subnormals. Without
// the kernels, small products run on portable loops and large ones
// through gonum's blas64, which the netlib build tag routes to OpenBLAS
// (used single-threaded, split in two by ad).
//
// A training loop can hand each step's intermediate buffers back for
// reuse with Release once it has taken the gradients and read the values
// it wants; otherwise the garbage collector reclaims them.
//
// Large elementwise kernels and products are split in two, half on the
// calling goroutine and half on a helper goroutine that spin-waits briefly between pieces of work; every
// entry is computed by the same code either way, so results are bitwise
// independent of it. SetMaxThreads(1) turns the helper off, which a
// program running several computations at once should do.
package ad
