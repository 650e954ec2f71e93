package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/internal/mctest"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/stat/distuv"
)

// Reference values of E_p[log p], from a 40-digit mpmath quadrature
// (mpmath 1.3.0, mp.dps = 40, mpmath.quad with breakpoints at the means and
// its own error estimate below 1e-40):
//
//	nine Gaussians: 2 ∫ f log f dt,  f(t) = (1/3) Σ_m N(t; m, 0.01)
//	two rings:      ∫ p_ρ (log p_ρ - log ρ) dρ - log 2π,
//	                p_ρ(ρ) = ½ Σ_k [N(ρ; r_k, 0.01) + N(-ρ; r_k, 0.01)]
//
// The checkerboard value is -log 8 in closed form.
const (
	refNineGaussians = -0.42992915598157791077652431429596564
	refTwoRings      = -1.51371178270358279372085205669778980
)

const (
	// mcSamples is the number of exact samples in each Monte Carlo test.
	mcSamples = 200_000
	// zMax is the number of standard errors a Monte Carlo estimate may be
	// from its exact value. At a fixed seed a test cannot flake; 5σ keeps a
	// correct implementation passing for all but about 5.7e-7 of seeds
	// (the two-sided normal tail; n = 2e5 makes the normal approximation
	// of every mean tested here accurate), while a bias above 5 standard
	// errors fails: about 0.01 nats for E log p and 0.01–0.02 for the
	// moments, whose standard errors are 0.0016–0.0038 at this n.
	zMax = 5
)

func allTargets() []Target {
	return []Target{NineGaussians(), Checkerboard(), TwoRings()}
}

// samples draws mcSamples points from tg at a seed derived from seed and
// the target's name, so every target gets its own stream.
func samples(tg Target, seed uint64) []float64 {
	var h uint64 = 14695981039346656037 // FNV-1a of the name
	for _, c := range []byte(tg.Name()) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	rng := rand.New(rand.NewPCG(seed, h))
	dst := make([]float64, mcSamples*tg.Dim())
	tg.Sample(rng, dst)
	return dst
}

// checkWithinSE reports an error if the estimate mean ± se is more than
// zMax standard errors from want. A zero standard error (a constant
// statistic) demands exact equality.
func checkWithinSE(t *testing.T, what string, mean, se, want float64) {
	t.Helper()
	if se == 0 {
		if mean != want {
			t.Errorf("%s: estimate %.17g has zero spread, want exactly %.17g", what, mean, want)
		}
		return
	}
	if z := (mean - want) / se; math.Abs(z) > zMax || math.IsNaN(z) {
		t.Errorf("%s: estimate %.6g ± %.2g, exact %.6g, z = %.2f (limit %d)", what, mean, se, want, z, zMax)
	}
}

func TestMeanLogDensityReference(t *testing.T) {
	// The quadratures are converged far below float64 resolution (doubling
	// the panels or the nodes changes nothing beyond rounding), so the only
	// error left is rounding: a few ulps of |E log p| ≤ 2 (1 ulp ≈ 2.2e-16),
	// plus at most an ulp per math.Exp/math.Log call on other platforms,
	// which largely averages out over ~2000 nodes. 1e-14 bounds that with
	// room to spare; measured on linux/amd64: 5.6e-17 and 2.2e-16.
	const tol = 1e-14
	cases := []struct {
		tg   Target
		want float64
	}{
		{NineGaussians(), refNineGaussians},
		{TwoRings(), refTwoRings},
	}
	for _, c := range cases {
		got := c.tg.MeanLogDensity()
		if d := math.Abs(got - c.want); !(d <= tol) {
			t.Errorf("%s: MeanLogDensity = %.17g, reference %.17g, |diff| = %.2g > %g", c.tg.Name(), got, c.want, d, tol)
		}
	}
	// The checkerboard's value is a closed form and must be exact.
	if got, want := Checkerboard().MeanLogDensity(), -math.Log(8); got != want {
		t.Errorf("checkerboard: MeanLogDensity = %.17g, want -log 8 = %.17g exactly", got, want)
	}
}

func TestMeanLogDensityValues(t *testing.T) {
	// The ranges quoted for these targets: nine Gaussians ≈ -0.43 (the
	// entropy of one N(0, 0.01·I) minus log 9), two rings ≈ -1.51.
	ranges := map[string][2]float64{
		NameNineGaussians: {-0.44, -0.42},
		NameTwoRings:      {-1.52, -1.50},
		NameCheckerboard:  {-math.Log(8), -math.Log(8)},
	}
	for _, tg := range allTargets() {
		r := ranges[tg.Name()]
		if got := tg.MeanLogDensity(); got < r[0] || got > r[1] {
			t.Errorf("%s: MeanLogDensity = %.6g, want in [%g, %g]", tg.Name(), got, r[0], r[1])
		}
	}
}

