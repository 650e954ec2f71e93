package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// gumbelNoise returns standard Gumbel draws g = −log(−log u) of the given
// shape, one rng.Uint64 per entry in row-major order, with
// u = (⌊v/2¹¹⌋ + ½)/2⁵³ strictly inside (0, 1) so that g is finite
// (|g| < 38).
func gumbelNoise(rng *rand.Rand, shape []int) *ad.Tensor {
	g := ad.Zeros(shape...)
	gd := g.Data()
	for i := range gd {
		u := (float64(rng.Uint64()>>11) + 0.5) / (1 << 53)
		gd[i] = -math.Log(-math.Log(u))
	}
	return g
}

// gumbelShape returns append(sampleShape, logits.Shape()...), checking
// the arguments.
func gumbelShape(who string, rng *rand.Rand, logits *ad.Tensor, sampleShape []int) []int {
	if rng == nil {
		panic(fmt.Sprintf("estimators: %s: nil rng", who))
	}
	if logits.Rank() < 1 || logits.Dim(-1) < 1 {
		panic(fmt.Sprintf("estimators: %s: logits of shape %v, want [..., k] with k ≥ 1", who, logits.Shape()))
	}
	for _, s := range sampleShape {
		if s < 0 {
			panic(fmt.Sprintf("estimators: %s: sample shape %v", who, sampleShape))
		}
	}
	return append(append([]int(nil), sampleShape...), logits.Shape()...)
}

// GumbelMax draws exact samples from the categorical distribution with
// the given logits over the last axis, P(j) = softmax(l)_j, by the
// Gumbel-max trick:
//
//	j = argmax_i (l_i + g_i),   g_i ~ Gumbel(0, 1) i.i.d.
//
// It returns class indices row-major with shape append(sampleShape,
// logits.Shape()[:rank−1]...). It consumes rng exactly as GumbelSoftmax
// and StraightThroughGumbel do, so for the same rng state its indices are
// the argmax of theirs. It panics if logits is a scalar or has an empty
// last axis, or sampleShape has a negative entry.
func GumbelMax(rng *rand.Rand, logits *ad.Tensor, sampleShape ...int) []int {
	shape := gumbelShape("GumbelMax", rng, logits, sampleShape)
	z := ad.Add(logits.Detach(), gumbelNoise(rng, shape))
	return argmaxRows(z.Data(), shape[len(shape)-1])
}

// argmaxRows returns the index of the first maximum of each row of length
// k of v.
func argmaxRows(v []float64, k int) []int {
	out := make([]int, len(v)/k)
	for r := range out {
		row := v[r*k : (r+1)*k]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		out[r] = best
	}
	return out
}

// GumbelSoftmax draws from the Gumbel-softmax (Concrete) relaxation of the
// categorical distribution with the given logits over the last axis (Jang,
// Gu & Poole 2017; Maddison, Mnih & Teh 2017):
//
//	y = softmax((l + g)/τ),   g_i ~ Gumbel(0, 1) i.i.d.,
//
// a point of the simplex that tends to the one-hot Gumbel-max sample as
// τ → 0. The draw is reparameterized: y is a differentiable function of
// the logits (and of τ's value, which is a constant here), so ∇_l f(y)
// is an unbiased estimate of ∇_l E[f(y)], the gradient of the relaxed
// objective (not of E[f(one-hot)]). The result has shape
// append(sampleShape, logits.Shape()...); logits of −Inf give exact zeros.
// Each entry consumes one rng.Uint64, row-major.
//
// It panics if τ ≤ 0, logits is a scalar or has an empty last axis, or
// sampleShape has a negative entry.
func GumbelSoftmax(rng *rand.Rand, logits *ad.Tensor, tau float64, sampleShape ...int) *ad.Tensor {
	if !(tau > 0) {
		panic(fmt.Sprintf("estimators: GumbelSoftmax: temperature %v, want τ > 0", tau))
	}
	shape := gumbelShape("GumbelSoftmax", rng, logits, sampleShape)
	z := ad.Add(logits, gumbelNoise(rng, shape))
	return ad.Softmax(ad.MulScalar(z, 1/tau), -1)
}

// StraightThroughGumbel draws one-hot categorical samples whose gradient
// is that of the Gumbel-softmax relaxation (Jang et al. 2017; Bengio,
// Léonard & Courville 2013): with y_soft = GumbelSoftmax(l, τ) and y_hard
// the one-hot vector of its argmax,
//
//	y = y_hard + (y_soft − stopgrad(y_soft)),
//
// so the value is exactly y_hard (an exact draw from Categorical(softmax
// l)) and ∂y/∂l = ∂y_soft/∂l. The gradient of f(y) is then
// ∇f(y_hard)ᵀ ∂y_soft/∂l: a biased but low-variance estimate of the
// gradient of E[f(y_hard)]. The paper trains its discrete proposals this
// way with τ = 0.7. Shapes, randomness and panics are as for
// GumbelSoftmax.
func StraightThroughGumbel(rng *rand.Rand, logits *ad.Tensor, tau float64, sampleShape ...int) *ad.Tensor {
	if !(tau > 0) {
		panic(fmt.Sprintf("estimators: StraightThroughGumbel: temperature %v, want τ > 0", tau))
	}
	shape := gumbelShape("StraightThroughGumbel", rng, logits, sampleShape)
	z := ad.Add(logits, gumbelNoise(rng, shape))
	soft := ad.Softmax(ad.MulScalar(z, 1/tau), -1)
	k := shape[len(shape)-1]
	hard := ad.Zeros(shape...)
	hd := hard.Data()
	for r, j := range argmaxRows(z.Detach().Data(), k) {
		hd[r*k+j] = 1
	}
	return ad.Add(hard, ad.Sub(soft, soft.Detach()))
}
