package ad

import (
	"math"
	"slices"
)

type binKind int

const (
	kAdd binKind = iota
	kSub
	kMul
	kDiv
	kMax
	kMin
)

var binNames = [...]string{"Add", "Sub", "Mul", "Div", "Maximum", "Minimum"}

// binLoop sets dst[i] = x[i] op y[i].
func binLoop(k binKind, dst, x, y []float64) {
	y = y[:len(dst)]
	x = x[:len(dst)]
	switch k {
	case kAdd:
		for i := range dst {
			dst[i] = x[i] + y[i]
		}
	case kSub:
		for i := range dst {
			dst[i] = x[i] - y[i]
		}
	case kMul:
		for i := range dst {
			dst[i] = x[i] * y[i]
		}
	case kDiv:
		for i := range dst {
			dst[i] = x[i] / y[i]
		}
	case kMax:
		for i := range dst {
			dst[i] = math.Max(x[i], y[i])
		}
	case kMin:
		for i := range dst {
			dst[i] = math.Min(x[i], y[i])
		}
	}
}

// binScalarR sets dst[i] = x[i] op s.
func binScalarR(k binKind, dst, x []float64, s float64) {
	x = x[:len(dst)]
	switch k {
	case kAdd:
		for i := range dst {
			dst[i] = x[i] + s
		}
	case kSub:
		for i := range dst {
			dst[i] = x[i] - s
		}
	case kMul:
		for i := range dst {
			dst[i] = x[i] * s
		}
	case kDiv:
		for i := range dst {
			dst[i] = x[i] / s
		}
	case kMax:
		for i := range dst {
			dst[i] = math.Max(x[i], s)
		}
	case kMin:
		for i := range dst {
			dst[i] = math.Min(x[i], s)
		}
	}
}

// binScalarL sets dst[i] = s op y[i].
func binScalarL(k binKind, dst []float64, s float64, y []float64) {
	y = y[:len(dst)]
	switch k {
	case kSub:
		for i := range dst {
			dst[i] = s - y[i]
		}
	case kDiv:
		for i := range dst {
			dst[i] = s / y[i]
		}
	default: // commutative
		binScalarR(k, dst, y, s)
	}
}

// shortRow is the row length below which a broadcast row is applied by
// one loop over the whole tensor rather than one kernel call per row
// (batch-first data of dimension 2 would otherwise pay a call per point).
const shortRow = 16

// binPeriodic sets dst[i] = x[i] op p[i mod len(p)], or p[i mod len(p)] op
// x[i] when swap is set.
func binPeriodic(k binKind, dst, x, p []float64, swap bool) {
	m := len(p)
	x = x[:len(dst)]
	switch {
	case k == kAdd || k == kMul: // commutative
		if k == kAdd {
			for i := 0; i < len(dst); i += m {
				for j, pv := range p {
					dst[i+j] = x[i+j] + pv
				}
			}
		} else {
			for i := 0; i < len(dst); i += m {
				for j, pv := range p {
					dst[i+j] = x[i+j] * pv
				}
			}
		}
	case k == kSub && !swap:
		for i := 0; i < len(dst); i += m {
			for j, pv := range p {
				dst[i+j] = x[i+j] - pv
			}
		}
	case k == kDiv && !swap:
		for i := 0; i < len(dst); i += m {
			for j, pv := range p {
				dst[i+j] = x[i+j] / pv
			}
		}
	default:
		var a, b [1]float64
		for i := 0; i < len(dst); i += m {
			for j, pv := range p {
				if swap {
					a[0], b[0] = pv, x[i+j]
				} else {
					a[0], b[0] = x[i+j], pv
				}
				binLoop(k, dst[i+j:i+j+1], a[:], b[:])
			}
		}
	}
}

// binValues computes a op b with broadcasting, unrecorded.
func binValues(k binKind, a, b *Tensor) *Tensor {
	shape := a.shape
	if !slices.Equal(a.shape, b.shape) {
		shape = broadcastShape(binNames[k], a.shape, b.shape)
	}
	out := filledLater(shape) // every branch below writes every entry
	if slices.Equal(shape, a.shape) && slices.Equal(shape, b.shape) {
		binLoop(k, out.data, a.data, b.data)
		return out
	}
	ad, bd := a.data, b.data
	switch {
	case len(bd) == 1 && slices.Equal(shape, a.shape):
		binScalarR(k, out.data, ad, bd[0])
	case len(ad) == 1 && slices.Equal(shape, b.shape):
		binScalarL(k, out.data, ad[0], bd)
	case slices.Equal(shape, a.shape) && isSuffix(b.shape, shape):
		m := len(bd)
		if m < shortRow {
			binPeriodic(k, out.data, ad, bd, false)
			break
		}
		for i := 0; i < len(ad); i += m {
			binLoop(k, out.data[i:i+m], ad[i:i+m], bd)
		}
	case slices.Equal(shape, b.shape) && isSuffix(a.shape, shape):
		m := len(ad)
		if m < shortRow {
			binPeriodic(k, out.data, bd, ad, true)
			break
		}
		for i := 0; i < len(bd); i += m {
			binLoop(k, out.data[i:i+m], ad, bd[i:i+m])
		}
	default:
		binLoop(k, out.data, BroadcastTo(a.Detach(), shape...).data, BroadcastTo(b.Detach(), shape...).data)
	}
	return out
}

