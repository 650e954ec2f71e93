//go:build amd64 && !purego

package ad

import "testing"

// BenchmarkKern8x24Peak runs the AVX-512 micro-kernel on one tile whose
// operands sit in the level-1 cache: the kernel's own ceiling on one core,
// against which the products' GFLOP/s are read.
func BenchmarkKern8x24Peak(b *testing.B) {
	if !haveAVX512 {
		b.Skip("no AVX-512")
	}
	const k = 128
	a := make([]float64, 8*k)
	bb := make([]float64, 24*k)
	c := make([]float64, 8*24)
	for i := range a {
		a[i] = 1e-3
	}
	for i := range bb {
		bb[i] = 1e-3
	}
	for b.Loop() {
		kern8x24(k, &a[0], &bb[0], &c[0], 24*8, false, nil, &c[0])
	}
	b.ReportMetric(float64(2*8*24*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkKernp4x8Peak is BenchmarkKern8x24Peak for the AVX2/FMA
// micro-kernel of the packed product (4×8 tile), the path on CPUs without
// AVX-512.
func BenchmarkKernp4x8Peak(b *testing.B) {
	if !haveGemmKernels {
		b.Skip("no AVX2 and FMA")
	}
	const k = 256
	a := make([]float64, 4*k)
	bb := make([]float64, 8*k)
	c := make([]float64, 4*8)
	for i := range a {
		a[i] = 1e-3
	}
	for i := range bb {
		bb[i] = 1e-3
	}
	for b.Loop() {
		kernp4x8(k, &a[0], &bb[0], &c[0], 8, false, nil)
	}
	b.ReportMetric(float64(2*4*8*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
