package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Dim returns the dimension d of the model's samples.
func (m *SNIS) Dim() int { return m.Proposal.Dim() }

// Dim returns the dimension d of the model's samples.
func (m *TRS) Dim() int { return m.Proposal.Dim() }

// Dim returns the dimension d of the model's samples.
func (m *LARS) Dim() int { return m.Proposal.Dim() }

// RSampler is a model that draws samples differentiable in its
// parameters where its sampler allows it (SNIS, TRS, LARS, HIS): what a
// family needs to serve as the proposal of another family or as the
// mixing distribution of a semi-implicit family (AsProposal).
type RSampler interface {
	Dim() int
	// RSample draws n samples, [n, d] with ctx nil and [n, m, d] with ctx
	// [m, c], as Sample does, but keeps them on the graph.
	RSample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor
	Params() []*ad.Tensor
}

var (
	_ RSampler = (*SNIS)(nil)
	_ RSampler = (*TRS)(nil)
	_ RSampler = (*LARS)(nil)
	_ RSampler = (*HIS)(nil)
)

// slotsOf returns the proposal draws of k samples for every row of ctx as
// [k·rows, d] (slot j·rows + r: sample j of row r) and their negative
// energies [k·rows], both on the graph.
func slotsOf(rng *rand.Rand, p Proposal, e Energy, ctx *ad.Tensor, k int) (x, negU *ad.Tensor) {
	d := p.Dim()
	if ctx == nil {
		x = p.Sample(rng, nil, k) // [k, d]
		return x, ad.Neg(e.Energy(nil, x))
	}
	rows := ctx.Dim(0)
	x = p.Sample(rng, ctx, k) // [k, rows, d]
	negU = ad.Neg(e.Energy(ctx, x))
	return ad.Reshape(x, k*rows, d), ad.Reshape(negU, k*rows)
}

// sampleShape returns [n, d] for ctx nil and [n, rows, d] otherwise.
func sampleShape(ctx *ad.Tensor, n, d int) []int {
	if ctx == nil {
		return []int{n, d}
	}
	return []int{n, ctx.Dim(0), d}
}

// RSample draws n samples by Alg. 2 and keeps them on the graph: each is
// its selected candidate, so it is differentiable in the proposal's
// parameters through the candidate's reparameterized draw, at the drawn
// index. The index is a constant: the selection's dependence on U and π
// carries no gradient (that would need a score function), so the energy
// gets none through samples. Shapes as for Sample; the draws from rng
// differ from Sample's (all K·n candidates first, then the indices). It
// panics if n < 0.
func (m *SNIS) RSample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	m.check("RSample")
	checkCtx("SNIS.RSample", ctx, m.Proposal.Dim(), m.Energy)
	if n < 0 {
		panic(fmt.Sprintf("eimfamily: SNIS.RSample: n = %d", n))
	}
	d := m.Proposal.Dim()
	if n == 0 {
		return ad.Zeros(sampleShape(ctx, 0, d)...)
	}
	x, negU := slotsOf(rng, m.Proposal, m.Energy, ctx, m.K*n) // [K·slots, d], slot-major within each candidate
	slots := x.Dim(0) / m.K
	nd := negU.Detach().Data()
	lw := make([]float64, m.K)
	idx := make([]int, slots*d)
	for sl := range slots {
		for k := range m.K {
			lw[k] = nd[k*slots+sl]
		}
		i := sampleLogCategorical(rng, lw)
		for c := range d {
			idx[sl*d+c] = i
		}
	}
	z := ad.Gather(ad.Reshape(x, m.K, slots, d), 0, idx, 1)
	return ad.Reshape(z, sampleShape(ctx, n, d)...)
}

// trsRun runs Alg. 1 on the graph for n samples of every row of ctx:
// proposals are drawn in rounds for every slot (accepted or not, so the
// draws do not depend on the decisions) until every slot has accepted or
// round T. It returns the rounds' draws [R, slots, d], their negative
// energies [R, slots] and the 1-based round at which each slot accepted.
func trsRun(rng *rand.Rand, p Proposal, e Energy, ctx *ad.Tensor, n, T int) (draws, negU *ad.Tensor, idx []int) {
	var xs, us []*ad.Tensor
	var slots int
	pending := -1
	for t := 1; t <= T && pending != 0; t++ {
		x, u := slotsOf(rng, p, e, ctx, n)
		if idx == nil {
			slots = x.Dim(0)
			idx = make([]int, slots)
			pending = slots
		}
		xs, us = append(xs, x), append(us, u)
		ud := u.Detach().Data()
		for sl := range slots {
			if idx[sl] != 0 {
				continue
			}
			if t == T || rng.Float64() < sigmoid(ud[sl]) {
				idx[sl] = t
				pending--
			}
		}
	}
	return ad.Stack(0, xs...), ad.Stack(0, us...), idx
}

// trsRSample is RSample for TRS and LARS.
func trsRSample(who string, rng *rand.Rand, p Proposal, e Energy, ctx *ad.Tensor, n, T int) *ad.Tensor {
	checkCtx(who, ctx, p.Dim(), e)
	if n < 0 {
		panic(fmt.Sprintf("eimfamily: %s: n = %d", who, n))
	}
	d := p.Dim()
	if n == 0 {
		return ad.Zeros(sampleShape(ctx, 0, d)...)
	}
	draws, _, idx := trsRun(rng, p, e, ctx, n, T)
	g := make([]int, len(idx)*d)
	for sl, i := range idx {
		for c := range d {
			g[sl*d+c] = i - 1
		}
	}
	return ad.Reshape(ad.Gather(draws, 0, g, 1), sampleShape(ctx, n, d)...)
}

