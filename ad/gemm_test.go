package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// fmaProduct is the definition the kernels must meet bit for bit: every
// entry one fused multiply–add chain over p in increasing order. It also
// returns, per entry, the bound on the error of any order of summation,
// γ_k Σ_p |a_ip b_pj| with γ_k = k·u/(1 − k·u) and u = 2⁻⁵³ (Higham,
// "Accuracy and Stability of Numerical Algorithms", §3.1): twice it
// bounds the distance between two summation orders.
func fmaProduct(tA, tB bool, m, n, k int, a, b []float64) (c, bound []float64) {
	c, bound = make([]float64, m*n), make([]float64, m*n)
	u := math.Ldexp(1, -53)
	gamma := float64(k) * u / (1 - float64(k)*u)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				av, bv := a[i*k+p], b[p*n+j]
				if tA {
					av = a[p*m+i]
				}
				if tB {
					bv = b[j*k+p]
				}
				s = math.FMA(av, bv, s)
				abs += math.Abs(av * bv)
			}
			c[i*n+j], bound[i*n+j] = s, gamma*abs*(1+2*gamma) // the last factor covers the rounding of abs itself
		}
	}
	return c, bound
}

// TestGemmKernelsExact checks the assembly micro-kernels bitwise against
// fmaProduct in all three layouts, over shapes that exercise every tile
// (4×8, 4×4, masked tails of 1–3 columns, single rows), and that the
// masked stores write nothing past the product; Affine's fused bias
// likewise; then that the portable loops agree to rounding.
func TestGemmKernelsExact(t *testing.T) {
	if !haveGemmKernels {
		t.Skip("no AVX2/FMA kernels on this machine")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	layouts := [][2]bool{{false, false}, {false, true}, {true, false}}
	for _, m := range []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 37} {
		for _, n := range []int{4, 5, 6, 7, 8, 9, 11, 12, 16, 17, 20, 33} {
			for _, k := range []int{1, 2, 3, 20, 65} {
				a, b := Randn(rng, m*k).data, Randn(rng, k*n).data
				for _, l := range layouts {
					const guard = 9
					c := make([]float64, m*n+guard)
					for i := range c {
						c[i] = math.NaN()
					}
					gemmSmall(l[0], l[1], m, n, k, a, b, c[:m*n])
					want, bound := fmaProduct(l[0], l[1], m, n, k, a, b)
					for i, w := range want {
						if math.Float64bits(c[i]) != math.Float64bits(w) {
							t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v: c[%d] = %v, want %v", m, n, k, l[0], l[1], i, c[i], w)
						}
					}
					for i := m * n; i < len(c); i++ {
						if !math.IsNaN(c[i]) {
							t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v: wrote c[%d] past the product", m, n, k, l[0], l[1], i)
						}
					}
					if !l[0] && !l[1] {
						// Affine: the kernels add the bias as they store.
						bias := Randn(rng, n).data
						got := Affine(New(a, m, k), New(b, k, n), New(bias, n)).Data()
						for i, w := range want {
							if w += bias[i%n]; math.Float64bits(got[i]) != math.Float64bits(w) {
								t.Fatalf("Affine m=%d n=%d k=%d: entry %d = %v, want %v", m, n, k, i, got[i], w)
							}
						}
					}
					haveGemmKernels = false
					loops := make([]float64, m*n)
					gemmSmall(l[0], l[1], m, n, k, a, b, loops)
					haveGemmKernels = true
					for i, w := range want {
						if math.Abs(loops[i]-w) > 2*bound[i] {
							t.Fatalf("portable loops m=%d n=%d k=%d: c[%d] = %v, kernels %v, beyond the bound %v", m, n, k, i, loops[i], w, 2*bound[i])
						}
					}
				}
			}
		}
	}
}

// TestGemmKernelsSplitBitwise checks that a product large enough for
// inHalves to split gives the same bits with the helper as without: the
// small-product kernels' rows, and the packed product's halves by columns
// (n ≥ m) and by rows (n < m), in every layout. With the kernels it also
// requires that the product was split (whether the helper or, when the
// helper was late, the caller computed the second half).
func TestGemmKernelsSplitBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	split := func(name string, m, n, k int, run func(m, n, k int, a, b, c []float64)) {
		t.Helper()
		a, b := Randn(rng, m*k).data, Randn(rng, k*n).data
		one := make([]float64, m*n)
		two := make([]float64, m*n)
		prev := SetMaxThreads(1)
		run(m, n, k, a, b, one)
		SetMaxThreads(2)
		before := helper.splits.Load()
		run(m, n, k, a, b, two)
		SetMaxThreads(prev)
		if haveGemmKernels && threads() >= 2 && helper.splits.Load() == before {
			t.Errorf("%s %d×%d·%d×%d: the product was not split", name, m, k, k, n)
		}
		for i := range one {
			if math.Float64bits(one[i]) != math.Float64bits(two[i]) {
				t.Fatalf("%s %d×%d·%d×%d: entry %d: %v with one goroutine, %v with two", name, m, k, k, n, i, one[i], two[i])
			}
		}
	}
	for _, l := range [][2]bool{{false, false}, {false, true}, {true, false}} {
		name := fmt.Sprintf("tA=%v tB=%v", l[0], l[1])
		if !l[0] {
			split("small "+name, 1151, 20, 20, func(m, n, k int, a, b, c []float64) { gemmSmall(l[0], l[1], m, n, k, a, b, c) })
		}
		for _, s := range [][3]int{{150, 300, 70}, {300, 150, 70}} {
			split(name, s[0], s[1], s[2], func(m, n, k int, a, b, c []float64) { gemm(l[0], l[1], m, n, k, a, b, c) })
		}
	}
}

// BenchmarkSkinnyProduct times the 1151×20·20×20 product of an SNIS
// training step's hidden layer on one goroutine: the assembly kernels
// ("kernels"), the portable loops ("loops") and blas64 ("blas64": gonum's
// Dgemm, or OpenBLAS under the netlib tag).
func BenchmarkSkinnyProduct(b *testing.B) {
	const m, n, k = 1151, 20, 20
	rng := rand.New(rand.NewPCG(1, 2))
	x, w, c := Randn(rng, m*k).data, Randn(rng, k*n).data, make([]float64, m*n)
	defer SetMaxThreads(SetMaxThreads(1))
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				f()
			}
		})
	}
	if haveGemmKernels {
		run("kernels", func() { gemmSmall(false, false, m, n, k, x, w, c) })
	}
	run("loops", func() {
		defer func(v bool) { haveGemmKernels = v }(haveGemmKernels)
		haveGemmKernels = false
		gemmSmall(false, false, m, n, k, x, w, c)
	})
	run("blas64", func() {
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas64.General{Rows: m, Cols: k, Stride: k, Data: x},
			blas64.General{Rows: k, Cols: n, Stride: n, Data: w},
			0, blas64.General{Rows: m, Cols: n, Stride: n, Data: c})
	})
}
