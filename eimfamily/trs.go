package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// TRS is the truncated rejection sampling model TRS(π, U, T) of Sec. 3.1,
// Alg. 1: for t = 1, …, T − 1 draw x_t ~ π and accept it with probability
// a(x_t) = σ(−U(x_t)); if nothing was accepted, return x_T ~ π (a forced
// accept, which carries no factor a). With Z = E_π[a] and α = (1 − Z)^{T−1},
//
//	p(x, i, x_{1:i−1}) = Π_{t<i} π(x_t)(1 − a(x_t)) · π(x) · a(x)^{[i<T]}
//	p_TRS(x)           = π(x) · ( a(x)(1 − α)/Z + α )
//	p(i | x)           ∝ (1 − Z)^{i−1} a(x)^{[i<T]},   i = 1, …, T.
//
// (The paper's Sec. 3.1 writes p(i | x) ∝ (1 − Z)^{i−1} σ(−U(x))^{i−1};
// the form above follows from Alg. 1 and is what the variational family
// must contain.) Z is intractable, so the bound uses
//
//	q(i | x) ∝ (1 − Ẑ)^{i−1} a(x)^{[i<T]},   Ẑ = σ(LogitZ) learned,
//
// with the rejected x_{1:i−1} drawn from π as in the generative process
// (rejection flags before i are 0 and the variables after i are drawn from
// the prior, so they cancel). The integrand log p(x, λ) − log q(λ | x) is
// then, with r = 1 − Ẑ, α̂ = r^{T−1}, Q(x) = a(x)(1 − α̂)/Ẑ + α̂ the
// normalizer of q(i | x), and ℓ(y) = log(1 − a(y)) = log σ(U(y)),
//
//	ℓ_λ(x) = log π(x) + log Q(x) + Σ_{t<i} ( ℓ(x_t) − log r ).
//
// log π(x) + log Q(x) is the closed form of log p_TRS with Ẑ in place of
// Z. Averaging over i ~ q(i | x) exactly (Bound) gives
//
//	log π(x) + log Q(x) + E_q[i − 1] · ( ℓ̄ − log r ),   ℓ̄ the mean of ℓ over T − 1 draws from π,
//
// whose expectation is the same ELBO. At Ẑ = Z, q(i | x) = p(i | x) and the
// gap is E_q[i − 1] · (log(1 − Z) − E_π ℓ) ≥ 0 (Jensen), which vanishes
// exactly when a is constant on the support of π: the bound is tight up to
// drawing the rejected x_t from π instead of from their posterior
// ∝ π(1 − a). (The authors' code adds log a(x) to the integrand at i = T
// as well; its bound is lower by q(T | x)·(−log a(x)), up to 1.5 nats at
// T = 2 on the tests' fixture and negligible once (1 − Z)^{T−1} is.)
//
// The model is unconditional with ctx nil and conditional with ctx [n, c]
// (proposal and energy take the context; Ẑ is one learned scalar for all
// contexts, so a conditional bound is looser when Z varies with the
// context). The rejected draws of an unconditional model are shared
// across the batch unless PerPoint is set, as for SNIS.
//
// T ≥ 1 is required (T = 1 is the proposal itself). A nil LogitZ reads as
// the constant 0 (Ẑ = 1/2); NewTRS makes it a learnable scalar.
type TRS struct {
	Proposal Proposal
	Energy   Energy
	// T is the truncation step: at most T proposals, the last one forced.
	T int
	// LogitZ is the scalar logit of Ẑ, learned if it requires gradients.
	LogitZ *ad.Tensor
	// PerPoint, for an unconditional model, draws the rejected proposals
	// for every data point instead of sharing one set across the batch.
	PerPoint bool
	// Chunk is the number of the s samples of Integrands and BoundS
	// computed at once; 0 means as many as fit in ChunkRows rejected
	// draws (at least one). The result does not depend on it (ChunkRows).
	Chunk int
}

// NewTRS returns TRS(π, U, T) with a learnable LogitZ starting at 0
// (Ẑ = 1/2, as in the authors' code).
func NewTRS(p Proposal, e Energy, T int) *TRS {
	return &TRS{Proposal: p, Energy: e, T: T, LogitZ: ad.Scalar(0).RequireGrad()}
}

