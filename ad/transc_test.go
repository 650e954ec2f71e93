package ad

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// Accuracy of the transcendental kernels against the trPrec-bit
// references of transc_ref_test.go, in ulps of the exact result (for
// subnormal results, of the spacing 2⁻¹⁰⁷⁴). Measured on this project's
// AMD EPYC, Go 1.26, over the point sets of trKernels (TestTranscVsBig's
// log); the AVX2 kernels and the portable loops, which follow the same
// algorithms, reach the same maxima:
//
//	exp       1.00 (0.83 for normal results)   softplus     1.30
//	log       0.78                             log-sigmoid  1.40
//	log1p     0.78                             sigmoid      2.03
//
// The bounds are what the tests require of both paths.
const (
	trMaxExp      = 1.0
	trMaxLog      = 1.0
	trMaxLog1p    = 1.0
	trMaxSoftplus = 1.5
	trMaxSigmoid  = 2.5
)

func trRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(0x7472616e, seed)) }

// trWithPath runs f once per implementation path: the AVX2 kernels where
// they run, and the portable loops always.
func trWithPath(t *testing.T, f func(t *testing.T)) {
	saved := haveTranscAVX2
	t.Cleanup(func() { haveTranscAVX2 = saved })
	if saved {
		t.Run("avx2", func(t *testing.T) { haveTranscAVX2 = true; f(t) })
	} else {
		t.Log("AVX2+FMA kernels not available on this CPU/build; testing the portable loops only")
	}
	t.Run("portable", func(t *testing.T) { haveTranscAVX2 = false; f(t) })
	haveTranscAVX2 = saved
}

// trAround returns c and its k float64 neighbours on each side.
func trAround(c float64, k int) []float64 {
	xs := []float64{c}
	lo, hi := c, c
	for range k {
		lo = math.Nextafter(lo, math.Inf(-1))
		hi = math.Nextafter(hi, math.Inf(1))
		xs = append(xs, lo, hi)
	}
	return xs
}

func trUniform(r *rand.Rand, n int, lo, hi float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = lo + (hi-lo)*r.Float64()
	}
	return xs
}

// trMagnitudes returns n points ±10^u, u uniform in [lo, hi] (signed: both
// signs).
func trMagnitudes(r *rand.Rand, n int, lo, hi float64, signed bool) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = math.Pow(10, lo+(hi-lo)*r.Float64())
		if signed && r.IntN(2) == 0 {
			xs[i] = -xs[i]
		}
	}
	return xs
}

// trKernel is one kernel under test: vec computes it over a slice, ref
// gives the exact value at x as a big.Float, or as an exact float64 where
// the answer is special (ref returns nil).
type trKernel struct {
	name   string
	vec    func(dst, src []float64)
	ref    func(x float64) (*big.Float, float64)
	bound  float64
	points func() []float64 // finite inputs for the comparison with ref
	// special inputs and their exact outputs (NaN matches NaN; ±0 must
	// agree in sign)
	special [][2]float64
}

var (
	negZero = math.Copysign(0, -1)
	nan     = math.NaN()
	inf     = math.Inf(1)
)

// subnormals returns positive subnormal (and boundary) magnitudes.
var subnormals = []float64{math.SmallestNonzeroFloat64, 2 * math.SmallestNonzeroFloat64, 3e-320, 1e-310, 0x1p-1022 - 0x1p-1074, 0x1p-1022}

// expOverflow is the smallest float64 x with exp(x) ≥ MaxFloat64 + ½ulp
// = 2¹⁰²⁴ − 2⁹⁷⁰, and expUnderflow the largest with exp(x) ≤ 2⁻¹⁰⁷⁵
// (TestTranscThresholds checks both against the reference).
const (
	expOverflow  = 709.78271289338409
	expUnderflow = -745.13321910194122
)

