//go:build linux && amd64 && !purego

package ad

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTranscKernelsStayInBounds runs every transcendental kernel on
// operands that end at an unreadable page (guarded, guard_linux_test.go)
// for lengths 0..9: the masked last block must not touch the entry past
// the end.
func TestTranscKernelsStayInBounds(t *testing.T) {
	if !haveTranscAVX2 {
		t.Skip("no AVX2 kernels")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	fill := func(x []float64) { copy(x, Randn(rng, len(x)).data) }
	for n := 0; n <= 9; n++ {
		src, dst, g := guarded(t, n), guarded(t, n), guarded(t, n)
		fill(src)
		fill(g)
		expAVX2(dst, src)
		logAVX2(dst, src)
		log1pAVX2(dst, src)
		softplusAVX2(dst, src, 0)
		softplusAVX2(dst, src, signFlip)
		sigmoidAVX2(dst, src, signFlip)
		mulSigmoidAVX2(dst, g, src, 0)
		bernoulliGradRowAVX2(dst, g, src, 0.5)
		if s := bernoulliRowAVX2(g, src); math.IsNaN(s) {
			t.Errorf("n=%d: Bernoulli row sum is NaN", n)
		}
	}
}