func (m *TRS) check(who string) {
	if m.Proposal == nil || m.Energy == nil {
		panic(fmt.Sprintf("eimfamily: TRS.%s: nil Proposal or Energy", who))
	}
	if m.T < 1 {
		panic(fmt.Sprintf("eimfamily: TRS.%s: T = %d, want T ≥ 1", who, m.T))
	}
	if m.LogitZ != nil && m.LogitZ.Len() != 1 {
		panic(fmt.Sprintf("eimfamily: TRS.%s: LogitZ shape %v, want a scalar", who, m.LogitZ.Shape()))
	}
	if m.Chunk < 0 {
		panic(fmt.Sprintf("eimfamily: TRS.%s: Chunk = %d, want Chunk ≥ 0", who, m.Chunk))
	}
}

// Params returns the proposal's and the energy's learnable tensors and
// LogitZ if it requires gradients.
func (m *TRS) Params() []*ad.Tensor { return params(m.Proposal, m.Energy, m.LogitZ) }

// Sample draws n exact samples by Alg. 1: [n, d] with ctx nil and
// [n, m, d] with ctx [m, c]. The draws are constants. Proposals are drawn
// in rounds, only for the draws not yet accepted, so the cost is about
// n·min(T, 1/Z) energy evaluations.
func (m *TRS) Sample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	m.check("Sample")
	return trsSample("TRS.Sample", rng, m.Proposal, m.Energy, ctx, n, m.T)
}

// trsSample is the exact sampler of Alg. 1, shared by TRS and LARS.
func trsSample(who string, rng *rand.Rand, p Proposal, e Energy, ctx *ad.Tensor, n, T int) *ad.Tensor {
	checkCtx(who, ctx, p.Dim(), e)
	if n < 0 {
		panic(fmt.Sprintf("eimfamily: %s: n = %d", who, n))
	}
	d := p.Dim()
	rows := 1
	shape := []int{n, d}
	if ctx != nil {
		rows = ctx.Dim(0)
		shape = []int{n, rows, d}
	}
	out := make([]float64, n*rows*d)
	// pending lists the slots (draw j, context row r), numbered j·rows + r,
	// that have not accepted yet.
	pending := make([]int, n*rows)
	for i := range pending {
		pending[i] = i
	}
	const chunk = 1 << 16
	for t := 1; t <= T && len(pending) > 0; t++ {
		var still []int
		for lo := 0; lo < len(pending); lo += chunk {
			slots := pending[lo:min(lo+chunk, len(pending))]
			var x, negU *ad.Tensor
			if ctx == nil {
				x = p.Sample(rng, nil, len(slots)).Detach() // [k, d]
				negU = ad.Neg(e.Energy(nil, x)).Detach()
			} else {
				rowIdx := make([]int, len(slots))
				for i, sl := range slots {
					rowIdx[i] = sl % rows
				}
				c := ad.IndexSelect(ctx.Detach(), 0, rowIdx)
				x = ad.Reshape(p.Sample(rng, c, 1).Detach(), len(slots), d)
				negU = ad.Neg(e.Energy(c, ad.Unsqueeze(x, 0))).Detach()
			}
			xd, ud := x.Data(), negU.Data()
			for i, sl := range slots {
				if t < T && !(rng.Float64() < sigmoid(ud[i])) {
					still = append(still, sl)
					continue
				}
				copy(out[sl*d:(sl+1)*d], xd[i*d:(i+1)*d])
			}
		}
		pending = still
	}
	return ad.New(out, shape...)
}

// sigmoid is σ(v) = 1/(1 + e^{−v}) without overflow.
func sigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

// trsQ holds the quantities of q(i | x) that depend on Ẑ only, as tensors
// differentiable in Ẑ (scalars for TRS; one per data point when LARS
// estimates Z per context): with N = T − 1 and r = 1 − Ẑ,
//
//	logR     = log r,   logAlpha = log α̂ = N log r,
//	logS0    = log Σ_{j=0}^{N−1} r^j = log((1 − α̂)/Ẑ),
//	log S1   = log Σ_{j=1}^{N−1} j r^j   (in meanRejections).
type trsQ struct {
	n                     int
	logR, logAlpha, logS0 *ad.Tensor
}