// integrate2D returns the composite tensor-product Gauss–Legendre
// approximations of ∫ p and ∫ p log p over tg.Bounds(), with square panels
// of side h and order nodes per axis per panel. Sums are accumulated per
// row of nodes, then over rows, so rounding grows with the number of rows
// plus the number of columns (about 1.6e3 here), not with the 6.4e5 nodes.
func integrate2D(tg Target, h float64, order int) (mass, plogp float64) {
	lo, hi := tg.Bounds()
	xs, ws := nodes1D(lo[0], hi[0], h, order)
	ys, wys := nodes1D(lo[1], hi[1], h, order)
	pt := make([]float64, 2)
	for i, x := range xs {
		var rowMass, rowPLogP float64
		for j, y := range ys {
			pt[0], pt[1] = x, y
			lp := tg.LogDensity(pt)
			if math.IsInf(lp, -1) {
				continue // p log p → 0 as p → 0
			}
			p := math.Exp(lp)
			rowMass += wys[j] * p
			rowPLogP += wys[j] * p * lp
		}
		mass += ws[i] * rowMass
		plogp += ws[i] * rowPLogP
	}
	return mass, plogp
}

// nodes1D returns the nodes and weights of the composite Gauss–Legendre
// rule on [a, b] with panels of width about h and order nodes per panel.
func nodes1D(a, b, h float64, order int) (x, w []float64) {
	n := int(math.Round((b - a) / h))
	px := make([]float64, order)
	pw := make([]float64, order)
	for i := range n {
		pa := a + (b-a)*float64(i)/float64(n)
		pb := a + (b-a)*float64(i+1)/float64(n)
		quad.Legendre{}.FixedLocations(px, pw, pa, pb)
		x = append(x, px...)
		w = append(w, pw...)
	}
	return x, w
}

func TestIntegrals2D(t *testing.T) {
	// Panels of side 0.05 (half the standard deviation of the Gaussian
	// components and rings) with 10×10 nodes each: 6.4e5 density
	// evaluations over the plotting box [-2, 2]². This is a check
	// independent of the 1-D quadratures behind MeanLogDensity: it sees
	// only LogDensity, in Cartesian coordinates.
	const (
		h     = 0.05
		order = 10
	)
	// Error budgets, per target:
	//   nine Gaussians: mass outside the box < 1e-22; the integrand is
	//     analytic and a 10-node rule on a half-σ panel is converged to
	//     rounding; rounding ≈ 1.6e3 · 2.2e-16 ≈ 3.5e-13. Tolerance 1e-12.
	//   checkerboard: the cell edges are panel edges and Gauss nodes are
	//     interior, so each panel sees a constant: exact up to the same
	//     rounding. Tolerance 1e-12.
	//   two rings: mass outside the box < 6.4e-13, but the density has
	//     the singularity p ≈ c/|x|, c = p_ρ(0)/2π ≈ 9.7e-9, at the origin,
	//     a corner of four panels; those four panels hold
	//     4 · c · h · 2 asinh(1) ≈ 3.4e-9 of mass, which bounds the error
	//     the rule can make there. Tolerance 4e-9 for ∫ p; for ∫ p log p
	//     the same panels carry a factor |log p| ≤ log(1/(c/0.07)) ≈ 16,
	//     so tolerance 6e-8. (Measured: see the log output.)
	tols := map[string][2]float64{ // {mass, p log p}
		NameNineGaussians: {1e-12, 1e-12},
		NameCheckerboard:  {1e-12, 1e-12},
		NameTwoRings:      {4e-9, 6e-8},
	}
	for _, tg := range allTargets() {
		mass, plogp := integrate2D(tg, h, order)
		tol := tols[tg.Name()]
		t.Logf("%s: ∫p - 1 = %.2g, ∫p log p - MeanLogDensity = %.2g", tg.Name(), mass-1, plogp-tg.MeanLogDensity())
		if d := math.Abs(mass - 1); !(d <= tol[0]) {
			t.Errorf("%s: ∫ p = %.15g, want 1 within %g", tg.Name(), mass, tol[0])
		}
		if d := math.Abs(plogp - tg.MeanLogDensity()); !(d <= tol[1]) {
			t.Errorf("%s: ∫ p log p = %.15g, MeanLogDensity = %.15g, want within %g", tg.Name(), plogp, tg.MeanLogDensity(), tol[1])
		}
	}
}

