package vae

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/nn"
)

// DataProposal is a latent-variable model π(x) = ∫ p(x | z) p(z) dz
// used as the proposal of an EIM over the data x (Table 1's "SNIS w/
// VAE proposal", Table 2's SNIS and HIS with a VAE proposal). Its density
// is not tractable; the EIMs use it only through ancestral samples, a
// differentiable lower-bound integrand and unbiased density estimates.
// *Model and *ConvHVAE are DataProposals.
type DataProposal interface {
	// SampleData draws n ancestral samples x ~ π, [n, dx]: z from the
	// prior, x from p(x | z). Binary samples are constants; samples of a
	// continuous (Gaussian) decoder are reparameterized given z, so
	// gradients reach the decoder.
	SampleData(rng *rand.Rand, n int) *ad.Tensor
	// Objective is the proposal's training objective for x [n, dx], [n]:
	// one draw of its ELBO integrand with KL weight β, E ≤ log π(x) at
	// β = 1 (Model.Objective).
	Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor
	// LogWeights returns S draws of log π̂(x) for x [n, dx], [S, n], with
	// E π̂(x) = π(x) (the importance weights of Model.LogWeights), as
	// constants.
	LogWeights(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) (*ad.Tensor, error)
	// Params returns the learnable tensors, named.
	Params() *nn.Params
}

var (
	_ DataProposal = (*Model)(nil)
	_ DataProposal = (*ConvHVAE)(nil)
)

// SampleData draws n ancestral samples: z ~ p(z) exactly, then x ~ p(x |
// z) (Bernoulli draws, constants; for a Gaussian decoder μ(z) + σ ⊙ ε,
// differentiable in the decoder's parameters).
func (m *Model) SampleData(rng *rand.Rand, n int) *ad.Tensor {
	if n < 0 {
		panic(fmt.Sprintf("vae: Model.SampleData: n = %d", n))
	}
	z := evalPrior(m.Prior).Sample(rng, n).Detach()
	return m.Decoder.sample(rng, z)
}

// SampleData draws n ancestral samples z₂ ~ p(z₂), z₁ ~ p(z₁ | z₂), x ~
// p(x | z₁, z₂) (Bernoulli draws, constants).
func (m *ConvHVAE) SampleData(rng *rand.Rand, n int) *ad.Tensor {
	if n < 0 {
		panic(fmt.Sprintf("vae: ConvHVAE.SampleData: n = %d", n))
	}
	c := m.detached()
	z2 := evalPrior(m.Prior).Sample(rng, n).Detach()
	z1 := c.pz1(z2).Sample(rng)
	return dist.NewBernoulli(c.Logits(z1, z2)).Sample(rng)
}

// dataStreams are the stream kinds of the data EIMs' evaluation.
const (
	streamDataProposal = 201 + iota // (image block): the proposal's π̂ draws
	streamDataCands                 // (sample s): the K − 1 candidates of sample s, shared by the images
	streamDataHIS                   // (image block, sample s): HIS's ξ
	streamDataZ                     // (): LARS's draws for Z
)

// dataBlock is the number of images of one call of the proposal's
// LogWeights in the evaluations below, each block with its own stream.
const dataBlock = 100

// centered is U(x − x̄), the authors' energy_fn(x − data_mean).
type centered struct {
	U    eimfamily.Energy
	Mean *ad.Tensor // nil: none
}

func (e centered) Energy(ctx, x *ad.Tensor) *ad.Tensor {
	if e.Mean != nil {
		x = ad.Sub(x, e.Mean)
	}
	return e.U.Energy(ctx, x)
}

func (e centered) Params() []*ad.Tensor { return e.U.Params() }

// DataSNIS is SNIS(π, U, K) over the data with a latent-variable proposal
// π (Sec. 3.2 with π a VAE; see the package doc): K candidates x_k ~ π
// drawn ancestrally, one returned with probability ∝ exp(−U(x_k)). Its
// bound replaces log π(x) in Eq. (3) by the proposal's estimate:
//
//	log p_SNIS(x) ≥ E [ log π̂(x) − U(x) − log( (1/K) (e^{−U(x)} + Σ_{j=2}^{K} e^{−U(x_j)}) ) ].
//
// The K − 1 candidates of one draw are shared by the batch, as the
// authors' code does. U sees x − Mean.
type DataSNIS struct {
	Proposal DataProposal
	Energy   eimfamily.Energy
	// Mean is x̄ ([dx], a constant) subtracted from the energy's input;
	// nil means none.
	Mean *ad.Tensor
	// K is the number of candidates, the data point included; K = 1 is
	// the proposal itself.
	K int
	// StopCandidateGradients cuts the gradient through the candidates
	// (which only a continuous proposal's reparameterized samples have;
	// binary candidates are constants). The zero value lets it flow, as
	// the authors' reparameterize_proposal default does.
	StopCandidateGradients bool
	// Gradient is the training gradient through the candidates; the zero
	// value is CandidatePathwise (none through binary candidates).
	Gradient CandidateGradient
	// GumbelTemp is CandidateGumbel's temperature; 0 means 0.7 (the
	// authors' gst_temperature).
	GumbelTemp float64
}

