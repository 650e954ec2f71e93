package vae

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
)

// sampleOnly is a DataProposal seen by an eimfamily family: Sample draws
// ancestral samples and LogProb is 0. Every EIM density over a proposal π
// is π(x) times a factor that depends on π only through its samples
// (SNIS: w(x)/Ẑ; LARS: a(x)(1 − α)/Z + α; HIS: N(ρ₀)/q(ρ_T | x_T), with
// π evaluated at x₀), so a family run on sampleOnly computes that factor,
// and the data EIMs add the proposal's estimate of log π themselves.
type sampleOnly struct {
	p    DataProposal
	d    int
	stop bool // detach the samples
}

func (s sampleOnly) Dim() int { return s.d }

func (s sampleOnly) Sample(rng *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor {
	if ctx != nil {
		panic("vae: sampleOnly: a data EIM is unconditional")
	}
	x := s.p.SampleData(rng, k)
	if s.stop {
		x = x.Detach()
	}
	return x
}

func (s sampleOnly) LogProb(_, x *ad.Tensor) *ad.Tensor {
	return ad.Zeros(x.Shape()[:x.Rank()-1]...)
}

func (sampleOnly) Params() []*ad.Tensor { return nil }

// DataLARS is LARS (Bauer & Mnih 2018) over the data with a
// latent-variable proposal π: the TRS process with acceptance a(x) =
// σ(−U(x − x̄)) and ancestral proposal draws, trained on
//
//	log π̂(x) + log( a(x)(1 − α)/Z + α ),   α = (1 − Z)^{T−1},
//
// with the proposal's ELBO integrand as log π̂(x) and Z from K draws per
// step smoothed by a moving average (eimfamily.LARS.TrainBound's rule),
// and evaluated with the proposal's unbiased estimates π̂ and a plug-in Z
// from EvalDraws draws. At the exact Z, exp of the evaluation's log
// weight is unbiased for p_LARS(x); with an estimated Z it is a plug-in
// estimate, as for LARSPrior.
type DataLARS struct {
	Proposal DataProposal
	Energy   eimfamily.Energy
	// Mean is x̄ subtracted from the energy's input; nil means none.
	Mean *ad.Tensor
	// T is the truncation, K the draws per training step for Z.
	T, K int
	// Decay is the moving average's decay (NewDataLARS: 0.99), ZAvg its
	// state: save it with a checkpoint.
	Decay, ZAvg float64
	// EvalDraws is the number of proposal draws behind the evaluation's
	// Z.
	EvalDraws int
	// StopCandidateGradients cuts the gradient of the training step's Z
	// through the (reparameterized, continuous) proposal draws, as
	// DataSNIS's field does; the zero value lets it flow.
	StopCandidateGradients bool

	pending float64
	z       *eimfamily.ZEstimate
	zKey    uint64
}

// NewDataLARS returns LARS over data of dimension dx with proposal p,
// energy MLP dx-hidden-1 (tanh) from rng, truncation T, K draws per step,
// Decay 0.99 and evalDraws draws for the evaluation's Z.
func NewDataLARS(rng *rand.Rand, p DataProposal, dx int, mean *ad.Tensor, T, K, evalDraws int, hidden ...int) *DataLARS {
	return &DataLARS{Proposal: p, Energy: eimfamily.NewMLPEnergy(rng, dx, 0, hidden...), Mean: mean,
		T: T, K: K, Decay: 0.99, EvalDraws: evalDraws}
}

func (m *DataLARS) lars(x *ad.Tensor, detach bool) *eimfamily.LARS {
	if m.Proposal == nil || m.Energy == nil {
		panic("vae: DataLARS: nil Proposal or Energy")
	}
	if x == nil || x.Rank() != 2 {
		panic(fmt.Sprintf("vae: DataLARS: x shape %v, want [n, dx]", shapeOf(x)))
	}
	e := m.Energy
	if detach {
		e = detachEnergy(e)
	}
	return &eimfamily.LARS{Proposal: sampleOnly{m.Proposal, x.Dim(1), detach || m.StopCandidateGradients}, Energy: centered{e, m.Mean},
		T: m.T, K: m.K, Decay: m.Decay, ZAvg: m.ZAvg}
}

// Params returns the energy's parameters, then the proposal's.
func (m *DataLARS) Params() *nn.Params { return dataParams(m.Energy.Params(), m.Proposal) }

// Objective returns the training objective for each image, [n]: the
// proposal's Objective(x, β) plus log(a(x)(1 − α)/Z + α) at the smoothed
// Z (call TrainStep, which commits the moving average after the step).
func (m *DataLARS) Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor {
	l := m.lars(x, false)
	lp := m.Proposal.Objective(rng, x, beta)
	rest, zs := l.TrainBound(rng, nil, x)
	m.pending = zs
	return ad.Add(lp, rest)
}

func (m *DataLARS) commit() {
	if m.pending > 0 {
		m.ZAvg = m.pending
	}
}

// SetEvalZ sets the evaluation's Z for the current parameters (a saved
// value, or the exact Z in tests).
func (m *DataLARS) SetEvalZ(z eimfamily.ZEstimate) {
	if len(z.Z) != 1 || !(z.Z[0] > 0 && z.Z[0] <= 1) {
		panic(fmt.Sprintf("vae: DataLARS.SetEvalZ: Z = %v, want one value in (0, 1]", z.Z))
	}
	m.z, m.zKey = &z, paramsKey(m.Params().Tensors())
}

// EvalZ returns the evaluation's Z if one was set or estimated at the
// current parameters.
func (m *DataLARS) EvalZ() (eimfamily.ZEstimate, bool) {
	if m.z == nil || m.zKey != paramsKey(m.Params().Tensors()) {
		return eimfamily.ZEstimate{}, false
	}
	return *m.z, true
}

// estimateZ returns Z = (1/N) Σ_j a(x_j) over N = EvalDraws ancestral
// draws, 1024 at a time, with its standard error.
func (m *DataLARS) estimateZ(ctx context.Context, rng *rand.Rand) (eimfamily.ZEstimate, error) {
	N := m.EvalDraws
	if N < 2 {
		return eimfamily.ZEstimate{}, fmt.Errorf("vae: DataLARS: EvalDraws = %d, want ≥ 2", N)
	}
	e := centered{detachEnergy(m.Energy), m.Mean}
	var sum, sum2 float64
	for lo := 0; lo < N; lo += 1024 {
		if err := ctx.Err(); err != nil {
			return eimfamily.ZEstimate{}, err
		}
		c := m.Proposal.SampleData(rng, min(1024, N-lo)).Detach()
		for _, v := range ad.Sigmoid(ad.Neg(e.Energy(nil, c))).Data() {
			sum += v
			sum2 += v * v
		}
	}
	z := sum / float64(N)
	sd := math.Sqrt(max(0, sum2/float64(N)-z*z) * float64(N) / float64(N-1))
	return eimfamily.ZEstimate{Z: []float64{z}, StdErr: []float64{sd / math.Sqrt(float64(N))}, N: N}, nil
}

// LogWeights returns S draws of log π̂_s(x) + log(a(x)(1 − α)/Z + α) for
// each image, [S, n], with the evaluation's Z (estimated from EvalDraws
// draws unless set at the current parameters). It returns the
// proposal's errors and ctx's.
func (m *DataLARS) LogWeights(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) (*ad.Tensor, error) {
	l := m.lars(x, true)
	if S < 1 {
		panic(fmt.Sprintf("vae: DataLARS.LogWeights: S = %d, want S ≥ 1", S))
	}
	st := streams{rng.Uint64(), rng.Uint64()}
	z, ok := m.EvalZ()
	if !ok {
		var err error
		if z, err = m.estimateZ(ctx, st.rng(streamDataZ, 0, 0)); err != nil {
			return nil, err
		}
		m.SetEvalZ(z)
	}
	return blockWeights(ctx, st, m.Proposal, x, S, func(xb, lpi *ad.Tensor) *ad.Tensor {
		return ad.Add(lpi, l.LogProb(nil, xb, z))
	})
}

// Eval returns log (1/S) Σ_s w_s of each image, w_s as in LogWeights.
func (m *DataLARS) Eval(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error) {
	return evalFrom(m.LogWeights(ctx, rng, x, S))
}

// Sample draws n exact samples of the TRS process (Alg. 1) with
// truncation T over ancestral proposal draws.
func (m *DataLARS) Sample(rng *rand.Rand, dx, n int) *ad.Tensor {
	return m.lars(ad.Zeros(1, dx), true).Sample(rng, nil, n).Detach()
}

// DataHIS is HIS (Sec. 3.3) over continuous data with a latent-variable
// proposal π: x₀ ~ π drawn ancestrally, moved by T leapfrog steps on U.
// With (x₀, ρ₀) = Inverse(x, ρ_T) and ρ_T ~ q(ρ_T | x) as in
// eimfamily.HIS, its integrand replaces log π(x₀) by the proposal's
// estimate at x₀:
//
//	log π̂(x₀) + log N(ρ₀; 0, I) − log q(ρ_T | x),
//
// a lower bound on log p_HIS(x) in expectation (π̂ is drawn given x₀).
// The gradient of log π̂(x₀) flows through x₀ into the HIS parameters,
// so the proposal must be differentiable in its input (a Gaussian
// decoder: HIS needs continuous data, Table 2).
type DataHIS struct {
	Proposal DataProposal
	// Model is the HIS over sampleOnly(Proposal), whose Energy, RawEps,
	// RawAlpha and Q are this model's; its Proposal field is set by
	// NewDataHIS.
	Model *eimfamily.HIS
}

// NewDataHIS returns HIS over data of dimension dx with proposal p, T
// leapfrog steps, energy MLP dx-energyHidden-1 on x − mean, q(ρ_T | x)
// network dx-qHidden-2dx whose last layer starts at zero (q(ρ_T | x) =
// N(0, I)), initial temperatures α_t = initAlpha (t ≥ 1) and initial
// step size initEps in every dimension, the rest from rng. The authors'
// code starts at α_t = 0.9995 and a step size of 0.1; eimkit eimdata's
// defaults are 0.9995 and 0.01 (docs/table2.md says why).
func NewDataHIS(rng *rand.Rand, p DataProposal, dx int, mean *ad.Tensor, T int, initAlpha, initEps float64, energyHidden, qHidden []int) *DataHIS {
	if !(initAlpha > 0 && initAlpha < 1) || !(initEps > 0) || math.IsInf(initEps, 1) {
		panic(fmt.Sprintf("vae: NewDataHIS: initAlpha %v, initEps %v; want 0 < initAlpha < 1, 0 < initEps < ∞", initAlpha, initEps))
	}
	e := centered{eimfamily.NewMLPEnergy(rng, dx, 0, energyHidden...), mean}
	h := eimfamily.NewHIS(rng, sampleOnly{p, dx, false}, e, T, 0, qHidden...)
	raw := h.RawAlpha.Data()
	for i := range raw {
		raw[i] = math.Log(initAlpha) - math.Log1p(-initAlpha)
	}
	rawEps := h.RawEps.Data()
	for i := range rawEps {
		rawEps[i] = math.Log(math.Expm1(initEps)) // softplus⁻¹
	}
	// q(ρ_T | x) starts as N(0, I): with a small step size and ∏α_t = 1
	// the dynamics then start near the identity, so the bound starts near
	// its proposal's instead of tens of nats below it (docs/table2.md: on
	// continuous MNIST, −1590.8 against −1635.7 with Q's random last
	// layer, mean over the first 10 steps). The hidden layers stay
	// random, so the gradients reach them as soon as the last layer moves.
	last := h.Q.Layers[len(h.Q.Layers)-1]
	clear(last.W.Data())
	clear(last.B.Data())
	return &DataHIS{Proposal: p, Model: h}
}

// Params returns the HIS parameters, then the proposal's.
func (m *DataHIS) Params() *nn.Params { return dataParams(m.Model.Params(), m.Proposal) }

// integrandAt returns log N(ρ₀) − log q(ρ_T | x) and x₀ for x [n, d] at
// the standard normal draws ξ [n, d] of ρ_T = μ + s ⊙ ξ, (μ, log s) =
// Q(x), as eimfamily.HIS's integrand computes them.
func hisRest(h *eimfamily.HIS, x, xi *ad.Tensor) (rest, x0 *ad.Tensor) {
	d := x.Dim(-1)
	out := h.Q.Forward(x)
	mu, logSd := ad.Slice(out, -1, 0, d), ad.Slice(out, -1, d, 2*d)
	rhoT := ad.Add(mu, ad.Mul(ad.Exp(logSd), xi))
	half := 0.5 * math.Log(2*math.Pi)
	logq := ad.Sub(ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(xi), -1), -0.5), -float64(d)*half), ad.Sum(logSd, -1))
	x0, rho0 := h.Inverse(nil, x, rhoT)
	logRho0 := ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(rho0), -1), -0.5), -float64(d)*half)
	return ad.Sub(logRho0, logq), x0
}