func TestMeanLogDensityMonteCarlo(t *testing.T) {
	for _, tg := range allTargets() {
		x := samples(tg, 1)
		lp := make([]float64, mcSamples)
		for i := range lp {
			lp[i] = tg.LogDensity(x[2*i : 2*i+2])
		}
		// For the checkerboard log p is constant on the support, the
		// standard error is 0, and every sample must score exactly -log 8
		// (a sample on an excluded cell edge would score -Inf).
		mean, se := mctest.MeanSE(lp)
		checkWithinSE(t, tg.Name()+": mean log p", mean, se, tg.MeanLogDensity())
	}
}

func TestMoments(t *testing.T) {
	// Exact moments. All three targets are symmetric under x → -x, so
	// E[x₁] = E[x₂] = 0. For E|x|²:
	//   nine Gaussians: each coordinate is m + 0.1 ε with m uniform on
	//     {-1, 0, 1}: E[x₁²] = 2/3 + 0.01, so E|x|² = 2 (2/3 + 0.01).
	//   checkerboard: each coordinate is uniform on [-2, 2) (the black
	//     cells cover every column twice), E[x₁²] = 4²/12 = 4/3, so
	//     E|x|² = 8/3.
	//   two rings: |x|² = s², s from the radius mixture:
	//     E|x|² = ½ (0.6² + 0.1²) + ½ (1.3² + 0.1²) = 1.035.
	wantR2 := map[string]float64{
		NameNineGaussians: 2 * (2.0/3 + 0.01),
		NameCheckerboard:  8.0 / 3,
		NameTwoRings:      0.5*(0.6*0.6+0.01) + 0.5*(1.3*1.3+0.01),
	}
	for _, tg := range allTargets() {
		x := samples(tg, 2)
		x1 := make([]float64, mcSamples)
		x2 := make([]float64, mcSamples)
		r2 := make([]float64, mcSamples)
		for i := range mcSamples {
			x1[i], x2[i] = x[2*i], x[2*i+1]
			r2[i] = x1[i]*x1[i] + x2[i]*x2[i]
		}
		m, se := mctest.MeanSE(x1)
		checkWithinSE(t, tg.Name()+": E[x₁]", m, se, 0)
		m, se = mctest.MeanSE(x2)
		checkWithinSE(t, tg.Name()+": E[x₂]", m, se, 0)
		m, se = mctest.MeanSE(r2)
		checkWithinSE(t, tg.Name()+": E|x|²", m, se, wantR2[tg.Name()])
	}
}

func TestProbabilities(t *testing.T) {
	// Probabilities of events with exact values from the normal CDF; the
	// indicator's standard error is √(P(1-P)/n) with the exact P.
	phi := distuv.UnitNormal.CDF
	const sd = 0.1
	// Nine Gaussians: P(x₁ < -0.5) = (1/3) Σ_m Φ((-0.5 - m)/0.1): the
	// left column of components, up to its 5σ tails and the middle
	// column's. Tests the component weights per column.
	pNine := (phi((-0.5+1)/sd) + phi((-0.5-0)/sd) + phi((-0.5-1)/sd)) / 3
	// Two rings: P(|x| < 0.95) = ½ Σ_k [Φ((0.95 - r_k)/0.1) - Φ((-0.95 - r_k)/0.1)]
	// for the reflected radius |s|: the inner ring's share.
	pRing := 0.0
	for _, r := range []float64{0.6, 1.3} {
		pRing += 0.5 * (phi((0.95-r)/sd) - phi((-0.95-r)/sd))
	}
	cases := []struct {
		tg    Target
		event func(x1, x2 float64) bool
		p     float64
		name  string
	}{
		{NineGaussians(), func(x1, _ float64) bool { return x1 < -0.5 }, pNine, "P(x₁ < -0.5)"},
		{TwoRings(), func(x1, x2 float64) bool { return math.Hypot(x1, x2) < 0.95 }, pRing, "P(|x| < 0.95)"},
	}
	for _, c := range cases {
		x := samples(c.tg, 3)
		hits := 0
		for i := range mcSamples {
			if c.event(x[2*i], x[2*i+1]) {
				hits++
			}
		}
		se := math.Sqrt(c.p * (1 - c.p) / mcSamples)
		checkWithinSE(t, c.tg.Name()+": "+c.name, float64(hits)/mcSamples, se, c.p)
	}
}