func (m *DataSNIS) energy() eimfamily.Energy { return centered{m.Energy, m.Mean} }

func (m *DataSNIS) check(who string, x *ad.Tensor) {
	if m.Proposal == nil || m.Energy == nil || m.K < 1 {
		panic(fmt.Sprintf("vae: DataSNIS.%s: nil Proposal or Energy, or K = %d < 1", who, m.K))
	}
	if x == nil || x.Rank() != 2 {
		panic(fmt.Sprintf("vae: DataSNIS.%s: x shape %v, want [n, dx]", who, shapeOf(x)))
	}
}

// Params returns the energy's parameters, then the proposal's, named
// energy.* and proposal.<the proposal's names>.
func (m *DataSNIS) Params() *nn.Params { return dataParams(m.Energy.Params(), m.Proposal) }

func dataParams(energy []*ad.Tensor, p DataProposal) *nn.Params {
	var ps nn.Params
	if len(energy) > 0 {
		ps.Add("energy", energy...)
	}
	for name, t := range p.Params().All() {
		ps.Add("proposal."+name, t)
	}
	return &ps
}

// snisRest is the Eq. (3) integrand without log π: −U(x) − log((1/K)
// (e^{−U(x)} + e^{lse})), lse = log Σ_j e^{−U(x_j)} over the candidates
// (broadcast against negUx).
func snisRest(negUx, lse *ad.Tensor, K int) *ad.Tensor {
	logZ := ad.AddScalar(ad.LogSumExp(ad.Stack(0, negUx, lse), 0), -math.Log(float64(K)))
	return ad.Sub(negUx, logZ)
}

// Objective returns the training objective for each image of x, [n]:
// the proposal's Objective(x, β) (its ELBO integrand, E ≤ log π(x) at β =
// 1) plus the rest of the Eq. (3) integrand with K − 1 fresh candidates
// shared by the batch. At β = 1 its expectation is a lower bound on
// log p_SNIS(x): E log π̂ ≤ log π(x), and the candidates are independent
// of the proposal's draw. It is differentiable in the energy's and the
// proposal's parameters.
func (m *DataSNIS) Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor {
	m.check("Objective", x)
	lp := m.Proposal.Objective(rng, x, beta)
	if m.K == 1 {
		return lp
	}
	var c, score *ad.Tensor
	switch m.Gradient {
	case CandidatePathwise:
		c = m.Proposal.SampleData(rng, m.K-1)
	case CandidateVIMCO:
		sc, ok := m.Proposal.(ScoredSampler)
		if !ok {
			panic(fmt.Sprintf("vae: DataSNIS.Objective: CandidateVIMCO needs a ScoredSampler proposal, have %T", m.Proposal))
		}
		c, score = sc.SampleDataScored(rng, m.K-1)
	case CandidateGumbel:
		rs, ok := m.Proposal.(RelaxedSampler)
		if !ok {
			panic(fmt.Sprintf("vae: DataSNIS.Objective: CandidateGumbel needs a RelaxedSampler proposal, have %T", m.Proposal))
		}
		tau := m.GumbelTemp
		if tau == 0 {
			tau = 0.7
		}
		c = rs.SampleDataRelaxed(rng, m.K-1, tau)
	default:
		panic(fmt.Sprintf("vae: DataSNIS.Objective: unknown Gradient %d", m.Gradient))
	}
	if m.StopCandidateGradients {
		c = c.Detach()
	}
	e := m.energy()
	n, k1 := x.Dim(0), m.K-1
	negU := ad.Neg(e.Energy(nil, ad.Concat(0, x, c)))
	negUx := ad.Slice(negU, 0, 0, n)
	if score == nil {
		lse := ad.LogSumExp(ad.Slice(negU, 0, n, n+k1), 0)
		return ad.Add(lp, snisRest(negUx, ad.BroadcastTo(lse, n), m.K))
	}
	// VIMCO over the K terms of the normalizer: the data term (no score)
	// and the K − 1 candidates shared by the batch.
	logw := ad.Concat(0, ad.Unsqueeze(negUx, 0), ad.BroadcastTo(ad.Unsqueeze(ad.Slice(negU, 0, n, n+k1), 1), k1, n))
	logq := ad.Concat(0, ad.Zeros(1, n), ad.BroadcastTo(ad.Unsqueeze(score, 1), k1, n))
	return ad.Add(lp, ad.Sub(negUx, estimators.VIMCO(logw, logq)))
}

