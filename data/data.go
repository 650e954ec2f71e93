package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Target is a synthetic 2-D density with exact samples and an exact log
// density. Points are plain float64 slices: one point is a slice of length 2,
// a batch of n points is a row-major [n, 2] slice of length 2n.
//
// A Target holds no random state and no mutable state, so one value may be
// shared between goroutines; each goroutine passes its own *rand.Rand.
type Target interface {
	// Name returns the target's registered name, as accepted by ByName.
	Name() string

	// Dim returns the dimension of a point, which is 2 for every target
	// in this package.
	Dim() int

	// Sample fills dst, a row-major [n, 2] batch of length 2n, with n
	// independent exact samples drawn with rng. A given rng state always
	// produces bitwise the same samples.
	// It panics if len(dst) is not a multiple of 2 or rng is nil.
	Sample(rng *rand.Rand, dst []float64)

	// LogDensity returns the exact log density log p(x) of the single
	// point x (length 2) with respect to Lebesgue measure on the plane.
	// It returns -Inf outside the support and NaN if x holds a NaN.
	// It panics if len(x) != 2.
	LogDensity(x []float64) float64

	// MeanLogDensity returns the exact expectation E_p[log p(x)], the
	// negative differential entropy, in nats. It is computed by the
	// code (in closed form or by deterministic quadrature), not stored
	// as a constant; see each constructor for the method and accuracy.
	MeanLogDensity() float64

	// Bounds returns a box [lo[0], hi[0]] × [lo[1], hi[1]] for plotting
	// that holds all but a negligible fraction of the mass (stated by
	// each constructor).
	Bounds() (lo, hi [2]float64)
}

// Registered target names, in the order Names returns them.
const (
	NameNineGaussians = "nine-gaussians"
	NameCheckerboard  = "checkerboard"
	NameTwoRings      = "two-rings"
)

// Names returns the names accepted by ByName, in a fixed order. The
// returned slice is a new copy that the caller may modify.
func Names() []string {
	return []string{NameNineGaussians, NameCheckerboard, NameTwoRings}
}

// ByName returns the target registered under name. It returns an error
// that lists the valid names if name is unknown.
func ByName(name string) (Target, error) {
	switch name {
	case NameNineGaussians:
		return NineGaussians(), nil
	case NameCheckerboard:
		return Checkerboard(), nil
	case NameTwoRings:
		return TwoRings(), nil
	}
	return nil, fmt.Errorf("data: unknown target %q (valid names: %s)", name, strings.Join(Names(), ", "))
}

// dim is the dimension of every target in this package.
const dim = 2

// checkSample panics on caller bugs in a Sample call.
func checkSample(rng *rand.Rand, dst []float64) {
	if rng == nil {
		panic("data: nil *rand.Rand passed to Sample")
	}
	if len(dst)%dim != 0 {
		panic(fmt.Sprintf("data: Sample dst has length %d, want a multiple of 2 (row-major [n, 2])", len(dst)))
	}
}

// checkPoint panics if x is not a single 2-D point.
func checkPoint(x []float64) {
	if len(x) != dim {
		panic(fmt.Sprintf("data: LogDensity x has length %d, want 2", len(x)))
	}
}

// logSumExp returns log Σ exp(a[i]), shifted by the maximum so that it
// neither overflows nor underflows; an all -Inf input gives -Inf and any
// NaN gives NaN.
func logSumExp(a ...float64) float64 {
	m := math.Inf(-1)
	for _, v := range a {
		if math.IsNaN(v) {
			return v
		}
		if v > m {
			m = v
		}
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, v := range a {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// logNormalizer1D is log(σ√(2π)) for a scalar normal with standard
// deviation sigma.
func logNormalizer1D(sigma float64) float64 {
	return math.Log(sigma) + 0.5*math.Log(2*math.Pi)
}

// plotBox is the plotting box shared by all three targets, [-2, 2]²: the
// checkerboard fills it exactly, and the other two put less than 1e-12 of
// their mass outside it, so plots of different targets share axes.
var plotLo, plotHi = [2]float64{-2, -2}, [2]float64{2, 2}
