package eimfamily

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// LARS is Learned Accept/Reject Sampling (Bauer & Mnih 2018), the paper's
// baseline: the generative process of TRS (Alg. 1, acceptance
// a(x) = σ(−U(x)), forced accept at step T), trained and evaluated on the
// closed form of its log-likelihood with Z = E_π[a] estimated by Monte
// Carlo,
//
//	log p(x) = log π(x) + log( a(x)(1 − α)/Z + α ),   α = (1 − Z)^{T−1}.
//
// Training (TrainBound) estimates Z from K proposal draws per step,
// Ẑ_cur = (1/K) Σ_k a(x_k), and smooths it with an exponential moving
// average,
//
//	Z_smooth = Decay·ZAvg + (1 − Decay)·Ẑ_cur,
//
// the forward pass using Z_smooth and the gradient flowing through Ẑ_cur
// (Z = Ẑ_cur + stopgrad(Z_smooth − Ẑ_cur)). Evaluation (Eval) uses Z from a
// large number of draws. Neither is a bound: plugging an estimate of Z
// into the log makes a consistent but biased estimate of log p(x), which
// is the point of Sec. 3.1 and why TRS is trained on an ELBO instead.
//
// Unconditional with ctx nil; with ctx [n, c] (conditional proposal and
// energy) Z depends on the context, so it is estimated per data point from
// K draws of π(· | cᵢ), and no moving average is kept.
//
// The zero value is not usable: Proposal and Energy must be set, T ≥ 1 and
// K ≥ 1. Decay 0 means no smoothing; NewLARS sets 0.99, the value of the
// authors' code.
type LARS struct {
	Proposal Proposal
	Energy   Energy
	// T is the truncation step of the sampler.
	T int
	// K is the number of proposal draws that estimate Z in each training
	// step (1024 in the paper).
	K int
	// Decay is the moving-average decay of Z in [0, 1).
	Decay float64
	// ZAvg is the moving average of Z: the training state, 0 before the
	// first step (the first step then uses its own estimate). Store the
	// second result of TrainBound here after each optimizer step; save it
	// with a checkpoint to resume.
	ZAvg float64
}

// NewLARS returns LARS with the given sizes and Decay 0.99.
func NewLARS(p Proposal, e Energy, T, K int) *LARS {
	return &LARS{Proposal: p, Energy: e, T: T, K: K, Decay: 0.99}
}

// LARSEvalSamples is a default number of proposal draws for Eval: 10⁷.
// The relative standard error of Ẑ is then sd(a)/(Z·√N) ≤ 1.6·10⁻⁴/Z
// (a ∈ (0, 1), so sd(a) ≤ 1/2), which is the error in nats of log p for
// points with a(x) ≫ α; EstimateZ reports the standard error it achieved.
// With the paper's 2-20-20-1 energy it takes 10–20 s on the shared 2-core
// development machine. Bauer & Mnih (and Sec. 3.1) used 10¹⁰ draws, some
// hours here; pass that to Eval for a like-for-like number.
const LARSEvalSamples = 10_000_000

func (m *LARS) check(who string) {
	if m.Proposal == nil || m.Energy == nil {
		panic(fmt.Sprintf("eimfamily: LARS.%s: nil Proposal or Energy", who))
	}
	if m.T < 1 || m.K < 1 {
		panic(fmt.Sprintf("eimfamily: LARS.%s: T = %d, K = %d, want both ≥ 1", who, m.T, m.K))
	}
	if !(m.Decay >= 0 && m.Decay < 1) {
		panic(fmt.Sprintf("eimfamily: LARS.%s: Decay = %v, want 0 ≤ Decay < 1", who, m.Decay))
	}
}

// Params returns the proposal's and the energy's learnable tensors.
func (m *LARS) Params() []*ad.Tensor { return params(m.Proposal, m.Energy) }

