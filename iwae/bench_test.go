package iwae_test

import (
	"testing"

	"github.com/eimkit/eimkit/iwae"
)

// BenchmarkIWAE times one draw of the IWAE integrand, K = 100, for a
// batch of 100 points of the conjugate model in 20 dimensions: the closed
// form (Integrand) against the AVVI assembly (Assembled).
func BenchmarkIWAE(b *testing.B) {
	const d, n, k = 20, 100, 100
	p, qt, x := newConjugate(d, 0.7), proposal(d), data(n, d)
	bound := iwae.IWAE{K: k}
	b.Run("closed", func(b *testing.B) {
		rng := newRNG(1)
		for b.Loop() {
			bound.Integrand(rng, p, qt, x)
		}
	})
	b.Run("assembled", func(b *testing.B) {
		rng := newRNG(1)
		for b.Loop() {
			bound.Assembled(rng, p, qt, x)
		}
	})
}