func TestCheckerboardCells(t *testing.T) {
	tg := Checkerboard()
	x := samples(tg, 4)
	var counts [4][4]int
	for i := range mcSamples {
		ci, cj := checkerIndex(x[2*i]), checkerIndex(x[2*i+1])
		if ci < 0 || cj < 0 {
			t.Fatalf("sample %d = (%v, %v) is outside [-2, 2)²", i, x[2*i], x[2*i+1])
		}
		counts[ci][cj]++
	}
	// White cells must be empty; black cells are checked by Pearson's
	// chi-square against the uniform 1/8, with 8 - 1 = 7 degrees of
	// freedom. At a fixed seed the test is deterministic; a p-value
	// threshold of 1e-3 would reject a correct sampler at one seed in a
	// thousand, while one cell with probability off by 5% (1/8 → 0.13125,
	// 1250 extra counts of an expected 25000) adds 1250²/25000 ≈ 62 to the
	// statistic, p < 1e-10.
	const pMin = 1e-3
	expected := float64(mcSamples) / 8
	var chi2 float64
	for i := range 4 {
		for j := range 4 {
			if (i+j)%2 != 0 {
				if counts[i][j] != 0 {
					t.Errorf("white cell (%d, %d) got %d samples", i, j, counts[i][j])
				}
				continue
			}
			d := float64(counts[i][j]) - expected
			chi2 += d * d / expected
		}
	}
	if p := (distuv.ChiSquared{K: 7}).Survival(chi2); p < pMin {
		t.Errorf("cell counts %v: chi-square %.2f on 7 dof, p = %.2g < %g", counts, chi2, p, pMin)
	}
}

func TestSameSeedSameSamples(t *testing.T) {
	for _, tg := range allTargets() {
		a := make([]float64, 2*1000)
		b := make([]float64, 2*1000)
		c := make([]float64, 2*1000)
		tg.Sample(rand.New(rand.NewPCG(7, 8)), a)
		tg.Sample(rand.New(rand.NewPCG(7, 8)), b)
		tg.Sample(rand.New(rand.NewPCG(7, 9)), c)
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
				t.Fatalf("%s: same seed, sample %d differs: %v vs %v", tg.Name(), i, a[i], b[i])
			}
		}
		if slices.Equal(a, c) {
			t.Errorf("%s: different seeds gave identical samples", tg.Name())
		}
		// Splitting a batch does not change the stream: drawing 400 then
		// 600 points from one generator equals drawing 1000 at once.
		rng := rand.New(rand.NewPCG(7, 8))
		d := make([]float64, 2*1000)
		tg.Sample(rng, d[:800])
		tg.Sample(rng, d[800:])
		if !slices.Equal(a, d) {
			t.Errorf("%s: a batch drawn in two calls differs from one call", tg.Name())
		}
	}
}