// Sample draws n exact samples of the TRS process (Alg. 1) with
// truncation T, as TRS.Sample does: [n, d], or [n, m, d] with ctx [m, c].
func (m *LARS) Sample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	m.check("Sample")
	return trsSample("LARS.Sample", rng, m.Proposal, m.Energy, ctx, n, m.T)
}

// TrainBound returns the LARS training objective for each data point,
// [n] (to be maximized; it is the closed-form log-likelihood at the
// smoothed estimate of Z, not a bound), and Z_smooth, the value to store
// in ZAvg after the optimizer step. It does not change m. For a
// conditional model (ctx [n, c]) Z is estimated per data point, nothing is
// smoothed and the second result is NaN.
func (m *LARS) TrainBound(rng *rand.Rand, ctx, x *ad.Tensor) (*ad.Tensor, float64) {
	m.check("TrainBound")
	n := checkBatch("LARS.TrainBound", ctx, x, m.Proposal.Dim(), m.Energy)
	logPi := m.Proposal.LogProb(ctx, x)
	if ctx != nil {
		cand := m.Proposal.Sample(rng, ctx, m.K)                                       // [K, n, d]
		u := m.Energy.Energy(ctx, ad.Concat(0, ad.Unsqueeze(x, 0), cand))              // [1 + K, n]
		logA := ad.LogSigmoid(ad.Neg(ad.Reshape(ad.Slice(u, 0, 0, 1), n)))             // [n]
		z := ad.Exp(ad.LogMeanExp(ad.LogSigmoid(ad.Neg(ad.Slice(u, 0, 1, 1+m.K))), 0)) // [n]
		return logTRSMarginal(logPi, logA, z, m.T), math.NaN()
	}
	cand := m.Proposal.Sample(rng, nil, m.K)            // [K, d]
	u := m.Energy.Energy(nil, ad.Concat(0, x, cand))    // [n + K]
	logA := ad.LogSigmoid(ad.Neg(ad.Slice(u, 0, 0, n))) // [n]
	zCur := ad.Exp(ad.LogMeanExp(ad.LogSigmoid(ad.Neg(ad.Slice(u, 0, n, n+m.K))), 0))
	zc := zCur.Item()
	zs := zc
	if m.Decay > 0 && m.ZAvg > 0 {
		zs = m.Decay*m.ZAvg + (1-m.Decay)*zc
	}
	z := ad.AddScalar(zCur, zs-zc) // forward Z_smooth, gradient through Ẑ_cur
	return logTRSMarginal(logPi, logA, z, m.T), zs
}

// logTRSMarginal returns log π(x) + log(a(x)(1 − α)/Z + α), α = (1 − Z)^{T−1},
// for log π(x) and log a(x) of shape [n] and Z a scalar or [n] tensor in
// (0, 1].
func logTRSMarginal(logPi, logA, z *ad.Tensor, T int) *ad.Tensor {
	if T == 1 {
		return logPi
	}
	q := newTRSQ(ad.Log(z), ad.Log1p(ad.Neg(z)), T)
	return ad.Add(logPi, q.logQ(logA))
}

// ZEstimate is a Monte Carlo estimate of Z = E_π[a(x)], a = σ(−U).
type ZEstimate struct {
	// Z is (1/N) Σ_j a(x_j): one entry for an unconditional model, one
	// per context row for a conditional one.
	Z []float64
	// StdErr is the standard error of each entry of Z, sd(a)/√N.
	StdErr []float64
	// N is the number of draws behind each entry.
	N int
}

