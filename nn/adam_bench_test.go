package nn

import (
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// BenchmarkAdamStepVAE times one Adam step over the parameters of the
// paper's MNIST VAE, 784-300-300-100 (50 latents, mean and log-variance)
// and 50-300-300-784 with biases: 697,484 entries.
func BenchmarkAdamStepVAE(b *testing.B) {
	shapes := [][]int{
		{784, 300}, {300}, {300, 300}, {300}, {300, 100}, {100},
		{50, 300}, {300}, {300, 300}, {300}, {300, 784}, {784},
	}
	ps := make([]*ad.Tensor, len(shapes))
	gs := make([]*ad.Tensor, len(shapes))
	for i, s := range shapes {
		ps[i] = ad.Zeros(s...)
		gs[i] = ad.Full(0.1, s...)
	}
	var opt Adam
	b.ReportAllocs()
	for b.Loop() {
		opt.Step(ps, gs)
	}
}
