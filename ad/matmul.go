package ad

import (
	"fmt"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
)

// MatMul returns the matrix product a·b over the last two axes. Both have
// rank ≥ 2; leading (batch) axes must be equal, or one operand is a plain
// matrix and is applied to every batch element of the other. It runs on
// ad's assembly kernels where the CPU has AVX2 and FMA, and otherwise on
// portable loops (small products) or gonum's blas64, which the netlib
// build tag (see the README) routes to OpenBLAS.
func MatMul(a, b *Tensor) *Tensor { return matmul(a, b, false, false) }

// MatMulT returns a·bᵀ over the last two axes without forming bᵀ.
func MatMulT(a, b *Tensor) *Tensor { return matmul(a, b, false, true) }

// TMatMul returns aᵀ·b over the last two axes without forming aᵀ.
func TMatMul(a, b *Tensor) *Tensor { return matmul(a, b, true, false) }

// Affine returns x·W + b for x of shape [..., k], W [k, n] and b [n]: a
// dense layer in one operation, so the bias is added in the product's
// buffer instead of a second one.
func Affine(x, W, b *Tensor) *Tensor {
	if len(W.shape) != 2 || len(b.shape) != 1 || len(x.shape) < 1 || x.shape[len(x.shape)-1] != W.shape[0] || b.shape[0] != W.shape[1] {
		panic(fmt.Sprintf("ad: Affine: shapes x %v, W %v, b %v; want [..., k], [k, n], [n]", x.shape, W.shape, b.shape))
	}
	k, n := W.shape[0], W.shape[1]
	shape := append(cloneInts(x.shape[:len(x.shape)-1]), n)
	out := filledLater(shape) // gemm sets every entry
	rows := len(x.data) / max(k, 1)
	if k == 0 {
		rows = numel(shape) / max(n, 1)
	}
	if haveGemmKernels && rows > 0 && k > 0 && n >= 4 && useSmallGemm(rows, n, k) {
		// The kernels add the bias as they store (the same roundings as
		// the loop below, without a second pass over out).
		gemmKernel(rows, n, k, x.data, k, 1, W.data, n, out.data, b.data)
	} else if rows > 0 && k > 0 && n > 0 && usePacked(rows, n, k) {
		gemmPacked(rows, n, k, x.data, k, 1, W.data, n, 1, out.data, b.data)
	} else {
		gemm(false, false, rows, n, k, x.data, W.data, out.data)
		for i := 0; i < len(out.data); i += n {
			row := out.data[i : i+n]
			for j, v := range b.data {
				row[j] += v
			}
		}
	}
	return record(out, func(g *Tensor, ins []*Tensor, _ *Tensor, need []bool) []*Tensor {
		x, W := ins[0], ins[1]
		r := make([]*Tensor, 3)
		g2 := Reshape(g, -1, n) // x may have any rank ≥ 1
		if need[0] {
			r[0] = Reshape(matmul(g2, W, false, true), x.shape...)
		}
		if need[1] {
			r[1] = matmul(Reshape(x, -1, k), g2, true, false)
		}
		if need[2] {
			r[2] = SumTo(g2, n)
		}
		return r
	}, x, W, b)
}

// AffineTanh returns tanh(x·W + b), a tanh layer as one operation: the
// pre-activation never becomes a tensor, which saves a buffer and a pass
// over it in every hidden layer of an MLP (its backward needs only the
// output).
func AffineTanh(x, W, b *Tensor) *Tensor {
	z := Affine(x.Detach(), W.Detach(), b.Detach())
	tanhInto(z.data, z.data)
	return record(z, func(g *Tensor, ins []*Tensor, out *Tensor, need []bool) []*Tensor {
		d := tanhBack(g, out)
		x, W := ins[0], ins[1]
		k, n := W.shape[0], W.shape[1]
		r := make([]*Tensor, 3)
		d2 := Reshape(d, -1, n)
		if need[0] {
			r[0] = Reshape(matmul(d2, W, false, true), x.shape...)
		}
		if need[1] {
			r[1] = matmul(Reshape(x, -1, k), d2, true, false)
		}
		if need[2] {
			r[2] = SumTo(d2, n)
		}
		freeTemp(d, r)
		return r
	}, x, W, b)
}

// freeTemp hands the buffer of t, a temporary of a backward function, back
// for reuse when nothing recorded it (a first-order pass) and no result
// shares it. The recycler of VJP sees only the results of backward
// functions, so without this the tanh layers' g ⊙ (1 − y²) — one
// activation-sized buffer per layer and step — would be left to the
// garbage collector.
func freeTemp(t *Tensor, results []*Tensor) {
	if t.node != nil || len(t.data) < poolMin {
		return
	}
	for _, r := range results {
		if r != nil && len(r.data) > 0 && &r.data[0] == &t.data[0] {
			return
		}
	}
	freeBuf(t.data)
}

// mdims returns the (rows, cols) of op(x) and the batch shape.
func mdims(x *Tensor, t bool) (r, c int, batch []int) {
	s := x.shape
	r, c = s[len(s)-2], s[len(s)-1]
	if t {
		r, c = c, r
	}
	return r, c, s[:len(s)-2]
}

