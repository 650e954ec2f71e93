package ad

import (
	"fmt"
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
	if inner == 1 { // reducing the last axis: contiguous runs
		for o := range od {
			s := 0.0
			for _, v := range xd[o*n : (o+1)*n] {
				s += v
			}
			od[o] = s
		}
		return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
			return []*Tensor{expandBack(g, ins[0].shape, axis)}
		}, x)
	}
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
	if len(x.data) == 0 {
		panic(fmt.Sprintf("ad: Mean: empty tensor of shape %v", x.shape))
	}
	s := Sum(x, axes...)
	return MulScalar(s, float64(len(s.data))/float64(len(x.data)))
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
	// The backward needs the shift m and log Σ exp(x − m) apart: their sum
	// loses the second when |m| is large (1e300 + log 2 rounds to 1e300),
	// and x − out would then give softmax weights of 1 instead of 1/2. Both
	// stay 0 where m is not finite.
	shift := make([]float64, len(out.data))
	logs := make([]float64, len(out.data))
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
			shift[o*inner+j] = m
			logs[o*inner+j] = math.Log(s)
			out.data[o*inner+j] = m + logs[o*inner+j]
		}
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		w := softmaxWeights(ins[0], axis, shift, logs)
		return []*Tensor{Mul(expandBack(g, ins[0].shape, axis), w)}
	}, x)
}

// softmaxWeights returns exp(x − m − log Σ exp(x − m)) along axis, the
// gradient of log-sum-exp, from the per-slice shift m and log-sum logs of
// the forward pass (both 0 where the max is not finite, so that an all −Inf
// slice gets zero weights). A detached x gives constant weights in one
// pass; an attached x (a recorded gradient) gets weights recorded as a
// function of x, with logs recomputed as LogSumExp(x − m) — the same values,
// as the max of x − m is 0.
func softmaxWeights(x *Tensor, axis int, shift, logs []float64) *Tensor {
	outer, n, inner := split(x.shape, axis)
	if x.node == nil {
		w := fromShape(x.shape)
		for o := 0; o < outer; o++ {
			for k := 0; k < n; k++ {
				for j := 0; j < inner; j++ {
					i, r := (o*n+k)*inner+j, o*inner+j
					w.data[i] = math.Exp(x.data[i] - shift[r] - logs[r])
				}
			}
		}
		return w
	}
	ks := keepShape(x.shape, axis)
	z := Sub(x, New(shift, ks...))
	return Exp(Sub(z, Reshape(finiteOrZero(LogSumExp(z, axis)), ks...)))
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
	// Shift by the max first: x − lse(x) loses log Σ exp(x − m) when |m| is
	// large, (x − m) − lse(x − m) keeps it. The result does not depend on
	// the shift, so the shift is a constant.
	m := Max(x.Detach(), axis)
	for i, v := range m.data {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			m.data[i] = 0
		}
	}
	z := Sub(x, Reshape(m, keepShape(x.shape, axis)...))
	lse := finiteOrZero(LogSumExp(z, axis))
	return Sub(z, Reshape(lse, keepShape(x.shape, axis)...))
}

// Softmax returns exp(x)/Σ exp(x) along axis. A slice of all −Inf gives
// zeros.
func Softmax(x *Tensor, axis int) *Tensor { return Exp(LogSoftmax(x, axis)) }
