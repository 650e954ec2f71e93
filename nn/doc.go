// Package nn holds the neural-network pieces that every eimkit model trains
// with: dense layers and tanh MLPs over ad tensors, named parameter sets,
// the Adam optimizer with learning-rate schedules, and checkpoints that
// resume a run bit for bit.
//
// The paper, "Energy-Inspired Models: Learning with Sampler-Induced
// Distributions" (Lawson, Tucker, Dai, Ranganath, NeurIPS 2019), App. D,
// parameterizes its energies and its VAE networks as tanh MLPs (2-20-20-1
// on the synthetic targets, two hidden layers of 100 on MNIST) and trains
// everything with Adam at 3·10⁻⁴, dropped to 10⁻⁴ on step 10⁶ for the
// MNIST runs.
//
// # Overview
//
// Linear is y = x·W + B on the last axis of x; MLP stacks Linear layers
// with tanh between them:
//
//	h₀ = x,   hₖ = tanh(hₖ₋₁·Wₖ + Bₖ) for k < L,   y = h_{L−1}·W_L + B_L.
//
// Weights start Glorot-uniform (Glorot & Bengio 2010) and biases at zero:
//
//	W_ij ~ U(−a, a),   a = sqrt(6 / (in + out)),   Var W_ij = a²/3 = 2/(in + out).
//
// Parameters are leaf tensors (ad's RequireGrad). A training step builds
// the loss, takes ad.Grad with respect to the parameters, and hands both
// to Adam.Step, which writes the new values into each parameter's Data in
// place; the graph of the step is then garbage.
//
//	var ps nn.Params
//	ps.Add("energy", mlp.Params()...)
//	opt := &nn.Adam{LR: 3e-4}
//	for step := range steps {
//	    loss := ...                      // built from mlp.Forward
//	    opt.Step(ps.Tensors(), ad.Grad(loss, ps.Tensors()...))
//	}
//
// Adam (Kingma & Ba 2015, Algorithm 1, as torch.optim.Adam computes it) at
// the 1-based step t with gradient g and α_t = LR·Schedule(t):
//
//	m ← β₁·m + (1 − β₁)·g
//	v ← β₂·v + (1 − β₂)·g²
//	m̂ = m / (1 − β₁ᵗ),   v̂ = v / (1 − β₂ᵗ)
//	θ ← θ − α_t · m̂ / (√v̂ + ε)
//
// with defaults α = 10⁻³, β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸. The first step
// therefore moves every coordinate by α·g/(|g| + ε) ≈ α·sign(g).
//
// # Checkpoints
//
// Save writes a Checkpoint (step, named parameters, Adam state, PCG state,
// metadata) atomically; Load validates a file completely before it changes
// anything, restores values into the caller's existing objects, and never
// panics on bad input (it is fuzzed). A run that saves after N steps and
// is resumed in a fresh process with Load continues exactly, bit for bit,
// as if it had not stopped. The format, version 1, little-endian
// throughout:
//
//	header   "EIMKITCK"              8 bytes, magic
//	         version                 uint32 = 1
//	         body length             uint64, bytes
//	body     step                    int64
//	         meta count n            uint32, then n (key, value) strings sorted by key
//	         params present          uint8 0/1; if 1:
//	           tensor count          uint32, then per tensor:
//	             name                string
//	             rank r, dims        uint32, r × uint64
//	             values              ∏dims × float64
//	         adam present            uint8 0/1; if 1:
//	           LR, Beta1, Beta2, Eps 4 × float64 (as set, 0 meaning default)
//	           step t                int64
//	           moment count n        uint32 (0 if t = 0), then per parameter:
//	             length k, m, v      uint64, k × float64, k × float64
//	         rng present             uint8 0/1; if 1:
//	           PCG state             string (rand.PCG.MarshalBinary)
//	trailer  CRC-32C                 uint32, Castagnoli, over header and body
//
// A string is a uint32 byte length and the bytes; a float64 is its IEEE-754
// bit pattern as a uint64, so every value, NaN payloads included,
// round-trips exactly. A file of the wrong kind, another version, a
// truncated or extended file, a checksum mismatch and any malformed body
// give an error wrapping ErrCorrupt; a sound file that does not fit the
// caller's objects gives one wrapping ErrMismatch.
package nn
