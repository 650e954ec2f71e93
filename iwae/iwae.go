package iwae

import (
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
)

// Model is the generative model p(x, z) over tensors. IWAE evaluates it on
// all K samples at once, so LogJoint takes data x of shape [n, dx] and
// latents z of shape [..., n, dz] and returns log p(x, z) of shape [...,
// n]: the leading axes of z (the K samples) pass through, as for
// eimfamily.Proposal with x as the context.
type Model = avvi.Model[*ad.Tensor, *ad.Tensor]

// Compile-time checks: the SNIS family conditioned on x is an avvi Q, and
// the reverse models of Eq. 6 and of the learned extension are avvi Rs.
var (
	_ avvi.Q[*ad.Tensor, *ad.Tensor, eimfamily.SNISAux] = eimfamily.SNISQ{}
	_ avvi.R[*ad.Tensor, *ad.Tensor, eimfamily.SNISAux] = eimfamily.SNISReverse{}
	_ avvi.R[*ad.Tensor, *ad.Tensor, eimfamily.SNISAux] = Reverse{}
	_ eimfamily.Energy                                  = Energy{}
)

// Energy is the energy of Sec. 5.1 that makes SNIS with proposal q̃ a
// variational family aimed at the posterior:
//
//	U(z | x) = log q̃(z | x) − log p(x, z),   so   w(z | x) = exp(−U) = p(x, z)/q̃(z | x),
//
// the importance weight of z. It takes the context x ([n, dx]) and z
// ([..., n, dz]) and returns [..., n].
type Energy struct {
	Proposal eimfamily.Proposal
	Model    Model
}

// Energy returns log q̃(z | x) − log p(x, z).
func (e Energy) Energy(x, z *ad.Tensor) *ad.Tensor {
	return ad.Sub(e.Proposal.LogProb(x, z), e.Model.LogJoint(x, z))
}

// Params returns nil. U is differentiable in the parameters of q̃ and p,
// but those belong to the proposal and the model, which the caller trains
// (listing them here would make SNIS.Params list q̃'s twice).
func (Energy) Params() []*ad.Tensor { return nil }

// IWAE is the importance weighted bound of Burda et al. (2016), Eq. 5,
// with K samples from the proposal q̃(z | x):
//
//	log p(x) ≥ E_{z_{1:K} ~ Π_k q̃(z_k | x)} log (1/K) Σ_k p(x, z_k)/q̃(z_k | x).
//
// Integrand is the closed form (the fast path). Assembled computes the same
// number as AVVI, Eq. 4, with q the SNIS family of Family and r the
// reverse model of Eq. 6 (App. A); the two agree sample by sample on
// shared draws.
//
// The bound holds only the setting K; the model p and the proposal q̃ are
// arguments. The proposal is conditional, with x as its context: Sample(rng,
// x, K) gives [K, n, dz] and LogProb(x, z) gives [K, n] (an unconditional
// eimfamily.Normal works as well: it draws per row of x and ignores x).
// The zero value is not usable: K ≥ 1 (K = 1 is the ELBO of q̃).
//
// Chunking. The K samples are drawn and scored Chunk at a time (the
// proposal's Sample called with k = Chunk, the last chunk shorter), and
// only the [K, n] log weights of all chunks are joined before the one
// log-mean-exp over K, so the log-mean-exp is the same computation for
// every chunk size. The result is bitwise the same for any Chunk when the
// proposal's draws for k samples are the first k of its draws for more
// (every proposal in eimkit, which draw row-major from rng) and when the
// model and the proposal score a row the same bits whatever batch it is
// in: true for ad's own product kernels (small products, as on the 2-D
// models); products large enough for gonum's Dgemm (see package ad) may
// round differently with the batch size, then chunk sizes agree to
// rounding only. Integrand keeps every chunk's graph for the gradient, so
// chunking bounds the memory of a forward pass without gradients
// (Evaluate), not of training.
type IWAE struct {
	K int
	// Chunk is the number of samples evaluated at once; 0 means
	// DefaultChunk(n) for a batch of n points. A negative Chunk panics.
	Chunk int
}

// ChunkRows is the number of latent rows (samples × data points) that a
// default chunk holds: 2¹³. Measured on the paper's MNIST evaluation
// (Evaluate, K = 1000, 100 binarized images, a 50-300-300-784 Bernoulli
// decoder, N(0, I) proposal), the process peaks at 419 MB resident with
// this default (81 samples a chunk), 837 MB with 2¹⁴, 3.9 GB unchunked;
// Integrand, which keeps every chunk's graph, 3.7 GB.
const ChunkRows = 1 << 13

// DefaultChunk returns the chunk size used when Chunk is 0, for a batch
// of n points: max(1, ChunkRows/n).
func DefaultChunk(n int) int { return max(1, ChunkRows/max(n, 1)) }

func (b IWAE) chunk(n int) int {
	if b.Chunk > 0 {
		return b.Chunk
	}
	return DefaultChunk(n)
}

func (b IWAE) check(who string) {
	if b.K < 1 {
		panic(fmt.Sprintf("iwae: IWAE.%s: K = %d, want K ≥ 1", who, b.K))
	}
	if b.Chunk < 0 {
		panic(fmt.Sprintf("iwae: IWAE.%s: Chunk = %d, want Chunk ≥ 0 (0: DefaultChunk)", who, b.Chunk))
	}
}

// Integrand returns one draw of the IWAE integrand for each data point,
// [n]: K samples z_k ~ q̃(z | x), then IntegrandAt, computed Chunk
// samples at a time (see the type's comment). exp of it is an unbiased
// estimate of p(x). It is differentiable in p's parameters and in q̃'s
// (through log q̃ and, where q̃ reparameterizes its draws, through
// z_{1:K}). It panics if K < 1, Chunk < 0 or x is not [n, dx].
func (b IWAE) Integrand(rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor) *ad.Tensor {
	b.check("Integrand")
	checkX("IWAE.Integrand", x)
	return ad.LogMeanExp(b.logWeights("IWAE.Integrand", rng, p, qt, x, false), 0)
}

