package dist

import (
	"math"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// Benchmarks on a batch of 1024 points in 2-D, the size of the synthetic
// experiments, with the hand-written loop as the baseline for LogProb.

func BenchmarkNormalLogProb(b *testing.B) {
	rng := newRNG(90)
	loc := randTensor(rng, -1, 1, 2).RequireGrad()
	logScale := randTensor(rng, -1, 1, 2).RequireGrad()
	x := randTensor(rng, -2, 2, 1024, 2)
	b.Run("ad", func(b *testing.B) {
		p := NewNormalLogScale(loc.Detach(), logScale.Detach())
		for b.Loop() {
			p.LogProb(x)
		}
	})
	b.Run("ad+grad", func(b *testing.B) {
		for b.Loop() {
			lp := ad.Sum(NewNormalLogScale(loc, logScale).LogProb(x))
			ad.Grad(lp, loc, logScale)
		}
	})
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			out := make([]float64, 1024)
			l, s := loc.Data(), logScale.Data()
			inv := [2]float64{math.Exp(-s[0]), math.Exp(-s[1])}
			c := -s[0] - s[1] - 2*halfLog2Pi
			for i := range out {
				z0 := (x.Data()[2*i] - l[0]) * inv[0]
				z1 := (x.Data()[2*i+1] - l[1]) * inv[1]
				out[i] = c - 0.5*(z0*z0+z1*z1)
			}
		}
	})
}

func BenchmarkMixtureLogProb(b *testing.B) {
	rng := newRNG(91)
	mx := NewMixtureNormal(ad.Zeros(9), randTensor(rng, -1, 1, 9, 2), ad.Full(0.1, 9, 2))
	x := randTensor(rng, -2, 2, 1024, 2)
	for b.Loop() {
		mx.LogProb(x)
	}
}

func BenchmarkNormalRSample(b *testing.B) {
	rng := newRNG(92)
	p := NewNormalLogScale(ad.Zeros(2).RequireGrad(), ad.Zeros(2).RequireGrad())
	for b.Loop() {
		p.RSample(rng, 1024)
	}
}