// Add returns a + b with NumPy broadcasting.
func Add(a, b *Tensor) *Tensor {
	return record(binValues(kAdd, a, b), func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if need[0] {
			r[0] = SumTo(g, ins[0].shape...)
		}
		if need[1] {
			r[1] = SumTo(g, ins[1].shape...)
		}
		return r
	}, a, b)
}

// Sub returns a − b with broadcasting.
func Sub(a, b *Tensor) *Tensor {
	return record(binValues(kSub, a, b), func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if need[0] {
			r[0] = SumTo(g, ins[0].shape...)
		}
		if need[1] {
			r[1] = SumTo(Neg(g), ins[1].shape...)
		}
		return r
	}, a, b)
}

// Mul returns a ⊙ b with broadcasting.
func Mul(a, b *Tensor) *Tensor {
	return record(binValues(kMul, a, b), func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		if need[0] {
			r[0] = SumTo(Mul(g, ins[1]), ins[0].shape...)
		}
		if need[1] {
			r[1] = SumTo(Mul(g, ins[0]), ins[1].shape...)
		}
		return r
	}, a, b)
}

// Div returns a ⊘ b with broadcasting.
func Div(a, b *Tensor) *Tensor {
	return record(binValues(kDiv, a, b), func(g *Tensor, ins []*Tensor, out *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, 2)
		gb := Div(g, ins[1])
		if need[0] {
			r[0] = SumTo(gb, ins[0].shape...)
		}
		if need[1] {
			// ∂(a/b)/∂b = −(a/b)/b
			r[1] = SumTo(Neg(Mul(gb, out)), ins[1].shape...)
		}
		return r
	}, a, b)
}

// Maximum returns the elementwise maximum with broadcasting. Where a == b
// the gradient goes to a.
func Maximum(a, b *Tensor) *Tensor {
	return record(binValues(kMax, a, b), func(g *Tensor, ins []*Tensor, out *Tensor, need []bool) []*Tensor {
		return selectGrad(g, ins, need, GreaterEqual(ins[0], ins[1]))
	}, a, b)
}

// Minimum returns the elementwise minimum with broadcasting. Where a == b
// the gradient goes to a.
func Minimum(a, b *Tensor) *Tensor {
	return record(binValues(kMin, a, b), func(g *Tensor, ins []*Tensor, out *Tensor, need []bool) []*Tensor {
		return selectGrad(g, ins, need, GreaterEqual(ins[1], ins[0]))
	}, a, b)
}

// selectGrad routes g to ins[0] where mask is 1 and to ins[1] elsewhere.
func selectGrad(g *Tensor, ins []*Tensor, need []bool, mask *Tensor) []*Tensor {
	r := make([]*Tensor, 2)
	if need[0] {
		r[0] = SumTo(Mul(g, mask), ins[0].shape...)
	}
	if need[1] {
		r[1] = SumTo(Mul(g, oneMinus(mask)), ins[1].shape...)
	}
	return r
}

// GreaterEqual returns the constant 0/1 tensor [a ≥ b] with broadcasting.
func GreaterEqual(a, b *Tensor) *Tensor {
	return compare(a, b, func(x, y float64) bool { return x >= y })
}

// Greater returns the constant 0/1 tensor [a > b] with broadcasting.
func Greater(a, b *Tensor) *Tensor {
	return compare(a, b, func(x, y float64) bool { return x > y })
}

func compare(a, b *Tensor, f func(x, y float64) bool) *Tensor {
	shape := broadcastShape("compare", a.shape, b.shape)
	ad := BroadcastTo(a.Detach(), shape...).data
	bd := BroadcastTo(b.Detach(), shape...).data
	out := fromShape(shape)
	for i := range out.data {
		if f(ad[i], bd[i]) {
			out.data[i] = 1
		}
	}
	return out
}

func oneMinus(m *Tensor) *Tensor {
	out := fromShape(m.shape)
	for i, v := range m.data {
		out.data[i] = 1 - v
	}
	return out
}

// Where returns cond ? a : b elementwise, with cond a constant tensor read
// as true where nonzero; a and b broadcast to cond's shape. The gradient
// of the branch not taken is zero there — but that zero still passes
// through the branch's own backward, so a branch like Log(x) at x = 0 turns
// it into 0/0 = NaN. Feed such a branch a safe input where it is not taken
// (the double-where idiom): Where(c, Log(Where(c, x, Scalar(1))), ...).
func Where(cond, a, b *Tensor) *Tensor {
	shape := cond.shape
	ab := BroadcastTo(a.Detach(), shape...)
	bb := BroadcastTo(b.Detach(), shape...)
	out := fromShape(cloneInts(shape))
	for i, c := range cond.data {
		if c != 0 {
			out.data[i] = ab.data[i]
		} else {
			out.data[i] = bb.data[i]
		}
	}
	mask := cond.Detach()
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		zero := Scalar(0)
		r := make([]*Tensor, 2)
		if need[0] {
			r[0] = SumTo(Where(mask, g, zero), ins[0].shape...)
		}
		if need[1] {
			r[1] = SumTo(Where(mask, zero, g), ins[1].shape...)
		}
		return r
	}, a, b)
}
