package estimators

// Tests of Importance and Estimate, and fixtures shared by the tests of
// ais.go: finite state spaces whose states are the float indices 0..m−1
// (a batch of n states is [n, 1]), with scripted draws so that every run
// of the sampler can be enumerated, and a Gaussian target with known Z.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/internal/mctest"
)

// Tolerances.
const (
	// enumTol is the relative tolerance between an expectation computed by
	// enumerating every run of an estimator and its exact value: both are
	// sums of at most a few thousand positive terms of size ≲ 10, whose
	// float64 rounding stays near 1e-14.
	enumTol = 1e-12
	// mcSigmas is the width, in standard errors, of a Monte Carlo check at
	// a fixed seed (the design's 5σ): a correct estimator fails it for about
	// 6e-7 of seeds, a bias of more than 5 standard errors always does.
	mcSigmas = 5
)

// seededRNG returns a test's generator from a fixed seed.
func seededRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xe57)) }

// table is a log mass function over the states 0..m−1 given as a table
// (normalized or not): LogProb of x [n, 1] is [n].
type table []float64

func (t table) LogProb(x *ad.Tensor) *ad.Tensor {
	out := make([]float64, x.Dim(0))
	for i, v := range x.Data() {
		out[i] = t[state(v)]
	}
	return ad.New(out, len(out))
}

// state returns the integer state stored in v, panicking if it is none.
func state(v float64) int {
	j := int(v)
	if float64(j) != v {
		panic(fmt.Sprintf("not a state: %v", v))
	}
	return j
}

// logZ returns log Σ_j exp(t_j).
func (t table) logZ() float64 { return logSumExpFloats(t) }

// states returns the batch [n, 1] of the given states.
func states(js ...int) *ad.Tensor {
	d := make([]float64, len(js))
	for i, j := range js {
		d[i] = float64(j)
	}
	return ad.New(d, len(js), 1)
}

// scripted is a normalized distribution over 0..m−1 whose Sample returns
// scripted states instead of random ones (ignoring rng), so that a test
// can run an estimator on every possible draw and weight the outcome by
// its probability.
type scripted struct {
	table
	next []int
}

func (s *scripted) Sample(_ *rand.Rand, shape ...int) *ad.Tensor {
	n := shape[0]
	if len(shape) != 1 || len(s.next) < n {
		panic(fmt.Sprintf("scripted: Sample(%v) with %d scripted states", shape, len(s.next)))
	}
	x := states(s.next[:n]...)
	s.next = s.next[n:]
	return x
}

// tuples calls f with every tuple in {0..m−1}ⁿ. f must not keep the slice.
func tuples(m, n int, f func([]int)) {
	t := make([]int, n)
	var rec func(i int)
	rec = func(i int) {
		if i == n {
			f(t)
			return
		}
		for j := range m {
			t[i] = j
			rec(i + 1)
		}
	}
	rec(0)
}

// TestImportanceExact checks E[Ẑ] = Z exactly on a finite state space by
// running Importance on every tuple of n draws and weighting each estimate
// by the tuple's probability Π q(xᵢ).
func TestImportanceExact(t *testing.T) {
	gamma := table{0.3, -1.2, 2.0, 0.5}
	q := table{math.Log(0.1), math.Log(0.2), math.Log(0.3), math.Log(0.4)}
	Z := math.Exp(gamma.logZ())
	for _, n := range []int{1, 2, 3} {
		mean, mass := 0.0, 0.0
		tuples(len(q), n, func(js []int) {
			p := 1.0
			for _, j := range js {
				p *= math.Exp(q[j])
			}
			prop := &scripted{table: q, next: append([]int(nil), js...)}
			e := Importance(nil, gamma, prop, n)
			mean += p * math.Exp(e.LogZ)
			mass += p
		})
		if !scalar.EqualWithinRel(mean, Z, enumTol) || !scalar.EqualWithinAbs(mass, 1, enumTol) {
			t.Errorf("n = %d: E[Ẑ] = %.15g, Z = %.15g (total probability %.15g)", n, mean, Z, mass)
		}
	}

	// A proposal that misses part of the target's support is biased by
	// exactly the missing mass: the check above can fail.
	q0 := table{math.Log(0.5), math.Inf(-1), math.Log(0.25), math.Log(0.25)}
	mean := 0.0
	for j := range q0 {
		if math.IsInf(q0[j], -1) {
			continue
		}
		e := Importance(nil, gamma, &scripted{table: q0, next: []int{j}}, 1)
		mean += math.Exp(q0[j] + e.LogZ)
	}
	if want := Z - math.Exp(gamma[1]); !scalar.EqualWithinRel(mean, want, enumTol) {
		t.Errorf("proposal without state 1: E[Ẑ] = %.15g, want Z − γ₁ = %.15g", mean, want)
	}
}

