package ad

import (
	"fmt"
	"slices"
)

// BernoulliLogLik returns the log-likelihood of x under independent
// Bernoulli variables with logits l (P(x = 1) = σ(l)), summed over the
// last axis:
//
//	Σ_d [x_d log σ(l_d) + (1 − x_d) log σ(−l_d)] = Σ_d [x_d·l_d − softplus(l_d)],
//
// in one pass over the entries (one vector kernel per row of the last
// axis), with gradients
//
//	∂/∂l_d = x_d − σ(l_d),   ∂/∂x_d = l_d.
//
// x and logits have the same last axis; their leading axes broadcast, and
// the result has the broadcast leading shape (x [n, d] against logits
// [K, n, d] gives [K, n]). Each entry is computed as c·l − log1p(e^(−|l|))
// with c = x − [l > 0]: the same number for finite l, with no cancellation
// between x·l and softplus(l) when |l| is large, and the limit where it
// exists when l is infinite (x = 1 with l = +Inf, or x = 0 with l = −Inf,
// scores 0; the opposite pairs −Inf). The l-gradient is computed as
// c ± σ(−|l|), accurate where σ(l) is close to x. Values of x outside
// {0, 1} are scored by the same formula (linear in x, the continuous
// relaxation used for gray levels).
//
// It panics if a shape is a scalar, the last axes differ, or the leading
// axes do not broadcast.
func BernoulliLogLik(x, logits *Tensor) *Tensor {
	xs, ls := x.shape, logits.shape
	if len(xs) == 0 || len(ls) == 0 || xs[len(xs)-1] != ls[len(ls)-1] {
		panic(fmt.Sprintf("ad: BernoulliLogLik: x shape %v and logits shape %v; want equal last axes", xs, ls))
	}
	lead, ok := BroadcastShapes(xs[:len(xs)-1], ls[:len(ls)-1])
	if !ok {
		panic(fmt.Sprintf("ad: BernoulliLogLik: x shape %v and logits shape %v: leading axes do not broadcast", xs, ls))
	}
	d := xs[len(xs)-1]
	rows := newBernRows(lead, xs, ls)
	out := filledLater(lead)
	xd, ld, od := x.data, logits.data, out.data
	inHalves(len(od), len(od)*d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xo, lOff := rows.x(r)*d, rows.l(r)*d
			od[r] = bernoulliRow(xd[xo:xo+d], ld[lOff:lOff+d])
		}
	})
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if need[0] {
			full := Mul(Reshape(g, append(cloneInts(lead), 1)...), ins[1])
			r[0] = SumTo(full, ins[0].shape...)
		}
		if need[1] {
			r[1] = SumTo(bernoulliGradL(g, ins[0], ins[1], lead), ins[1].shape...)
		}
		return r
	}, x, logits)
}

// bernRows maps a row of the broadcast leading shape to the rows of x and
// of the logits that it reads.
type bernRows struct {
	xr, lr []int // nil: the identity
}

func newBernRows(lead, xs, ls []int) bernRows {
	var br bernRows
	n := numel(lead)
	if xl := xs[:len(xs)-1]; numel(xl) != n || !slices.Equal(xl, lead[len(lead)-len(xl):]) {
		br.xr = make([]int, n)
		forEachOffset(lead, bcastStrides(xl, lead), func(i, off int) { br.xr[i] = off })
	}
	if ll := ls[:len(ls)-1]; numel(ll) != n || !slices.Equal(ll, lead[len(lead)-len(ll):]) {
		br.lr = make([]int, n)
		forEachOffset(lead, bcastStrides(ll, lead), func(i, off int) { br.lr[i] = off })
	}
	return br
}

func (b bernRows) x(r int) int {
	if b.xr == nil {
		return r
	}
	return b.xr[r]
}

func (b bernRows) l(r int) int {
	if b.lr == nil {
		return r
	}
	return b.lr[r]
}

// bernoulliGradL returns g_r·(x − σ(l)) over the broadcast shape of x and
// l (lead plus the last axis), r the row: the l-gradient of
// BernoulliLogLik before it is summed to l's shape, one kernel pass. It
// is itself differentiable (in g, x and l), for gradients of gradients.
func bernoulliGradL(g, x, l *Tensor, lead []int) *Tensor {
	d := l.shape[len(l.shape)-1]
	full := append(cloneInts(lead), d)
	rows := newBernRows(lead, x.shape, l.shape)
	out := filledLater(full)
	xd, ld, od, gd := x.data, l.data, out.data, g.data
	inHalves(len(gd), len(od), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xo, lOff := rows.x(r)*d, rows.l(r)*d
			bernoulliGradRow(od[r*d:(r+1)*d], xd[xo:xo+d], ld[lOff:lOff+d], gd[r])
		}
	})
	return record(out, func(G *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		gcol := Reshape(ins[0], append(cloneInts(lead), 1)...)
		r := make([]*Tensor, 3)
		if need[0] { // Σ_d G·(x − σ(l))
			r[0] = Reshape(Sum(Mul(G, Sub(ins[1], Sigmoid(ins[2]))), -1), lead...)
		}
		if need[1] {
			r[1] = SumTo(Mul(G, gcol), ins[1].shape...)
		}
		if need[2] { // −G·g·σ(l)(1 − σ(l))
			r[2] = SumTo(sigmoidBack(Neg(Mul(G, gcol)), BroadcastTo(Sigmoid(ins[2]), full...)), ins[2].shape...)
		}
		return r
	}, g, x, l)
}
