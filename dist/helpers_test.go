package dist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
)

const (
	// refTol is the absolute-or-relative tolerance against gonum's
	// distuv and distmv. Both sides evaluate the same closed forms in a
	// different order of a handful of float64 operations on values of
	// magnitude ≲ 100, so they agree to a few ulps (≈1e-14 relative);
	// 1e-12 leaves room for that and nothing more.
	refTol = 1e-12

	// fdTol is the absolute-or-relative tolerance between an ad gradient
	// and a central finite difference (fd.Central, step h = 6e-6). The
	// difference carries truncation error h²/6·|f'''| ≈ 6e-12·|f'''| and
	// rounding error ≈ ε|f|/h ≈ 4e-11·|f|; for the functions here
	// (|f| ≲ 100, |f'''| ≲ 1e3) that is below 1e-8, while a wrong
	// gradient formula is off at the scale of the gradient itself.
	fdTol = 1e-6

	// zMax is the number of standard errors a Monte Carlo estimate may be
	// from its exact value. At a fixed seed a test cannot flake; a correct
	// implementation passes 5σ for all but about 5.7e-7 of seeds per
	// comparison (two-sided normal tail; the sample sizes make every mean
	// tested here close to normal), while a bias larger than 5 standard
	// errors fails.
	zMax = 5

	// nMC is the number of draws in each moment test: 1e5 gives standard
	// errors of about 0.3% of a standard deviation while keeping the whole
	// package test well under a second.
	nMC = 100_000
)

// newRNG returns the generator used by a test, from a fixed seed.
func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// tensorOf returns a tensor of the given shape holding vals (copied).
func tensorOf(vals []float64, shape ...int) *ad.Tensor {
	return ad.New(slices.Clone(vals), shape...)
}

// randTensor returns a tensor of uniform draws on [lo, hi).
func randTensor(rng *rand.Rand, lo, hi float64, shape ...int) *ad.Tensor {
	t := ad.Zeros(shape...)
	for i := range t.Data() {
		t.Data()[i] = lo + (hi-lo)*rng.Float64()
	}
	return t
}

// weightedSum returns Σ_i w_i y_i with fixed, distinct weights
// w_i = 1 + 0.37·i (flat row-major index i): a scalar whose gradient
// exposes entries swapped or summed in the wrong place, which a plain sum
// would hide.
func weightedSum(y *ad.Tensor) *ad.Tensor {
	w := ad.Zeros(y.Shape()...)
	for i := range w.Data() {
		w.Data()[i] = 1 + 0.37*float64(i)
	}
	return ad.Sum(ad.Mul(y, w))
}

// checkGrad checks the ad gradient of the scalar f(ps) with respect to
// every tensor of ps against central finite differences. f must build its
// result from its arguments only; it is called with leaves that require
// gradients (for ad.Grad) and with constants (for fd).
func checkGrad(t *testing.T, name string, f func(ps []*ad.Tensor) *ad.Tensor, ps ...*ad.Tensor) {
	t.Helper()
	leaves := make([]*ad.Tensor, len(ps))
	for i, p := range ps {
		leaves[i] = p.Clone().RequireGrad()
	}
	y := f(leaves)
	if y.Len() != 1 {
		t.Fatalf("%s: f returned shape %v, want a scalar", name, y.Shape())
	}
	grads := ad.Grad(y, leaves...)
	for i, p := range ps {
		fi := func(v []float64) float64 {
			args := slices.Clone(ps)
			args[i] = tensorOf(v, p.Shape()...)
			return f(args).Item()
		}
		want := fd.Gradient(nil, fi, slices.Clone(p.Data()), &fd.Settings{Formula: fd.Central})
		got := grads[i].Data()
		for j := range want {
			if !scalar.EqualWithinAbsOrRel(got[j], want[j], fdTol, fdTol) || math.IsNaN(got[j]) {
				t.Errorf("%s: d/d(arg %d)[%d] = %.12g, finite difference %.12g", name, i, j, got[j], want[j])
			}
		}
	}
}

// checkClose reports entries of got and want that differ by more than
// refTol (absolute or relative). Equal infinities agree.
func checkClose(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if got[i] == want[i] {
			continue
		}
		if !scalar.EqualWithinAbsOrRel(got[i], want[i], refTol, refTol) {
			t.Errorf("%s[%d] = %.17g, want %.17g", name, i, got[i], want[i])
		}
	}
}

// column returns entries j, j+stride, j+2·stride, … of v: one coordinate
// of a row-major batch of draws.
func column(v []float64, j, stride int) []float64 {
	out := make([]float64, 0, len(v)/stride)
	for i := j; i < len(v); i += stride {
		out = append(out, v[i])
	}
	return out
}

// checkMoments checks the sample mean and the unbiased sample variance of
// v against the exact mean, variance and fourth central moment μ₄ of the
// distribution drawn from, within zMax standard errors. With n draws,
//
//	SE(mean)     = √(σ²/n),
//	SE(variance) = √((μ₄ − σ⁴ (n−3)/(n−1)) / n),
//
// the exact standard deviations of the two estimators (the second is the
// classical variance of the unbiased sample variance).
func checkMoments(t *testing.T, name string, v []float64, mean, variance, mu4 float64) {
	t.Helper()
	n := float64(len(v))
	var m float64
	for _, x := range v {
		m += x
	}
	m /= n
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	s2 := ss / (n - 1)
	seMean := math.Sqrt(variance / n)
	seVar := math.Sqrt((mu4 - variance*variance*(n-3)/(n-1)) / n)
	if math.Abs(m-mean) > zMax*seMean {
		t.Errorf("%s: sample mean %.6g, want %.6g ± %d·%.3g", name, m, mean, zMax, seMean)
	}
	if math.Abs(s2-variance) > zMax*seVar {
		t.Errorf("%s: sample variance %.6g, want %.6g ± %d·%.3g", name, s2, variance, zMax, seVar)
	}
}

// sameBits reports whether a and b hold bitwise the same float64s.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// mustPanic checks that f panics with a message starting with prefix and
// containing every string of parts.
func mustPanic(t *testing.T, prefix string, f func(), parts ...string) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", prefix)
			return
		}
		msg := fmt.Sprint(r)
		if !strings.HasPrefix(msg, prefix) {
			t.Errorf("panic %q does not start with %q", msg, prefix)
		}
		for _, p := range parts {
			if !strings.Contains(msg, p) {
				t.Errorf("panic %q does not mention %q", msg, p)
			}
		}
	}()
	f()
}
