package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// SNIS is the self-normalized importance sampling model SNIS(π, U, K) of
// Sec. 3.2, Alg. 2: draw K candidates from the proposal π and return one
// of them with probability proportional to its weight w = exp(−U):
//
//	p(x_{1:K}, i) = Π_k π(x_k) · w(x_i) / Σ_k w(x_k),   x = x_i.
//
// Its log-likelihood has the lower bound of Eq. (3): with the data point x
// as one of the K terms of the normalizer and x_{2:K} ~ π,
//
//	log p_SNIS(x) ≥ E_{x_{2:K}} log [ π(x) w(x) / ( (1/K) (w(x) + Σ_{j=2}^{K} w(x_j)) ) ],
//
// and exp of the integrand is an unbiased estimate of p_SNIS(x).
//
// The model is unconditional when the context ctx is nil (x is [n, d]) and
// conditional when ctx is [n, c]: the proposal π(· | c) and the energy
// U(· | c) then take the context of each row.
//
// Candidates. A conditional model draws K − 1 candidates from π(· | cᵢ)
// for every data point. An unconditional model by default draws one set of
// K − 1 candidates per sample and shares it across the batch, as the
// authors' code and ../shared/peers/snis_train.py do: each data point's
// integrand is still exactly the Eq. (3) integrand (only the points' errors
// are correlated), and a step costs n + K − 1 energy evaluations instead of
// n·K. PerPoint draws independent candidates for every data point instead.
//
// The zero value is not usable: Proposal and Energy must be set and K ≥ 1
// (K = 1 is the proposal itself).
type SNIS struct {
	Proposal Proposal
	Energy   Energy
	// K is the number of candidates, the data point included in the bound.
	K int
	// PerPoint, for an unconditional model, draws fresh candidates for
	// every data point instead of sharing one set across the batch.
	// Conditional models always draw per point.
	PerPoint bool
	// Chunk is the number of the s samples of Integrands and BoundS
	// computed at once; 0 means as many as fit in ChunkRows candidate
	// rows (at least one). See ChunkRows for why the result does not
	// depend on it.
	Chunk int
}

func (m *SNIS) check(who string) {
	if m.Proposal == nil || m.Energy == nil {
		panic(fmt.Sprintf("eimfamily: SNIS.%s: nil Proposal or Energy", who))
	}
	if m.K < 1 {
		panic(fmt.Sprintf("eimfamily: SNIS.%s: K = %d, want K ≥ 1", who, m.K))
	}
	if m.Chunk < 0 {
		panic(fmt.Sprintf("eimfamily: SNIS.%s: Chunk = %d, want Chunk ≥ 0", who, m.Chunk))
	}
}

// Params returns the proposal's and the energy's learnable tensors.
func (m *SNIS) Params() []*ad.Tensor { return params(m.Proposal, m.Energy) }

// Sample draws n exact samples by Alg. 2, with K fresh candidates for
// each: [n, d] with ctx nil, and [n, m, d] (n draws for each of the m
// rows of the context) with ctx [m, c]. The draws are constants: exact
// sampling is for generating data and for tests, the bounds are what is
// differentiated. The work is done in chunks of about 2¹⁶ candidates, so
// memory stays bounded for any n.
func (m *SNIS) Sample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	m.check("Sample")
	checkCtx("SNIS.Sample", ctx, m.Proposal.Dim(), m.Energy)
	if n < 0 {
		panic(fmt.Sprintf("eimfamily: SNIS.Sample: n = %d", n))
	}
	d := m.Proposal.Dim()
	rows := 1
	shape := []int{n, d}
	if ctx != nil {
		rows = ctx.Dim(0)
		shape = []int{n, rows, d}
	}
	out := make([]float64, 0, n*rows*d)
	chunk := max(1, (1<<16)/(m.K*rows))
	lw := make([]float64, m.K)
	for done := 0; done < n; done += chunk {
		c := min(chunk, n-done)
		// cand[k, j, r, :] is candidate k of draw j for context row r
		var cand, negU *ad.Tensor
		if ctx == nil {
			cand = ad.Reshape(m.Proposal.Sample(rng, nil, m.K*c).Detach(), m.K, c, d)
		} else {
			cand = ad.Reshape(m.Proposal.Sample(rng, ctx, m.K*c).Detach(), m.K, c, rows, d)
		}
		negU = ad.Neg(m.Energy.Energy(ctx, cand)).Detach()
		cd, ud := cand.Data(), negU.Data()
		cols := c * rows
		for col := range cols {
			for k := range m.K {
				lw[k] = ud[k*cols+col]
			}
			k := sampleLogCategorical(rng, lw)
			at := (k*cols + col) * d
			out = append(out, cd[at:at+d]...)
		}
	}
	return ad.New(out, shape...)
}

