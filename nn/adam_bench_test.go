package nn

import (
	"fmt"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// BenchmarkAdamStepVAE times one Adam step over the parameters of the
// paper's MNIST VAE, 784-300-300-100 (50 latents, mean and log-variance)
// and 50-300-300-784 with biases: 697,484 entries, from the first step
// and from step 100,000.
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
	// From step 37,412 on, 1 − β₂ᵗ rounds to 1 and Step skips a division.
	for _, start := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("t=%d", start), func(b *testing.B) {
			opt := Adam{step: start}
			b.ReportAllocs()
			for b.Loop() {
				opt.Step(ps, gs)
			}
		})
	}
}
