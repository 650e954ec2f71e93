package ad

import "fmt"

// IndexSelect returns the slices of x at positions idx along axis, in that
// order (repeats allowed): out[..., i, ...] = x[..., idx[i], ...]. SMC
// resampling selects particles this way.
func IndexSelect(x *Tensor, axis int, idx []int) *Tensor {
	axis = normAxis("IndexSelect", axis, len(x.shape))
	outer, n, inner := split(x.shape, axis)
	for _, k := range idx {
		if k < 0 || k >= n {
			panic(fmt.Sprintf("ad: IndexSelect: index %d out of range for axis %d of shape %v", k, axis, x.shape))
		}
	}
	idx = append([]int(nil), idx...)
	shape := cloneInts(x.shape)
	shape[axis] = len(idx)
	out := fromShape(shape)
	m := len(idx)
	for o := 0; o < outer; o++ {
		for i, k := range idx {
			copy(out.data[(o*m+i)*inner:(o*m+i+1)*inner], x.data[(o*n+k)*inner:(o*n+k+1)*inner])
		}
	}
	return record(out, func(g *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{indexAdd(g, axis, idx, n)}
	}, x)
}

// indexAdd scatters g's slices along axis into zeros of length n, adding
// where idx repeats: the adjoint of IndexSelect.
func indexAdd(g *Tensor, axis int, idx []int, n int) *Tensor {
	outer, m, inner := split(g.shape, axis)
	shape := cloneInts(g.shape)
	shape[axis] = n
	out := fromShape(shape)
	for o := 0; o < outer; o++ {
		for i, k := range idx {
			dst := out.data[(o*n+k)*inner : (o*n+k+1)*inner]
			for j, v := range g.data[(o*m+i)*inner : (o*m+i+1)*inner] {
				dst[j] += v
			}
		}
	}
	return record(out, func(G *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{IndexSelect(G, axis, idx)}
	}, g)
}

// Gather picks entries along axis independently for every other position,
// like NumPy's take_along_axis: idx has x's shape with axis of length m
// (given flat, row-major), and out[..., i, ...] = x[..., idx[..., i, ...], ...].
// SNIS selects one of the K candidates per batch element this way.
func Gather(x *Tensor, axis int, idx []int, m int) *Tensor {
	axis = normAxis("Gather", axis, len(x.shape))
	outer, n, inner := split(x.shape, axis)
	if len(idx) != outer*m*inner {
		panic(fmt.Sprintf("ad: Gather: %d indices for shape %v with axis %d of length %d", len(idx), x.shape, axis, m))
	}
	for _, k := range idx {
		if k < 0 || k >= n {
			panic(fmt.Sprintf("ad: Gather: index %d out of range for axis %d of shape %v", k, axis, x.shape))
		}
	}
	idx = append([]int(nil), idx...)
	shape := cloneInts(x.shape)
	shape[axis] = m
	out := fromShape(shape)
	for o := 0; o < outer; o++ {
		for i := 0; i < m; i++ {
			for j := 0; j < inner; j++ {
				p := (o*m+i)*inner + j
				out.data[p] = x.data[(o*n+idx[p])*inner+j]
			}
		}
	}
	return record(out, func(g *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{scatterAdd(g, axis, idx, n)}
	}, x)
}

// scatterAdd is the adjoint of Gather.
func scatterAdd(g *Tensor, axis int, idx []int, n int) *Tensor {
	outer, m, inner := split(g.shape, axis)
	shape := cloneInts(g.shape)
	shape[axis] = n
	out := fromShape(shape)
	for o := 0; o < outer; o++ {
		for i := 0; i < m; i++ {
			for j := 0; j < inner; j++ {
				p := (o*m+i)*inner + j
				out.data[(o*n+idx[p])*inner+j] += g.data[p]
			}
		}
	}
	return record(out, func(G *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Gather(G, axis, idx, m)}
	}, g)
}