// TestEstimateFromLogWeights checks the diagnostics on a hand example and
// the edge cases.
func TestEstimateFromLogWeights(t *testing.T) {
	// Weights 1, 2, 3: Ẑ = 2, r = ½, 1, 3/2, ESS = 9/3.5,
	// StdErr = √((¼ + 0 + ¼)/(3·2)) = √(1/12).
	e := EstimateFromLogWeights([]float64{0, math.Log(2), math.Log(3)})
	if !scalar.EqualWithinAbs(e.LogZ, math.Log(2), 1e-15) ||
		!scalar.EqualWithinRel(e.ESS, 9/3.5, 1e-15) ||
		!scalar.EqualWithinRel(e.StdErr, math.Sqrt(1.0/12), 1e-14) {
		t.Errorf("got %+v, want LogZ log 2, ESS %v, StdErr %v", e, 9/3.5, math.Sqrt(1.0/12))
	}
	// StdErr = √((n/ESS − 1)/(n − 1)).
	if want := math.Sqrt((3/e.ESS - 1) / 2); !scalar.EqualWithinRel(e.StdErr, want, 1e-14) {
		t.Errorf("StdErr %v, want √((n/ESS − 1)/(n − 1)) = %v", e.StdErr, want)
	}
	// Large log weights do not overflow. Near 1000 a log weight carries an
	// absolute rounding of ~1e-13, so r and the ESS are good to ~1e-13.
	e = EstimateFromLogWeights([]float64{1000, 1000 + math.Log(3)})
	if !scalar.EqualWithinAbs(e.LogZ, 1000+math.Log(2), 1e-12) || !scalar.EqualWithinRel(e.ESS, 16.0/10, 1e-12) {
		t.Errorf("large weights: %+v", e)
	}
	neg := math.Inf(-1)
	e = EstimateFromLogWeights([]float64{neg, neg})
	if !math.IsInf(e.LogZ, -1) || e.ESS != 0 || !math.IsInf(e.StdErr, 1) {
		t.Errorf("all −Inf: %+v, want LogZ −Inf, ESS 0, StdErr +Inf", e)
	}
	e = EstimateFromLogWeights([]float64{neg, 0.5})
	if !scalar.EqualWithinAbs(e.LogZ, 0.5-math.Log(2), 1e-15) || e.ESS != 1 {
		t.Errorf("one zero weight: %+v", e)
	}
	e = EstimateFromLogWeights([]float64{0.5})
	if e.LogZ != 0.5 || e.ESS != 1 || !math.IsNaN(e.StdErr) {
		t.Errorf("n = 1: %+v, want StdErr NaN", e)
	}
	for _, bad := range [][]float64{nil, {0, math.NaN()}, {math.Inf(1)}} {
		mustPanic(t, fmt.Sprintf("EstimateFromLogWeights(%v)", bad), func() { EstimateFromLogWeights(bad) })
	}
}

// gaussTarget is γ(x) = Z · N(x; μ, diag σ²), an unnormalized density with
// known normalizing constant.
type gaussTarget struct {
	logZ float64
	n    *dist.Normal
}

func newGaussTarget(logZ float64, mu, sigma []float64) gaussTarget {
	return gaussTarget{logZ, dist.NewNormal(ad.New(append([]float64(nil), mu...), len(mu)), ad.New(append([]float64(nil), sigma...), len(sigma)))}
}

func (g gaussTarget) LogProb(x *ad.Tensor) *ad.Tensor { return ad.AddScalar(g.n.LogProb(x), g.logZ) }

// isChiSq returns E_q[(p/q)²] for p = N(μ, diag σ²) and q = N(0, s² I),
// the second moment of the normalized importance weight, in closed form:
// per dimension ∫ p²/q = s/(σ²√(2a)) · exp(b²/(4a) − c) with
// a = 1/σ² − 1/(2s²), b = 2μ/σ², c = μ²/σ² (finite when 2s² > σ²).
func isChiSq(mu, sigma []float64, s float64) float64 {
	out := 1.0
	for d := range mu {
		v := sigma[d] * sigma[d]
		a := 1/v - 1/(2*s*s)
		b := 2 * mu[d] / v
		c := mu[d] * mu[d] / v
		out *= s / (v * math.Sqrt(2*a)) * math.Exp(b*b/(4*a)-c)
	}
	return out
}

// TestImportanceGaussian checks, on a 2-D Gaussian target with known Z,
// that Ẑ is unbiased (the mean of Ẑ/Z over R independent runs is 1 within
// 5 standard errors) and that the reported StdErr is calibrated: the mean
// of n·StdErr² over the runs matches Var_q(w)/Z² = E_q[(p/q)²] − 1 from
// the closed form within 5 standard errors (plus the O(1/n) bias of
// normalizing by Ẑ instead of Z, below 1% here).
func TestImportanceGaussian(t *testing.T) {
	mu, sigma, s := []float64{0.5, -0.3}, []float64{0.8, 1.2}, 1.5
	target := newGaussTarget(0.7, mu, sigma)
	prop := dist.NewNormal(ad.Zeros(2), ad.Full(s, 2))
	const R, n = 400, 500
	rng := seededRNG(1)
	ratio := make([]float64, R)
	relVar := make([]float64, R)
	for r := range R {
		e := Importance(rng, target, prop, n)
		ratio[r] = math.Exp(e.LogZ - target.logZ)
		relVar[r] = float64(n) * e.StdErr * e.StdErr
	}
	m, se := mctest.MeanSE(ratio)
	if math.Abs(m-1) > mcSigmas*se {
		t.Errorf("mean Ẑ/Z = %.5f ± %.5f over %d runs, want 1", m, se, R)
	}
	want := isChiSq(mu, sigma, s) - 1
	mv, sev := mctest.MeanSE(relVar)
	if math.Abs(mv-want) > mcSigmas*sev+0.01*want {
		t.Errorf("mean n·StdErr² = %.4f ± %.4f, want Var(w)/Z² = %.4f", mv, sev, want)
	}
	t.Logf("IS, n = %d: mean Ẑ/Z = %.4f ± %.4f; n·StdErr² = %.4f ± %.4f vs exact %.4f", n, m, se, mv, sev, want)
}