// newTRSQ builds trsQ from log Ẑ and log(1 − Ẑ) (tensors of one shape) for
// T ≥ 2. S0 has the closed form −expm1(N log r)/Ẑ, accurate for all Ẑ in
// (0, 1].
func newTRSQ(logZ, logR *ad.Tensor, T int) trsQ {
	n := T - 1
	q := trsQ{n: n, logR: logR, logAlpha: ad.MulScalar(logR, float64(n))}
	q.logS0 = ad.Sub(ad.Log(ad.Neg(ad.Expm1(q.logAlpha))), logZ)
	return q
}

// logQ returns log Q(x) = log(a(x)·S0 + α̂) for log a(x) of shape [n] (Ẑ a
// scalar or [n]).
func (q trsQ) logQ(logA *ad.Tensor) *ad.Tensor {
	return logAddExp(ad.Add(logA, q.logS0), ad.BroadcastTo(q.logAlpha, logA.Shape()...))
}

// meanRejections returns E_q[i − 1] = (a·S1 + N·α̂)/Q(x) given log a(x) and
// log Q(x). S1 is summed term by term in log space, which has no
// cancellation when Ẑ is small (its closed form
// r(1 − N r^{N−1} + (N − 1) r^N)/(1 − r)² has); the cost is O(T) per
// distinct Ẑ.
func (q trsQ) meanRejections(logA, logQ *ad.Tensor) *ad.Tensor {
	last := ad.BroadcastTo(ad.AddScalar(q.logAlpha, math.Log(float64(q.n))), logA.Shape()...)
	num := last
	if q.n >= 2 {
		j := make([]float64, q.n-1)
		logj := make([]float64, q.n-1)
		for k := range j {
			j[k] = float64(k + 1)
			logj[k] = math.Log(j[k])
		}
		// [..., N−1] terms log j + j log r, reduced over the last axis
		terms := ad.Add(ad.New(logj, q.n-1), ad.Mul(ad.New(j, q.n-1), ad.Unsqueeze(q.logR, -1)))
		logS1 := ad.LogSumExp(terms, -1)
		num = logAddExp(ad.BroadcastTo(ad.Add(logA, logS1), logA.Shape()...), last)
	}
	return ad.Exp(ad.Sub(num, logQ))
}

// q returns the quantities of q(i | x) for the current LogitZ (T ≥ 2).
func (m *TRS) q() trsQ {
	lz := ad.Scalar(0)
	if m.LogitZ != nil {
		lz = ad.Reshape(m.LogitZ)
	}
	return newTRSQ(ad.LogSigmoid(lz), ad.LogSigmoid(ad.Neg(lz)), m.T)
}

// Bound returns, for each data point, the TRS integrand averaged exactly
// over i ~ q(i | x) (see the type's comment), [n]:
//
//	log π(x) + log Q(x) + E_q[i − 1] · ( ℓ̄ − log(1 − Ẑ) ),
//
// with ℓ̄ the mean of log(1 − a) over T − 1 fresh draws from π (shared by
// the batch for an unconditional model unless PerPoint). Each term
// ℓ(x_t) of Σ_{t<i} has the same expectation, so this is an unbiased
// estimate of the ELBO of Sec. 3.1 with less variance than a sampled i;
// it is differentiable in the energy, LogitZ and (through log π(x) and
// reparameterized draws) the proposal, with no score function needed.
// Unlike Integrands, exp of it is not an unbiased estimate of p_TRS(x).
func (m *TRS) Bound(rng *rand.Rand, ctx, x *ad.Tensor) *ad.Tensor {
	x, lead := flatX(ctx, x)
	return unflat(m.bound(rng, ctx, x), lead)
}

