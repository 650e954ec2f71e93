package ad_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// benchNet is the workload of the issue: U(x) = w₂ᵀ tanh(W₁x + b₁) + b₂
// with 2 inputs, 20 hidden units, on N = 1024 points from N(0, I).
type benchNet struct {
	x, W1, b1, w2, b2 *ad.Tensor
}

func newBenchNet() benchNet {
	rng := rand.New(rand.NewPCG(1, 2))
	return benchNet{
		x:  ad.Randn(rng, 1024, 2),
		W1: ad.Randn(rng, 2, 20).RequireGrad(),
		b1: ad.Randn(rng, 20).RequireGrad(),
		w2: ad.Randn(rng, 20, 1).RequireGrad(),
		b2: ad.Randn(rng, 1).RequireGrad(),
	}
}

func (n benchNet) energy(x *ad.Tensor) *ad.Tensor {
	h := ad.AffineTanh(x, n.W1, n.b1)
	return ad.Affine(h, n.w2, n.b2)
}

// BenchmarkFirstOrder: L = mean U(x) and ∇L with respect to W₁, b₁, w₂, b₂.
func BenchmarkFirstOrder(b *testing.B) {
	n := newBenchNet()
	b.ReportAllocs()
	for b.Loop() {
		L := ad.Mean(n.energy(n.x))
		ad.Grad(L, n.W1, n.b1, n.w2, n.b2)
	}
}

// BenchmarkSecondOrder: L = mean U(x − 0.1·∇ₓU(x)) and the same gradient,
// which differentiates through ∇ₓU.
func BenchmarkSecondOrder(b *testing.B) {
	n := newBenchNet()
	b.ReportAllocs()
	for b.Loop() {
		x := n.x.Detach().Clone().RequireGrad()
		gx := ad.GradGraph(ad.Sum(n.energy(x)), x)[0]
		L := ad.Mean(n.energy(ad.Sub(x, ad.MulScalar(gx, 0.1))))
		ad.Grad(L, n.W1, n.b1, n.w2, n.b2)
	}
}

// TestHandMatchesAD pins the hand-derived yardstick to ad's gradients, so
// the benchmarks compare the same computation.
func TestHandMatchesAD(t *testing.T) {
	n := newBenchNet()
	m := newHandNet()
	check := func(name string, got []*ad.Tensor) {
		want := [][]float64{m.dW1, m.db1, m.dw2, {m.db2}}
		for k, g := range got {
			for i, v := range g.Data() {
				if d := math.Abs(v - want[k][i]); d > 1e-12*(1+math.Abs(v)) {
					t.Fatalf("%s: parameter %d entry %d: ad %v, hand %v", name, k, i, v, want[k][i])
				}
			}
		}
	}
	m.firstOrder()
	check("first order", ad.Grad(ad.Mean(n.energy(n.x)), n.W1, n.b1, n.w2, n.b2))
	m.secondOrder()
	x := n.x.Clone().RequireGrad()
	gx := ad.GradGraph(ad.Sum(n.energy(x)), x)[0]
	L := ad.Mean(n.energy(ad.Sub(x, ad.MulScalar(gx, 0.1))))
	check("second order", ad.Grad(L, n.W1, n.b1, n.w2, n.b2))
}
