package data

import (
	"math"
	"math/rand/v2"
	"sync"
)

// Two rings parameters (App. D.1): ring radii 0.6 and 1.3, radial standard
// deviation 0.1, equal weights.
const ringStd = 0.1

var ringRadii = [2]float64{0.6, 1.3}

// TwoRings returns the two concentric rings: a uniform angle and a radius
// from an equal mixture of N(0.6, 0.1²) and N(1.3, 0.1²), reflected at 0:
//
//	θ ~ U[0, 2π),   s ~ ½ N(0.6, 0.1²) + ½ N(1.3, 0.1²),   ρ = |s|,
//	x = (ρ cos θ, ρ sin θ),
//	p_ρ(ρ) = p_s(ρ) + p_s(-ρ),   ρ > 0,
//	p(x)   = p_ρ(|x|) / (2π |x|),
//	E_p[log p] = E[log p_ρ(ρ)] - log 2π - E[log ρ] ≈ -1.5137117827035828.
//
// A draw s < 0 has probability about 4.9e-10. Rather than reject it, the
// sampler uses ρ = |s|, which is what the authors' reference code does in
// effect (it multiplies s by a uniformly oriented unit vector, and a
// negative s gives the point at angle θ + π, still uniform). The term
// p_s(-ρ) makes LogDensity the exact density of that sampler. It matters
// only near the origin, where p_ρ is below 1e-7 (p_ρ(0) ≈ 6.1e-8), and
// E_p[log p] differs by about 6e-9 from that of the truncated and
// renormalized alternative.
//
// The paper (App. D.1) writes the density as p(x, y) ∝ N(√(x²+y²); 0.6,
// 0.1) + N(√(x²+y²); 1.3, 0.1), which would weight the rings' masses
// 0.6 : 1.3 and give E_p[log p] ≈ -1.60; the reference code, followed here,
// gives the rings equal mass.
//
// The density has an integrable 1/|x| singularity at the origin, with
// p(x) ≈ 9.7e-9/|x| there; LogDensity returns +Inf at exactly x = 0.
//
// MeanLogDensity computes ∫ p_ρ (log p_ρ - log ρ) dρ - log 2π by
// composite 20-point Gauss–Legendre quadrature: uniform panels of width
// 0.05 over [0.05, 2.8] (2.8 is 15 standard deviations beyond the outer
// ring) and 60 geometrically graded panels [0.05·2⁻ᵏ⁻¹, 0.05·2⁻ᵏ] toward 0,
// on each of which log ρ is analytic; the omitted interval below 0.05·2⁻⁶⁰
// contributes less than 1e-24 (p_ρ(0)·0.05·2⁻⁶⁰·60) and the tail beyond
// 2.8 less than 1e-40. The result agrees with a 40-digit mpmath
// quadrature, -1.51371178270358279…, to within 5e-16;
// TestMeanLogDensityReference checks this to 1e-14.
//
// Bounds is [-2, 2]²; the mass outside it is below ½ P(Z > 7) ≈ 6.4e-13.
func TwoRings() Target { return twoRings{} }

type twoRings struct{}

var _ Target = twoRings{}

func (twoRings) Name() string { return NameTwoRings }
func (twoRings) Dim() int     { return dim }

func (twoRings) Bounds() (lo, hi [2]float64) { return plotLo, plotHi }

// Sample draws, per point and in this order, the angle θ = 2π·U, the ring
// k uniformly from the two, and the radius ρ = |r_k + 0.1·ε|, ε ~ N(0, 1).
func (twoRings) Sample(rng *rand.Rand, dst []float64) {
	checkSample(rng, dst)
	for p := 0; p < len(dst); p += dim {
		theta := 2 * math.Pi * rng.Float64()
		k := rng.IntN(len(ringRadii))
		rho := math.Abs(ringRadii[k] + ringStd*rng.NormFloat64())
		sin, cos := math.Sincos(theta)
		dst[p] = rho * cos
		dst[p+1] = rho * sin
	}
}

func (twoRings) LogDensity(x []float64) float64 {
	checkPoint(x)
	rho := math.Hypot(x[0], x[1])
	return ringLogRadial(rho) - math.Log(2*math.Pi) - math.Log(rho)
}

func (twoRings) MeanLogDensity() float64 { return ringMeanLogDensity() }

// ringLogRadial returns log p_ρ(ρ) = log(p_s(ρ) + p_s(-ρ)) for ρ ≥ 0.
func ringLogRadial(rho float64) float64 {
	var e [2 * len(ringRadii)]float64
	for k, r := range ringRadii {
		zp := (rho - r) / ringStd
		zm := (-rho - r) / ringStd
		e[2*k] = -0.5 * zp * zp
		e[2*k+1] = -0.5 * zm * zm
	}
	return logSumExp(e[:]...) - math.Log(float64(len(ringRadii))) - logNormalizer1D(ringStd)
}

// ringMeanLogDensity computes E_p[log p] once; see TwoRings for the rule
// and its accuracy.
var ringMeanLogDensity = sync.OnceValue(func() float64 {
	const (
		width  = ringStd / 2 // uniform panel width, 0.05
		graded = 60          // geometric panels below width
	)
	hi := ringRadii[1] + 15*ringStd // 2.8
	edges := make([]float64, 0, graded+64)
	for k := graded; k >= 1; k-- {
		edges = append(edges, math.Ldexp(width, -k))
	}
	n := int(math.Round((hi - width) / width))
	edges = append(edges, uniformEdges(width, hi, n)...)
	h := func(rho float64) float64 {
		lg := ringLogRadial(rho)
		return math.Exp(lg) * (lg - math.Log(rho))
	}
	return integratePanels(h, edges) - math.Log(2*math.Pi)
})
