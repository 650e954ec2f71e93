//go:build amd64 && !purego

package ad

import "testing"

// kernPeak runs one micro-kernel call of an mr×nr tile over k on operands
// that sit in the level-1 cache and reports its GFLOP/s: the kernel's own
// ceiling on one core, against which the products' GFLOP/s are read.
func kernPeak(b *testing.B, mr, nr, k int, kern func(a, bb, c *float64)) {
	a := make([]float64, mr*k)
	bb := make([]float64, nr*k)
	c := make([]float64, mr*nr)
	for i := range a {
		a[i] = 1e-3
	}
	for i := range bb {
		bb[i] = 1e-3
	}
	for b.Loop() {
		kern(&a[0], &bb[0], &c[0])
	}
	b.ReportMetric(float64(2*mr*nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkKern8x24Peak is kernPeak for the AVX-512 micro-kernel.
func BenchmarkKern8x24Peak(b *testing.B) {
	if !haveAVX512 {
		b.Skip("no AVX-512")
	}
	const k = 128
	kernPeak(b, 8, 24, k, func(a, bb, c *float64) { kern8x24(k, a, bb, c, 24*8, false, nil, c) })
}

// BenchmarkKernp4x8Peak is kernPeak for the AVX2/FMA micro-kernel of the
// packed product (4×8 tile), the path on CPUs without AVX-512.
func BenchmarkKernp4x8Peak(b *testing.B) {
	if !haveGemmKernels {
		b.Skip("no AVX2 and FMA")
	}
	const k = 256
	kernPeak(b, 4, 8, k, func(a, bb, c *float64) { kernp4x8(k, a, bb, c, 8, false, nil) })
}