// RSample draws n samples by Alg. 1 and keeps them on the graph: each is
// the proposal draw it accepted, differentiable in the proposal's
// parameters through its reparameterized draw, at the drawn accept
// decisions (constants: their dependence on U carries no gradient).
// Proposals are drawn for every sample in every round until all have
// accepted (at most T rounds), so the cost is n times the longest run.
// Shapes as for Sample. It panics if n < 0.
func (m *TRS) RSample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	m.check("RSample")
	return trsRSample("TRS.RSample", rng, m.Proposal, m.Energy, ctx, n, m.T)
}

// RSample draws n samples of the TRS process as TRS.RSample does.
func (m *LARS) RSample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	m.check("RSample")
	return trsRSample("LARS.RSample", rng, m.Proposal, m.Energy, ctx, n, m.T)
}

// RSample draws n samples x_T of Alg. 3 on the graph: Forward applied to
// a reparameterized proposal draw x₀ and ρ₀ ~ N(0, I), so the samples are
// differentiable in every parameter (the proposal's, the energy's through
// the leapfrog steps, ε and α). Shapes as for Sample; one chunk, so memory
// grows with n. It panics if n < 0.
func (h *HIS) RSample(rng *rand.Rand, ctx *ad.Tensor, n int) *ad.Tensor {
	h.check("RSample")
	checkCtx("HIS.RSample", ctx, h.Dim(), h.Energy)
	if n < 0 {
		panic(fmt.Sprintf("eimfamily: HIS.RSample: n = %d", n))
	}
	if n == 0 {
		return ad.Zeros(sampleShape(ctx, 0, h.Dim())...)
	}
	x0 := h.Proposal.Sample(rng, ctx, n)
	rho0 := ad.Randn(rng, x0.Shape()...)
	xT, _ := h.Forward(ctx, x0, rho0)
	return xT
}

// AsProposal returns the model m as a Proposal, so that a family can be
// the proposal π of another family, or the mixing distribution q(λ | x) of
// a semi-implicit family (sivi.Family.Mixing), with no adapter code:
// Sample is m.RSample (differentiable where m's sampler allows it; see
// each RSample), Params is m.Params.
//
// With conditional false the model is unconditional and a context only
// sets the number of rows (Sample(rng, ctx [n, c], k) gives k draws for
// each row, [k, n, d], ignoring the values, as an unconditional Normal
// does); with conditional true the context is passed to m.
//
// LogProb is the model's exact log-density where it has one (SNIS and TRS
// over a Discrete proposal: their LogProb); elsewhere it panics, because
// p_SNIS, p_TRS and p_HIS are intractable: estimators that need
// log q(λ | x) (IWHVI, the avvi assemblies) cannot use such a proposal,
// while SIVI's closed form, which never evaluates it, can.
func AsProposal(m RSampler, conditional bool) Proposal {
	if m == nil {
		panic("eimfamily: AsProposal: nil model")
	}
	return eimProposal{m: m, conditional: conditional}
}

type eimProposal struct {
	m           RSampler
	conditional bool
}

func (p eimProposal) Dim() int             { return p.m.Dim() }
func (p eimProposal) Params() []*ad.Tensor { return p.m.Params() }

func (p eimProposal) Sample(rng *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor {
	if ctx == nil || p.conditional {
		return p.m.RSample(rng, ctx, k)
	}
	checkCtx("AsProposal(…).Sample", ctx, p.m.Dim())
	n := ctx.Dim(0)
	return ad.Reshape(p.m.RSample(rng, nil, k*n), k, n, p.m.Dim())
}

func (p eimProposal) LogProb(ctx, x *ad.Tensor) *ad.Tensor {
	lp, ok := p.m.(interface {
		LogProb(ctx, x *ad.Tensor) (*ad.Tensor, error)
	})
	if !ok {
		panic(fmt.Sprintf("eimfamily: AsProposal(%T).LogProb: the density of this sampler is intractable (only SIVI's closed form and other estimators that never evaluate log π can use it)", p.m))
	}
	if x == nil || x.Rank() < 1 || x.Dim(-1) != p.m.Dim() {
		panic(fmt.Sprintf("eimfamily: AsProposal(%T).LogProb: x shape %v, want [..., %d]", p.m, shapeOrNil(x), p.m.Dim()))
	}
	c := ctx
	if !p.conditional {
		c = nil
	}
	// The families' LogProb takes a batch [n, d] (and ctx [n, c]): flatten
	// the leading axes, repeating the context along them.
	d := p.m.Dim()
	lead := x.Shape()[:x.Rank()-1]
	rows := x.Len() / d
	flat := ad.Reshape(x, rows, d)
	if c != nil {
		if x.Rank() < 2 || x.Dim(-2) != c.Dim(0) {
			panic(fmt.Sprintf("eimfamily: AsProposal(%T).LogProb: x shape %v does not line up with ctx shape %v", p.m, x.Shape(), c.Shape()))
		}
		c = ad.Reshape(ad.BroadcastTo(c, append(append([]int(nil), lead[:len(lead)-1]...), c.Dim(0), c.Dim(1))...), rows, c.Dim(1))
	}
	out, err := lp.LogProb(c, flat)
	if err != nil {
		panic(fmt.Sprintf("eimfamily: AsProposal(%T).LogProb: %v", p.m, err))
	}
	return ad.Reshape(out, lead...)
}

// logNormalStd returns Σ_j log N(v_j; 0, 1) over the last axis.
func logNormalStd(v *ad.Tensor) *ad.Tensor {
	return ad.AddScalar(ad.MulScalar(ad.Sum(ad.Square(v), -1), -0.5), -0.5*float64(v.Dim(-1))*math.Log(2*math.Pi))
}
