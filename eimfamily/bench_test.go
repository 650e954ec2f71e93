package eimfamily

import (
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/nn"
)

// BenchmarkSNISTrainStep is one training step of the SNIS model on the
// nine-Gaussians data, the workload of ../shared/peers/snis_train.py (App.
// D.1): proposal N(0, I) (fixed), energy MLP 2-20-20-1 tanh, K = 1024 (1023
// proposal draws shared by the batch, plus each data point), batch 128;
// the step samples the batch, evaluates the Eq. (3) bound, backpropagates,
// hands the step's buffers back with ad.Release (as eimkit's training
// loops do) and takes an Adam step (learning rate 3·10⁻⁴). PyTorch takes 1.03 ms on
// one thread of the reference machine.
func BenchmarkSNISTrainStep(b *testing.B) {
	const K, batch = 1024, 128
	rng := rand.New(rand.NewPCG(1, 2))
	m := &SNIS{Proposal: NewStdNormal(2, 1), Energy: NewMLPEnergy(rng, 2, 0, 20, 20), K: K}
	opt := &nn.Adam{LR: 3e-4}
	ps := m.Params()
	bound := func(rng *rand.Rand, x *ad.Tensor) *ad.Tensor { return m.Bound(rng, nil, x) }
	target := data.NineGaussians()
	b.ReportAllocs()
	for b.Loop() {
		trainStep(rng, target, batch, ps, opt, bound, true)
	}
}

// trainStep is one training step as eimkit's training loops take it:
// a batch of target, the negated batch mean of bound as the loss, its
// gradient, the step's buffers handed back with ad.Release (if release),
// and an Adam step.
func trainStep(rng *rand.Rand, target data.Target, batch int, ps []*ad.Tensor, opt *nn.Adam,
	bound func(*rand.Rand, *ad.Tensor) *ad.Tensor, release bool) {
	xs := make([]float64, 2*batch)
	target.Sample(rng, xs)
	loss := ad.Neg(ad.Mean(bound(rng, ad.New(xs, batch, 2))))
	g := ad.Grad(loss, ps...)
	if release {
		ad.Release(loss)
	}
	opt.Step(ps, g)
}