func (m *TRS) bound(rng *rand.Rand, ctx, x *ad.Tensor) *ad.Tensor {
	m.check("Bound")
	n := checkBatch("TRS.Bound", ctx, x, m.Proposal.Dim(), m.Energy)
	logPi := m.Proposal.LogProb(ctx, x)
	if m.T == 1 {
		return logPi
	}
	k := m.T - 1
	var cand *ad.Tensor
	switch {
	case ctx == nil && !m.PerPoint:
		cand = m.Proposal.Sample(rng, nil, k) // [T−1, d]
	case ctx == nil:
		cand = ad.Reshape(m.Proposal.Sample(rng, nil, k*n), k, n, -1)
	default:
		cand = m.Proposal.Sample(rng, ctx, k) // [T−1, n, d]
	}
	return m.boundGiven(ctx, x, logPi, cand)
}

// BoundAt is Bound at given rejected draws: cand holds T − 1 draws from π,
// [T − 1, d] (shared by the batch, ctx nil) or [T − 1, n, d]. It is Bound
// with its draws supplied, for exact checks. It panics if the shapes do
// not fit or T = 1 (no draws; Bound is log π(x)).
func (m *TRS) BoundAt(ctx, x, cand *ad.Tensor) *ad.Tensor {
	m.check("BoundAt")
	n := checkBatch("TRS.BoundAt", ctx, x, m.Proposal.Dim(), m.Energy)
	d := m.Proposal.Dim()
	ok := cand != nil && m.T > 1 && cand.Dim(0) == m.T-1 && cand.Dim(-1) == d &&
		(cand.Rank() == 2 && ctx == nil || cand.Rank() == 3 && cand.Dim(1) == n)
	if !ok {
		panic(fmt.Sprintf("eimfamily: TRS.BoundAt: draws %v for x %v and T = %d, want [%d, %d] (ctx nil) or [%d, %d, %d]",
			shapeOrNil(cand), x.Shape(), m.T, m.T-1, d, m.T-1, n, d))
	}
	return m.boundGiven(ctx, x, m.Proposal.LogProb(ctx, x), cand)
}

// boundGiven is Bound for given rejected draws: cand is [M, d] (shared by
// the batch, ctx nil) or [M, n, d], M ≥ 1 draws from π.
func (m *TRS) boundGiven(ctx, x, logPi, cand *ad.Tensor) *ad.Tensor {
	n := x.Dim(0)
	k := cand.Dim(0)
	var ux, lbar *ad.Tensor
	if cand.Rank() == 2 {
		u := m.Energy.Energy(nil, ad.Concat(0, x, cand)) // [n + M]
		ux = ad.Slice(u, 0, 0, n)
		lbar = ad.BroadcastTo(ad.Mean(ad.LogSigmoid(ad.Slice(u, 0, n, n+k))), n)
	} else {
		u := m.Energy.Energy(ctx, ad.Concat(0, ad.Unsqueeze(x, 0), cand)) // [1 + M, n]
		ux = ad.Reshape(ad.Slice(u, 0, 0, 1), n)
		lbar = ad.Mean(ad.LogSigmoid(ad.Slice(u, 0, 1, 1+k)), 0)
	}
	q := m.q()
	logA := ad.LogSigmoid(ad.Neg(ux))
	logQ := q.logQ(logA)
	gap := ad.Mul(q.meanRejections(logA, logQ), ad.Sub(lbar, q.logR))
	return ad.Add(ad.Add(logPi, logQ), gap)
}

// Integrands returns s independent draws of the TRS integrand for each
// data point, [s, n]: i ~ q(i | x), then x_{1:i−1} ~ π,
//
//	ℓ_λ(x) = log π(x) + log Q(x) + Σ_{t<i} ( log(1 − a(x_t)) − log(1 − Ẑ) ).
//
// exp ℓ_λ is an unbiased estimate of p_TRS(x). The index i is sampled, and
// the gradient is the pathwise one at fixed i (no score function term for
// i), so train with Bound; Integrands is for multi-sample bounds and
// estimator tests. The rejected draws of an unconditional model are shared
// by the batch within each of the s rows unless PerPoint.
//
// The draws from rng are, in order: all s·n indices (SampleIndex), then
// the rejected proposals, M = max(i) − 1 per row (IntegrandsAt takes the
// same draws), computed Chunk rows at a time (ChunkRows).
func (m *TRS) Integrands(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	return unflat(m.integrands("Integrands", rng, ctx, x, s, false), lead, s)
}

