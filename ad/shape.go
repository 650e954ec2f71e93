package ad

import (
	"fmt"
	"slices"
)

// Reshape returns x with a new shape and the same entries in row-major
// order; one dimension may be −1 and is then inferred. The result shares
// x's backing array.
func Reshape(x *Tensor, shape ...int) *Tensor {
	shape = cloneInts(shape)
	infer := -1
	known := 1
	for i, d := range shape {
		if d == -1 {
			if infer >= 0 {
				panic(fmt.Sprintf("ad: Reshape: more than one -1 in %v", shape))
			}
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 {
		if known == 0 || len(x.data)%known != 0 {
			panic(fmt.Sprintf("ad: Reshape: cannot reshape %v to %v", x.shape, shape))
		}
		shape[infer] = len(x.data) / known
	}
	if numel(shape) != len(x.data) {
		panic(fmt.Sprintf("ad: Reshape: cannot reshape %v to %v", x.shape, shape))
	}
	if slices.Equal(shape, x.shape) {
		return x
	}
	out := &Tensor{shape: shape, data: x.data}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Reshape(g, ins[0].shape...)}
	}, x)
}

// Unsqueeze inserts an axis of length 1 at position axis (in the result).
func Unsqueeze(x *Tensor, axis int) *Tensor {
	axis = normAxis("Unsqueeze", axis, len(x.shape)+1)
	s := slices.Insert(cloneInts(x.shape), axis, 1)
	return Reshape(x, s...)
}

// Transpose permutes the axes of x: result axis i is x's axis perm[i]. With
// no perm it swaps the last two axes.
func Transpose(x *Tensor, perm ...int) *Tensor {
	r := len(x.shape)
	if len(perm) == 0 {
		if r < 2 {
			panic(fmt.Sprintf("ad: Transpose: shape %v has fewer than 2 axes", x.shape))
		}
		perm = make([]int, r)
		for i := range perm {
			perm[i] = i
		}
		perm[r-1], perm[r-2] = perm[r-2], perm[r-1]
	}
	if len(perm) != r {
		panic(fmt.Sprintf("ad: Transpose: permutation %v for shape %v", perm, x.shape))
	}
	seen := make([]bool, r)
	for _, p := range perm {
		if p < 0 || p >= r || seen[p] {
			panic(fmt.Sprintf("ad: Transpose: %v is not a permutation for shape %v", perm, x.shape))
		}
		seen[p] = true
	}
	inStrides := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		inStrides[i] = s
		s *= x.shape[i]
	}
	shape := make([]int, r)
	strides := make([]int, r)
	for i, p := range perm {
		shape[i] = x.shape[p]
		strides[i] = inStrides[p]
	}
	out := fromShape(shape)
	xd := x.data
	if r == 2 && perm[0] == 1 {
		m, n := shape[0], shape[1]
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				out.data[i*n+j] = xd[j*m+i]
			}
		}
	} else {
		forEachOffset(shape, strides, func(i, off int) { out.data[i] = xd[off] })
	}
	inv := make([]int, r)
	for i, p := range perm {
		inv[p] = i
	}
	return record(out, func(g *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Transpose(g, inv...)}
	}, x)
}

// Slice returns x[start:end] along axis.
func Slice(x *Tensor, axis, start, end int) *Tensor {
	axis = normAxis("Slice", axis, len(x.shape))
	outer, n, inner := split(x.shape, axis)
	if start < 0 || end > n || start > end {
		panic(fmt.Sprintf("ad: Slice: range [%d:%d] out of bounds for axis %d of shape %v", start, end, axis, x.shape))
	}
	shape := cloneInts(x.shape)
	shape[axis] = end - start
	out := fromShape(shape)
	m := (end - start) * inner
	for o := 0; o < outer; o++ {
		copy(out.data[o*m:(o+1)*m], x.data[(o*n+start)*inner:(o*n+end)*inner])
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{padSlice(g, axis, start, ins[0].shape[axis])}
	}, x)
}

// padSlice embeds g at [start:start+len) along axis in zeros of length n,
// the adjoint of Slice.
func padSlice(g *Tensor, axis, start, n int) *Tensor {
	outer, k, inner := split(g.shape, axis)
	shape := cloneInts(g.shape)
	shape[axis] = n
	out := fromShape(shape)
	m := k * inner
	for o := 0; o < outer; o++ {
		copy(out.data[(o*n+start)*inner:(o*n+start)*inner+m], g.data[o*m:(o+1)*m])
	}
	return record(out, func(G *Tensor, _ []*Tensor, _ *Tensor, _ []bool) []*Tensor {
		return []*Tensor{Slice(G, axis, start, start+k)}
	}, g)
}

// Concat joins tensors along axis; all other dimensions must agree.
func Concat(axis int, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("ad: Concat: no tensors")
	}
	axis = normAxis("Concat", axis, len(xs[0].shape))
	shape := cloneInts(xs[0].shape)
	total := 0
	for _, x := range xs {
		if len(x.shape) != len(shape) {
			panic(fmt.Sprintf("ad: Concat: shapes %v and %v differ in rank", xs[0].shape, x.shape))
		}
		for i := range shape {
			if i != axis && x.shape[i] != shape[i] {
				panic(fmt.Sprintf("ad: Concat: shapes %v and %v differ off axis %d", xs[0].shape, x.shape, axis))
			}
		}
		total += x.shape[axis]
	}
	shape[axis] = total
	out := fromShape(shape)
	outer, _, inner := split(shape, axis)
	offs := make([]int, len(xs))
	at := 0
	for i, x := range xs {
		offs[i] = at
		k := x.shape[axis] * inner
		for o := 0; o < outer; o++ {
			copy(out.data[(o*total+at)*inner:(o*total+at)*inner+k], x.data[o*k:(o+1)*k])
		}
		at += x.shape[axis]
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		r := make([]*Tensor, len(ins))
		for i, x := range ins {
			if need[i] {
				r[i] = Slice(g, axis, offs[i], offs[i]+x.shape[axis])
			}
		}
		return r
	}, slices.Clone(xs)...) // the graph must not see later changes to the caller's slice
}

// Stack joins tensors of one shape along a new axis.
func Stack(axis int, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("ad: Stack: no tensors")
	}
	for _, x := range xs {
		if !slices.Equal(x.shape, xs[0].shape) {
			panic(fmt.Sprintf("ad: Stack: shapes %v and %v differ", xs[0].shape, x.shape))
		}
	}
	axis = normAxis("Stack", axis, len(xs[0].shape)+1)
	ys := make([]*Tensor, len(xs))
	for i, x := range xs {
		ys[i] = Unsqueeze(x, axis)
	}
	return Concat(axis, ys...)
}
