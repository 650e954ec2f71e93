package main

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
	"github.com/eimkit/eimkit/nn"
)

// paperSettings are App. D.1's settings, the command's defaults.
var paperSettings = modelSettings{K: 1024, TRST: 1024, HIST: 5, Hidden: []int{20, 20}, ProposalVar: 1, Batch: 128, LR: 3e-4}

// BenchmarkTrainStep times one training step of each model on nine
// Gaussians with the paper's settings, as the training loop takes it:
// draw a batch of 128, the objective, its gradient, an Adam step. These
// times chose defaultSteps.
func BenchmarkTrainStep(b *testing.B) {
	target := data.NineGaussians()
	for _, name := range modelNames {
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, ps, err := newModel(name, rng, paperSettings)
			if err != nil {
				b.Fatal(err)
			}
			opt := &nn.Adam{LR: paperSettings.LR}
			params := ps.Tensors()
			xs := make([]float64, 2*paperSettings.Batch)
			for b.Loop() {
				target.Sample(rng, xs)
				obj := ad.Mean(m.objective(rng, ad.New(xs, paperSettings.Batch, 2)))
				opt.Step(params, ad.Grad(ad.Neg(obj), params...))
				if s, ok := m.(stateful); ok {
					s.commit()
				}
			}
		})
	}
}

// BenchmarkEvaluate times the default test evaluation of each (untrained)
// model: 1000 held-out points, S = 1000, LARS's Z from 10⁶ draws.
func BenchmarkEvaluate(b *testing.B) {
	ev := evalSettings{Points: 1000, Samples: 1000, LARSZSamples: 1_000_000, PlotSamples: 100_000}
	target := data.NineGaussians()
	for _, name := range modelNames {
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, _, err := newModel(name, rng, paperSettings)
			if err != nil {
				b.Fatal(err)
			}
			xs := make([]float64, 2*ev.Points)
			target.Sample(rng, xs)
			x := ad.New(xs, ev.Points, 2)
			for b.Loop() {
				if _, err := m.evaluate(context.Background(), rng, x, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSample times drawing 10⁴ exact samples from each (untrained)
// model, a tenth of the density picture's default.
func BenchmarkSample(b *testing.B) {
	for _, name := range modelNames {
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, _, err := newModel(name, rng, paperSettings)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				m.sample(context.Background(), rng, 10_000)
			}
		})
	}
}
