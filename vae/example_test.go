package vae_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/vae"
)

// A small VAE with an SNIS prior over a 4-dimensional latent on 16-pixel
// images: a few training steps on the schedule of App. D.2 scaled to 200
// steps, then the 100-sample bound of two images and a sample grid.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := vae.Config{Prior: vae.SNIS, Data: 16, Latent: 4, EncoderHidden: []int{20}, DecoderHidden: []int{20},
		EnergyHidden: []int{10}, K: 64}
	mean := make([]float64, 16)
	for i := range mean {
		mean[i] = 0.3
	}
	m, err := vae.NewModel(rng, cfg, mean)
	if err != nil {
		panic(err)
	}
	xs := make([]float64, 8*16)
	for i := range xs {
		if rng.Float64() < 0.3 {
			xs[i] = 1
		}
	}
	x := ad.New(xs, 8, 16)
	sch := vae.Schedule{Steps: 200}
	opt := sch.Adam()
	params := m.Params().Tensors()
	for step := range sch.Steps {
		if _, err := m.TrainStep(rng, opt, params, x, sch.KLWeight(step)); err != nil {
			panic(err)
		}
	}
	bounds, err := m.Eval(context.Background(), rng, ad.Slice(x, 0, 0, 2), 100)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(bounds), bounds[0] < 0, bounds[1] < 0)
	fmt.Println(m.SampleMeans(rng, 64).Shape())
	// Output:
	// 2 true true
	// [64 16]
}
