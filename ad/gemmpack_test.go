//go:build amd64 && !purego

package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withBlocks runs f with the packed product's block sizes set to kc, mc
// and nc, so that small operands cross every block edge.
func withBlocks(kc, mc, nc int, f func()) {
	pk, pm, pn := kcMax, mcMax, ncMax
	kcMax, mcMax, ncMax = kc, mc, nc
	defer func() { kcMax, mcMax, ncMax = pk, pm, pn }()
	f()
}

// packedStrides returns the strides gemm passes to gemmPacked for a layout.
func packedStrides(tA, tB bool, m, n, k int) (ai, ap, bp, bj int) {
	ai, ap, bp, bj = k, 1, n, 1
	if tA {
		ai, ap = 1, m
	}
	if tB {
		bp, bj = 1, k
	}
	return
}

// kernelsUnderTest lists the micro-kernels of the packed product this
// machine can run, with the switch that selects each.
func kernelsUnderTest(t *testing.T) []bool {
	if !havePacked {
		t.Skip("no packed kernels on this machine")
	}
	if haveAVX512 {
		return []bool{true, false} // AVX-512, then AVX2 on the same machine
	}
	return []bool{false}
}

// checkPacked runs gemmPacked on one shape and layout and requires the
// bits of fmaProduct (plus the bias, added after the sums), nothing
// written past c, and the same bits on one goroutine as on two.
func checkPacked(t *testing.T, rng *rand.Rand, tA, tB bool, m, n, k int, withBias bool) {
	t.Helper()
	a, b := Randn(rng, m*k).data, Randn(rng, k*n).data
	var bias []float64
	if withBias {
		bias = Randn(rng, n).data
	}
	want, _ := fmaProduct(tA, tB, m, n, k, a, b)
	for i := range want {
		if bias != nil {
			want[i] += bias[i%n]
		}
	}
	ai, ap, bp, bj := packedStrides(tA, tB, m, n, k)
	const guard = 9
	for _, th := range []int{1, 2} {
		c := make([]float64, m*n+guard)
		for i := range c {
			c[i] = math.NaN()
		}
		prev := SetMaxThreads(th)
		gemmPacked(m, n, k, a, ai, ap, b, bp, bj, c[:m*n], bias)
		SetMaxThreads(prev)
		for i, w := range want {
			if math.Float64bits(c[i]) != math.Float64bits(w) {
				t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v bias=%v threads=%d blocks %d/%d/%d avx512=%v: c[%d] = %v, want %v",
					m, n, k, tA, tB, withBias, th, kcMax, mcMax, ncMax, haveAVX512, i, c[i], w)
			}
		}
		for i := m * n; i < len(c); i++ {
			if !math.IsNaN(c[i]) {
				t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v: wrote c[%d] past the product", m, n, k, tA, tB, i)
			}
		}
	}
}

// TestGemmPackedExact checks the packed product bitwise against
// fmaProduct — every entry one FMA chain over p in increasing order, so
// the bits of gemmKernel — with both micro-kernels, in all three layouts,
// with and without a bias, on one goroutine and two, over shapes that
// reach every edge: full and partial row and column slivers (m, n around
// multiples of 8 and 24, and of 4 and 8 for the AVX2 tile), several p
// blocks of unequal and equal length (k around multiples of kc), row
// blocks that end mid-sliver (mc = 13) and column panels that do (nc =
// 30), with small block sizes; then the production block sizes on shapes
// that cross them.
func TestGemmPackedExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	layouts := [][2]bool{{false, false}, {false, true}, {true, false}}
	for _, avx512 := range kernelsUnderTest(t) {
		prev := haveAVX512
		haveAVX512 = avx512
		withBlocks(5, 13, 30, func() {
			for _, m := range []int{1, 3, 4, 5, 8, 9, 13, 14, 17, 27} {
				for _, n := range []int{1, 3, 7, 8, 9, 23, 24, 25, 30, 31, 49, 61} {
					for _, k := range []int{1, 4, 5, 6, 11, 16} {
						for _, l := range layouts {
							checkPacked(t, rng, l[0], l[1], m, n, k, (m+n+k)%2 == 0)
						}
					}
				}
			}
		})
		for _, s := range [][3]int{{9, 2049, 3}, {193, 25, 40}, {20, 30, 257}, {17, 49, 513}} {
			for _, l := range layouts {
				checkPacked(t, rng, l[0], l[1], s[0], s[1], s[2], true)
			}
		}
		haveAVX512 = prev
	}
}

// TestProductsRouteBitwise checks the public products on shapes large
// enough for the packed path (MatMul, MatMulT, TMatMul, Affine, batched
// with a shared matrix and batch against batch) against fmaProduct bit
// for bit, so that whichever path gemm takes the result is the kernels'.
func TestProductsRouteBitwise(t *testing.T) {
	for _, avx512 := range kernelsUnderTest(t) {
		prev := haveAVX512
		haveAVX512 = avx512
		rng := rand.New(rand.NewPCG(1, 9))
		const m, n, k = 70, 90, 66 // 415800 multiply–adds: not small
		if useSmallGemm(m, n, k) {
			t.Fatalf("%d×%d·%d×%d is small: the test would not reach the packed path", m, k, k, n)
		}
		x, w, wt := Randn(rng, m, k), Randn(rng, k, n), Randn(rng, n, k)
		xt := Randn(rng, k, m)
		bias := Randn(rng, n)
		same := func(name string, got []float64, want []float64) {
			t.Helper()
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s avx512=%v: entry %d = %v, want %v", name, avx512, i, got[i], want[i])
				}
			}
		}
		want, _ := fmaProduct(false, false, m, n, k, x.data, w.data)
		same("MatMul", MatMul(x, w).data, want)
		wantB := append([]float64(nil), want...)
		for i := range wantB {
			wantB[i] += bias.data[i%n]
		}
		same("Affine", Affine(x, w, bias).data, wantB)
		want, _ = fmaProduct(false, true, m, n, k, x.data, wt.data)
		same("MatMulT", MatMulT(x, wt).data, want)
		want, _ = fmaProduct(true, false, m, n, k, xt.data, w.data)
		same("TMatMul", TMatMul(xt, w).data, want)
		// Batched: [2, m, k]·[k, n] folds into one (2m)×n product; [2, m,
		// k]·[2, k, n] is one product per batch element.
		xb, wb := Randn(rng, 2, m, k), Randn(rng, 2, k, n)
		want, _ = fmaProduct(false, false, 2*m, n, k, xb.data, w.data)
		same("MatMul batch·matrix", MatMul(xb, w).data, want)
		got := MatMul(xb, wb).data
		for i := range 2 {
			want, _ = fmaProduct(false, false, m, n, k, xb.data[i*m*k:(i+1)*m*k], wb.data[i*k*n:(i+1)*k*n])
			same(fmt.Sprintf("MatMul batch·batch [%d]", i), got[i*m*n:(i+1)*m*n], want)
		}
		haveAVX512 = prev
	}
}
