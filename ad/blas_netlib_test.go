package ad_test

import (
	"fmt"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"gonum.org/v1/gonum/blas/blas64"
)

// BenchmarkMatMul1024 measures a 1024² product: about 7 GFLOP/s with
// gonum's pure-Go BLAS and ten times that with -tags netlib (OpenBLAS).
func BenchmarkMatMul1024(b *testing.B) {
	a := ad.Ones(1024, 1024)
	c := ad.Ones(1024, 1024)
	b.Logf("BLAS implementation: %s", fmt.Sprintf("%T", blas64.Implementation()))
	for b.Loop() {
		ad.MatMul(a, c)
	}
	b.ReportMetric(2*1024*1024*1024*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
