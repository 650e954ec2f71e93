//go:build netlib

package ad

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkLargePaths compares, in the netlib build, the two ways a
// large product can run: ad's packed kernels ("packed") and OpenBLAS
// ("openblas", single-threaded per half of C), on a 1024² product and
// the VAE step's forward layers. Run with OPENBLAS_CORETYPE=SkylakeX.
func BenchmarkLargePaths(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][3]int{{1024, 1024, 1024}, {128, 300, 784}, {128, 784, 300}, {128, 300, 300}} {
		m, n, k := s[0], s[1], s[2]
		x, w, c := Randn(rng, m*k).data, Randn(rng, k*n).data, make([]float64, m*n)
		for _, onBLAS := range []bool{false, true} {
			name := "packed"
			if onBLAS {
				name = "openblas"
			}
			if !onBLAS && !havePacked {
				continue
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, k, n, name), func(b *testing.B) {
				defer func(v bool) { largeOnBLAS = v }(largeOnBLAS)
				largeOnBLAS = onBLAS
				for b.Loop() {
					gemm(false, false, m, n, k, x, w, c)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
