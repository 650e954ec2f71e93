package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestAdamVectorBitwise checks update (the vector kernel where the build
// has one, then the Go loop) against the Go loop alone, bit for bit, over
// every length up to 41 (so every tail), both forms of the step (with and
// without the division by √(1 − β₂ᵗ)), ordinary and extreme values:
// zeros of both signs, subnormals, huge gradients whose squares overflow,
// infinities. NaNs must stay NaNs (their payloads are not compared).
func TestAdamVectorBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, 1e-310, 1e200, -1e200,
		math.Inf(1), math.Inf(-1), 1, -1, 1e-8}
	draw := func(extreme bool) float64 {
		if extreme && rng.IntN(4) == 0 {
			return special[rng.IntN(len(special))]
		}
		return rng.NormFloat64() * math.Exp(4*rng.NormFloat64())
	}
	for _, step := range []int{1, 2, 10, 40_000} {
		for _, extreme := range []bool{false, true} {
			opt := Adam{LR: 3e-4}
			lr, b1, b2, eps := opt.hyper()
			bc1, bc2 := 1-powInt(b1, step), 1-powInt(b2, step)
			k := adamKernel{negStep: -(lr / bc1), bc2Sqrt: math.Sqrt(bc2), eps: eps,
				b1: b1, b2: b2, c1: 1 - b1, c2: 1 - b2}
			if (step == 40_000) != (k.bc2Sqrt == 1) {
				t.Fatalf("step %d: √(1 − β₂ᵗ) = %v", step, k.bc2Sqrt)
			}
			for n := 0; n <= 41; n++ {
				mk := func() []float64 {
					s := make([]float64, n)
					for i := range s {
						s[i] = draw(extreme)
					}
					return s
				}
				pd, gd, m, v := mk(), mk(), mk(), mk()
				for i := range v {
					v[i] = math.Abs(v[i]) // a second moment is never negative
				}
				pd2, m2, v2 := append([]float64(nil), pd...), append([]float64(nil), m...), append([]float64(nil), v...)
				k.update(pd, gd, m, v)
				k.loop(pd2, gd, m2, v2)
				for _, c := range []struct {
					name string
					a, b []float64
				}{{"θ", pd, pd2}, {"m", m, m2}, {"v", v, v2}} {
					for i := range c.a {
						x, y := c.a[i], c.b[i]
						if math.IsNaN(x) && math.IsNaN(y) {
							continue
						}
						if math.Float64bits(x) != math.Float64bits(y) {
							t.Fatalf("step %d, n=%d, entry %d: %s = %v (vector) but %v (loop)", step, n, i, c.name, x, y)
						}
					}
				}
			}
		}
	}
}

// TestAdamSplitBitwise: a parameter large enough to be split across two
// goroutines gets the same bits as with the split turned off
// (ad.SetMaxThreads(1)), over several steps.
func TestAdamSplitBitwise(t *testing.T) {
	const n = 3*splitMin + 5
	run := func(threads int) []float64 {
		defer ad.SetMaxThreads(ad.SetMaxThreads(threads))
		rng := rand.New(rand.NewPCG(5, 6))
		p := ad.Zeros(n)
		opt := Adam{LR: 1e-2}
		for range 5 {
			g := make([]float64, n)
			for i := range g {
				g[i] = rng.NormFloat64()
			}
			opt.Step([]*ad.Tensor{p}, []*ad.Tensor{ad.New(g, n)})
		}
		return p.Data()
	}
	one, two := run(1), run(2)
	for i := range one {
		if math.Float64bits(one[i]) != math.Float64bits(two[i]) {
			t.Fatalf("entry %d: %v on one goroutine, %v split", i, one[i], two[i])
		}
	}
}
