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
// −Inf get a zero gradient. The sums run over the axis in increasing
// order, so the result is bitwise reproducible.
func LogSumExp(x *Tensor, axis int) *Tensor {
	axis = normAxis("LogSumExp", axis, len(x.shape))
	out, shift, logs := logSumExpParts(x, axis)
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		if ins[0].node == nil && g.node == nil {
			// g ⊙ softmax in one pass, without the weights and the
			// broadcast g as tensors of their own: bitwise the product
			// below (a product commutes).
			return []*Tensor{softmaxScaled(ins[0], axis, shift, logs, g.data)}
		}
		w := softmaxWeights(ins[0], axis, shift, logs)
		return []*Tensor{Mul(expandBack(g, ins[0].shape, axis), w)}
	}, x)
}

// logSumExpParts returns log Σ exp(x) along axis (removed), and per slice
// the shift m = max x and log Σ exp(x − m), both 0 where m is not finite.
// Differentiation needs the last two apart: their sum loses the second
// when |m| is large (1e300 + log 2 rounds to 1e300), and x − lse would
// then give softmax weights of 1 instead of 1/2.
//
// It walks x in memory order, a row of the inner axes at a time (for the
// K axis of the multi-sample bounds, [K, n] with axis 0, a row is one
// sample's n log weights): the maxima, then exp(x − m) of one row into a
// scratch row through the vector kernel, added into the running sums in
// increasing position along the axis.
func logSumExpParts(x *Tensor, axis int) (out *Tensor, shift, logs []float64) {
	outer, n, inner := split(x.shape, axis)
	out = fromShape(dropAxis(x.shape, axis))
	shift = make([]float64, len(out.data)) // the maxima until the end
	logs = make([]float64, len(out.data))  // the sums until the end
	xd := x.data
	finite := func(m float64) float64 { // the shift used for a slice
		if math.IsInf(m, 0) || math.IsNaN(m) {
			return 0 // all −Inf, or +Inf/NaN present: the sum is not used
		}
		return m
	}
	tmp := make([]float64, max(n, inner))
	if inner == 1 { // contiguous slices
		tmp = tmp[:n]
		for o := range outer {
			row := xd[o*n : (o+1)*n]
			m := math.Inf(-1)
			for _, v := range row {
				m = math.Max(m, v)
			}
			shift[o] = m
			mf := finite(m)
			for k, v := range row {
				tmp[k] = v - mf
			}
			expVec(tmp, tmp)
			s := 0.0
			for _, v := range tmp {
				s += v
			}
			logs[o] = s
		}
	} else { // a row of inner entries at a time, in memory order
		tmp = tmp[:inner]
		for o := range outer {
			base := o * n * inner
			m := shift[o*inner : (o+1)*inner]
			sum := logs[o*inner : (o+1)*inner]
			for j := range m {
				m[j] = math.Inf(-1)
			}
			for k := range n {
				for j, v := range xd[base+k*inner : base+(k+1)*inner] {
					m[j] = math.Max(m[j], v)
				}
			}
			for k := range n {
				for j, v := range xd[base+k*inner : base+(k+1)*inner] {
					tmp[j] = v - finite(m[j])
				}
				expVec(tmp, tmp)
				for j, v := range tmp {
					sum[j] += v
				}
			}
		}
	}
	logVec(logs, logs)
	for r, m := range shift {
		if finite(m) != m {
			out.data[r] = m
			shift[r], logs[r] = 0, 0
			continue
		}
		out.data[r] = m + logs[r]
	}
	return out, shift, logs
}

// shiftedLogSumExp returns log Σ exp(x − m) along axis (kept with length
// 1), given the parts from logSumExpParts; m is a constant, so the gradient
// is that of log-sum-exp. Where m is not finite the value is 0 and the
// weights are exp(x), which is 0 on an all −Inf slice.
func shiftedLogSumExp(x *Tensor, axis int, shift, logs []float64) *Tensor {
	return record(New(logs, keepShape(x.shape, axis)...), func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		w := softmaxWeights(ins[0], axis, shift, logs)
		return []*Tensor{Mul(BroadcastTo(g, ins[0].shape...), w)}
	}, x)
}

// softmaxWeights returns exp((x − m) − log Σ exp(x − m)) along axis, the
// gradient of log-sum-exp, from the parts of logSumExpParts. A detached x
// gives constant weights in one pass; an attached x (in a recorded
// gradient) gives the same values recorded as a function of x.
func softmaxWeights(x *Tensor, axis int, shift, logs []float64) *Tensor {
	if x.node != nil {
		return Exp(Sub(Sub(x, New(shift, keepShape(x.shape, axis)...)), shiftedLogSumExp(x, axis, shift, logs)))
	}
	return softmaxScaled(x, axis, shift, logs, nil)
}

// softmaxScaled returns g_r·exp((x − m_r) − l_r) for every entry of x,
// with r its slice along axis and m, l the parts of logSumExpParts, as
// a constant; a nil g means 1. The exponent is rounded as
// Sub(Sub(x, m), l) rounds it and the exponential is the Exp kernel, so
// the weights are bitwise those of the recorded path.
func softmaxScaled(x *Tensor, axis int, shift, logs, g []float64) *Tensor {
	outer, n, inner := split(x.shape, axis)
	w := filledLater(x.shape)
	xd, wd := x.data, w.data
	for o := range outer {
		for k := range n {
			i0 := (o*n + k) * inner
			xr, wr := xd[i0:i0+inner], wd[i0:i0+inner]
			m, l := shift[o*inner:(o+1)*inner], logs[o*inner:(o+1)*inner]
			for j, v := range xr {
				wr[j] = v - m[j] - l[j]
			}
			expVec(wr, wr)
			if g != nil {
				for j, gv := range g[o*inner : (o+1)*inner] {
					wr[j] *= gv
				}
			}
		}
	}
	return w
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
	// (x − m) − log Σ exp(x − m): x − logsumexp(x) would lose the log-sum
	// when |m| is large.
	_, shift, logs := logSumExpParts(x, axis)
	return Sub(Sub(x, New(shift, keepShape(x.shape, axis)...)), shiftedLogSumExp(x, axis, shift, logs))
}

// Softmax returns exp(x)/Σ exp(x) along axis. A slice of all −Inf gives
// zeros.
func Softmax(x *Tensor, axis int) *Tensor { return Exp(LogSoftmax(x, axis)) }