// Bound returns the Eq. (3) integrand for each data point, [n]: one draw
// of the K − 1 candidates (see the type's comment for how they are
// shared). Its mean over draws is the lower bound; it is differentiable in
// the energy's parameters and, through reparameterized candidates and
// log π(x), in the proposal's.
func (m *SNIS) Bound(rng *rand.Rand, ctx, x *ad.Tensor) *ad.Tensor {
	x, lead := flatX(ctx, x)
	w := m.integrands("Bound", rng, ctx, x, 1, false)
	return unflat(ad.Reshape(w, w.Dim(1)), lead)
}

// BoundS returns the S-sample bound for each data point, [n]:
//
//	log (1/S) Σ_s exp(ℓ_s),   ℓ_s the Eq. (3) integrand with independent candidates x^{(s)}_{2:K},
//
// a lower bound on log p_SNIS(x) that increases with S toward it (it is
// the IWAE bound of the Eq. (3) estimator). The s samples are computed
// Chunk at a time and joined before the one log-mean-exp (ChunkRows). It
// panics if s < 1.
func (m *SNIS) BoundS(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	return unflat(ad.LogMeanExp(m.integrands("BoundS", rng, ctx, x, s, false), 0), lead)
}

// Integrands returns s independent draws of the Eq. (3) integrand for each
// data point, [s, n]: row r uses its own K − 1 candidates (shared across
// the batch within the row for an unconditional model unless PerPoint).
// The rows are computed Chunk at a time, in order from rng (ChunkRows).
// It panics if s < 1 or the shapes do not match (x [n, d], ctx nil or
// [n, c]).
func (m *SNIS) Integrands(rng *rand.Rand, ctx, x *ad.Tensor, s int) *ad.Tensor {
	x, lead := flatX(ctx, x)
	return unflat(m.integrands("Integrands", rng, ctx, x, s, false), lead, s)
}

func (m *SNIS) integrands(who string, rng *rand.Rand, ctx, x *ad.Tensor, s int, detach bool) *ad.Tensor {
	m.check(who)
	n := checkBatch("SNIS."+who, ctx, x, m.Proposal.Dim(), m.Energy)
	if s < 1 {
		panic(fmt.Sprintf("eimfamily: SNIS.%s: s = %d, want s ≥ 1", who, s))
	}
	logPi := m.Proposal.LogProb(ctx, x) // [n]
	if m.K == 1 {
		return ad.BroadcastTo(logPi, s, n)
	}
	shared := ctx == nil && !m.PerPoint
	perSample := m.K - 1
	if !shared {
		perSample *= n
	}
	return chunked(chunkSize(m.Chunk, perSample), s, detach, func(c int) *ad.Tensor {
		var cand *ad.Tensor
		switch {
		case shared:
			cand = m.Proposal.Sample(rng, nil, c*(m.K-1)) // [c(K−1), d]
		case ctx == nil:
			cand = ad.Reshape(m.Proposal.Sample(rng, nil, c*(m.K-1)*n), c*(m.K-1), n, -1)
		default:
			cand = m.Proposal.Sample(rng, ctx, c*(m.K-1)) // [c(K−1), n, d]
		}
		return m.integrandsGiven(ctx, x, logPi, cand, c)
	})
}

