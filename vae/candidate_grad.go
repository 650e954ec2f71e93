package vae

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/estimators"
)

// CandidateGradient chooses how DataSNIS's training gradient treats the
// candidates x_{2:K} ~ π, on which the bound depends through its
// normalizer −log((1/K)(e^{−U(x)} + Σ_j e^{−U(x_j)})).
type CandidateGradient int

const (
	// CandidatePathwise, the zero value, differentiates through the
	// candidates where the proposal's samples are reparameterized (a
	// Gaussian decoder) and not at all through binary candidates, which
	// are constants: the paper's choice for binary data ("we do not
	// backpropagate through the discrete samples").
	CandidatePathwise CandidateGradient = iota
	// CandidateVIMCO adds the score-function term of the ancestral draws
	// (z_j, x_j) with VIMCO's leave-one-out baselines
	// (estimators.VIMCO): with ℓ_j = log p(x_j | z_j) (and log p(z₁ | z₂)
	// for a ConvHVAE) differentiable in the decoder and L = log Ẑ,
	//
	//	∇ E[−L] ≈ −Σ_j (L − L_{−j}) ∇ℓ_j − ∇_U L,
	//
	// L_{−j} the normalizer with e^{−U(x_j)} replaced by the geometric mean
	// of the other K − 1 terms. It is unbiased for the gradient with
	// respect to the decoder (the prior's own parameters, for an EIM prior
	// over z, get no score term). The proposal must be a ScoredSampler.
	CandidateVIMCO
	// CandidateGumbel draws binary candidates by Gumbel straight-through
	// (estimators.StraightThroughGumbel at temperature GumbelTemp): exact
	// Bernoulli values, with the gradient of the relaxed sample (biased).
	// The proposal must be a RelaxedSampler.
	CandidateGumbel
)

func (g CandidateGradient) String() string {
	switch g {
	case CandidatePathwise:
		return "pathwise"
	case CandidateVIMCO:
		return "vimco"
	case CandidateGumbel:
		return "gumbel"
	}
	return fmt.Sprintf("CandidateGradient(%d)", int(g))
}

// ParseCandidateGradient returns the CandidateGradient named s
// (pathwise, vimco or gumbel).
func ParseCandidateGradient(s string) (CandidateGradient, error) {
	for _, g := range []CandidateGradient{CandidatePathwise, CandidateVIMCO, CandidateGumbel} {
		if g.String() == s {
			return g, nil
		}
	}
	return 0, fmt.Errorf("vae: unknown candidate gradient %q (want pathwise, vimco or gumbel)", s)
}

// ScoredSampler is a DataProposal whose ancestral draws come with their
// log-likelihood ℓ = log p(x | z) on the graph (z and x constants), for
// the score-function estimator.
type ScoredSampler interface {
	SampleDataScored(rng *rand.Rand, n int) (x, logp *ad.Tensor)
}

// RelaxedSampler is a DataProposal over binary data whose draws can be
// made by Gumbel straight-through at temperature tau.
type RelaxedSampler interface {
	SampleDataRelaxed(rng *rand.Rand, n int, tau float64) *ad.Tensor
}

var (
	_ ScoredSampler  = (*Model)(nil)
	_ ScoredSampler  = (*ConvHVAE)(nil)
	_ RelaxedSampler = (*Model)(nil)
	_ RelaxedSampler = (*ConvHVAE)(nil)
)

// SampleDataScored draws n ancestral samples as SampleData does (the
// same draws from rng) and returns them as constants with log p(x | z),
// [n], differentiable in the decoder.
func (m *Model) SampleDataScored(rng *rand.Rand, n int) (x, logp *ad.Tensor) {
	z := evalPrior(m.Prior).Sample(rng, n).Detach()
	out := m.Decoder.Logits(z)
	if m.Decoder.RawScale == nil {
		x = dist.NewBernoulli(out.Detach()).Sample(rng)
	} else {
		x = dist.NewNormal(out.Detach(), m.Decoder.scale().Detach()).Sample(rng, 1).Detach()
		x = ad.Reshape(x, n, -1)
	}
	return x, m.Decoder.logProbOut(out, x)
}

// SampleDataRelaxed draws n ancestral samples with binary x by Gumbel
// straight-through at temperature tau: exact Bernoulli(σ(l(z))) values
// whose gradient is the relaxed sample's. A Gaussian decoder's samples
// are reparameterized instead.
func (m *Model) SampleDataRelaxed(rng *rand.Rand, n int, tau float64) *ad.Tensor {
	z := evalPrior(m.Prior).Sample(rng, n).Detach()
	if m.Decoder.RawScale != nil {
		return m.Decoder.sample(rng, z)
	}
	return relaxedBernoulli(rng, m.Decoder.Logits(z), tau)
}

// relaxedBernoulli is Gumbel straight-through for independent Bernoulli
// variables with logits l [n, d]: the two-class softmax of (l, 0), whose
// first component is a Bernoulli(σ(l)) draw.
func relaxedBernoulli(rng *rand.Rand, l *ad.Tensor, tau float64) *ad.Tensor {
	n, d := l.Dim(0), l.Dim(1)
	two := ad.Stack(-1, l, ad.Zeros(n, d)) // [n, d, 2]
	y := estimators.StraightThroughGumbel(rng, two, tau)
	return ad.Reshape(ad.Slice(y, -1, 0, 1), n, d)
}

// SampleDataScored draws n ancestral samples as SampleData does and
// returns them with log p(z₁ | z₂) + log p(x | z₁, z₂), [n],
// differentiable in p(z₁ | z₂) and the decoder.
func (m *ConvHVAE) SampleDataScored(rng *rand.Rand, n int) (x, logp *ad.Tensor) {
	z2 := evalPrior(m.Prior).Sample(rng, n).Detach()
	pz1 := m.pz1(z2)
	z1 := pz1.Detach().Sample(rng).Detach()
	logits := m.Logits(z1, z2)
	x = dist.NewBernoulli(logits.Detach()).Sample(rng)
	return x, ad.Add(pz1.LogProb(z1), dist.NewBernoulli(logits).LogProb(x))
}

// SampleDataRelaxed draws n ancestral samples with Gumbel
// straight-through binary x (z₁ reparameterized given z₂).
func (m *ConvHVAE) SampleDataRelaxed(rng *rand.Rand, n int, tau float64) *ad.Tensor {
	z2 := evalPrior(m.Prior).Sample(rng, n).Detach()
	z1 := m.pz1(z2).RSample(rng, 1)
	z1 = ad.Reshape(z1, n, -1)
	return relaxedBernoulli(rng, m.Logits(z1, z2), tau)
}