// Evaluate returns Integrand's value as a constant, [n], bitwise equal to
// Integrand's with the same rng state: each chunk's graph is dropped as
// soon as its log weights are computed, so the memory in use is that of
// one chunk plus the [K, n] log weights, for any K. It is the evaluation
// path (the paper's 5000-sample test bound), where nothing is
// differentiated.
func (b IWAE) Evaluate(rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor) *ad.Tensor {
	b.check("Evaluate")
	checkX("IWAE.Evaluate", x)
	return ad.LogMeanExp(b.logWeights("IWAE.Evaluate", rng, p, qt, x.Detach(), true), 0)
}

// logWeights draws the K samples chunk by chunk and returns their log
// weights [K, n], detached per chunk if detach is set.
func (b IWAE) logWeights(who string, rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor, detach bool) *ad.Tensor {
	c := b.chunk(x.Dim(0))
	var parts []*ad.Tensor
	for lo := 0; lo < b.K; lo += c {
		lw := logWeightsWho(who, p, qt, x, qt.Sample(rng, x, min(c, b.K-lo)))
		if detach {
			lw = lw.Detach()
		}
		parts = append(parts, lw)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return ad.Concat(0, parts...)
}

// IntegrandAt returns the IWAE integrand, Eq. 5, at given samples z
// ([K, n, dz]) for data x ([n, dx]):
//
//	log (1/K) Σ_k exp(log p(x, z_k) − log q̃(z_k | x)),   [n],
//
// a max-shifted log-mean-exp. It panics if the shapes do not fit.
func IntegrandAt(p Model, qt eimfamily.Proposal, x, z *ad.Tensor) *ad.Tensor {
	return ad.LogMeanExp(logWeightsWho("IntegrandAt", p, qt, x, z), 0)
}

// Integrands returns s independent draws of the integrand, [s, n], each
// chunked as Integrand is.
func (b IWAE) Integrands(rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor, s int) *ad.Tensor {
	return avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor { return b.Integrand(rng, p, qt, x) })
}

// Family returns the variational family of Sec. 5.1: SNIS with proposal q̃,
// energy U = log q̃ − log p(x, ·) and K candidates, to be conditioned on x
// with AsQ.
func (b IWAE) Family(p Model, qt eimfamily.Proposal) *eimfamily.SNIS {
	b.check("Family")
	return &eimfamily.SNIS{Proposal: qt, Energy: Energy{Proposal: qt, Model: p}, K: b.K}
}

// Assembled returns one draw of the Eq. 4 integrand with q the SNIS family
// (Family) and r the reverse model of Eq. 6, [n]:
//
//	avvi.Integrand(rng, p, q, q.Reverse(), x),   q = b.Family(p, qt).AsQ().
//
// It equals the closed form IntegrandAt at the same candidates up to
// rounding (App. A), and so do its gradients: the integrand does not
// depend on the selected index, so the pathwise gradient at the drawn
// index is unbiased. It draws the candidates from rng as Integrand does
// (then one index per data point), so the same seed gives the same
// candidates. It evaluates the proposal three times and the model twice,
// and took 1.3× the closed form's time in BenchmarkIWAE (K = 100, 100
// points in 20 dimensions: 18.0 ms against 13.8 ms).
func (b IWAE) Assembled(rng *rand.Rand, p Model, qt eimfamily.Proposal, x *ad.Tensor) *ad.Tensor {
	q := b.Family(p, qt).AsQ()
	return avvi.Integrand(rng, p, q, q.Reverse(), x)
}

// logWeightsWho returns log p(x, z_k) − log q̃(z_k | x), [K, n]; who names
// the caller's function in a panic.
func logWeightsWho(who string, p Model, qt eimfamily.Proposal, x, z *ad.Tensor) *ad.Tensor {
	if z == nil || z.Rank() != 3 || x == nil || x.Rank() != 2 || z.Dim(1) != x.Dim(0) || z.Dim(2) != qt.Dim() {
		panic(fmt.Sprintf("iwae: %s: samples of shape %v for x of shape %v, want [K, n, %d] with x [n, dx]", who, shapeOf(z), shapeOf(x), qt.Dim()))
	}
	return ad.Sub(p.LogJoint(x, z), qt.LogProb(x, z))
}

func checkX(who string, x *ad.Tensor) {
	if x == nil || x.Rank() != 2 {
		panic(fmt.Sprintf("iwae: %s: x shape %v, want [n, dx]", who, shapeOf(x)))
	}
}

func shapeOf(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}

// ProposalQ is the proposal q̃(z | x) as an avvi Q with no auxiliary
// variable, for the ELBO of q̃ (avvi.ELBO, Eq. 1), which is IWAE with
// K = 1. Sample returns one draw z ([n, dz]) and log q̃(z | x) ([n]).
type ProposalQ struct {
	Proposal eimfamily.Proposal
}

var _ avvi.Q[*ad.Tensor, *ad.Tensor, avvi.None] = ProposalQ{}

// Sample draws z ~ q̃(z | x) and returns it with log q̃(z | x).
func (q ProposalQ) Sample(rng *rand.Rand, x *ad.Tensor) (*ad.Tensor, avvi.None, *ad.Tensor) {
	checkX("ProposalQ.Sample", x)
	z := q.Proposal.Sample(rng, x, 1)
	z = ad.Reshape(z, z.Dim(1), z.Dim(2))
	return z, avvi.None{}, q.Proposal.LogProb(x, z)
}