func (m *TRS) integrands(who string, rng *rand.Rand, ctx, x *ad.Tensor, s int, detach bool) *ad.Tensor {
	m.check(who)
	n := checkBatch("TRS."+who, ctx, x, m.Proposal.Dim(), m.Energy)
	if s < 1 {
		panic(fmt.Sprintf("eimfamily: TRS.%s: s = %d, want s ≥ 1", who, s))
	}
	logPi := m.Proposal.LogProb(ctx, x)
	if m.T == 1 {
		return ad.BroadcastTo(logPi, s, n)
	}
	q := m.q()
	logQ := q.logQ(ad.LogSigmoid(ad.Neg(m.Energy.Energy(ctx, x))))
	idx := m.sampleIndex(rng, q, logQ.Detach().Data(), s, n)
	maxRej := 0
	for _, i := range idx {
		maxRej = max(maxRej, i-1)
	}
	shared := ctx == nil && !m.PerPoint
	perSample := maxRej
	if !shared {
		perSample *= n
	}
	row := 0
	return chunked(chunkSize(m.Chunk, perSample), s, detach, func(c int) *ad.Tensor {
		var cand *ad.Tensor
		switch {
		case maxRej == 0:
		case shared:
			cand = m.Proposal.Sample(rng, nil, c*maxRej) // [c·M, d]
		case ctx == nil:
			cand = ad.Reshape(m.Proposal.Sample(rng, nil, c*maxRej*n), c*maxRej, n, -1)
		default:
			cand = m.Proposal.Sample(rng, ctx, c*maxRej) // [c·M, n, d]
		}
		w := m.integrandsGiven(ctx, logPi, logQ, q, idx[row*n:(row+c)*n], cand, c, n)
		row += c
		return w
	})
}

// SampleIndex draws s·n indices i ~ q(i | x) for the rows of x ([n, d], ctx
// nil or [n, c]), row-major [s, n], values in 1..T, from rng as
// Integrands does first. With IntegrandsAt it splits Integrands into its
// draws and its value. It panics as Integrands does.
func (m *TRS) SampleIndex(rng *rand.Rand, ctx, x *ad.Tensor, s int) []int {
	m.check("SampleIndex")
	n := checkBatch("TRS.SampleIndex", ctx, x, m.Proposal.Dim(), m.Energy)
	if s < 1 {
		panic(fmt.Sprintf("eimfamily: TRS.SampleIndex: s = %d, want s ≥ 1", s))
	}
	if m.T == 1 {
		idx := make([]int, s*n)
		for k := range idx {
			idx[k] = 1
		}
		return idx
	}
	q := m.q()
	logQ := q.logQ(ad.LogSigmoid(ad.Neg(m.Energy.Energy(ctx, x.Detach())))).Detach()
	return m.sampleIndex(rng, q, logQ.Data(), s, n)
}

// sampleIndex draws i ~ q(i | x): i = T with probability α̂/Q, otherwise
// i − 1 is geometric with ratio r truncated to {0, …, T − 2}, by
// inversion. lq is log Q(x) for the n points.
func (m *TRS) sampleIndex(rng *rand.Rand, q trsQ, lq []float64, s, n int) []int {
	idx := make([]int, s*n)
	qi := q.index(m.T)
	for k := range idx {
		idx[k] = qi.Sample(rng, lq[k%n])
	}
	return idx
}

// TRSIndex is q(i | x) of a TRS with T ≥ 2 at its current Ẑ, as plain
// numbers (see TRS): with r = 1 − Ẑ and N = T − 1,
//
//	q(i | x) = r^{i−1} a(x) / Q(x) for i < T,   q(T | x) = α̂ / Q(x),
//	Q(x) = a(x) S0 + α̂,   S0 = (1 − α̂)/Ẑ,   α̂ = r^N.
//
// It is for evaluations that draw the index themselves and supply the
// rejected draws (package vae shares one sequence of rejected draws per
// sample index across the images it evaluates); Integrands draws its
// indices with the same Sample.
type TRSIndex struct {
	T                     int
	LogR, LogAlpha, LogS0 float64 // log r, log α̂ = N log r, log S0
}