// LogWeights returns S draws of the nested estimator's log weight for
// each image, [S, n]:
//
//	log w_s = log π̂_s(x) − U(x) − log( (1/K) (e^{−U(x)} + Σ_{c ∈ C_s} e^{−U(c)}) ),
//
// with π̂_s the proposal's s-th unbiased density estimate (its
// LogWeights) and C_s the K − 1 candidates of sample s, drawn from the
// stream of s and shared by the images. Since π̂_s is independent of C_s
// and E π̂_s(x) = π(x), E w_s = p_SNIS(x) (package doc). No gradient
// graph is kept. It returns the proposal's errors and ctx's.
func (m *DataSNIS) LogWeights(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) (*ad.Tensor, error) {
	m.check("LogWeights", x)
	if S < 1 {
		panic(fmt.Sprintf("vae: DataSNIS.LogWeights: S = %d, want S ≥ 1", S))
	}
	st := streams{rng.Uint64(), rng.Uint64()}
	e := centered{detachEnergy(m.Energy), m.Mean}
	lse := make([]float64, S)
	if m.K > 1 {
		for s := range S {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			c := m.Proposal.SampleData(st.rng(streamDataCands, s, 0), m.K-1).Detach()
			lse[s] = ad.LogSumExp(ad.Neg(e.Energy(nil, c)), 0).Item()
		}
	}
	return blockWeights(ctx, st, m.Proposal, x, S, func(xb, lpi *ad.Tensor) *ad.Tensor {
		if m.K == 1 {
			return lpi
		}
		nb := xb.Dim(0)
		negUx := ad.BroadcastTo(ad.Neg(e.Energy(nil, xb)), S, nb)
		l := ad.BroadcastTo(ad.New(append([]float64(nil), lse...), S, 1), S, nb)
		return ad.Add(lpi, snisRest(negUx, l, m.K))
	})
}

// blockWeights runs the proposal's LogWeights on blocks of dataBlock
// images, each from its own stream, and joins f(block, log π̂ [S, nb])
// ([S, nb] each) into [S, n].
func blockWeights(ctx context.Context, st streams, p DataProposal, x *ad.Tensor, S int, f func(xb, lpi *ad.Tensor) *ad.Tensor) (*ad.Tensor, error) {
	n := x.Dim(0)
	x = x.Detach()
	out := make([]float64, S*n)
	for b0 := 0; b0 < n; b0 += dataBlock {
		nb := min(dataBlock, n-b0)
		xb := ad.Slice(x, 0, b0, b0+nb)
		lpi, err := p.LogWeights(ctx, st.rng(streamDataProposal, b0/dataBlock, 0), xb, S)
		if err != nil {
			return nil, err
		}
		w := f(xb, lpi.Detach()).Data()
		for s := range S {
			copy(out[s*n+b0:s*n+b0+nb], w[s*nb:(s+1)*nb])
		}
	}
	return ad.New(out, S, n), nil
}

// Eval returns the S-sample bound log (1/S) Σ_s w_s of each image (w_s
// as in LogWeights), in expectation a lower bound on log p_SNIS(x).
func (m *DataSNIS) Eval(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error) {
	return evalFrom(m.LogWeights(ctx, rng, x, S))
}

func evalFrom(lw *ad.Tensor, err error) ([]float64, error) {
	if err != nil {
		return nil, err
	}
	S, n := lw.Dim(0), lw.Dim(1)
	out := make([]float64, n)
	logMeanExpColumns(lw.Data(), S, n, out)
	return out, nil
}

