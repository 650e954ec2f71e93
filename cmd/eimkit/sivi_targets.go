package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/data"
)

// toyTarget is one of Yin & Zhou's (2018) 2-D toy targets (their code's
// "banana", "Xshape" and "gmm2d"), with its normalizing constant
// included: a data.Target for the pictures and a tensor log density for
// training. logZ is log ∫ p by quadrature (0 up to its error).
type toyTarget struct {
	name   string
	lo, hi [2]float64 // plotting box
	// quadrature box and cells per unit length
	qlo, qhi [2]float64
	log      func(z1, z2 float64) float64
	logT     func(z1, z2 *ad.Tensor) *ad.Tensor
	sample   func(rng *rand.Rand) (float64, float64)
	logZ     float64
	meanLogP float64
}

var _ data.Target = (*toyTarget)(nil)

func logN(x, m, v float64) float64 { return -0.5*(x-m)*(x-m)/v - 0.5*math.Log(2*math.Pi*v) }

// logNT is log N(x; m, v) elementwise for tensors x, m and a number v.
func logNT(x, m *ad.Tensor, v float64) *ad.Tensor {
	return ad.AddScalar(ad.MulScalar(ad.Square(ad.Sub(x, m)), -0.5/v), -0.5*math.Log(2*math.Pi*v))
}

// logBiv is log N((z1, z2); 0, [[v, c], [c, v]]).
func logBiv(z1, z2, v, c float64) float64 {
	det := v*v - c*c
	return -0.5*(v*z1*z1+v*z2*z2-2*c*z1*z2)/det - 0.5*math.Log(det) - math.Log(2*math.Pi)
}

func logBivT(z1, z2 *ad.Tensor, v, c float64) *ad.Tensor {
	det := v*v - c*c
	q := ad.Sub(ad.MulScalar(ad.Add(ad.Square(z1), ad.Square(z2)), v), ad.MulScalar(ad.Mul(z1, z2), 2*c))
	return ad.AddScalar(ad.MulScalar(q, -0.5/det), -0.5*math.Log(det)-math.Log(2*math.Pi))
}

func logAddHalf(a, b float64) float64 {
	m := max(a, b)
	return m + math.Log(0.5*math.Exp(a-m)+0.5*math.Exp(b-m))
}

func logAddHalfT(a, b *ad.Tensor) *ad.Tensor {
	return ad.AddScalar(ad.LogSumExp(ad.Stack(0, a, b), 0), -math.Log(2))
}

