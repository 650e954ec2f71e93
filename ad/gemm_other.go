//go:build !amd64 || purego

package ad

// haveGemmKernels is false where there are no assembly micro-kernels;
// gemmSmall then runs its portable loops.
var haveGemmKernels = false

func gemmKernel(m, n, k int, a []float64, ai, ap int, b []float64, ldb int, c, bias []float64) {
	panic("ad: internal: gemmKernel without kernels")
}

// havePacked and haveAVX512 are false without the kernels: large products
// go to blas64.
var havePacked, haveAVX512 = false, false

func gemmPacked(m, n, k int, a []float64, ai, ap int, b []float64, bp, bj int, c, bias []float64) {
	panic("ad: internal: gemmPacked without kernels")
}