func (m *DataHIS) check(who string, x *ad.Tensor) {
	if m.Proposal == nil || m.Model == nil {
		panic(fmt.Sprintf("vae: DataHIS.%s: nil Proposal or Model", who))
	}
	if x == nil || x.Rank() != 2 || x.Dim(1) != m.Model.Dim() {
		panic(fmt.Sprintf("vae: DataHIS.%s: x shape %v, want [n, %d]", who, shapeOf(x), m.Model.Dim()))
	}
}

// Objective returns the training objective for each image, [n]: with ξ
// ~ N(0, I), the proposal's Objective(x₀, β) + log N(ρ₀) − log q(ρ_T | x).
// At β = 1 its expectation is a lower bound on log p_HIS(x).
func (m *DataHIS) Objective(rng *rand.Rand, x *ad.Tensor, beta float64) *ad.Tensor {
	m.check("Objective", x)
	rest, x0 := hisRest(m.Model, x, ad.Randn(rng, x.Shape()...))
	return ad.Add(m.Proposal.Objective(rng, x0, beta), rest)
}

// detachedHIS returns m.Model with its parameters as constants.
func (m *DataHIS) detachedHIS() *eimfamily.HIS {
	h := *m.Model
	if c, ok := h.Energy.(centered); ok {
		h.Energy = centered{detachEnergy(c.U), c.Mean}
	} else {
		h.Energy = detachEnergy(h.Energy)
	}
	h.RawEps, h.RawAlpha, h.Q = h.RawEps.Detach(), h.RawAlpha.Detach(), detachMLP(h.Q)
	return &h
}