func trKernels() []trKernel {
	exact := func(v float64) (*big.Float, float64) { return nil, v }
	ks := []trKernel{
		{
			name: "exp", vec: expVec, bound: trMaxExp,
			ref: func(x float64) (*big.Float, float64) {
				switch {
				case math.IsNaN(x):
					return exact(nan)
				case x >= expOverflow:
					return exact(inf)
				case x < -trCap:
					return exact(0)
				}
				return trExp(x), 0
			},
			points: func() []float64 {
				r := trRand(1)
				var xs []float64
				xs = append(xs, trUniform(r, 4000, -745.2, 709.8)...)
				xs = append(xs, trUniform(r, 3000, -40, 40)...)
				xs = append(xs, trUniform(r, 1500, -745.2, -708)...) // subnormal results
				xs = append(xs, trUniform(r, 500, 705, 709.78)...)
				xs = append(xs, trMagnitudes(r, 1000, -320, 0, true)...)
				for k := -1080; k <= 1026; k += 7 { // reduction boundaries (k + ½)·ln 2
					xs = append(xs, trAround((float64(k)+0.5)*math.Ln2, 2)...)
				}
				xs = append(xs, trAround(expOverflow, 30)...)
				xs = append(xs, trAround(expUnderflow, 30)...)
				xs = append(xs, trAround(-708.3964185322641, 20)...) // exp = 2⁻¹⁰²²
				xs = append(xs, trAround(-745.13321910194110, 20)...)
				return xs
			},
			special: [][2]float64{
				{nan, nan}, {inf, inf}, {-inf, 0}, {0, 1}, {negZero, 1},
				{math.MaxFloat64, inf}, {-math.MaxFloat64, 0}, {1e300, inf}, {-1e300, 0},
				{710, inf}, {-746, 0}, {-800, 0}, {800, inf},
				{math.SmallestNonzeroFloat64, 1}, {-math.SmallestNonzeroFloat64, 1}, {1e-300, 1}, {-1e-300, 1},
				{0x1p-54, 1}, {-0x1p-54, 1},
			},
		},
		{
			name: "log", vec: logVec, bound: trMaxLog,
			ref: func(x float64) (*big.Float, float64) {
				switch {
				case math.IsNaN(x) || x < 0:
					return exact(nan)
				case x == 0:
					return exact(-inf)
				case math.IsInf(x, 1):
					return exact(inf)
				}
				return trLog(trF(x)), 0
			},
			points: func() []float64 {
				r := trRand(2)
				var xs []float64
				for range 4000 { // every binade, subnormals included
					for {
						v := math.Float64frombits(r.Uint64() &^ (1 << 63))
						if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
							xs = append(xs, v)
							break
						}
					}
				}
				xs = append(xs, trUniform(r, 3000, 0.5, 2)...)
				xs = append(xs, trUniform(r, 1000, 0.999, 1.001)...)
				xs = append(xs, trUniform(r, 1000, 1e-300, 1e-306)...)
				xs = append(xs, trMagnitudes(r, 1000, -323, 308, false)...)
				xs = append(xs, subnormals...)
				xs = append(xs, trAround(1, 30)...)
				xs = append(xs, trAround(math.Sqrt2/2, 10)...)
				xs = append(xs, trAround(math.Sqrt2, 10)...)
				xs = append(xs, math.MaxFloat64, 0x1p-1022, 2, 4, 0.5, 0.25, 0x1p1000, 0x1p-1000)
				return xs
			},
			special: [][2]float64{
				{nan, nan}, {inf, inf}, {-inf, nan}, {0, -inf}, {negZero, -inf},
				{-1, nan}, {-1e-300, nan}, {-math.SmallestNonzeroFloat64, nan}, {1, 0},
			},
		},
		{
			name: "log1p", vec: log1pVec, bound: trMaxLog1p,
			ref: func(x float64) (*big.Float, float64) {
				switch {
				case math.IsNaN(x) || x < -1:
					return exact(nan)
				case x == -1:
					return exact(-inf)
				case math.IsInf(x, 1):
					return exact(inf)
				case x == 0:
					return exact(x)
				}
				return trLog1p(x), 0
			},
			points: func() []float64 {
				r := trRand(3)
				var xs []float64
				xs = append(xs, trUniform(r, 3000, -1, 1)...)
				xs = append(xs, trUniform(r, 2000, -0.3, 0.42)...)
				xs = append(xs, trUniform(r, 1000, 1, 10)...)
				xs = append(xs, trMagnitudes(r, 2000, -320, 0, true)...)
				xs = append(xs, trMagnitudes(r, 2000, 0, 308, false)...)
				for _, c := range []float64{math.Sqrt2/2 - 1, math.Sqrt2 - 1, 1, 0x1p-54, -0x1p-54, 0x1p-53, -0x1p-53, 1e-8, -1e-8} {
					xs = append(xs, trAround(c, 10)...)
				}
				xs = append(xs, trAround(-1, 0)[0]+0x1p-53, -1+0x1p-52, -0.75, -0.5, math.MaxFloat64)
				for _, s := range subnormals {
					xs = append(xs, s, -s)
				}
				return xs
			},
			special: [][2]float64{
				{nan, nan}, {inf, inf}, {-inf, nan}, {0, 0}, {negZero, negZero},
				{-1, -inf}, {-1.5, nan}, {-math.MaxFloat64, nan},
				{math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
				{-math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64},
				{1e-310, 1e-310}, {-1e-310, -1e-310}, {1e-300, 1e-300}, {-1e-300, -1e-300},
			},
		},
	}
	spPoints := func(seed uint64) func() []float64 {
		return func() []float64 {
			r := trRand(seed)
			var xs []float64
			xs = append(xs, trUniform(r, 4000, -50, 50)...)
			xs = append(xs, trUniform(r, 2000, -5, 5)...)
			xs = append(xs, trUniform(r, 1000, -760, -700)...)
			xs = append(xs, trMagnitudes(r, 2000, -320, 6, true)...)
			for _, c := range []float64{0.88137358701954305, -0.88137358701954305, 36.7, -36.7, 745.13321910194122, -745.13321910194122, 708.3964185322641, -708.3964185322641} {
				xs = append(xs, trAround(c, 10)...) // |x| where e^−|x| = √2 − 1, saturation, underflow of e^−|x|
			}
			for _, s := range subnormals {
				xs = append(xs, s, -s)
			}
			return xs
		}
	}
	ln2 := math.Ln2
	sp := func(neg bool) func(x float64) (*big.Float, float64) {
		return func(x float64) (*big.Float, float64) {
			if neg {
				x = -x
			}
			var T *big.Float
			switch {
			case math.IsNaN(x):
				return exact(nan)
			case math.IsInf(x, 1):
				T = trF(inf)
			case math.IsInf(x, -1):
				T = trF(0)
			case x > trCap:
				T = trF(x)
			default:
				T = trSoftplus(x)
			}
			if neg {
				T.Neg(T)
			}
			if T.IsInf() || T.Sign() == 0 {
				v, _ := T.Float64()
				return exact(v)
			}
			return T, 0
		}
	}
	spSpecial := [][2]float64{
		{nan, nan}, {inf, inf}, {-inf, 0}, {0, ln2}, {negZero, ln2},
		{1e300, 1e300}, {-1e300, 0}, {math.MaxFloat64, math.MaxFloat64}, {-math.MaxFloat64, 0},
		{800, 800}, {-800, 0}, {40, 40}, {1e20, 1e20},
	}
	lsSpecial := make([][2]float64, len(spSpecial))
	for i, c := range spSpecial {
		lsSpecial[i] = [2]float64{-c[0], -c[1]}
	}
	lsSpecial[0] = [2]float64{nan, nan}
	ks = append(ks,
		trKernel{name: "softplus", vec: func(d, s []float64) { softplusVec(d, s, false) }, bound: trMaxSoftplus,
			ref: sp(false), points: spPoints(4), special: spSpecial},
		trKernel{name: "logsigmoid", vec: func(d, s []float64) { softplusVec(d, s, true) }, bound: trMaxSoftplus,
			ref: sp(true), points: spPoints(5), special: lsSpecial},
		trKernel{name: "sigmoid", vec: func(d, s []float64) { sigmoidVec(d, s, false) }, bound: trMaxSigmoid,
			ref: func(x float64) (*big.Float, float64) {
				switch {
				case math.IsNaN(x):
					return exact(nan)
				case math.IsInf(x, 0):
					return exact(math.Max(0, math.Copysign(1, x)))
				}
				return trSigmoid(x), 0
			},
			points: spPoints(6),
			special: [][2]float64{
				{nan, nan}, {inf, 1}, {-inf, 0}, {0, 0.5}, {negZero, 0.5},
				{1e300, 1}, {-1e300, 0}, {800, 1}, {-800, 0}, {40, 1 / (1 + math.Exp(-40))},
			},
		},
		trKernel{name: "sigmoid(−x)", vec: func(d, s []float64) { sigmoidVec(d, s, true) }, bound: trMaxSigmoid,
			ref: func(x float64) (*big.Float, float64) {
				switch {
				case math.IsNaN(x):
					return exact(nan)
				case math.IsInf(x, 0):
					return exact(math.Max(0, math.Copysign(1, -x)))
				}
				return trSigmoid(-x), 0
			},
			points:  spPoints(7),
			special: [][2]float64{{nan, nan}, {inf, 0}, {-inf, 1}, {0, 0.5}, {negZero, 0.5}, {-1e300, 1}, {1e300, 0}},
		},
	)
	return ks
}