func TestLogDensityPoints(t *testing.T) {
	// Independent evaluation of the densities from their definitions, with
	// gonum's normal density: the 9-term sum for the nine Gaussians (not
	// its factorization) and the reflected radial mixture for the rings.
	// Both sides are a handful of correctly rounded operations, so they
	// agree to a few ulps; tol = 1e-12 relative to |log p| ∨ 1.
	const tol = 1e-12
	npdf := func(x, mu float64) float64 { return distuv.Normal{Mu: mu, Sigma: 0.1}.Prob(x) }
	nine := func(x, y float64) float64 {
		var s float64
		for _, a := range []float64{-1, 0, 1} {
			for _, b := range []float64{-1, 0, 1} {
				s += npdf(x, a) * npdf(y, b)
			}
		}
		return math.Log(s / 9)
	}
	ring := func(x, y float64) float64 {
		r := math.Hypot(x, y)
		pr := 0.5 * (npdf(r, 0.6) + npdf(r, 1.3) + npdf(-r, 0.6) + npdf(-r, 1.3))
		return math.Log(pr / (2 * math.Pi * r))
	}
	pts := [][2]float64{{0, 0.01}, {0.3, -0.2}, {1, 1}, {-1.05, 0.02}, {0.5, 0.5}, {0.6, 0}, {-0.9, 1.0}, {1.7, -0.4}, {0.001, 0.002}}
	for _, p := range pts {
		x := []float64{p[0], p[1]}
		for _, c := range []struct {
			tg   Target
			want float64
		}{{NineGaussians(), nine(p[0], p[1])}, {TwoRings(), ring(p[0], p[1])}} {
			got := c.tg.LogDensity(x)
			if d := math.Abs(got - c.want); !(d <= tol*math.Max(1, math.Abs(c.want))) {
				t.Errorf("%s: LogDensity(%v) = %.17g, direct %.17g", c.tg.Name(), p, got, c.want)
			}
		}
	}
	if got := TwoRings().LogDensity([]float64{0, 0}); !math.IsInf(got, 1) {
		t.Errorf("two-rings: LogDensity at the origin = %v, want +Inf", got)
	}

	// Checkerboard: half-open cells [-2+i, -1+i), corner cell black.
	in, out := -math.Log(8), math.Inf(-1)
	below := math.Nextafter(-1, math.Inf(-1)) // largest float below -1
	for _, c := range []struct {
		x, y, want float64
	}{
		{-2, -2, in},                        // corner of the black corner cell
		{-1.5, -1.5, in},                    // cell (0, 0)
		{-0.5, -1.5, out},                   // cell (1, 0)
		{-1, -1, in},                        // edge point belongs to cell (1, 1)
		{-1, -1.5, out},                     // edge point belongs to cell (1, 0)
		{below, -1.5, in},                   // just inside cell (0, 0)
		{-1 - 1e-17, -1.5, out},             // rounds to -1: cell (1, 0)
		{1.999999, 1.999999, in},            // cell (3, 3)
		{2, 1.5, out},                       // x = 2 is outside [-2, 2)
		{1.5, 2, out},                       // y = 2 likewise
		{math.Nextafter(-2, -3), -1.5, out}, // just left of the board
		{0.25, 0.75, in},                    // cell (2, 2)
		{-0.25, 0.75, out},                  // cell (1, 2)
		{math.Inf(1), 0, out},               // far away
	} {
		if got := Checkerboard().LogDensity([]float64{c.x, c.y}); got != c.want {
			t.Errorf("checkerboard: LogDensity(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	for _, tg := range allTargets() {
		if got := tg.LogDensity([]float64{math.NaN(), 0}); !math.IsNaN(got) {
			t.Errorf("%s: LogDensity(NaN, 0) = %v, want NaN", tg.Name(), got)
		}
	}
}

func TestByName(t *testing.T) {
	names := Names()
	if want := []string{"nine-gaussians", "checkerboard", "two-rings"}; !slices.Equal(names, want) {
		t.Fatalf("Names() = %q, want %q", names, want)
	}
	for _, name := range names {
		tg, err := ByName(name)
		if err != nil {
			t.Fatalf("ByName(%q): %v", name, err)
		}
		if tg.Name() != name || tg.Dim() != 2 {
			t.Errorf("ByName(%q) gave Name %q, Dim %d", name, tg.Name(), tg.Dim())
		}
	}
	names[0] = "changed"
	if Names()[0] != NameNineGaussians {
		t.Errorf("Names returned a shared slice")
	}
	for _, bad := range []string{"", "eight-gaussians", "Checkerboard", "two_rings"} {
		tg, err := ByName(bad)
		if err == nil || tg != nil {
			t.Errorf("ByName(%q) = %v, %v; want nil and an error", bad, tg, err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "data: ") {
			t.Errorf("ByName(%q) error %q does not start with \"data: \"", bad, msg)
		}
		for _, name := range Names() {
			if !strings.Contains(msg, name) {
				t.Errorf("ByName(%q) error %q does not list %q", bad, msg, name)
			}
		}
	}
}

func TestBounds(t *testing.T) {
	for _, tg := range allTargets() {
		lo, hi := tg.Bounds()
		if lo != [2]float64{-2, -2} || hi != [2]float64{2, 2} {
			t.Errorf("%s: Bounds = %v, %v, want [-2, 2]²", tg.Name(), lo, hi)
		}
	}
}

func TestPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tg := range allTargets() {
		cases := map[string]func(){
			"odd dst": func() { tg.Sample(rng, make([]float64, 3)) },
			"nil rng": func() { tg.Sample(nil, make([]float64, 2)) },
			"1-D x":   func() { tg.LogDensity([]float64{0}) },
			"3-D x":   func() { tg.LogDensity([]float64{0, 0, 0}) },
			"nil x":   func() { tg.LogDensity(nil) },
		}
		for what, f := range cases {
			msg := panicMessage(f)
			if !strings.HasPrefix(msg, "data: ") {
				t.Errorf("%s, %s: panic %q, want a message starting with \"data: \"", tg.Name(), what, msg)
			}
		}
		// An empty batch is valid and draws nothing.
		tg.Sample(rng, nil)
	}
}

// panicMessage runs f and returns its panic value as a string, or "" if it
// did not panic.
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg, _ = r.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	f()
	return ""
}
