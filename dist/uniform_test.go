package dist

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/eimkit/eimkit/ad"
)

func TestUniformLogProbGonum(t *testing.T) {
	const n, d = 6, 3
	low := tensorOf([]float64{-1, 0, 2}, d)
	high := tensorOf([]float64{1, 0.5, 5}, d)
	rng := newRNG(40)
	x := randTensor(rng, -1.5, 5.5, n, d)
	// Boundary points are inside (the box is closed).
	copy(x.Data()[:d], low.Data())
	copy(x.Data()[d:2*d], high.Data())
	want := make([]float64, n)
	for i, v := range x.Data() {
		want[i/d] += distuv.Uniform{Min: low.Data()[i%d], Max: high.Data()[i%d]}.LogProb(v)
	}
	lp := NewUniform(low, high).LogProb(x)
	if !slices.Equal(lp.Shape(), []int{n}) {
		t.Fatalf("LogProb shape %v, want [%d]", lp.Shape(), n)
	}
	checkClose(t, "Uniform vs distuv", lp.Data(), want)
	if !slices.Contains(want, math.Inf(-1)) || !slices.ContainsFunc(want, func(v float64) bool { return !math.IsInf(v, 0) }) {
		t.Fatalf("test points do not cover both inside and outside: %v", want)
	}

	nan := NewUniform(low, high).LogProb(tensorOf([]float64{0, math.NaN(), 3}, d)).Item()
	if !math.IsNaN(nan) {
		t.Errorf("LogProb of a NaN point = %g, want NaN", nan)
	}
}

func TestUniformMoments(t *testing.T) {
	low := tensorOf([]float64{-1, 0, 2}, 3)
	high := tensorOf([]float64{1, 0.5, 5}, 3)
	x := NewUniform(low, high).Sample(newRNG(41), nMC)
	for j := range 3 {
		a, b := low.Data()[j], high.Data()[j]
		w := b - a
		// U[a, b]: mean (a+b)/2, σ² = w²/12, μ₄ = w⁴/80.
		checkMoments(t, "Uniform", column(x.Data(), j, 3), (a+b)/2, w*w/12, w*w*w*w/80)
	}
}

func TestUniformGrad(t *testing.T) {
	low := tensorOf([]float64{-1, 0, 2}, 3)
	high := tensorOf([]float64{1, 0.5, 5, 2, 1, 6}, 2, 3) // a batch of 2 boxes
	const seed = 42
	checkGrad(t, "Uniform.RSample", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(ad.Tanh(NewUniform(ps[0], ps[1]).RSample(newRNG(seed), 4)))
	}, low, high)
	x := tensorOf([]float64{0, 0.25, 3, 0.5, 0.1, 4}, 2, 3) // inside both boxes
	checkGrad(t, "Uniform.LogProb", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewUniform(ps[0], ps[1]).LogProb(ps[2]))
	}, low, high, x)
}