// trSame reports whether got is want: NaN matches NaN, zeros must agree
// in sign.
func trSame(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return got == want && math.Signbit(got) == math.Signbit(want)
}

func trOne(f func(dst, src []float64), x float64) float64 {
	var d [1]float64
	f(d[:], []float64{x})
	return d[0]
}

// TestTranscVsBig compares every kernel with its high-precision reference
// over its point set: ulp error at most the kernel's bound, and special
// answers (infinities, zeros) exact.
func TestTranscVsBig(t *testing.T) {
	for _, k := range trKernels() {
		xs := k.points()
		refs := make([]*big.Float, len(xs))
		exacts := make([]float64, len(xs))
		for i, x := range xs {
			refs[i], exacts[i] = k.ref(x)
		}
		t.Run(k.name, func(t *testing.T) {
			trWithPath(t, func(t *testing.T) {
				got := make([]float64, len(xs))
				k.vec(got, xs)
				maxE, worst := 0.0, 0.0
				for i, x := range xs {
					if refs[i] == nil {
						if !trSame(got[i], exacts[i]) {
							t.Errorf("%s(%v) = %v, want exactly %v", k.name, x, got[i], exacts[i])
						}
						continue
					}
					if e := trULP(got[i], refs[i]); !(e <= maxE) {
						maxE, worst = e, x
					}
				}
				t.Logf("%s: n=%d  max error %.4f ulp at x=%v", k.name, len(xs), maxE, worst)
				if !(maxE <= k.bound) {
					T, _ := k.ref(worst)
					t.Errorf("%s(%v) = %v, exact %s: %.4f ulp, want ≤ %v", k.name, worst,
						trOne(k.vec, worst), T.Text('g', 25), maxE, k.bound)
				}
			})
		})
	}
}

