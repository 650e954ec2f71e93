package dist

import (
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// BenchmarkBernoulliLogProb scores binarized images of MNIST's size
// against decoder logits the way the IWAE evaluation does, x [n, 784]
// broadcast against logits [K, n, 784], on a chunk of K = 10 samples of
// n = 100 images (784,000 entries; the paper's K = 1000 is 100 such
// chunks). "eval" is LogProb alone, "grad" LogProb and its logit
// gradient. ns/entry is per logit.
func BenchmarkBernoulliLogProb(b *testing.B) {
	const k, n, d = 10, 100, 784
	rng := newRNG(91)
	x := ad.Zeros(n, d)
	for i := range x.Data() {
		if rng.Float64() < 0.13 { // MNIST's share of ink
			x.Data()[i] = 1
		}
	}
	logits := randTensor(rng, -8, 8, k, n, d)
	per := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(k*n*d), "ns/entry")
	}
	b.Run("eval", func(b *testing.B) {
		p := NewBernoulli(logits)
		for b.Loop() {
			p.LogProb(x)
		}
		per(b)
	})
	b.Run("grad", func(b *testing.B) {
		l := logits.Clone().RequireGrad()
		for b.Loop() {
			ad.Grad(ad.Sum(NewBernoulli(l).LogProb(x)), l)
		}
		per(b)
	})
}
