//go:build amd64 && !purego

package ad

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// haveGemmKernels reports whether the AVX2/FMA micro-kernels of
// gemm_amd64.s run small products. Tests switch it off to check the
// portable loops against them.
var haveGemmKernels = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kern4x8(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64)

//go:noescape
func kern4x4(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64, mask *[4]int64)

//go:noescape
func kern1x8(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64)

//go:noescape
func kern1x4(k int, a *float64, ai, ap int, b *float64, bp int, c *float64, ci int, bias *float64, mask *[4]int64)

// maddsPerEntry converts a product's multiply–adds into inHalves' unit of
// work (entries of an elementwise kernel): the kernels run about 16 of
// them in the time of one split-worthy entry, so products are split from
// 2¹⁷ multiply–adds. Splitting the 128×20·20×20 products of a batch-128
// HIS step (5·10⁴) cost more than it saved: 0.75 → 0.69 ms per step
// (medians of 6) when they stay on one goroutine; the SNIS step's
// 1151×20·20×20 products are still split.
const maddsPerEntry = 16

// colMask[r] selects the first r of four columns.
var colMask = [5][4]int64{
	{0, 0, 0, 0},
	{-1, 0, 0, 0},
	{-1, -1, 0, 0},
	{-1, -1, -1, 0},
	{-1, -1, -1, -1},
}

// gemmKernel sets c (m×n, row-major, contiguous) to A·B with
// A(i, p) = a[i·ai + p·ap] and B(p, j) = b[p·ldb + j]: one routine for the
// three layouts gemm meets, since a transposed A is only other strides.
// Rows are computed four at a time, in tiles of eight and then four
// columns (the last masked); every entry is one FMA chain over p in
// increasing order, so the result does not depend on the tiling or on how
// inHalves splits the rows. A non-nil bias (length n) is added to every
// row after its sums, the rounding of a separate addition.
func gemmKernel(m, n, k int, a []float64, ai, ap int, b []float64, ldb int, c, bias []float64) {
	if m < 1 || n < 1 || k < 1 || (m-1)*ai+(k-1)*ap >= len(a) || (k-1)*ldb+n > len(b) || m*n > len(c) || n > ldb || (bias != nil && len(bias) != n) {
		panic(fmt.Sprintf("ad: internal: gemmKernel m=%d n=%d k=%d strides %d %d %d on lengths %d %d %d %d",
			m, n, k, ai, ap, ldb, len(a), len(b), len(c), len(bias)))
	}
	const f = 8 // bytes per float64
	biasAt := func(j int) *float64 {
		if bias == nil {
			return nil
		}
		return &bias[j]
	}
	// rows sets the rows of c from i that kern8 and kern4 compute (four
	// rows, or one), in tiles of eight columns and then four.
	rows := func(i int, kern8 func(int, *float64, int, int, *float64, int, *float64, int, *float64),
		kern4 func(int, *float64, int, int, *float64, int, *float64, int, *float64, *[4]int64)) {
		pa, ci := &a[i*ai], c[i*n:]
		j := 0
		for ; j+8 <= n; j += 8 {
			kern8(k, pa, ai*f, ap*f, &b[j], ldb*f, &ci[j], n*f, biasAt(j))
		}
		for ; j < n; j += 4 {
			kern4(k, pa, ai*f, ap*f, &b[j], ldb*f, &ci[j], n*f, biasAt(j), &colMask[min(n-j, 4)])
		}
	}
	tiles := (m + 3) / 4
	inHalves(tiles, m*n*k/maddsPerEntry, func(lo, hi int) {
		for i := lo * 4; i < min(hi*4, m); {
			if i+4 <= m {
				rows(i, kern4x8, kern4x4)
				i += 4
			} else {
				rows(i, kern1x8, kern1x4)
				i++
			}
		}
	})
}
