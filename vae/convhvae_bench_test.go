package vae

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// BenchmarkConvHVAETrainStep times one training step (TrainStep: the
// objective with one reparameterized (z₂, z₁), gradient, ad.Release, Adam)
// of the authors' ConvHVAE (28×28, 32 filters, 50-d z₁ and z₂) on a batch
// of 128 random binary images, with the prior N(0, I) over z₂ (gaussian)
// or SNIS with K = 1024 and energy 50-100-100-1 (snis).
func BenchmarkConvHVAETrainStep(b *testing.B) {
	for _, k := range []PriorKind{Gaussian, SNIS} {
		b.Run(string(k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := NewConvHVAE(rng, ConvConfig{Config: Config{Prior: k}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			batches := make([]*ad.Tensor, 4)
			for i := range batches {
				batches[i] = randomImages(rng, 128)
			}
			ps := m.Params().Tensors()
			opt := &nn.Adam{LR: 3e-4}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.TrainStep(rng, opt, ps, batches[i%len(batches)], 1); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkConvHVAEEval times the S = 1000 evaluation of 10 random
// images (Gaussian prior), for budgeting the test-set evaluation.
func BenchmarkConvHVAEEval(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := NewConvHVAE(rng, ConvConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	x := randomImages(rng, 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Eval(context.Background(), rng, x, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