// Index returns q(i | x)'s numbers at the current LogitZ. It panics if
// T < 2 (T = 1 has no index: the integrand is log π(x)).
func (m *TRS) Index() TRSIndex {
	if m.T < 2 {
		panic(fmt.Sprintf("eimfamily: TRS.Index: T = %d, want T ≥ 2", m.T))
	}
	return m.q().index(m.T)
}

// index returns q's scalar quantities as a TRSIndex (Ẑ a scalar).
func (q trsQ) index(T int) TRSIndex {
	return TRSIndex{T: T, LogR: q.logR.Item(), LogAlpha: q.logAlpha.Item(), LogS0: q.logS0.Item()}
}

// LogQ returns log Q(x) = log(a(x) S0 + α̂) given log a(x) = log σ(−U(x)).
func (q TRSIndex) LogQ(logA float64) float64 {
	u, v := logA+q.LogS0, q.LogAlpha
	if u < v {
		u, v = v, u
	}
	if math.IsInf(u, -1) {
		return u
	}
	return u + math.Log1p(math.Exp(v-u))
}

// Sample draws i ~ q(i | x), in 1..T, given log Q(x): i = T with
// probability α̂/Q(x), otherwise i − 1 is geometric with ratio r truncated
// to {0, …, T − 2}, by inversion (two uniforms from rng).
func (q TRSIndex) Sample(rng *rand.Rand, logQ float64) int {
	if rng.Float64() < math.Exp(q.LogAlpha-logQ) {
		return q.T
	}
	nn := float64(q.T - 1)
	u := rng.Float64()
	var j float64
	if q.LogR == 0 {
		j = math.Floor(u * nn)
	} else {
		j = math.Floor(math.Log1p(u*math.Expm1(nn*q.LogR)) / q.LogR)
	}
	return 1 + int(min(max(j, 0), nn-1))
}

// IntegrandsAt returns the TRS integrands ℓ_λ(x), [s, n], at given draws:
// idx the indices i (row-major [s, n], values in 1..T) and cand the
// rejected proposals, of which row r uses the first i − 1: [s, M, d]
// (shared by the batch, ctx nil) or [s, M, n, d], M ≥ max(i) − 1; nil when
// every i is 1. It is Integrands with its draws supplied (SampleIndex and
// the proposal's draws), for exact checks and replayed draws; its gradient
// is the pathwise one at the given draws. It panics if the shapes do not
// fit.
func (m *TRS) IntegrandsAt(ctx, x *ad.Tensor, idx []int, cand *ad.Tensor) *ad.Tensor {
	m.check("IntegrandsAt")
	n := checkBatch("TRS.IntegrandsAt", ctx, x, m.Proposal.Dim(), m.Energy)
	if len(idx) == 0 || len(idx)%n != 0 {
		panic(fmt.Sprintf("eimfamily: TRS.IntegrandsAt: %d indices for %d data points, want s·n", len(idx), n))
	}
	s := len(idx) / n
	maxRej := 0
	for _, i := range idx {
		if i < 1 || i > m.T {
			panic(fmt.Sprintf("eimfamily: TRS.IntegrandsAt: index %d, want 1 ≤ i ≤ T = %d", i, m.T))
		}
		maxRej = max(maxRej, i-1)
	}
	d := m.Proposal.Dim()
	if maxRej > 0 {
		ok := cand != nil && cand.Dim(0) == s && cand.Dim(1) >= maxRej && cand.Dim(-1) == d &&
			(cand.Rank() == 3 && ctx == nil || cand.Rank() == 4 && cand.Dim(2) == n)
		if !ok {
			panic(fmt.Sprintf("eimfamily: TRS.IntegrandsAt: rejected draws %v for %d indices up to %d, want [%d, M ≥ %d, %d] (ctx nil) or [%d, M, %d, %d]",
				shapeOrNil(cand), len(idx), maxRej+1, s, maxRej, d, s, n, d))
		}
	}
	logPi := m.Proposal.LogProb(ctx, x)
	if m.T == 1 {
		return ad.BroadcastTo(logPi, s, n)
	}
	q := m.q()
	logQ := q.logQ(ad.LogSigmoid(ad.Neg(m.Energy.Energy(ctx, x))))
	var flat *ad.Tensor
	if maxRej > 0 {
		M := cand.Dim(1)
		if cand.Rank() == 3 {
			flat = ad.Reshape(cand, s*M, d)
		} else {
			flat = ad.Reshape(cand, s*M, n, d)
		}
	}
	return m.integrandsGiven(ctx, logPi, logQ, q, idx, flat, s, n)
}