// toyTargetByName returns the target (banana, x-shape or mixture) with
// log Z and E_p log p computed by quadrature.
func toyTargetByName(name string) *toyTarget {
	var t *toyTarget
	switch name {
	case "banana":
		// z₁ ~ N(0, 2²), z₂ | z₁ ~ N(z₁²/4, 1).
		t = &toyTarget{lo: [2]float64{-5, -2.5}, hi: [2]float64{5, 7.5}, qlo: [2]float64{-14, -7}, qhi: [2]float64{14, 56},
			log: func(a, b float64) float64 { return logN(a, 0, 4) + logN(b, a*a/4, 1) },
			logT: func(a, b *ad.Tensor) *ad.Tensor {
				return ad.Add(logNT(a, ad.Scalar(0), 4), logNT(b, ad.MulScalar(ad.Square(a), 0.25), 1))
			},
			sample: func(rng *rand.Rand) (float64, float64) {
				a := 2 * rng.NormFloat64()
				return a, a*a/4 + rng.NormFloat64()
			}}
	case "x-shape":
		t = &toyTarget{lo: [2]float64{-4, -4}, hi: [2]float64{4, 4}, qlo: [2]float64{-10, -10}, qhi: [2]float64{10, 10},
			log: func(a, b float64) float64 { return logAddHalf(logBiv(a, b, 2, 1.8), logBiv(a, b, 2, -1.8)) },
			logT: func(a, b *ad.Tensor) *ad.Tensor {
				return logAddHalfT(logBivT(a, b, 2, 1.8), logBivT(a, b, 2, -1.8))
			},
			sample: func(rng *rand.Rand) (float64, float64) {
				// Cov [[2, ±1.8], [±1.8, 2]] = along (1, ±1)/√2 variances 3.8 and 0.2.
				s := 1.0
				if rng.IntN(2) == 1 {
					s = -1
				}
				u, v := math.Sqrt(3.8)*rng.NormFloat64(), math.Sqrt(0.2)*rng.NormFloat64()
				return (u - v) / math.Sqrt2, s * (u + v) / math.Sqrt2
			}}
	case "mixture":
		t = &toyTarget{lo: [2]float64{-5.5, -3.5}, hi: [2]float64{5.5, 3.5}, qlo: [2]float64{-10, -8}, qhi: [2]float64{10, 8},
			log: func(a, b float64) float64 {
				return logAddHalf(logN(a, -2, 1)+logN(b, 0, 1), logN(a, 2, 1)+logN(b, 0, 1))
			},
			logT: func(a, b *ad.Tensor) *ad.Tensor {
				return logAddHalfT(ad.Add(logNT(a, ad.Scalar(-2), 1), logNT(b, ad.Scalar(0), 1)),
					ad.Add(logNT(a, ad.Scalar(2), 1), logNT(b, ad.Scalar(0), 1)))
			},
			sample: func(rng *rand.Rand) (float64, float64) {
				m := -2.0
				if rng.IntN(2) == 1 {
					m = 2
				}
				return m + rng.NormFloat64(), rng.NormFloat64()
			}}
	default:
		panic(fmt.Sprintf("eimkit: unknown toy target %q", name))
	}
	t.name = name
	t.logZ, t.meanLogP = t.quadrature(40)
	return t
}

// quadrature returns log ∫ p and ∫ p log p over the quadrature box by the
// midpoint rule with perUnit cells per unit length (the integrands are
// smooth and negligible at the box's edges, so the error is far below
// 1e-6).
func (t *toyTarget) quadrature(perUnit int) (logZ, meanLogP float64) {
	nx := int(math.Ceil((t.qhi[0] - t.qlo[0]) * float64(perUnit)))
	ny := int(math.Ceil((t.qhi[1] - t.qlo[1]) * float64(perUnit)))
	hx, hy := (t.qhi[0]-t.qlo[0])/float64(nx), (t.qhi[1]-t.qlo[1])/float64(ny)
	var z, e float64
	for i := range nx {
		a := t.qlo[0] + (float64(i)+0.5)*hx
		var rz, re float64
		for j := range ny {
			lp := t.log(a, t.qlo[1]+(float64(j)+0.5)*hy)
			if p := math.Exp(lp); p > 0 {
				rz += p
				re += p * lp
			}
		}
		z += rz
		e += re
	}
	return math.Log(z * hx * hy), e * hx * hy
}

func (t *toyTarget) Name() string                   { return t.name }
func (t *toyTarget) Dim() int                       { return 2 }
func (t *toyTarget) MeanLogDensity() float64        { return t.meanLogP }
func (t *toyTarget) Bounds() (lo, hi [2]float64)    { return t.lo, t.hi }
func (t *toyTarget) LogDensity(x []float64) float64 { return t.log(x[0], x[1]) }

func (t *toyTarget) Sample(rng *rand.Rand, dst []float64) {
	for i := 0; i+1 < len(dst); i += 2 {
		dst[i], dst[i+1] = t.sample(rng)
	}
}

// logDensity returns log p(z) for z [n, 2] as [n], differentiably.
func (t *toyTarget) logDensity(z *ad.Tensor) *ad.Tensor {
	n := z.Dim(0)
	a := ad.Reshape(ad.Slice(z, 1, 0, 1), n)
	b := ad.Reshape(ad.Slice(z, 1, 1, 2), n)
	return t.logT(a, b)
}
