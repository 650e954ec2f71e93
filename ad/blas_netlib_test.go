package ad_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"gonum.org/v1/gonum/blas/blas64"
)

// BenchmarkMatMul1024 measures a 1024² product (2·1024³ flops): on the
// packed kernels of the default build, or through OpenBLAS with -tags
// netlib (run with OPENBLAS_CORETYPE=SkylakeX; see docs/ad.md).
func BenchmarkMatMul1024(b *testing.B) {
	a := ad.Ones(1024, 1024)
	c := ad.Ones(1024, 1024)
	b.Logf("BLAS implementation: %s", fmt.Sprintf("%T", blas64.Implementation()))
	b.ReportAllocs()
	for b.Loop() {
		ad.MatMul(a, c)
	}
	b.ReportMetric(2*1024*1024*1024*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkVAEShapes times the products of one training step of the VAE
// of the peers' vae_train.py (batch 128, encoder 784-300-300-100, decoder
// 50-300-300-784), one sub-benchmark per layer k→n and layout:
//
//	NN  forward      X·W    [128, k]·[k, n]
//	NT  input grad   G·Wᵀ   [128, n]·[k, n]ᵀ
//	TN  weight grad  Xᵀ·G   [128, k]ᵀ·[128, n]
func BenchmarkVAEShapes(b *testing.B) {
	const batch = 128
	rng := rand.New(rand.NewPCG(1, 2))
	for _, l := range [][2]int{{784, 300}, {300, 300}, {300, 784}, {300, 100}, {50, 300}} {
		k, n := l[0], l[1]
		x, w, g := ad.Randn(rng, batch, k), ad.Randn(rng, k, n), ad.Randn(rng, batch, n)
		flops := 2 * float64(batch*k*n)
		for _, c := range []struct {
			name string
			f    func() *ad.Tensor
		}{
			{"NN", func() *ad.Tensor { return ad.MatMul(x, w) }},
			{"NT", func() *ad.Tensor { return ad.MatMulT(g, w) }},
			{"TN", func() *ad.Tensor { return ad.TMatMul(x, g) }},
		} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", batch, k, n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.f()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
