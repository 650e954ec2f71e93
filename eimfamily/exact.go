package eimfamily

import (
	"errors"
	"fmt"
	"math"

	"github.com/eimkit/eimkit/ad"
)

// ErrIntractable is returned by the exact densities (SNIS.LogProb,
// TRS.LogProb, LARS.ExactZ) when the proposal is not a finite-support
// *Discrete: the density of a sampler over a continuous proposal has no
// closed form (use the bounds).
var ErrIntractable = errors.New("eimfamily: exact density needs a *Discrete proposal")

// ErrTooLarge is returned by SNIS.LogProb when the enumeration would take
// more than MaxEnumeration terms.
var ErrTooLarge = errors.New("eimfamily: exact density: enumeration too large")

// MaxEnumeration bounds the work of SNIS.LogProb: the number of count
// vectors times support points times rows, 2²⁴.
const MaxEnumeration = 1 << 24

// discreteOf returns the proposal as a *Discrete or ErrIntractable.
func discreteOf(p Proposal) (*Discrete, error) {
	if d, ok := p.(*Discrete); ok {
		return d, nil
	}
	return nil, fmt.Errorf("%w (it is a %T)", ErrIntractable, p)
}

// supportNegU returns −U(s_j | c_r) for the support points of d and
// the rows r of ctx, [m, R]: R = m and the energies repeated along the
// second axis when ctx is nil (one column per support point), else
// R = n rows of ctx [n, c].
func supportNegU(d *Discrete, e Energy, ctx *ad.Tensor) *ad.Tensor {
	m := d.Len()
	if ctx == nil {
		u := ad.Neg(e.Energy(nil, d.Points())) // [m]
		return ad.BroadcastTo(ad.Unsqueeze(u, 1), m, m)
	}
	n := ctx.Dim(0)
	pts := ad.BroadcastTo(ad.Unsqueeze(d.Points(), 1), m, n, d.Dim())
	return ad.Neg(e.Energy(ctx, pts)) // [m, n]
}

// targetRows returns, for each row of x, the support index of the point
// (0 where off the support) and a 0/1 mask of the rows on the support.
func targetRows(d *Discrete, x *ad.Tensor) (idx []int, on []float64) {
	dim := d.Dim()
	n := x.Dim(0)
	idx, on = make([]int, n), make([]float64, n)
	for r := range n {
		if j := d.Index(x.Data()[r*dim : (r+1)*dim]); j >= 0 {
			idx[r], on[r] = j, 1
		}
	}
	return idx, on
}

// LogProb returns the exact log p_SNIS(x | c) for each row of x ([n, d],
// ctx nil or [n, c]), [n], when the proposal is a *Discrete, by
// enumerating the counts c of the K − 1 other candidates over the m
// support points (C(K + m − 2, m − 1) count vectors):
//
//	p_SNIS(x) = π(x) w(x) Σ_c Multinomial(c; K − 1, π) · K / (w(x) + Σ_k c_k w(s_k)),   w = e^{−U},
//
// −Inf off the support. It is differentiable in the logits and the energy
// (the exact log-likelihood for training tests). It returns ErrIntractable
// for another proposal and ErrTooLarge when the enumeration exceeds
// MaxEnumeration; it panics if the shapes do not fit.
func (m *SNIS) LogProb(ctx, x *ad.Tensor) (*ad.Tensor, error) {
	x, lead := flatX(ctx, x)
	lp, err := m.logProb(ctx, x)
	if err != nil {
		return nil, err
	}
	return unflat(lp, lead), nil
}

func (m *SNIS) logProb(ctx, x *ad.Tensor) (*ad.Tensor, error) {
	m.check("LogProb")
	n := checkBatch("SNIS.LogProb", ctx, x, m.Proposal.Dim(), m.Energy)
	d, err := discreteOf(m.Proposal)
	if err != nil {
		return nil, err
	}
	sz := d.Len()
	rows := sz
	if ctx != nil {
		rows = n
	}
	counts, ok := compositionsOf(m.K-1, sz, MaxEnumeration/max(1, sz*rows))
	if !ok {
		return nil, fmt.Errorf("%w: K = %d over %d support points and %d rows", ErrTooLarge, m.K, sz, rows)
	}
	nc := len(counts) / sz
	logPi := ad.LogSoftmax(d.Logits(), 0) // [m]
	negU := supportNegU(d, m.Energy, ctx) // [m, R]

	// Constants of the count vectors: log c_k (−Inf for 0) and the log
	// multinomial coefficient.
	logC := make([]float64, len(counts))
	coef := make([]float64, nc)
	for v := range nc {
		lg, _ := math.Lgamma(float64(m.K))
		for k := range sz {
			c := counts[v*sz+k]
			logC[v*sz+k] = math.Log(c)
			l, _ := math.Lgamma(c + 1)
			lg -= l
		}
		coef[v] = lg + math.Log(float64(m.K))
	}
	cnt := ad.New(counts, nc, sz)
	// Σ_k c_k log π_k, [C]; a count of 0 contributes 0 even where log π is −Inf.
	logMult := ad.Sum(ad.Where(ad.GreaterEqual(cnt, ad.Scalar(1)), ad.Mul(cnt, logPi), ad.Scalar(0)), 1)
	// log Σ_k c_k w(s_k | c_r), [C, R]
	others := ad.LogSumExp(ad.Add(ad.Unsqueeze(ad.New(logC, nc, sz), 2), ad.Unsqueeze(negU, 0)), 1)

	var target []int // the support index whose density each column gives
	var on []float64
	if ctx == nil {
		target = make([]int, sz)
		for j := range target {
			target[j] = j
		}
	} else {
		target, on = targetRows(d, x)
	}
	cols := make([]int, 0, rows) // (j, r) entries of negU: row j of column r
	for r, j := range target {
		cols = append(cols, j*rows+r)
	}
	negUx := ad.IndexSelect(ad.Reshape(negU, sz*rows), 0, cols) // [R]
	logPix := ad.IndexSelect(logPi, 0, target)                  // [R]
	den := logAddExp(ad.BroadcastTo(negUx, nc, rows), others)   // [C, R]
	terms := ad.Sub(ad.Add(ad.Unsqueeze(ad.Add(logMult, ad.New(coef, nc)), 1), ad.Add(logPix, negUx)), den)
	perCol := ad.LogSumExp(terms, 0) // [R]
	if ctx != nil {
		return ad.Where(ad.New(on, n), perCol, ad.Scalar(math.Inf(-1))), nil
	}
	idx, onx := targetRows(d, x)
	return ad.Where(ad.New(onx, n), ad.IndexSelect(perCol, 0, idx), ad.Scalar(math.Inf(-1))), nil
}

