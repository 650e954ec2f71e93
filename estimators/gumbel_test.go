package estimators

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/internal/mctest"
)

// TestGumbelMaxFrequencies checks that Gumbel-max draws are exact
// categorical draws: class frequencies against softmax(l) by Pearson's
// chi-square (p-value above 1e-3 at a fixed seed), and a class with logit
// −Inf is never drawn. It also checks that StraightThroughGumbel's value
// is the one-hot vector of the same draw for the same rng state.
func TestGumbelMaxFrequencies(t *testing.T) {
	logits := []float64{0.5, -1, 2, math.Inf(-1), 0}
	l := ad.New(slices.Clone(logits), len(logits))
	const N = 200_000
	idx := GumbelMax(seededRNG(5), l, N)
	counts := make([]int, len(logits))
	for _, j := range idx {
		counts[j]++
	}
	if counts[3] != 0 {
		t.Errorf("class with logit −Inf drawn %d times", counts[3])
	}
	p := ad.Softmax(l, 0).Data()
	stat := 0.0
	for j, c := range counts {
		if j == 3 {
			continue
		}
		e := N * p[j]
		stat += (float64(c) - e) * (float64(c) - e) / e
	}
	pv := distuv.ChiSquared{K: float64(len(logits) - 2)}.Survival(stat)
	if pv < 1e-3 {
		t.Errorf("chi-square p-value %.2g: counts %v, probabilities %.4f", pv, counts, p)
	}
	t.Logf("Gumbel-max, %d draws: chi-square p-value %.3f", N, pv)

	y := StraightThroughGumbel(seededRNG(6), l, 0.7, 1000)
	want := GumbelMax(seededRNG(6), l, 1000)
	k := len(logits)
	for r, j := range want {
		for c := range k {
			v := y.Data()[r*k+c]
			if (c == j && v != 1) || (c != j && v != 0) {
				t.Fatalf("draw %d: straight-through value %v, want one-hot at %d", r, y.Data()[r*k:(r+1)*k], j)
			}
		}
	}
	if !slices.Equal(y.Shape(), []int{1000, k}) {
		t.Errorf("shape %v", y.Shape())
	}
}

// The two-class fixture: with logits (l₀, l₁) and Δ = l₀ − l₁, the
// Gumbel-softmax draw is y₀ = σ((Δ + ℓ)/τ), y₁ = 1 − y₀, where ℓ = g₀ − g₁
// is standard logistic (the difference of two Gumbels), so expectations
// are 1-D integrals against the logistic density. f is a smooth function
// of both coordinates, with partial derivatives f₀ and f₁.
var (
	gumbelLogits = []float64{0.3, -0.4}
	gumbelF      = func(y0, y1 float64) float64 { return math.Exp(-2*y0) + 2*y1*y1 - y0*y1 }
	gumbelF0     = func(y0, y1 float64) float64 { return -2*math.Exp(-2*y0) - y1 }
	gumbelF1     = func(y0, y1 float64) float64 { return 4*y1 - y0 }
)