// TestTranscSpecial checks the special inputs of every kernel, alone (the
// masked tail) and in full blocks, and each special value next to
// ordinary ones in every lane.
func TestTranscSpecial(t *testing.T) {
	for _, k := range trKernels() {
		t.Run(k.name, func(t *testing.T) {
			trWithPath(t, func(t *testing.T) {
				for _, c := range k.special {
					for _, n := range []int{1, 2, 3, 4, 5, 8} {
						for lane := range n {
							src := make([]float64, n)
							for j := range src {
								src[j] = 0.25 + float64(j)
							}
							src[lane] = c[0]
							dst := make([]float64, n)
							k.vec(dst, src)
							if !trSame(dst[lane], c[1]) {
								t.Errorf("%s(%v) = %v (%#x) in lane %d of %d, want %v", k.name, c[0], dst[lane],
									math.Float64bits(dst[lane]), lane, n, c[1])
							}
						}
					}
				}
			})
		})
	}
}

// TestTranscPositions places the same inputs at every offset 0..7 of
// slices of length 0..13 and requires bitwise identical outputs, no write
// outside dst, src untouched, and in-place use (dst = src) to give the
// same results.
func TestTranscPositions(t *testing.T) {
	for _, k := range trKernels() {
		r := trRand(8)
		var pool []float64
		for _, c := range k.special {
			pool = append(pool, c[0])
		}
		pts := k.points()
		for range 60 {
			pool = append(pool, pts[r.IntN(len(pts))])
		}
		t.Run(k.name, func(t *testing.T) {
			trWithPath(t, func(t *testing.T) { trCheckPositions(t, k.vec, pool) })
		})
	}
}