// LogWeights returns S draws of log π̂(x₀) + log N(ρ₀) − log q(ρ_T | x)
// for each image, [S, n]; exp of each is unbiased for p_HIS(x). Each
// block of dataBlock images and 40 samples has its own stream for ξ and
// for π̂(x₀), one draw of the proposal's LogWeights at each x₀.
func (m *DataHIS) LogWeights(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) (*ad.Tensor, error) {
	m.check("LogWeights", x)
	if S < 1 {
		panic(fmt.Sprintf("vae: DataHIS.LogWeights: S = %d, want S ≥ 1", S))
	}
	st := streams{rng.Uint64(), rng.Uint64()}
	h := m.detachedHIS()
	n := x.Dim(0)
	x = x.Detach()
	out := make([]float64, S*n)
	for b0 := 0; b0 < n; b0 += dataBlock {
		nb := min(dataBlock, n-b0)
		xb := ad.Slice(x, 0, b0, b0+nb)
		for s0 := 0; s0 < S; s0 += hisBlock {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			k, d := min(hisBlock, S-s0), x.Dim(1)
			r := st.rng(streamDataHIS, b0/dataBlock, s0/hisBlock)
			xr := ad.Reshape(ad.BroadcastTo(xb, k, nb, d), k*nb, d)
			rest, x0 := hisRest(h, xr, ad.Randn(r, k*nb, d))
			lpi, err := m.Proposal.LogWeights(ctx, r, x0.Detach(), 1)
			if err != nil {
				return nil, err
			}
			w := ad.Add(ad.Reshape(lpi, k*nb), rest).Data()
			for s := range k {
				copy(out[(s0+s)*n+b0:(s0+s)*n+b0+nb], w[s*nb:(s+1)*nb])
			}
		}
	}
	return ad.New(out, S, n), nil
}

// Eval returns log (1/S) Σ_s w_s of each image, w_s as in LogWeights.
func (m *DataHIS) Eval(ctx context.Context, rng *rand.Rand, x *ad.Tensor, S int) ([]float64, error) {
	return evalFrom(m.LogWeights(ctx, rng, x, S))
}

// Sample draws n exact samples by Alg. 3 from ancestral x₀ ~ π.
func (m *DataHIS) Sample(rng *rand.Rand, n int) *ad.Tensor {
	return m.detachedHIS().Sample(rng, nil, n).Detach()
}