// IntegrandsAt returns the Eq. (3) integrands [s, n] at given candidates
// x_{2:K}: cand is [s, K − 1, d], one set per sample shared by the batch
// (ctx nil), or [s, K − 1, n, d], one set per sample and data point. It is
// Integrands with its draws supplied, for exact checks (enumerating the
// candidates of a Discrete proposal) and replayed draws. It panics if the
// shapes do not fit or K = 1 (there are no candidates; the integrand is
// log π(x)).
func (m *SNIS) IntegrandsAt(ctx, x, cand *ad.Tensor) *ad.Tensor {
	m.check("IntegrandsAt")
	n := checkBatch("SNIS.IntegrandsAt", ctx, x, m.Proposal.Dim(), m.Energy)
	d, k1 := m.Proposal.Dim(), m.K-1
	ok := cand != nil && k1 >= 1 && cand.Dim(-1) == d && cand.Dim(1) == k1 &&
		(cand.Rank() == 3 && ctx == nil || cand.Rank() == 4 && cand.Dim(2) == n)
	if !ok {
		panic(fmt.Sprintf("eimfamily: SNIS.IntegrandsAt: candidates %v for x %v and K = %d, want [s, %d, %d] (ctx nil) or [s, %d, %d, %d]",
			shapeOrNil(cand), x.Shape(), m.K, k1, d, k1, n, d))
	}
	s := cand.Dim(0)
	logPi := m.Proposal.LogProb(ctx, x)
	if cand.Rank() == 3 {
		return m.integrandsGiven(ctx, x, logPi, ad.Reshape(cand, s*k1, d), s)
	}
	return m.integrandsGiven(ctx, x, logPi, ad.Reshape(cand, s*k1, n, d), s)
}

// integrandsGiven computes the Eq. (3) integrands [s, n] for given
// candidates: cand is [s(K−1), d] (shared across the batch; ctx nil) or
// [s(K−1), n, d] (one set per data point).
func (m *SNIS) integrandsGiven(ctx, x, logPi, cand *ad.Tensor, s int) *ad.Tensor {
	n := x.Dim(0)
	k1 := m.K - 1
	var negUx, lse *ad.Tensor
	if cand.Rank() == 2 {
		negU := ad.Neg(m.Energy.Energy(nil, ad.Concat(0, x, cand))) // [n + s(K−1)]
		negUx = ad.Slice(negU, 0, 0, n)
		lse := ad.LogSumExp(ad.Reshape(ad.Slice(negU, 0, n, n+s*k1), s, k1), 1) // [s]
		return m.assemble(logPi, negUx, ad.BroadcastTo(ad.Unsqueeze(lse, 1), s, n))
	}
	all := ad.Concat(0, ad.Unsqueeze(x, 0), cand)  // [1 + s(K−1), n, d]
	negU := ad.Neg(m.Energy.Energy(ctx, all))      // [1 + s(K−1), n]
	negUx = ad.Reshape(ad.Slice(negU, 0, 0, 1), n) // [n]
	negUc := ad.Reshape(ad.Slice(negU, 0, 1, 1+s*k1), s, k1, n)
	lse = ad.LogSumExp(negUc, 1) // [s, n]
	return m.assemble(logPi, negUx, lse)
}

// assemble returns log π(x) − U(x) − log((1/K)(w(x) + exp(lse))), [s, n].
func (m *SNIS) assemble(logPi, negUx, lse *ad.Tensor) *ad.Tensor {
	s, n := lse.Dim(0), lse.Dim(1)
	negUxB := ad.BroadcastTo(negUx, s, n)
	logZ := ad.AddScalar(logAddExp(negUxB, lse), -math.Log(float64(m.K)))
	return ad.Sub(ad.Add(logPi, negUx), logZ)
}