func trCheckPositions(t *testing.T, f func(dst, src []float64), pool []float64) {
	t.Helper()
	want := make([]float64, len(pool))
	for i, x := range pool {
		want[i] = trOne(f, x)
	}
	const canary = -123.456
	for n := 0; n <= 13; n++ {
		for off := 0; off <= 7; off++ {
			for rot := 0; rot < len(pool); rot += 5 {
				idx := func(i int) int { return (i + rot) % len(pool) }
				srcBuf := make([]float64, off+n+8)
				dstBuf := make([]float64, off+n+8)
				for i := range srcBuf {
					srcBuf[i], dstBuf[i] = canary, canary
				}
				for i := range n {
					srcBuf[off+i] = pool[idx(i)]
				}
				src, dst := srcBuf[off:off+n], dstBuf[off:off+n]
				f(dst, src)
				for i := range dstBuf {
					if i >= off && i < off+n {
						j := idx(i - off)
						if math.Float64bits(dstBuf[i]) != math.Float64bits(want[j]) {
							t.Fatalf("n=%d off=%d: f(%v) = %#x at position %d, %#x alone",
								n, off, pool[j], math.Float64bits(dstBuf[i]), i-off, math.Float64bits(want[j]))
						}
						if math.Float64bits(srcBuf[i]) != math.Float64bits(pool[j]) {
							t.Fatalf("n=%d off=%d: src modified", n, off)
						}
					} else if dstBuf[i] != canary || srcBuf[i] != canary {
						t.Fatalf("n=%d off=%d: write outside the slice at buffer index %d", n, off, i)
					}
				}
				f(src, src)
				for i := range src {
					if math.Float64bits(src[i]) != math.Float64bits(dst[i]) {
						t.Fatalf("n=%d off=%d: in-place result differs at %d", n, off, i)
					}
				}
				if srcBuf[off+n] != canary || (off > 0 && srcBuf[off-1] != canary) {
					t.Fatalf("n=%d off=%d: in-place wrote outside the slice", n, off)
				}
			}
		}
	}
}