// EstimateZ estimates Z from n draws of the proposal (for each row of
// cond, the conditioning context [m, c], if not nil), in chunks of 2¹⁶
// draws so memory stays bounded; it returns ctx's error if ctx is done
// before the end. The same rng state gives bitwise the same estimate.
func (m *LARS) EstimateZ(ctx context.Context, rng *rand.Rand, cond *ad.Tensor, n int) (ZEstimate, error) {
	m.check("EstimateZ")
	checkCtx("LARS.EstimateZ", cond, m.Proposal.Dim(), m.Energy)
	if n < 1 {
		panic(fmt.Sprintf("eimfamily: LARS.EstimateZ: n = %d, want n ≥ 1", n))
	}
	rows := 1
	if cond != nil {
		cond = cond.Detach()
		rows = cond.Dim(0)
	}
	const chunkRows = 1 << 16
	chunk := max(1, chunkRows/rows)
	// Per-row sums of a and a², each chunk summed on its own and the
	// chunks accumulated with Neumaier's compensation, so 10¹⁰ draws keep
	// full precision.
	sum, sumC := make([]float64, rows), make([]float64, rows)
	sq, sqC := make([]float64, rows), make([]float64, rows)
	for done := 0; done < n; done += chunk {
		if err := ctx.Err(); err != nil {
			return ZEstimate{}, err
		}
		c := min(chunk, n-done)
		x := m.Proposal.Sample(rng, cond, c).Detach() // [c, d] or [c, rows, d]
		negU := ad.Neg(m.Energy.Energy(cond, x)).Detach().Data()
		for r := range rows {
			s1, s2 := 0.0, 0.0
			for j := range c {
				a := sigmoid(negU[j*rows+r])
				s1 += a
				s2 += a * a
			}
			neumaier(&sum[r], &sumC[r], s1)
			neumaier(&sq[r], &sqC[r], s2)
		}
	}
	est := ZEstimate{Z: make([]float64, rows), StdErr: make([]float64, rows), N: n}
	for r := range rows {
		mean := (sum[r] + sumC[r]) / float64(n)
		v := max((sq[r]+sqC[r])/float64(n)-mean*mean, 0)
		est.Z[r] = mean
		est.StdErr[r] = math.Sqrt(v / float64(n))
	}
	return est, nil
}

// neumaier adds v to the compensated sum (s, c).
func neumaier(s, c *float64, v float64) {
	t := *s + v
	if math.Abs(*s) >= math.Abs(v) {
		*c += (*s - t) + v
	} else {
		*c += (v - t) + *s
	}
	*s = t
}

// LogProb returns the plug-in log-likelihood at the estimate z, [n]:
// log π(x) + log(a(x)(1 − α)/Z + α) with Z = z.Z[0] for every point of an
// unconditional model (cond nil) or z.Z[i] for row i of cond [n, c]. It is
// differentiable in the proposal and the energy (Z held fixed).
func (m *LARS) LogProb(cond, x *ad.Tensor, z ZEstimate) *ad.Tensor {
	m.check("LogProb")
	n := checkBatch("LARS.LogProb", cond, x, m.Proposal.Dim(), m.Energy)
	want := 1
	if cond != nil {
		want = n
	}
	if len(z.Z) != want {
		panic(fmt.Sprintf("eimfamily: LARS.LogProb: %d estimates of Z for x shape %v, want %d", len(z.Z), x.Shape(), want))
	}
	logPi := m.Proposal.LogProb(cond, x)
	logA := ad.LogSigmoid(ad.Neg(m.Energy.Energy(cond, x)))
	zt := ad.Scalar(z.Z[0])
	if cond != nil {
		zt = ad.New(append([]float64(nil), z.Z...), n)
	}
	return logTRSMarginal(logPi, logA, zt, m.T)
}

// Eval estimates Z from n proposal draws (EstimateZ; LARSEvalSamples is a
// reasonable n) and returns the plug-in log-likelihood of each data point
// (LogProb) with the estimate.
func (m *LARS) Eval(ctx context.Context, rng *rand.Rand, cond, x *ad.Tensor, n int) (*ad.Tensor, ZEstimate, error) {
	m.check("Eval")
	checkBatch("LARS.Eval", cond, x, m.Proposal.Dim(), m.Energy)
	z, err := m.EstimateZ(ctx, rng, cond, n)
	if err != nil {
		return nil, ZEstimate{}, err
	}
	return m.LogProb(cond, x, z), z, nil
}
