package ad

import (
	"math"
	"slices"
)

// keepShape returns shape with axis set to 1.
func keepShape(shape []int, axis int) []int {
	s := cloneInts(shape)
	s[axis] = 1
	return s
}

// dropAxis returns shape without axis.
func dropAxis(shape []int, axis int) []int {
	s := make([]int, 0, len(shape)-1)
	s = append(s, shape[:axis]...)
	return append(s, shape[axis+1:]...)
}

// expandBack broadcasts a reduced gradient g (axis dropped) back to shape.
func expandBack(g *Tensor, shape []int, axis int) *Tensor {
	return BroadcastTo(Reshape(g, keepShape(shape, axis)...), shape...)
}

// Sum returns the sum of x over the given axes, which are removed from the
// shape; with no axes it sums everything to a scalar. Negative axes count
// from the end.
func Sum(x *Tensor, axes ...int) *Tensor {
	if len(axes) == 0 {
		return SumTo(x)
	}
	norm := make([]int, len(axes))
	for i, a := range axes {
		norm[i] = normAxis("Sum", a, len(x.shape))
	}
	slices.Sort(norm)
	norm = slices.Compact(norm)
	for i := len(norm) - 1; i >= 0; i-- {
		x = sumAxis(x, norm[i])
	}
	return x
}

func sumAxis(x *Tensor, axis int) *Tensor {
	outer, n, inner := split(x.shape, axis)
	out := fromShape(dropAxis(x.shape, axis))
	xd, od := x.data, out.data
	for o := 0; o < outer; o++ {
		dst := od[o*inner : (o+1)*inner]
		for k := 0; k < n; k++ {
			src := xd[(o*n+k)*inner : (o*n+k+1)*inner]
			for j, v := range src {
				dst[j] += v
			}
		}
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{expandBack(g, ins[0].shape, axis)}
	}, x)
}

// Mean returns the mean of x over the given axes (all with none).
func Mean(x *Tensor, axes ...int) *Tensor {
	s := Sum(x, axes...)
	n := len(x.data) / max(len(s.data), 1)
	if len(x.data) == 0 {
		n = 0
	}
	return MulScalar(s, 1/float64(n))
}

// Max returns the maximum of x along axis, which is removed. The gradient
// goes to the first maximal entry.
func Max(x *Tensor, axis int) *Tensor {
	axis = normAxis("Max", axis, len(x.shape))
	outer, n, inner := split(x.shape, axis)
	out := fromShape(dropAxis(x.shape, axis))
	arg := make([]int, len(out.data))
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			best, bi := math.Inf(-1), 0
			for k := 0; k < n; k++ {
				if v := x.data[(o*n+k)*inner+j]; v > best || k == 0 || math.IsNaN(v) {
					best, bi = v, k
					if math.IsNaN(v) {
						break
					}
				}
			}
			out.data[o*inner+j] = best
			arg[o*inner+j] = bi
		}
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		mask := fromShape(ins[0].shape)
		for o := 0; o < outer; o++ {
			for j := 0; j < inner; j++ {
				mask.data[(o*n+arg[o*inner+j])*inner+j] = 1
			}
		}
		return []*Tensor{Mul(expandBack(g, ins[0].shape, axis), mask)}
	}, x)
}

// LogSumExp returns log Σ exp(x) along axis, which is removed. It is
// max-shifted; a slice of all −Inf gives −Inf (never NaN), and entries at
// −Inf get a zero gradient.
func LogSumExp(x *Tensor, axis int) *Tensor {
	axis = normAxis("LogSumExp", axis, len(x.shape))
	outer, n, inner := split(x.shape, axis)
	out := fromShape(dropAxis(x.shape, axis))
	xd := x.data
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			m := math.Inf(-1)
			for k := 0; k < n; k++ {
				m = math.Max(m, xd[(o*n+k)*inner+j])
			}
			if math.IsInf(m, 0) || math.IsNaN(m) {
				out.data[o*inner+j] = m // all −Inf, or +Inf/NaN present
				continue
			}
			s := 0.0
			for k := 0; k < n; k++ {
				s += math.Exp(xd[(o*n+k)*inner+j] - m)
			}
			out.data[o*inner+j] = m + math.Log(s)
		}
	}
	return record(out, func(g *Tensor, ins []*Tensor, out *Tensor, _ []bool) []*Tensor {
		shape := ins[0].shape
		w := Exp(Sub(ins[0], expandBack(finiteOrZero(out), shape, axis)))
		return []*Tensor{Mul(expandBack(g, shape, axis), w)}
	}, x)
}

// finiteOrZero replaces infinite entries by 0 (a constant there), passing
// gradients through the finite ones. It keeps x − lse from becoming
// −Inf − (−Inf) on all −Inf slices.
func finiteOrZero(x *Tensor) *Tensor {
	mask := mapValues(x.Detach(), func(v float64) float64 {
		if math.IsInf(v, 0) {
			return 0
		}
		return 1
	})
	return Where(mask, x, Scalar(0))
}

// LogMeanExp returns log((1/n) Σ exp(x)) along axis (n its length), the
// multi-sample bound of a tensor of log weights.
func LogMeanExp(x *Tensor, axis int) *Tensor {
	axis = normAxis("LogMeanExp", axis, len(x.shape))
	return AddScalar(LogSumExp(x, axis), -math.Log(float64(x.shape[axis])))
}

// LogSoftmax returns x − logsumexp(x) along axis. A slice of all −Inf gives
// all −Inf.
func LogSoftmax(x *Tensor, axis int) *Tensor {
	axis = normAxis("LogSoftmax", axis, len(x.shape))
	lse := finiteOrZero(LogSumExp(x, axis))
	return Sub(x, Reshape(lse, keepShape(x.shape, axis)...))
}

// Softmax returns exp(x)/Σ exp(x) along axis. A slice of all −Inf gives
// zeros.
func Softmax(x *Tensor, axis int) *Tensor { return Exp(LogSoftmax(x, axis)) }