// TestTranscKernelsVsPortable compares the AVX2 kernels with the portable
// loops over dense grids and random bit patterns: both are within their
// bound of the exact value, so within twice the bound (rounded down to
// whole ulps) of each other; a much larger sample than TestTranscVsBig at
// no reference cost.
func TestTranscKernelsVsPortable(t *testing.T) {
	if !haveTranscAVX2 {
		t.Skip("no AVX2 kernels on this CPU/build")
	}
	r := trRand(9)
	bits := make([]float64, 200_000)
	for i := range bits {
		bits[i] = math.Float64frombits(r.Uint64())
	}
	grid := make([]float64, 400_001)
	for i := range grid {
		grid[i] = -760 + 1480*float64(i)/float64(len(grid)-1)
	}
	small := make([]float64, 200_001)
	for i := range small {
		small[i] = -1 + 3*float64(i)/float64(len(small)-1)
	}
	for _, k := range trKernels() {
		t.Run(k.name, func(t *testing.T) {
			tol := uint64(2 * k.bound)
			for name, xs := range map[string][]float64{"randombits": bits, "grid": grid, "small": small} {
				got := make([]float64, len(xs))
				want := make([]float64, len(xs))
				k.vec(got, xs)
				haveTranscAVX2 = false
				k.vec(want, xs)
				haveTranscAVX2 = true
				var maxD uint64
				worst := 0.0
				for i, x := range xs {
					if d := tanhTDist(got[i], want[i]); d > maxD {
						maxD, worst = d, x
					}
				}
				t.Logf("%-10s n=%7d  max |kernel − portable| = %d ulp (at x=%v)", name, len(xs), maxD, worst)
				if maxD > tol {
					t.Errorf("%s %s: at x=%v the kernel gives %v, the portable loop %v: %d ulp apart, want ≤ %d",
						k.name, name, worst, trOne(k.vec, worst), trOne(func(d, s []float64) {
							haveTranscAVX2 = false
							k.vec(d, s)
							haveTranscAVX2 = true
						}, worst), maxD, tol)
				}
			}
		})
	}
}

// TestTranscThresholds checks the overflow and underflow constants the
// exp reference uses against the reference itself: exp(expOverflow)
// rounds to +Inf and its predecessor to a finite number; exp(expUnderflow)
// rounds to 0 and its successor to the smallest subnormal.
func TestTranscThresholds(t *testing.T) {
	limit := new(big.Float).SetMantExp(trF(1), 1024)
	limit.Sub(limit, new(big.Float).SetMantExp(trF(1), 970)) // MaxFloat64 + ½ulp
	if trExp(expOverflow).Cmp(limit) < 0 {
		t.Errorf("exp(%v) < MaxFloat64 + ½ulp: expOverflow too small", expOverflow)
	}
	if prev := math.Nextafter(expOverflow, 0); trExp(prev).Cmp(limit) >= 0 {
		t.Errorf("exp(%v) ≥ MaxFloat64 + ½ulp: expOverflow too large", prev)
	}
	half := new(big.Float).SetMantExp(trF(1), -1075)
	if trExp(expUnderflow).Cmp(half) > 0 {
		t.Errorf("exp(%v) > 2⁻¹⁰⁷⁵: expUnderflow too large", expUnderflow)
	}
	if next := math.Nextafter(expUnderflow, 0); trExp(next).Cmp(half) <= 0 {
		t.Errorf("exp(%v) ≤ 2⁻¹⁰⁷⁵: expUnderflow too small", next)
	}
	// The reference against package math where math is correctly rounded
	// almost everywhere: a check of the reference.
	for _, x := range []float64{-700.5, -1, 1e-10, 0.3, 2, 100, 709} {
		if e := trULP(math.Exp(x), trExp(x)); e > 1 {
			t.Errorf("reference exp(%v) is %.3g ulp from math.Exp", x, e)
		}
		if x > 0 {
			if e := trULP(math.Log(x), trLog(trF(x))); e > 1 {
				t.Errorf("reference log(%v) is %.3g ulp from math.Log", x, e)
			}
		}
		if x > -1 {
			if e := trULP(math.Log1p(x), trLog1p(x)); e > 1 {
				t.Errorf("reference log1p(%v) is %.3g ulp from math.Log1p", x, e)
			}
		}
	}
}