// IndexLogProbs returns log q(i | x) for i = 1..T, [n][T], as plain
// numbers: the distribution SampleIndex draws from. (T = 1: log q(1) = 0.)
func (m *TRS) IndexLogProbs(ctx, x *ad.Tensor) [][]float64 {
	m.check("IndexLogProbs")
	n := checkBatch("TRS.IndexLogProbs", ctx, x, m.Proposal.Dim(), m.Energy)
	if m.T == 1 {
		out := make([][]float64, n)
		for i := range out {
			out[i] = []float64{0}
		}
		return out
	}
	return m.logQI(ctx, x)
}

// integrandsGiven assembles the integrands [s, n] for given indices i
// (idx, row-major [s, n]) and rejected draws cand: nil when every i is 1,
// else [s·M, d] (shared within each row s) or [s·M, n, d], of which the
// first i − 1 of each row's M are used.
func (m *TRS) integrandsGiven(ctx, logPi, logQ *ad.Tensor, q trsQ, idx []int, cand *ad.Tensor, s, n int) *ad.Tensor {
	rej := make([]float64, s*n)
	for k, i := range idx {
		rej[k] = float64(i - 1)
	}
	base := ad.Sub(ad.Add(logPi, logQ), ad.Mul(ad.New(rej, s, n), q.logR)) // [s, n]
	if cand == nil {
		return base
	}
	M := cand.Dim(0) / s
	var ell *ad.Tensor
	if cand.Rank() == 2 {
		ell = ad.Reshape(ad.LogSigmoid(m.Energy.Energy(nil, cand)), s, M, 1)
	} else {
		ell = ad.Reshape(ad.LogSigmoid(m.Energy.Energy(ctx, cand)), s, M, n)
	}
	mask := make([]float64, s*M*n)
	for r := range s {
		for p := range n {
			for t := range idx[r*n+p] - 1 {
				mask[(r*M+t)*n+p] = 1
			}
		}
	}
	sum := ad.Sum(ad.Mul(ell, ad.New(mask, s, M, n)), 1) // [s, n]
	return ad.Add(base, sum)
}

// BoundS returns log (1/S) Σ_s exp ℓ_λs(x), [n], over S independent draws
// of Integrands: a lower bound on log p_TRS(x) that increases with S
// toward it, computed Chunk samples at a time (ChunkRows). For training
// use Bound.
func (m *TRS) BoundS(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	return unflat(ad.LogMeanExp(m.integrands("BoundS", rng, ctx, x, s, false), 0), lead)
}

// logQI returns log q(i | x) for i = 1..T as plain numbers, [n][T]
// (T ≥ 2), for tests.
func (m *TRS) logQI(ctx, x *ad.Tensor) [][]float64 {
	q := m.q()
	logA := ad.LogSigmoid(ad.Neg(m.Energy.Energy(ctx, x))).Detach()
	logQ := q.logQ(logA).Detach().Data()
	lr := q.logR.Item()
	out := make([][]float64, x.Dim(0))
	for p, la := range logA.Data() {
		out[p] = make([]float64, m.T)
		for i := 1; i <= m.T; i++ {
			v := float64(i-1)*lr - logQ[p]
			if i < m.T {
				v += la
			}
			out[p][i-1] = v
		}
	}
	return out
}
