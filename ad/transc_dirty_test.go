package ad

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTranscDirtyBuffers is TestDirtyBuffersOverwritten for the
// operations of the transcendental kernels, which also take recycled
// buffers without clearing them: NaN-filled buffers in the pools must not
// show through.
func TestTranscDirtyBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	randn := func(shape ...int) *Tensor { return Randn(rng, shape...) }
	poison := func(n int) {
		for range 8 {
			b := make([]float64, n)
			for i := range b {
				b[i] = math.NaN()
			}
			freeBuf(b)
		}
	}
	x, l := randn(30, 9), randn(4, 30, 9)
	lse := func(ax int) func() *Tensor {
		return func() *Tensor {
			v := randn(7, 30, 9).RequireGrad()
			return Grad(Sum(LogSumExp(v, ax)), v)[0]
		}
	}
	cases := map[string]func() *Tensor{
		"Exp":         func() *Tensor { return Exp(randn(300, 20)) },
		"Log":         func() *Tensor { return Log(Exp(randn(300, 20))) },
		"Log1p":       func() *Tensor { return Log1p(Exp(randn(300, 20))) },
		"Sigmoid":     func() *Tensor { return Sigmoid(randn(300, 20)) },
		"Softplus":    func() *Tensor { return Softplus(randn(300, 20)) },
		"LogSigmoid":  func() *Tensor { return LogSigmoid(randn(300, 20)) },
		"mulSigmoid":  func() *Tensor { return mulSigmoid(randn(300, 20), randn(300, 20), true) },
		"Bernoulli":   func() *Tensor { return BernoulliLogLik(randn(300, 9), randn(2, 300, 9)) },
		"∂Bernoulli":  func() *Tensor { return bernoulliGradL(randn(4, 30), x, l, []int{4, 30}) },
		"∂LSE axis 0": lse(0),
		"∂LSE axis 1": lse(1),
		"∂LSE axis 2": lse(2),
	}
	for name, f := range cases {
		want := f().Data()
		poison(len(want))
		got := f()
		for i, v := range got.Data() {
			if math.IsNaN(v) {
				t.Fatalf("%s: entry %d of %v left unwritten", name, i, got.Shape())
			}
		}
	}
}
