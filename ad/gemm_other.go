//go:build !amd64 || purego

package ad

// haveGemmKernels is false where there are no assembly micro-kernels;
// gemmSmall then runs its portable loops.
var haveGemmKernels = false

func gemmKernel(m, n, k int, a []float64, ai, ap int, b []float64, ldb int, c, bias []float64) {
	panic("ad: internal: gemmKernel without kernels")
}