// TestImportancePanics checks the caller errors.
func TestImportancePanics(t *testing.T) {
	gamma := table{0, 0}
	mustPanic(t, "n = 0", func() { Importance(nil, gamma, &scripted{table: gamma}, 0) })
	bad := &scripted{table: table{0, 0}, next: []int{0, 1}}
	mustPanic(t, "target of wrong shape", func() {
		Importance(nil, logProberFunc(func(x *ad.Tensor) *ad.Tensor { return ad.Zeros(3) }), bad, 2)
	})
}

// logProberFunc adapts a function to LogProber in tests.
type logProberFunc func(x *ad.Tensor) *ad.Tensor

func (f logProberFunc) LogProb(x *ad.Tensor) *ad.Tensor { return f(x) }

// mustPanic fails the test unless f panics with a message that starts
// with "estimators: ".
func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", what)
			return
		}
		if s, ok := r.(string); !ok || len(s) < 12 || s[:12] != "estimators: " {
			t.Errorf("%s: panic %v, want a message starting with \"estimators: \"", what, r)
		}
	}()
	f()
}

// Importance sampling of Z for γ(x) = 2·N(x; 1, 0.5²), so log Z = log 2,
// from the proposal N(0, 2²).
func ExampleImportance() {
	target := newGaussTarget(math.Log(2), []float64{1}, []float64{0.5})
	proposal := dist.NewNormal(ad.Zeros(1), ad.Full(2, 1))
	e := Importance(rand.New(rand.NewPCG(1, 2)), target, proposal, 10000)
	fmt.Printf("log Ẑ = %.2f ± %.2f (log Z = %.2f), ESS %.0f of 10000\n", e.LogZ, e.StdErr, math.Log(2), math.Round(e.ESS/100)*100)
	// Output:
	// log Ẑ = 0.69 ± 0.02 (log Z = 0.69), ESS 3100 of 10000
}

// TestEstimateShiftInvariant checks that ESS and StdErr depend only on the
// differences of the log weights, for log weights of any finite size:
// adding c ∈ {2⁵², 1e16, 1e300} (exactly, the weights being chosen so that
// w + c is representable) leaves them equal to those of w, and the
// issue's case [1e16, −Inf] has ESS 1 and StdErr 1 for n = 2. Before
// max-shifting, rᵢ = exp(wᵢ − log Ẑ) took log Ẑ rounded at the size of c,
// off by up to half an ulp of c (1 at 2⁵²): ESS 4 for [1e16, −Inf].
func TestEstimateShiftInvariant(t *testing.T) {
	neg := math.Inf(-1)
	e := EstimateFromLogWeights([]float64{1e16, neg})
	if e.ESS != 1 || e.StdErr != 1 || e.LogZ != 1e16+math.Log(0.5) {
		t.Errorf("[1e16, −Inf]: %+v, want LogZ 1e16 − log 2, ESS 1, StdErr 1", e)
	}
	base := []float64{0, 1, -2, 3, neg, 1, -1}
	ref := EstimateFromLogWeights(base)
	for _, c := range []float64{1 << 52, 1e16, 1e300} {
		// The ulp of c is at most the smallest gap in base scaled by ulp:
		// scale base by the ulp of c so that every w + c is exact.
		ulp := math.Nextafter(c, math.Inf(1)) - c
		unit := max(1, ulp)
		scaled := make([]float64, len(base))
		shifted := make([]float64, len(base))
		for i, w := range base {
			scaled[i] = w * unit
			shifted[i] = c + scaled[i]
			if !math.IsInf(w, -1) && shifted[i]-c != scaled[i] {
				t.Fatalf("c = %g: c + %g not exact", c, scaled[i])
			}
		}
		want := ref
		if unit != 1 {
			want = EstimateFromLogWeights(scaled)
		}
		got := EstimateFromLogWeights(shifted)
		if math.Abs(got.ESS-want.ESS) > 1e-14*want.ESS || math.Abs(got.StdErr-want.StdErr) > 1e-14*want.StdErr {
			t.Errorf("c = %g: ESS %v StdErr %v, want %v and %v (unshifted)", c, got.ESS, got.StdErr, want.ESS, want.StdErr)
		}
		if d := got.LogZ - (c + want.LogZ); math.Abs(d) > ulp {
			t.Errorf("c = %g: LogZ %v, want c + %v", c, got.LogZ, want.LogZ)
		}
	}
}
