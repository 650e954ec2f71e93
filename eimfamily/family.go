package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// Proposal is π(x | c), the tractable distribution a sampler draws its
// candidates from. Unconditional proposals are called with ctx nil.
//
// Shapes: the event dimension d is last. Sample with ctx nil returns
// [k, d]; with ctx of shape [n, c] it returns [k, n, d] (k candidates for
// each of the n contexts). LogProb takes x of shape [..., d] and returns
// [...]; a context [n, c] lines up with the second-to-last axis of x.
type Proposal interface {
	Dim() int
	// Sample draws k candidates, reparameterized where the proposal allows
	// it, so gradients reach the proposal's parameters.
	Sample(rng *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor
	// LogProb returns log π(x | ctx), summed over the event dimension.
	LogProb(ctx, x *ad.Tensor) *ad.Tensor
	// Params returns the learnable tensors (none for a fixed proposal).
	Params() []*ad.Tensor
}

// Energy is the learned energy U(x | c): the models weight proposals by
// exp(−U). Energy takes x of shape [..., d] and returns [...].
type Energy interface {
	Energy(ctx, x *ad.Tensor) *ad.Tensor
	Params() []*ad.Tensor
}

// Normal is a diagonal Gaussian proposal N(Loc, diag(exp(LogScale))²),
// unconditional. Loc and LogScale have shape [d]; they are learned if they
// require gradients and fixed otherwise.
type Normal struct {
	Loc, LogScale *ad.Tensor
}

var _ Proposal = (*Normal)(nil)

// NewStdNormal returns the fixed proposal N(0, variance·I) in d dimensions
// (the paper's synthetic experiments use variance 1, and 0.1 for the
// mismatched-proposal run of Fig. 1).
func NewStdNormal(d int, variance float64) *Normal {
	if d < 1 || !(variance > 0) {
		panic(fmt.Sprintf("eimfamily: NewStdNormal: dimension %d, variance %v", d, variance))
	}
	return &Normal{Loc: ad.Zeros(d), LogScale: ad.Full(0.5*math.Log(variance), d)}
}

// Dim returns d.
func (p *Normal) Dim() int { return p.Loc.Len() }

// Sample draws x = Loc + exp(LogScale) ⊙ ε with ε ~ N(0, I).
func (p *Normal) Sample(rng *rand.Rand, ctx *ad.Tensor, k int) *ad.Tensor {
	d := p.Dim()
	var eps *ad.Tensor
	if ctx == nil {
		eps = ad.Randn(rng, k, d)
	} else {
		eps = ad.Randn(rng, k, ctx.Dim(0), d)
	}
	return ad.Add(p.Loc, ad.Mul(ad.Exp(p.LogScale), eps))
}

// LogProb returns Σ_j log N(x_j; Loc_j, exp(LogScale_j)²).
func (p *Normal) LogProb(ctx, x *ad.Tensor) *ad.Tensor {
	if x.Dim(-1) != p.Dim() {
		panic(fmt.Sprintf("eimfamily: Normal.LogProb: x shape %v, want [..., %d]", x.Shape(), p.Dim()))
	}
	z := ad.Div(ad.Sub(x, p.Loc), ad.Exp(p.LogScale))
	lp := ad.AddScalar(ad.Add(ad.MulScalar(ad.Square(z), -0.5), ad.Neg(p.LogScale)), -0.5*math.Log(2*math.Pi))
	return ad.Sum(lp, -1)
}

// Params returns Loc and LogScale if they require gradients.
func (p *Normal) Params() []*ad.Tensor {
	var ps []*ad.Tensor
	for _, t := range []*ad.Tensor{p.Loc, p.LogScale} {
		if t.RequiresGrad() {
			ps = append(ps, t)
		}
	}
	return ps
}

// MLPEnergy is U(x | c) = Net([x, c]), an MLP with one output applied to x
// concatenated with the context (x alone when ctx is nil).
type MLPEnergy struct {
	Net *nn.MLP
}

var _ Energy = (*MLPEnergy)(nil)

// NewMLPEnergy returns an energy network with inputs d + c (c the context
// size, 0 when unconditional), the given hidden sizes and tanh activations.
func NewMLPEnergy(rng *rand.Rand, d, c int, hidden ...int) *MLPEnergy {
	sizes := append(append([]int{d + c}, hidden...), 1)
	return &MLPEnergy{Net: nn.NewMLP(rng, sizes...)}
}

// Energy returns U for x of shape [..., d] (and ctx [n, c] lined up with
// the second-to-last axis of x), as a tensor of shape [...].
func (e *MLPEnergy) Energy(ctx, x *ad.Tensor) *ad.Tensor {
	in := x
	if ctx != nil {
		shape := append(append([]int(nil), x.Shape()[:x.Rank()-1]...), ctx.Dim(-1))
		in = ad.Concat(-1, x, ad.BroadcastTo(ctx, shape...))
	}
	u := e.Net.Forward(in)
	return ad.Reshape(u, u.Shape()[:u.Rank()-1]...)
}

// Params returns the network's parameters.
func (e *MLPEnergy) Params() []*ad.Tensor { return e.Net.Params() }

// checkBatch panics unless x is a batch [n, d] of points of the proposal's
// dimension d and ctx, if not nil, is a matching batch of contexts [n, c].
// It returns n.
func checkBatch(who string, ctx, x *ad.Tensor, d int, e ...Energy) int {
	if x == nil || x.Rank() != 2 || x.Dim(1) != d {
		var s any = "nil"
		if x != nil {
			s = x.Shape()
		}
		panic(fmt.Sprintf("eimfamily: %s: x shape %v, want [n, %d]", who, s, d))
	}
	if ctx != nil && (ctx.Rank() != 2 || ctx.Dim(0) != x.Dim(0)) {
		panic(fmt.Sprintf("eimfamily: %s: ctx shape %v does not match x shape %v (want [%d, c])", who, ctx.Shape(), x.Shape(), x.Dim(0)))
	}
	for _, en := range e {
		checkEnergy(who, en, ctx, d)
	}
	return x.Dim(0)
}

// checkCtx panics unless ctx is nil or a batch of contexts [m, c], and,
// for energies of known input size (e), unless the context fits them.
func checkCtx(who string, ctx *ad.Tensor, d int, e ...Energy) {
	if ctx != nil && ctx.Rank() != 2 {
		panic(fmt.Sprintf("eimfamily: %s: ctx shape %v, want [m, c]", who, ctx.Shape()))
	}
	for _, en := range e {
		checkEnergy(who, en, ctx, d)
	}
}

// Inputs returns the number of inputs of the energy network, d + c.
func (e *MLPEnergy) Inputs() int { return e.Net.Layers[0].In() }

// checkEnergy panics, naming the family method who, when an energy that
// reports its input size (Inputs, as MLPEnergy does) does not take x of
// dimension d with the context given: a context passed to an
// unconditional energy, or none to a conditional one, would otherwise
// fail deep inside the network with a message about a layer.
func checkEnergy(who string, e Energy, ctx *ad.Tensor, d int) {
	in, ok := e.(interface{ Inputs() int })
	if !ok {
		return
	}
	c := 0
	if ctx != nil {
		c = ctx.Dim(-1)
	}
	if want := in.Inputs(); d+c != want {
		switch {
		case ctx != nil && want == d:
			panic(fmt.Sprintf("eimfamily: %s: a context of shape %v was given to an unconditional energy (it takes x alone, d = %d inputs); pass ctx nil", who, ctx.Shape(), d))
		case ctx == nil:
			panic(fmt.Sprintf("eimfamily: %s: no context given to a conditional energy with %d inputs (d = %d, so c = %d)", who, want, d, want-d))
		default:
			panic(fmt.Sprintf("eimfamily: %s: x of dimension %d and a context of shape %v make %d inputs, the energy takes %d", who, d, ctx.Shape(), d+c, want))
		}
	}
}

// logAddExp returns log(eᵃ + eᵇ) for a and b of one shape, with ad's
// −Inf-safe log-sum-exp (−Inf and −Inf give −Inf and a zero gradient).
func logAddExp(a, b *ad.Tensor) *ad.Tensor {
	return ad.LogSumExp(ad.Stack(0, a, b), 0)
}

// sampleLogCategorical draws an index with probability proportional to
// exp(lw[k]) by inversion of the cumulative weights. Entries at −Inf are
// never drawn. It panics if no entry is finite or one is NaN or +Inf.
func sampleLogCategorical(rng *rand.Rand, lw []float64) int {
	m := math.Inf(-1)
	for _, v := range lw {
		if math.IsNaN(v) || math.IsInf(v, 1) {
			panic(fmt.Sprintf("eimfamily: log weight %v", v))
		}
		m = max(m, v)
	}
	if math.IsInf(m, -1) {
		panic("eimfamily: all log weights are -Inf")
	}
	total := 0.0
	for _, v := range lw {
		total += math.Exp(v - m)
	}
	target := rng.Float64() * total
	cum, last := 0.0, 0
	for k, v := range lw {
		w := math.Exp(v - m)
		if w == 0 {
			continue
		}
		cum += w
		last = k
		if cum > target {
			return k
		}
	}
	return last // rounding: target within an ulp of the total
}

// params concatenates the parameter lists of the proposal and the energy.
func params(p Proposal, e Energy, extra ...*ad.Tensor) []*ad.Tensor {
	var ps []*ad.Tensor
	ps = append(ps, p.Params()...)
	ps = append(ps, e.Params()...)
	for _, t := range extra {
		if t != nil && t.RequiresGrad() {
			ps = append(ps, t)
		}
	}
	return ps
}

// ChunkRows is the number of proposal draws (candidates or rejected
// proposals, times data points where they are drawn per point) that a
// default chunk of the S-sample bounds holds: 2¹⁶, the chunk size of the
// exact samplers. SNIS, TRS and HIS compute Integrands and BoundS Chunk
// samples at a time (their Chunk field; 0 is the default) and join the
// [c, n] integrands of all chunks before the one log-mean-exp over S, so
// the bound is the same computation for every chunk size: the draws come
// from rng in the same order (a proposal's draws for k samples are the
// first k of its draws for more, as for every proposal in eimkit), and the
// reduction runs once over all S. The result is bitwise the same for any
// Chunk when the proposal and the energy compute a row the same bits
// whatever batch it is in (ad's own product kernels, used for small
// products such as the 2-D models', do; products large enough for
// gonum's Dgemm may round differently with the batch size, and then
// chunk sizes agree to rounding). BoundS and Integrands keep the graph of
// every chunk, so their gradient is the unchunked bound's (to rounding in
// its accumulation) and their memory grows with S; EvaluateS, the
// evaluation path, drops each chunk's graph once its integrands are
// computed, so its memory is one chunk's whatever S, and its value is
// BoundS's, bitwise.
const ChunkRows = 1 << 16

// chunkSize returns the number of samples per chunk: chunk if set, else
// as many samples of perSample rows as fit in ChunkRows, at least one.
func chunkSize(chunk, perSample int) int {
	if chunk > 0 {
		return chunk
	}
	return max(1, ChunkRows/max(perSample, 1))
}

// chunked calls f for consecutive chunks of at most c of the s samples
// and joins the [c, n] results along the first axis, each detached first
// if detach is set (so that its graph is garbage at once).
func chunked(c, s int, detach bool, f func(c int) *ad.Tensor) *ad.Tensor {
	part := func(k int) *ad.Tensor {
		w := f(k)
		if detach {
			w = w.Detach()
		}
		return w
	}
	if c >= s {
		return part(s)
	}
	var parts []*ad.Tensor
	for lo := 0; lo < s; lo += c {
		parts = append(parts, part(min(c, s-lo)))
	}
	return ad.Concat(0, parts...)
}

// detached returns t.Detach(), or nil for nil.
func detached(t *ad.Tensor) *ad.Tensor {
	if t == nil {
		return nil
	}
	return t.Detach()
}

func shapeOrNil(t *ad.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}

// flatX lets an unconditional model take data of any batch shape: for ctx
// nil and x of shape [..., d] other than [n, d], it returns x as
// [rows, d] and the leading shape to restore (unflat); otherwise x and
// nil. (With a context, x is a batch [n, d] lined up with it.)
func flatX(ctx, x *ad.Tensor) (*ad.Tensor, []int) {
	if ctx != nil || x == nil || x.Rank() == 2 || x.Rank() == 0 {
		return x, nil
	}
	d := x.Dim(-1)
	lead := append([]int{}, x.Shape()[:x.Rank()-1]...)
	return ad.Reshape(x, x.Len()/max(d, 1), d), lead
}

// unflat reshapes t, [pre..., rows], to [pre..., lead...] when lead is not
// nil (flatX flattened the batch).
func unflat(t *ad.Tensor, lead []int, pre ...int) *ad.Tensor {
	if lead == nil {
		return t
	}
	return ad.Reshape(t, append(append([]int(nil), pre...), lead...)...)
}