// Sample draws n exact samples by Alg. 2: for each, K ancestral
// candidates from the proposal and one chosen with probability ∝
// exp(−U). The samples are constants.
func (m *DataSNIS) Sample(rng *rand.Rand, n int) *ad.Tensor {
	if m.Proposal == nil || m.Energy == nil || m.K < 1 || n < 0 {
		panic(fmt.Sprintf("vae: DataSNIS.Sample: nil Proposal or Energy, K = %d or n = %d", m.K, n))
	}
	c := m.Proposal.SampleData(rng, n*m.K).Detach()
	dx := c.Dim(1)
	negU := ad.Neg(centered{detachEnergy(m.Energy), m.Mean}.Energy(nil, c)).Data()
	cd := c.Data()
	out := make([]float64, n*dx)
	for i := range n {
		row := negU[i*m.K : (i+1)*m.K]
		j := categorical(rng, row)
		copy(out[i*dx:(i+1)*dx], cd[(i*m.K+j)*dx:(i*m.K+j+1)*dx])
	}
	return ad.New(out, n, dx)
}

// categorical draws an index with probability ∝ exp(logits[j]).
func categorical(rng *rand.Rand, logits []float64) int {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = max(mx, v)
	}
	total := 0.0
	for _, v := range logits {
		total += math.Exp(v - mx)
	}
	u := rng.Float64() * total
	for j, v := range logits {
		u -= math.Exp(v - mx)
		if u < 0 {
			return j
		}
	}
	return len(logits) - 1
}

// TrainStep takes one training step of an EIM over data (DataSNIS,
// DataLARS, DataHIS): the loss −mean Objective(x, β), its gradient with
// respect to params (m.Params().Tensors(), built once by the caller), an
// Adam step and ad.Release of the step's graph. It returns the batch
// mean of the objective before the step, and ErrNotFinite (changing
// nothing) if it is not finite.
func TrainStep(m interface {
	Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor
}, rng *rand.Rand, opt *nn.Adam, params []*ad.Tensor, x *ad.Tensor, beta float64) (float64, error) {
	obj := ad.Mean(m.Objective(rng, x, beta))
	v := obj.Item()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		ad.Release(obj)
		return v, ErrNotFinite
	}
	loss := ad.Neg(obj)
	grads := ad.Grad(loss, params...)
	ad.Release(loss)
	opt.Step(params, grads)
	ad.Free(grads...)
	if l, ok := m.(*DataLARS); ok {
		l.commit()
	}
	return v, nil
}

// EvalAuthors returns the evaluation of the authors' code
// (eim/models/nis.py, _log_prob) for each image: the proposal's own
// S-sample bound plus the rest of Eq. (3) with one set of K − 1
// candidates shared by all images,
//
//	log (1/S) Σ_s π̂_s(x) − U(x) − log( (1/K) (e^{−U(x)} + Σ_{c ∈ C} e^{−U(c)}) ),
//
// for comparisons with the paper's numbers. Its expectation is also a
// lower bound on log p_SNIS(x): the sum of E log (1/S) Σ_s π̂_s ≤ log π(x)
// and E[rest] ≤ log E[rest's exp] (Jensen), the two independent. It is
// not Eval's nested estimator, which averages π̂_s times the rest over
// the S samples, each with its own candidates.
func (m *DataSNIS) EvalAuthors(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error) {
	m.check("EvalAuthors", x)
	if S < 1 {
		panic(fmt.Sprintf("vae: DataSNIS.EvalAuthors: S = %d, want S ≥ 1", S))
	}
	st := streams{rng.Uint64(), rng.Uint64()}
	e := centered{detachEnergy(m.Energy), m.Mean}
	lse := 0.0
	if m.K > 1 {
		c := m.Proposal.SampleData(st.rng(streamDataCands, 0, 0), m.K-1).Detach()
		lse = ad.LogSumExp(ad.Neg(e.Energy(nil, c)), 0).Item()
	}
	lw, err := blockWeights(ctx, st, m.Proposal, x, S, func(xb, lpi *ad.Tensor) *ad.Tensor { return lpi })
	if err != nil {
		return nil, err
	}
	n := x.Dim(0)
	out := make([]float64, n)
	logMeanExpColumns(lw.Data(), S, n, out)
	if m.K == 1 {
		return out, nil
	}
	negUx := ad.Neg(e.Energy(nil, x.Detach()))
	rest := snisRest(negUx, ad.BroadcastTo(ad.Scalar(lse), n), m.K).Data()
	for i := range out {
		out[i] += rest[i]
	}
	return out, nil
}