// logisticPDF is σ(ℓ)σ(−ℓ).
func logisticPDF(l float64) float64 {
	e := math.Exp(-math.Abs(l))
	return e / ((1 + e) * (1 + e))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// logisticExpect returns ∫ g(ℓ) p(ℓ) dℓ over the logistic density by
// Gauss–Legendre quadrature with n nodes on each side of the cut c (where
// g may jump), over [−50, 50]: the tails beyond carry mass 2e−50 ≈ 4e−22
// times sup|g|.
func logisticExpect(g func(l float64) float64, c float64, n int) float64 {
	h := func(l float64) float64 { return g(l) * logisticPDF(l) }
	return quad.Fixed(h, -50, c, n, quad.Legendre{}, 0) + quad.Fixed(h, c, 50, n, quad.Legendre{}, 0)
}

// relaxed returns E[f(y)] under Gumbel-softmax at Δ and τ, by quadrature.
func relaxedObjective(delta, tau float64, n int) float64 {
	return logisticExpect(func(l float64) float64 {
		y0 := sigmoid((delta + l) / tau)
		return gumbelF(y0, 1-y0)
	}, -delta, n)
}

// relaxedGrad returns ∂/∂l₀ E[f(y)] = E[(f₀ − f₁)(y) y₀y₁/τ] (and ∂/∂l₁ is
// its negative); with hard set, the straight-through expectation
// E[(f₀ − f₁)(y_hard) y₀y₁/τ], y_hard the one-hot of the larger of
// Δ + ℓ and 0.
func relaxedGrad(delta, tau float64, hard bool, n int) float64 {
	return logisticExpect(func(l float64) float64 {
		y0 := sigmoid((delta + l) / tau)
		h0, h1 := y0, 1-y0
		if hard {
			h0, h1 = 0, 1
			if delta+l > 0 {
				h0, h1 = 1, 0
			}
		}
		return (gumbelF0(h0, h1) - gumbelF1(h0, h1)) * y0 * (1 - y0) / tau
	}, -delta, n)
}

// gumbelGrads returns per-draw gradients ∂f(y)/∂l₀ and ∂f(y)/∂l₁ for N
// draws y of sampler at the fixture's logits (replicated as a leaf [N, 2]).
func gumbelGrads(sampler func(logits *ad.Tensor) *ad.Tensor, N int) (g0, g1 []float64) {
	l := replicate(gumbelLogits, N)
	y := sampler(l)
	y0 := ad.Slice(y, 1, 0, 1)
	y1 := ad.Slice(y, 1, 1, 2)
	f := ad.Add(ad.Sub(ad.Exp(ad.MulScalar(y0, -2)), ad.Mul(y0, y1)), ad.MulScalar(ad.Square(y1), 2))
	g := ad.Grad(ad.Sum(f), l)[0].Data()
	g0, g1 = make([]float64, N), make([]float64, N)
	for i := range N {
		g0[i], g1[i] = g[2*i], g[2*i+1]
	}
	return g0, g1
}

// TestGumbelSoftmaxGradient checks that the Gumbel-softmax pathwise
// gradient is unbiased for the gradient of the relaxed objective E[f(y)]:
// on two classes that gradient is a 1-D integral against the logistic
// density (see relaxedGrad), computed by quadrature, whose derivative
// formula is checked against a central finite difference of the
// quadrature of E[f(y)] itself. The mean of N per-draw gradients must
// match within 5 standard errors, at the paper's τ = 0.7 and at τ = 0.3.
// The quadrature is converged: 2000 and 4000 nodes agree to 1e-12.
func TestGumbelSoftmaxGradient(t *testing.T) {
	delta := gumbelLogits[0] - gumbelLogits[1]
	const N = 200_000
	for _, tau := range []float64{0.7, 0.3} {
		exact := relaxedGrad(delta, tau, false, 2000)
		if fine := relaxedGrad(delta, tau, false, 4000); math.Abs(fine-exact) > 1e-12 {
			t.Fatalf("τ = %v: quadrature not converged: %v vs %v", tau, exact, fine)
		}
		// fd.Derivative with central differences, step 1e-4: truncation
		// h²/6·|E'''| ≲ 1e-8 and rounding ε|E|/h ≈ 1e-12 for |E| ≲ 3.
		fdv := fd.Derivative(func(d float64) float64 { return relaxedObjective(d, tau, 2000) }, delta, &fd.Settings{Formula: fd.Central, Step: 1e-4})
		if math.Abs(fdv-exact) > 1e-7 {
			t.Fatalf("τ = %v: quadrature gradient %v, finite difference %v", tau, exact, fdv)
		}
		rng := seededRNG(7)
		g0, g1 := gumbelGrads(func(l *ad.Tensor) *ad.Tensor { return GumbelSoftmax(rng, l, tau) }, N)
		m0, se0 := mctest.MeanSE(g0)
		m1, se1 := mctest.MeanSE(g1)
		if math.Abs(m0-exact) > mcSigmas*se0 || math.Abs(m1+exact) > mcSigmas*se1 {
			t.Errorf("τ = %v: mean gradient (%.5f ± %.5f, %.5f ± %.5f), relaxed objective's (%.5f, %.5f)", tau, m0, se0, m1, se1, exact, -exact)
		}
		t.Logf("Gumbel-softmax τ = %v: ∂/∂l₀ mean %.5f ± %.5f, quadrature %.5f", tau, m0, se0, exact)
	}
}

// TestStraightThroughGradient checks the straight-through estimator on the
// two-class fixture: the mean of N per-draw gradients matches its own
// expectation E[(f₀ − f₁)(y_hard) y₀y₁/τ] by quadrature within 5 standard
// errors, and has the sign of the exact gradient of the discrete objective
// E[f(y_hard)] = σ(Δ) f(1, 0) + σ(−Δ) f(0, 1), whose gradient is
// σ(Δ)σ(−Δ)(f(1, 0) − f(0, 1)) in l₀ (it is biased for it, by the amount
// reported).
func TestStraightThroughGradient(t *testing.T) {
	delta := gumbelLogits[0] - gumbelLogits[1]
	exactDiscrete := sigmoid(delta) * sigmoid(-delta) * (gumbelF(1, 0) - gumbelF(0, 1))
	const N = 200_000
	for _, tau := range []float64{0.7, 0.3} {
		want := relaxedGrad(delta, tau, true, 2000)
		rng := seededRNG(8)
		g0, g1 := gumbelGrads(func(l *ad.Tensor) *ad.Tensor { return StraightThroughGumbel(rng, l, tau) }, N)
		m0, se0 := mctest.MeanSE(g0)
		m1, se1 := mctest.MeanSE(g1)
		if math.Abs(m0-want) > mcSigmas*se0 || math.Abs(m1+want) > mcSigmas*se1 {
			t.Errorf("τ = %v: mean (%.5f ± %.5f, %.5f ± %.5f), expected (%.5f, %.5f)", tau, m0, se0, m1, se1, want, -want)
		}
		if math.Signbit(m0) != math.Signbit(exactDiscrete) || math.Abs(m0) < mcSigmas*se0 {
			t.Errorf("τ = %v: mean ∂/∂l₀ %.5f ± %.5f does not have the sign of the exact %.5f", tau, m0, se0, exactDiscrete)
		}
		t.Logf("straight-through τ = %v: ∂/∂l₀ mean %.5f ± %.5f, quadrature %.5f; exact discrete gradient %.5f", tau, m0, se0, want, exactDiscrete)
	}
}

// TestStraightThroughSigns checks, for a linear objective f(y) = c·y on
// four classes, that the straight-through gradient of each draw equals the
// Gumbel-softmax gradient of the same draw (∇f does not depend on y), and
// that for every τ in {1, 0.7, 0.3, 0.1} the mean gradient has, in every
// component, the sign of the exact gradient of E[c·y_hard],
// ∂/∂l_i = p_i (c_i − Σ_j p_j c_j), 5 standard errors away from 0. The
// bias shrinks as τ → 0 (reported).
func TestStraightThroughSigns(t *testing.T) {
	logits := []float64{0.5, -0.3, 1.0, -1.2}
	c := ad.New([]float64{1.0, -0.5, 2.0, 0.3}, 4)
	p := ad.Softmax(ad.New(slices.Clone(logits), 4), 0).Data()
	cbar := 0.0
	for i, pi := range p {
		cbar += pi * c.At(i)
	}
	exact := make([]float64, 4)
	for i := range exact {
		exact[i] = p[i] * (c.At(i) - cbar)
	}
	const N = 100_000
	for _, tau := range []float64{1, 0.7, 0.3, 0.1} {
		grad := func(st bool) []float64 {
			l := replicate(logits, N)
			var y *ad.Tensor
			if st {
				y = StraightThroughGumbel(seededRNG(9), l, tau)
			} else {
				y = GumbelSoftmax(seededRNG(9), l, tau)
			}
			return ad.Grad(ad.Sum(ad.Mul(y, c)), l)[0].Data()
		}
		gs, gst := grad(false), grad(true)
		if !slices.Equal(gs, gst) {
			t.Fatalf("τ = %v: straight-through and Gumbel-softmax gradients of a linear f differ on the same draws", tau)
		}
		col := make([]float64, N)
		line := ""
		for i := range 4 {
			for r := range N {
				col[r] = gst[4*r+i]
			}
			m, se := mctest.MeanSE(col)
			if math.Signbit(m) != math.Signbit(exact[i]) || math.Abs(m) < mcSigmas*se {
				t.Errorf("τ = %v, component %d: mean %.5f ± %.5f, exact %.5f", tau, i, m, se, exact[i])
			}
			line += fmt.Sprintf(" %.4f ± %.4f", m, se)
		}
		t.Logf("τ = %v: ST mean gradient%s (exact %.4f)", tau, line, exact)
	}
}

// TestGumbelPanics checks the caller errors.
func TestGumbelPanics(t *testing.T) {
	l := ad.Zeros(3)
	mustPanic(t, "τ = 0", func() { GumbelSoftmax(seededRNG(1), l, 0) })
	mustPanic(t, "ST τ < 0", func() { StraightThroughGumbel(seededRNG(1), l, -1) })
	mustPanic(t, "scalar logits", func() { GumbelMax(seededRNG(1), ad.Scalar(0)) })
	mustPanic(t, "nil rng", func() { GumbelMax(nil, l) })
	mustPanic(t, "negative shape", func() { GumbelSoftmax(seededRNG(1), l, 1, -2) })
}
