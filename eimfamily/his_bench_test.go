package eimfamily

import (
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/nn"
)

// BenchmarkHISTrainStep is one training step of the HIS model on nine
// Gaussians, the workload of ../shared/peers/his_train.py (2.31 ms per step
// in PyTorch 1.13, float64, one thread): T = 5, batch 128, proposal
// N(0, I), energy MLP 2-20-20-1 tanh, Q MLP 2-20-20-4 tanh; the bound
// (with the six ∇ₓU of the backward dynamics recorded), the gradient of
// its negated batch mean with respect to every parameter (double
// backpropagation through ∇ₓU), ad.Release of the step's buffers (as
// eimkit's training loops do) and an Adam step at 3·10⁻⁴. Drawing the
// batch is included, as in the reference.
func BenchmarkHISTrainStep(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := NewHIS(rng, NewStdNormal(2, 1), NewMLPEnergy(rng, 2, 0, 20, 20), 5, 0, 20, 20)
	params := h.Params()
	opt := &nn.Adam{LR: 3e-4}
	bound := func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor { return h.Bound(rng, nil, x) }
	target := data.NineGaussians()
	b.ReportAllocs()
	for b.Loop() {
		trainStep(rng, target, 128, params, opt, bound, true)
	}
}