// compositionsOf returns every vector of m non-negative counts summing to
// k, flattened [C·m] in a fixed order, or false if there are more than
// limit of them.
func compositionsOf(k, m, limit int) ([]float64, bool) {
	// C(k + m − 1, m − 1), computed incrementally with an early stop.
	total := 1.0
	for i := 1; i < m; i++ {
		total = total * float64(k+i) / float64(i)
		if total > float64(limit) {
			return nil, false
		}
	}
	out := make([]float64, 0, int(total+0.5)*m)
	c := make([]float64, m)
	var rec func(i, left int)
	rec = func(i, left int) {
		if i == m-1 {
			c[i] = float64(left)
			out = append(out, c...)
			return
		}
		for v := 0; v <= left; v++ {
			c[i] = float64(v)
			rec(i+1, left-v)
		}
	}
	rec(0, k)
	return out, true
}

// exactZ returns Z = Σ_j π_j σ(−U(s_j | c_r)): a scalar tensor for ctx nil,
// else [n], differentiable in the logits and the energy.
func exactZ(d *Discrete, e Energy, ctx *ad.Tensor) *ad.Tensor {
	pi := ad.Softmax(d.Logits(), 0) // [m]
	negU := supportNegU(d, e, ctx)  // [m, R]
	if ctx == nil {
		a := ad.Sigmoid(ad.Slice(negU, 1, 0, 1)) // [m, 1]: the energies once
		return ad.Sum(ad.Mul(ad.Reshape(a, d.Len()), pi))
	}
	return ad.Sum(ad.Mul(ad.Sigmoid(negU), ad.Unsqueeze(pi, 1)), 0)
}

// LogProb returns the exact log p_TRS(x | c) for each row of x ([n, d],
// ctx nil or [n, c]), [n], when the proposal is a *Discrete: the closed
// form of Alg. 1 with the exact Z = Σ_j π(s_j) a(s_j | c),
//
//	log p_TRS(x) = log π(x) + log( a(x)(1 − α)/Z + α ),   α = (1 − Z)^{T−1},
//
// −Inf off the support. It is differentiable in the logits and the energy.
// (It does not use LogitZ: Ẑ is the variational approximation of Z, and
// this is the density itself.) It returns ErrIntractable for another
// proposal; it panics if the shapes do not fit.
func (m *TRS) LogProb(ctx, x *ad.Tensor) (*ad.Tensor, error) {
	m.check("LogProb")
	x, lead := flatX(ctx, x)
	checkBatch("TRS.LogProb", ctx, x, m.Proposal.Dim(), m.Energy)
	d, err := discreteOf(m.Proposal)
	if err != nil {
		return nil, err
	}
	logPi := m.Proposal.LogProb(ctx, x)
	logA := ad.LogSigmoid(ad.Neg(m.Energy.Energy(ctx, x)))
	return unflat(logTRSMarginal(logPi, logA, exactZ(d, m.Energy, ctx), m.T), lead), nil
}

// ExactZ returns Z = E_π[a] computed exactly over a *Discrete proposal,
// for every row of cond (nil: one value), as a ZEstimate with StdErr 0 and
// N = 0, so that LARS.LogProb(cond, x, z) is the exact log-likelihood
// (the TRS process has p_LARS = p_TRS). It returns ErrIntractable for
// another proposal.
func (m *LARS) ExactZ(cond *ad.Tensor) (ZEstimate, error) {
	m.check("ExactZ")
	checkCtx("LARS.ExactZ", cond, m.Proposal.Dim(), m.Energy)
	d, err := discreteOf(m.Proposal)
	if err != nil {
		return ZEstimate{}, err
	}
	var c *ad.Tensor
	if cond != nil {
		c = cond.Detach()
	}
	z := exactZ(d, m.Energy, c).Detach().Data()
	z = append([]float64(nil), z...)
	return ZEstimate{Z: z, StdErr: make([]float64, len(z))}, nil
}