// matmul is op(a)·op(b) for the three layouts the public functions and
// their backward passes use; both operands transposed never occurs.
func matmul(a, b *Tensor, tA, tB bool) *Tensor {
	if tA && tB {
		panic("ad: internal: matmul with both operands transposed")
	}
	if len(a.shape) < 2 || len(b.shape) < 2 {
		panic(fmt.Sprintf("ad: MatMul: shapes %v and %v: both need rank >= 2", a.shape, b.shape))
	}
	m, k, ba := mdims(a, tA)
	k2, n, bb := mdims(b, tB)
	if k != k2 || (len(ba) > 0 && len(bb) > 0 && !slices.Equal(ba, bb)) {
		panic(fmt.Sprintf("ad: MatMul: shapes %v and %v (transposed %v, %v) do not agree", a.shape, b.shape, tA, tB))
	}
	batch := ba
	if len(bb) > 0 {
		batch = bb
	}
	shape := append(cloneInts(batch), m, n)
	out := filledLater(shape) // gemm sets every entry
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
			default: // tA
				r[0] = matmul(B, g, false, true)
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
				default: // tA
					r[1] = matmul(A, g, false, false)
				}
				r[1] = SumTo(r[1], B.shape...)
			}
		}
		return r
	}, a, b)
}

// gemm uses its own loops instead of blas64 when the product is small
// (fewer than smallGemm multiply–adds) or skinny (two of m, n, k at most
// skinnyGemm). The networks of the paper's synthetic experiments multiply
// such matrices (1024×2 by 2×20, 1151×20 by 20×20, 1024×20 by 20×1):
// there gonum's blocked, parallel Dgemm spends more time starting
// goroutines and calling tiny kernels than multiplying (measured: 22% of
// BenchmarkFirstOrder, half of an SNIS training step), while the direct
// loops below run over contiguous rows.
const (
	smallGemm  = 1 << 18
	skinnyGemm = 32
)

// fastBLAS is set when blas64 runs on an optimized library (the netlib
// build tag). OpenBLAS multiplies the skinny 1151×20 by 20×20 product of
// an SNIS training step eight times faster than the portable loops (20
// against 180 µs), so without the assembly kernels only tiny products stay
// here; the kernels match it (21 µs, BenchmarkSkinnyProduct) and can be
// split over two goroutines, so with them the rule is the pure-Go one.
var fastBLAS bool

// splitBLAS is set when blas64 runs single-threaded (the netlib build
// keeps OpenBLAS at one thread): gemmBLAS then splits large products in
// two halves of C with inHalves, so that one helper goroutine is all that
// ever runs beside the caller. OpenBLAS's own thread pool, spinning
// (sched_yield) beside that helper, left two threads no faster than one.
var splitBLAS bool

// largeOnBLAS sends the products that gemmPacked would compute to blas64
// instead.
var largeOnBLAS bool

// usePacked reports whether a product that is not small runs on the
// packed kernels (gemmpack_amd64.go) rather than blas64.
func usePacked(m, n, k int) bool {
	return havePacked && !largeOnBLAS && !useSmallGemm(m, n, k)
}

func useSmallGemm(m, n, k int) bool {
	if fastBLAS && !haveGemmKernels {
		return m*n*k < 1<<12
	}
	if m*n*k < smallGemm {
		return true
	}
	skinny := 0
	for _, d := range [3]int{m, n, k} {
		if d <= skinnyGemm {
			skinny++
		}
	}
	return skinny >= 2
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
	if useSmallGemm(m, n, k) {
		gemmSmall(tA, tB, m, n, k, a, b, c)
		return
	}
	if usePacked(m, n, k) {
		// op(a)(i, p) = a[i·ai + p·ap], op(b)(p, j) = b[p·bp + j·bj].
		ai, ap, bp, bj := k, 1, n, 1
		if tA {
			ai, ap = 1, m
		}
		if tB {
			bp, bj = 1, k
		}
		gemmPacked(m, n, k, a, ai, ap, b, bp, bj, c, nil)
		return
	}
	gemmBLAS(tA, tB, m, n, k, a, b, c)
}

// gemmBLAS is gemm through blas64. With splitBLAS the halves of C are
// two calls, by columns when n ≥ m and by rows otherwise; each entry is
// computed by one call either way.
func gemmBLAS(tA, tB bool, m, n, k int, a, b, c []float64) {
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	if !splitBLAS {
		blasCall(tA, tB, m, n, k, a, lda, b, ldb, c, n)
		return
	}
	work := m * n * k / blasMaddsPerEntry
	if n >= m {
		inHalves(n, work, func(lo, hi int) {
			bs := b[lo:] // columns lo… of op(b)
			if tB {
				bs = b[lo*k:]
			}
			blasCall(tA, tB, m, hi-lo, k, a, lda, bs, ldb, c[lo:], n)
		})
		return
	}
	inHalves(m, work, func(lo, hi int) {
		as := a[lo*k:] // rows lo… of op(a)
		if tA {
			as = a[lo:]
		}
		blasCall(tA, tB, hi-lo, n, k, as, lda, b, ldb, c[lo*n:], n)
	})
}

