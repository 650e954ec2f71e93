package vae

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// randomImages returns n images of 784 Bernoulli(0.5) pixels, the
// peers' stand-in for binarized MNIST.
func randomImages(rng *rand.Rand, n int) *ad.Tensor {
	x := make([]float64, n*784)
	for i := range x {
		if rng.Float64() < 0.5 {
			x[i] = 1
		}
	}
	return ad.New(x, n, 784)
}

// BenchmarkIWAE1000 is the workload of ../shared/peers/iwae_eval.py: the
// S = 1000 sample bound (Eval) of the VAE 784-300-300-(2×50) /
// 50-300-300-784 (tanh, Bernoulli likelihood, prior N(0, I)) on 100
// random binary images, float64, no gradient graph. The default chunks
// are 40 samples of the 100 images (the peer uses 100 samples).
func BenchmarkIWAE1000(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := NewModel(rng, Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	x := randomImages(rng, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Eval(context.Background(), rng, x, 1000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVAETrainStep is the workload of ../shared/peers/vae_train.py:
// one training step (TrainStep: objective with one reparameterized
// sample, gradient, ad.Release, Adam at 3·10⁻⁴) of the same VAE on a batch
// of 128 random binary images (10 batches drawn once and cycled), with
// the prior N(0, I) (gaussian) or SNIS over z with proposal N(0, I),
// energy 50-100-100-1 tanh and K = 1024, the 1023 candidates shared by
// the batch (snis). The other priors, at the sizes of Config's zero
// value, are timed for budgeting runs: trs (T = 1024), his (T = 5) and
// lars (T = 100, K = 1024).
func BenchmarkVAETrainStep(b *testing.B) {
	for _, k := range []PriorKind{Gaussian, SNIS, TRS, HIS, LARS} {
		b.Run(string(k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := NewModel(rng, Config{Prior: k}, nil)
			if err != nil {
				b.Fatal(err)
			}
			batches := make([]*ad.Tensor, 10)
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

// BenchmarkEvalPriors times the S = 1000 evaluation (Eval) of 10 random
// images with each prior at the paper's sizes, for budgeting: the
// candidates of SNIS (S·(K − 1) energy evaluations per call, shared by
// the images of the call), TRS's (T − 1 rejected draws per sample, shared
// likewise; one energy and index per sample and image) and HIS's
// leapfrog steps. LARS's Z is estimated once, before the timer, from
// 2¹⁶ draws (the default 10⁸ is timed by BenchmarkLARSZ).
func BenchmarkEvalPriors(b *testing.B) {
	for _, k := range []PriorKind{Gaussian, SNIS, TRS, HIS, LARS} {
		b.Run(string(k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := NewModel(rng, Config{Prior: k, LARSEvalDraws: 1 << 16}, nil)
			if err != nil {
				b.Fatal(err)
			}
			x := randomImages(rng, 10)
			if _, err := m.Eval(context.Background(), rng, x, 1); err != nil { // LARS: estimates Z
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Eval(context.Background(), rng, x, 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLARSZ times the plug-in estimate of Z from 2²⁰ proposal draws
// through the energy 50-100-100-1 (the evaluation's default, 10⁸ draws,
// takes about 95 times as long).
func BenchmarkLARSZ(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := NewModel(rng, Config{Prior: LARS, LARSEvalDraws: 1 << 20}, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := m.Prior.(*LARSPrior)
	for b.Loop() {
		p.z = nil
		if err := p.ensureZ(context.Background(), rng); err != nil {
			b.Fatal(err)
		}
	}
}
