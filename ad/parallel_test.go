package ad_test

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestHalvesBitwise checks that the kernels split across the helper
// goroutine give bitwise the results of the serial path (GOMAXPROCS 1),
// including when several goroutines compete for the helper.
func TestHalvesBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := ad.Randn(rng, 1151, 20)
	w := ad.Randn(rng, 20, 20)
	b := ad.Randn(rng, 20)
	// Large enough for the packed product.
	xl, wl, bl := ad.Randn(rng, 150, 140), ad.Randn(rng, 140, 130), ad.Randn(rng, 130)
	ops := map[string]func() *ad.Tensor{
		"MatMul large":     func() *ad.Tensor { return ad.MatMul(xl, wl) },
		"TMatMul large":    func() *ad.Tensor { return ad.TMatMul(xl, xl) },
		"MatMulT large":    func() *ad.Tensor { return ad.MatMulT(xl, xl) },
		"AffineTanh large": func() *ad.Tensor { return ad.AffineTanh(xl, wl, bl) },
		"Tanh":             func() *ad.Tensor { return ad.Tanh(x) },
		"Exp":              func() *ad.Tensor { return ad.Exp(x) },
		"Sigmoid":          func() *ad.Tensor { return ad.Sigmoid(x) },
		"MatMul":           func() *ad.Tensor { return ad.MatMul(x, w) },
		"MatMulT":          func() *ad.Tensor { return ad.MatMulT(x, w) },
		"AffineTanh":       func() *ad.Tensor { return ad.AffineTanh(x, w, b) },
	}
	prev := runtime.GOMAXPROCS(1)
	want := map[string][]float64{}
	for name, op := range ops {
		want[name] = op().Data()
	}
	runtime.GOMAXPROCS(max(prev, 2))
	defer runtime.GOMAXPROCS(prev)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				for name, op := range ops {
					if got := op().Data(); !slices.Equal(got, want[name]) {
						t.Errorf("%s: split result differs from the serial one", name)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
