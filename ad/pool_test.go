package ad_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestRecycledBuffersMatchGraph checks the buffer recycling of first-order
// passes on tensors large enough to be recycled (2048 entries), through
// every way a backward function hands gradients on: passed through (Add,
// Reshape), shared by two inputs, accumulated from several uses, and
// fresh. Grad must agree bitwise with GradGraph, which recycles nothing,
// and repeated passes (which reuse the pool) must agree with the first.
func TestRecycledBuffersMatchGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	a := ad.Randn(rng, 64, 32).RequireGrad()
	b := ad.Randn(rng, 64, 32).RequireGrad()
	w := ad.Randn(rng, 32, 32).RequireGrad()
	loss := func() *ad.Tensor {
		s := ad.Add(a, b)
		h := ad.Tanh(ad.MatMul(s, w))
		r := ad.Reshape(ad.Add(h, a), 32, 64) // pass-through and reshape
		m := ad.Mul(ad.Reshape(r, 64, 32), h) // h used twice, a used three times
		// x and z first receive one shared (passed-through) gradient from
		// v = x + z, then more: accumulating into a shared buffer in place
		// would corrupt the other.
		x, z := ad.Tanh(ad.MulScalar(a, 0.5)), ad.Tanh(ad.MulScalar(b, 0.5))
		v := ad.Add(x, z)
		late := ad.Add(ad.Mul(x, ad.Exp(ad.MulScalar(a, 0.1))), ad.Mul(z, a))
		return ad.Sum(ad.Add(late, ad.Add(m, ad.Square(v))))
	}
	want := ad.GradGraph(loss(), a, b, w)
	for round := 0; round < 3; round++ {
		got := ad.Grad(loss(), a, b, w)
		for i := range got {
			if !slices.Equal(got[i].Data(), want[i].Data()) {
				t.Fatalf("round %d: gradient %d differs between Grad and GradGraph", round, i)
			}
		}
		// Results own their buffers: writing to one changes no other.
		got[0].Data()[0] = 1e9
		if got[1].Data()[0] == 1e9 {
			t.Fatal("two gradient results share a buffer")
		}
	}
}