// blasMaddsPerEntry converts a product's multiply–adds into inHalves'
// unit of work, as maddsPerEntry does for the kernels.
const blasMaddsPerEntry = 16

// blasCall sets the m×n matrix c (row stride ldc) to op(a)·op(b), with
// op(a) m×k and op(b) k×n stored with row strides lda and ldb.
func blasCall(tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	A := blas64.General{Rows: m, Cols: k, Stride: lda, Data: a}
	ta := blas.NoTrans
	if tA {
		A = blas64.General{Rows: k, Cols: m, Stride: lda, Data: a}
		ta = blas.Trans
	}
	B := blas64.General{Rows: k, Cols: n, Stride: ldb, Data: b}
	tb := blas.NoTrans
	if tB {
		B = blas64.General{Rows: n, Cols: k, Stride: ldb, Data: b}
		tb = blas.Trans
	}
	blas64.Gemm(ta, tb, 1, A, B, 0, blas64.General{Rows: m, Cols: n, Stride: ldc, Data: c})
}

// gemmSmall is gemm by direct loops. Each case keeps the innermost loop
// long and contiguous: when the dimension it would run over is short
// (a network with one output, a 2-D input), the small operand b is first
// transposed so that the loop runs over the other, longer dimension.
func gemmSmall(tA, tB bool, m, n, k int, a, b, c []float64) {
	const short = 8
	if haveGemmKernels && n >= 4 {
		switch {
		case !tA && !tB:
			gemmKernel(m, n, k, a, k, 1, b, n, c, nil)
		case !tA && tB:
			// b is n×k; its transpose costs n·k moves against m·n·k
			// multiply–adds and gives the kernel contiguous rows.
			gemmKernel(m, n, k, a, k, 1, transposed(b, n, k), n, c, nil)
		default: // a is k×m
			gemmKernel(m, n, k, a, 1, m, b, n, c, nil)
		}
		return
	}
	switch {
	case !tA && !tB:
		if n < short && k >= n {
			bt := transposed(b, k, n)
			gemmSmall(false, true, m, n, k, a, bt, c)
			return
		}
		// c[i,:] = Σ_p a[i,p] b[p,:]
		inHalves(m, m*n*k, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ci := c[i*n : (i+1)*n]
				clear(ci)
				for p, av := range a[i*k : (i+1)*k] {
					axpy(ci, av, b[p*n:(p+1)*n])
				}
			}
		})
	case !tA && tB:
		if k < short && n > k {
			bt := transposed(b, n, k)
			gemmSmall(false, false, m, n, k, a, bt, c)
			return
		}
		// c[i,j] = a[i,:]·b[j,:]
		inHalves(m, m*n*k, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ai := a[i*k : (i+1)*k]
				ci := c[i*n : (i+1)*n]
				for j := range ci {
					ci[j] = dot(ai, b[j*k:(j+1)*k])
				}
			}
		})
	default: // tA: a is k×m
		gemmTN(m, n, k, a, b, c)
	}
}

// gemmTN sets c (m×n) = aᵀ·b for a k×m and b k×n. For a short row of c
// it accumulates cᵀ[j,:] += b[p,j] a[p,:] instead, to keep the inner loop
// long.
func gemmTN(m, n, k int, a, b, c []float64) {
	const short = 8
	if n < short && m > n {
		ct := make([]float64, n*m)
		for p := 0; p < k; p++ {
			ap := a[p*m : (p+1)*m]
			for j, bv := range b[p*n : (p+1)*n] {
				axpy(ct[j*m:(j+1)*m], bv, ap)
			}
		}
		transposeInto(c, ct, n, m)
		return
	}
	clear(c[:m*n])
	for p := 0; p < k; p++ {
		bp := b[p*n : (p+1)*n]
		for i, av := range a[p*m : (p+1)*m] {
			axpy(c[i*n:(i+1)*n], av, bp)
		}
	}
}

// transposed returns the transpose of the r×c row-major matrix x.
func transposed(x []float64, r, c int) []float64 {
	t := make([]float64, r*c)
	transposeInto(t, x, r, c)
	return t
}

// transposeInto sets dst (c×r) to the transpose of src (r×c).
func transposeInto(dst, src []float64, r, c int) {
	for i := 0; i < r; i++ {
		for j, v := range src[i*c : (i+1)*c] {
			dst[j*r+i] = v
		}
	}
}

// axpy sets y += α·x with gonum's assembly kernel (faster than a Go loop
// even on rows of 20: measured 6.5 against 7.8 µs per 1000 calls).
func axpy(y []float64, alpha float64, x []float64) { floats.AddScaled(y, alpha, x) }

// dot returns x·y with gonum's assembly kernel (4.9 against 7.5 µs per
// 1000 calls on rows of 20).
func dot(x, y []float64) float64 { return floats.Dot(x, y) }
