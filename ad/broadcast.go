package ad

import (
	"fmt"
	"slices"
)

// BroadcastShapes returns the NumPy broadcast of shapes a and b, and
// whether they broadcast at all: trailing axes are matched, and an axis of
// length 1 (or a missing one) stretches to the other's length.
func BroadcastShapes(a, b []int) ([]int, bool) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

// broadcastShape is BroadcastShapes for an operation: shapes that do not
// broadcast are the caller's programming error.
func broadcastShape(op string, a, b []int) []int {
	out, ok := BroadcastShapes(a, b)
	if !ok {
		panic(fmt.Sprintf("ad: %s: shapes %v and %v do not broadcast", op, a, b))
	}
	return out
}

// bcastStrides returns, for each axis of out, the stride of in along it
// (0 where in is broadcast). in must broadcast to out.
func bcastStrides(in, out []int) []int {
	st := make([]int, len(out))
	s := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := len(in) - len(out) + i
		if j < 0 {
			continue
		}
		if in[j] != 1 {
			st[i] = s
		}
		s *= in[j]
	}
	return st
}

// forEachOffset calls f(i, off) for every flat index i of shape out, where
// off is the matching flat offset into a tensor with the given strides.
func forEachOffset(out, strides []int, f func(i, off int)) {
	walkRows(out, strides, func(i, off, n, stride int) {
		for k := 0; k < n; k++ {
			f(i+k, off+k*stride)
		}
	})
}

// walkRows visits shape out by rows of its last axis: f(i, off, n, stride)
// covers flat indices i..i+n−1 of out, whose offsets into a tensor with
// the given strides are off, off+stride, ... (for broadcasting, stride is
// 0 or 1).
func walkRows(out, strides []int, f func(i, off, n, stride int)) {
	total := numel(out)
	if total == 0 {
		return
	}
	r := len(out)
	if r == 0 {
		f(0, 0, 1, 0)
		return
	}
	idx := make([]int, r)
	off := 0
	last := r - 1
	n, st := out[last], strides[last]
	for i := 0; i < total; i += n {
		f(i, off, n, st)
		for ax := last - 1; ax >= 0; ax-- {
			idx[ax]++
			off += strides[ax]
			if idx[ax] < out[ax] {
				break
			}
			off -= strides[ax] * out[ax]
			idx[ax] = 0
		}
	}
}

// BroadcastTo returns x broadcast to shape by NumPy rules, as a new tensor.
// It panics if x does not broadcast to shape.
func BroadcastTo(x *Tensor, shape ...int) *Tensor {
	if slices.Equal(x.shape, shape) {
		return x
	}
	bs := broadcastShape("BroadcastTo", x.shape, shape)
	if !slices.Equal(bs, shape) {
		panic(fmt.Sprintf("ad: BroadcastTo: shape %v does not broadcast to %v", x.shape, shape))
	}
	out := fromShape(cloneInts(shape))
	xd, od := x.data, out.data
	if len(xd) == 1 {
		v := xd[0]
		for i := range od {
			od[i] = v
		}
	} else if isSuffix(x.shape, shape) {
		for i := 0; i < len(od); i += len(xd) {
			copy(od[i:i+len(xd)], xd)
		}
	} else {
		walkRows(out.shape, bcastStrides(x.shape, out.shape), func(i, off, n, stride int) {
			if stride == 0 {
				v := xd[off]
				row := od[i : i+n]
				for j := range row {
					row[j] = v
				}
			} else {
				copy(od[i:i+n], xd[off:off+n])
			}
		})
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{SumTo(g, ins[0].shape...)}
	}, x)
}

// SumTo sums x over its broadcast axes so that the result has shape, the
// adjoint of BroadcastTo. It panics if shape does not broadcast to x's shape.
func SumTo(x *Tensor, shape ...int) *Tensor {
	if slices.Equal(x.shape, shape) {
		return x
	}
	bs := broadcastShape("SumTo", shape, x.shape)
	if !slices.Equal(bs, x.shape) {
		panic(fmt.Sprintf("ad: SumTo: shape %v does not broadcast to %v", shape, x.shape))
	}
	out := fromShape(cloneInts(shape))
	xd, od := x.data, out.data
	if len(od) == 1 {
		s := 0.0
		for _, v := range xd {
			s += v
		}
		od[0] = s
	} else if isSuffix(shape, x.shape) {
		m := len(od)
		if rows := len(xd) / m; haveGemmKernels && m >= 4 && rows > 0 {
			// Column sums as the product of a row of ones with x: the
			// kernels' FMA(1, v, s) rounds s + v once, as the loop
			// below does, and they add the rows in the same order.
			gemmKernel(1, m, rows, one[:], 0, 0, xd, m, od, nil)
		} else {
			for i := 0; i < len(xd); i += m {
				row := xd[i : i+m]
				for j, v := range row {
					od[j] += v
				}
			}
		}
	} else {
		walkRows(x.shape, bcastStrides(shape, x.shape), func(i, off, n, stride int) {
			if stride == 0 {
				s := 0.0
				for _, v := range xd[i : i+n] {
					s += v
				}
				od[off] += s
			} else {
				row := od[off : off+n]
				for j, v := range xd[i : i+n] {
					row[j] += v
				}
			}
		})
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{BroadcastTo(g, ins[0].shape...)}
	}, x)
}

// one is the row of ones SumTo multiplies by.
var one = [1]float64{1}

// isSuffix reports whether a equals the trailing dimensions of b, ignoring
// leading ones of a.
func isSuffix(a, b []int) bool {
	for len(a) > 0 && a[0] == 1 {
		a = a[1:]
	}
	if len(a) > len(b) {
		return false
	}
	return slices.Equal(a, b[len(b)-len(a):])
}
