package ad

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// MatMul returns the matrix product a·b over the last two axes. Both have
// rank ≥ 2; leading (batch) axes must be equal, or one operand is a plain
// matrix and is applied to every batch element of the other. The product
// runs through gonum's blas64, so the netlib build tag (see the README)
// routes it to OpenBLAS.
func MatMul(a, b *Tensor) *Tensor { return matmul(a, b, false, false) }

// MatMulT returns a·bᵀ over the last two axes without forming bᵀ.
func MatMulT(a, b *Tensor) *Tensor { return matmul(a, b, false, true) }

// TMatMul returns aᵀ·b over the last two axes without forming aᵀ.
func TMatMul(a, b *Tensor) *Tensor { return matmul(a, b, true, false) }

// dims returns the (rows, cols) of op(x) and the batch shape.
func mdims(x *Tensor, t bool) (r, c int, batch []int) {
	s := x.shape
	r, c = s[len(s)-2], s[len(s)-1]
	if t {
		r, c = c, r
	}
	return r, c, s[:len(s)-2]
}

func matmul(a, b *Tensor, tA, tB bool) *Tensor {
	if len(a.shape) < 2 || len(b.shape) < 2 {
		panic(fmt.Sprintf("ad: MatMul: shapes %v and %v: both need rank >= 2", a.shape, b.shape))
	}
	m, k, ba := mdims(a, tA)
	k2, n, bb := mdims(b, tB)
	if k != k2 || (len(ba) > 0 && len(bb) > 0 && !sameShape(ba, bb)) {
		panic(fmt.Sprintf("ad: MatMul: shapes %v and %v (transposed %v, %v) do not agree", a.shape, b.shape, tA, tB))
	}
	batch := ba
	if len(bb) > 0 {
		batch = bb
	}
	shape := append(cloneInts(batch), m, n)
	out := fromShape(shape)
	nb := numel(batch)
	switch {
	case len(bb) == 0 && !tA:
		// Fold the batch of a into its rows: one large product.
		gemm(tA, tB, m*nb, n, k, a.data, b.data, out.data)
	default:
		sa, sb := m*k, k*n
		if len(ba) == 0 {
			sa = 0
		}
		if len(bb) == 0 {
			sb = 0
		}
		for i := 0; i < nb; i++ {
			gemm(tA, tB, m, n, k, a.data[i*sa:i*sa+m*k], b.data[i*sb:i*sb+k*n], out.data[i*m*n:(i+1)*m*n])
		}
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		A, B := ins[0], ins[1]
		r := make([]*Tensor, 2)
		if need[0] {
			switch {
			case !tA && !tB:
				r[0] = matmul(g, B, false, true)
			case !tA && tB:
				r[0] = matmul(g, B, false, false)
			case tA && !tB:
				r[0] = matmul(B, g, false, true)
			default:
				r[0] = matmul(B, g, true, true)
			}
			r[0] = SumTo(r[0], A.shape...)
		}
		if need[1] {
			if len(B.shape) == 2 && len(A.shape) > 2 && !tA {
				// Fold the batch again so the reduction is one product.
				A2 := Reshape(A, -1, A.shape[len(A.shape)-1])
				g2 := Reshape(g, -1, g.shape[len(g.shape)-1])
				if tB {
					r[1] = matmul(g2, A2, true, false)
				} else {
					r[1] = matmul(A2, g2, true, false)
				}
			} else {
				switch {
				case !tA && !tB:
					r[1] = matmul(A, g, true, false)
				case !tA && tB:
					r[1] = matmul(g, A, true, false)
				case tA && !tB:
					r[1] = matmul(A, g, false, false)
				default:
					r[1] = matmul(g, A, true, true)
				}
				r[1] = SumTo(r[1], B.shape...)
			}
		}
		return r
	}, a, b)
}

// gemm sets c (m×n) = op(a)·op(b) with op(a) m×k and op(b) k×n, all
// row-major and contiguous.
func gemm(tA, tB bool, m, n, k int, a, b, c []float64) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c)
		return
	}
	A := blas64.General{Rows: m, Cols: k, Stride: k, Data: a}
	ta := blas.NoTrans
	if tA {
		A = blas64.General{Rows: k, Cols: m, Stride: m, Data: a}
		ta = blas.Trans
	}
	B := blas64.General{Rows: k, Cols: n, Stride: n, Data: b}
	tb := blas.NoTrans
	if tB {
		B = blas64.General{Rows: n, Cols: k, Stride: k, Data: b}
		tb = blas.Trans
	}
	blas64.Gemm(ta, tb, 1, A, B, 0, blas64.General{Rows: m, Cols: n, Stride: n, Data: c})
}
