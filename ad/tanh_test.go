package ad

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// Accuracy of tanhVec, measured on an AMD EPYC (AVX2+FMA kernel), Go 1.26:
//
//   - vs a 200-bit big.Float reference, the 9,299 points of TestTanhVecVsBig:
//     AVX2 kernel max 1.31 ulp, fallback (math.Tanh) max 1.40 ulp.
//   - one-off scan of 8e5 random points (1e5 each in [0,0.625], [0.6,1.2],
//     [1.2,3], [3,20], 3e5 in [0.625,0.66], 1e5 in [0.66,0.75]) vs the same
//     reference: AVX2 kernel max 1.38 ulp, math.Tanh max 1.43 ulp, both just
//     above the 0.625 branch point where 1 − 2/(s+1) loses the most; small
//     branch max 0.75 ulp; above x = 3 max 0.50 ulp.
//   - vs math.Tanh, ~2.2e6 points of TestTanhVecVsMath: at most 2 ulp apart
//     (1 ulp except on the dense grid).
//
// Required: ≤ 2 ulp from the true value, and ≤ 2 ulp from math.Tanh (both
// stay below 1.5 ulp from the true value, so they cannot be 3 ulp apart).
const (
	tanhTMaxULPTrue = 2.0
	tanhTMaxULPMath = 2
)

// tanhTOrd maps a float64 to an integer such that adjacent floats differ by
// one and ordering is preserved (±0 both map to 0).
func tanhTOrd(x float64) int64 {
	b := int64(math.Float64bits(x))
	if b < 0 {
		return -(b & math.MaxInt64)
	}
	return b
}

// tanhTDist is the distance in ulps between got and want; NaN matches only
// NaN, and ±0 must agree in sign.
func tanhTDist(got, want float64) uint64 {
	switch {
	case math.IsNaN(got) || math.IsNaN(want):
		if math.IsNaN(got) && math.IsNaN(want) {
			return 0
		}
		return math.MaxUint64
	case got == 0 && want == 0:
		if math.Signbit(got) != math.Signbit(want) {
			return math.MaxUint64
		}
		return 0
	}
	d := tanhTOrd(got) - tanhTOrd(want)
	if d < 0 {
		d = -d
	}
	return uint64(d)
}

const tanhTPrec = 200

// tanhTExpm1 returns e^y − 1 for y ≥ 0 at tanhTPrec bits: Taylor series for
// y ≤ 1 (no cancellation), otherwise e^(y/2^m) squared m times.
func tanhTExpm1(y *big.Float) *big.Float {
	one := new(big.Float).SetPrec(tanhTPrec).SetInt64(1)
	if y.Cmp(one) <= 0 {
		sum := new(big.Float).SetPrec(tanhTPrec).Set(y)
		term := new(big.Float).SetPrec(tanhTPrec).Set(y)
		if y.Sign() == 0 {
			return sum
		}
		for k := int64(2); ; k++ {
			term.Mul(term, y)
			term.Quo(term, new(big.Float).SetPrec(tanhTPrec).SetInt64(k))
			if term.Sign() == 0 || term.MantExp(nil) < sum.MantExp(nil)-tanhTPrec-10 {
				break
			}
			sum.Add(sum, term)
		}
		return sum
	}
	m := 0
	r := new(big.Float).SetPrec(tanhTPrec).Set(y)
	for r.Cmp(one) > 0 {
		r.SetMantExp(r, -1)
		m++
	}
	e := tanhTExpm1(r)
	e.Add(e, one)
	for range m {
		e.Mul(e, e)
	}
	return e.Sub(e, one)
}

// tanhTBig returns tanh(x) for finite x at tanhTPrec bits, as
// expm1(2|x|)/(expm1(2|x|)+2) with the sign of x.
func tanhTBig(x float64) *big.Float {
	y := new(big.Float).SetPrec(tanhTPrec).SetFloat64(math.Abs(x))
	y.SetMantExp(y, 1)
	em1 := tanhTExpm1(y)
	den := new(big.Float).SetPrec(tanhTPrec).Add(em1, big.NewFloat(2))
	t := new(big.Float).SetPrec(tanhTPrec).Quo(em1, den)
	if math.Signbit(x) {
		t.Neg(t)
	}
	return t
}

// tanhTULPErr returns |got − T| in ulps of the float64 spacing at T (on the
// side of the nearest float64 where T lies).
func tanhTULPErr(got float64, T *big.Float) float64 {
	t, _ := T.Float64()
	a := math.Abs(t)
	absT := new(big.Float).Abs(T)
	var ulp float64
	if absT.Cmp(new(big.Float).SetFloat64(a)) < 0 {
		ulp = a - math.Nextafter(a, 0)
	} else {
		ulp = math.Nextafter(a, math.Inf(1)) - a
	}
	d := new(big.Float).SetPrec(tanhTPrec).SetFloat64(got)
	d.Sub(d, T)
	d.Abs(d)
	e, _ := d.Float64()
	return e / ulp
}

func tanhTRand() *rand.Rand { return rand.New(rand.NewPCG(0x7a6e68, 0x5eed)) }

// tanhTGrid returns n evenly spaced points in [lo, hi].
func tanhTGrid(n int, lo, hi float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return xs
}

// tanhTMagnitudes returns n points ±10^u, u uniform in [−310, 3].
func tanhTMagnitudes(r *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		x := math.Pow(10, -310+313*r.Float64())
		if r.IntN(2) == 0 {
			x = -x
		}
		xs[i] = x
	}
	return xs
}

// tanhTBoundaries returns inputs at and around the places where the kernel
// changes behaviour: the 0.625 branch point, the exp reduction boundaries
// 2|x|·log2e = k+½, the saturation to ±1 near 19.06, and the exp clamp at 22.
func tanhTBoundaries() []float64 {
	var xs []float64
	around := func(c float64, k int) {
		lo, hi := c, c
		xs = append(xs, c, -c)
		for range k {
			lo = math.Nextafter(lo, math.Inf(-1))
			hi = math.Nextafter(hi, math.Inf(1))
			xs = append(xs, lo, hi, -lo, -hi)
		}
	}
	around(0.625, 40)
	for k := 0; k <= 64; k++ {
		around((float64(k)+0.5)*math.Ln2/2, 3)
	}
	for _, c := range []float64{19, 19.06, 19.0615, 19.1, 22, 0x1p-26, 0x1p-27, 0x1p-28, 1e-8} {
		around(c, 3)
	}
	return xs
}

// tanhTSpecial returns the special inputs and the exact expected outputs.
func tanhTSpecial() (in, want []float64) {
	negZero := math.Copysign(0, -1)
	add := func(x, w float64) { in = append(in, x); want = append(want, w) }
	add(math.NaN(), math.NaN())
	add(math.Inf(1), 1)
	add(math.Inf(-1), -1)
	add(0, 0)
	add(negZero, negZero)
	add(math.MaxFloat64, 1)
	add(-math.MaxFloat64, -1)
	add(1e300, 1)
	add(-1e300, -1)
	add(50, 1)
	add(-50, -1)
	for _, s := range []float64{math.SmallestNonzeroFloat64, 2 * math.SmallestNonzeroFloat64, 1e-310, 0x1p-1022 - 0x1p-1074, 0x1p-1022, 1e-300, 1e-20} {
		add(s, s)
		add(-s, -s)
	}
	return in, want
}

// tanhTWithPath runs f once per available implementation path.
func tanhTWithPath(t *testing.T, f func(t *testing.T)) {
	saved := haveTanhAVX2
	t.Cleanup(func() { haveTanhAVX2 = saved })
	if saved {
		t.Run("avx2", func(t *testing.T) { haveTanhAVX2 = true; f(t) })
	} else {
		t.Log("AVX2+FMA kernel not available on this CPU/build; testing fallback only")
	}
	t.Run("fallback", func(t *testing.T) { haveTanhAVX2 = false; f(t) })
	haveTanhAVX2 = saved
}

func TestTanhVecSpecial(t *testing.T) {
	tanhTWithPath(t, func(t *testing.T) {
		in, want := tanhTSpecial()
		got := make([]float64, len(in))
		tanhVec(got, in)
		for i := range in {
			if tanhTDist(got[i], want[i]) != 0 {
				t.Errorf("tanh(%v) = %v (%#x), want %v (%#x)", in[i], got[i],
					math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
			}
		}
		// Each special value alone (tail path) and in a full block.
		for i, x := range in {
			for _, n := range []int{1, 4, 5} {
				src := make([]float64, n)
				for j := range src {
					src[j] = x
				}
				dst := make([]float64, n)
				tanhVec(dst, src)
				for j := range dst {
					if tanhTDist(dst[j], want[i]) != 0 {
						t.Errorf("n=%d lane %d: tanh(%v) = %v, want %v", n, j, x, dst[j], want[i])
					}
				}
			}
		}
	})
}

func TestTanhVecVsMath(t *testing.T) {
	r := tanhTRand()
	sets := map[string][]float64{
		"grid[-25,25]": tanhTGrid(1_000_001, -25, 25),
		"magnitudes":   tanhTMagnitudes(r, 1_000_000),
		"boundaries":   tanhTBoundaries(),
	}
	bits := make([]float64, 200_000)
	for i := range bits {
		bits[i] = math.Float64frombits(r.Uint64())
	}
	sets["randombits"] = bits
	sets["special"], _ = tanhTSpecial()

	tanhTWithPath(t, func(t *testing.T) {
		for name, xs := range sets {
			got := make([]float64, len(xs))
			tanhVec(got, xs)
			var maxD uint64
			worst := 0.0
			for i, x := range xs {
				d := tanhTDist(got[i], math.Tanh(x))
				if d > maxD {
					maxD, worst = d, x
				}
			}
			t.Logf("%-13s n=%7d  max |tanhVec − math.Tanh| = %d ulp (at x=%v)", name, len(xs), maxD, worst)
			if maxD > tanhTMaxULPMath {
				t.Errorf("%s: tanhVec(%v) = %v, math.Tanh = %v: %d ulp apart, want ≤ %d",
					name, worst, tanhTOne(worst), math.Tanh(worst), maxD, tanhTMaxULPMath)
			}
			// Position independence over the whole set: element-by-element
			// (each through the tail path) must match the bulk call.
			var one [1]float64
			for i, x := range xs {
				tanhVec(one[:], xs[i:i+1])
				if math.Float64bits(one[0]) != math.Float64bits(got[i]) {
					t.Fatalf("%s: tanh(%v) is %#x alone but %#x at index %d", name, x,
						math.Float64bits(one[0]), math.Float64bits(got[i]), i)
				}
			}
		}
	})
}

func tanhTOne(x float64) float64 {
	var d [1]float64
	tanhVec(d[:], []float64{x})
	return d[0]
}

func TestTanhVecVsBig(t *testing.T) {
	r := tanhTRand()
	var xs []float64
	xs = append(xs, tanhTGrid(1001, -25, 25)...)
	xs = append(xs, tanhTMagnitudes(r, 600)...)
	xs = append(xs, tanhTBoundaries()...)
	for range 1500 {
		xs = append(xs, 0.55+2.5*r.Float64())
	}
	for range 4000 { // just above the branch point: the largest errors
		xs = append(xs, 0.625+0.125*r.Float64())
	}
	for range 1000 { // top of the small branch
		xs = append(xs, 0.4+0.225*r.Float64())
	}
	ref := make([]*big.Float, len(xs))
	for i, x := range xs {
		ref[i] = tanhTBig(x)
	}
	// Sanity-check the reference itself: math.Tanh is within 2 ulp.
	for i, x := range xs {
		if e := tanhTULPErr(math.Tanh(x), ref[i]); e > 2 {
			t.Fatalf("reference disagrees with math.Tanh at %v by %.3g ulp", x, e)
		}
	}
	tanhTWithPath(t, func(t *testing.T) {
		got := make([]float64, len(xs))
		tanhVec(got, xs)
		maxE, worst := 0.0, 0.0
		for i, x := range xs {
			if e := tanhTULPErr(got[i], ref[i]); e > maxE || math.IsNaN(e) {
				maxE, worst = e, x
			}
		}
		t.Logf("n=%d  max error vs 200-bit reference = %.4f ulp (at x=%v)", len(xs), maxE, worst)
		if !(maxE <= tanhTMaxULPTrue) {
			t.Errorf("max error %.4f ulp at x=%v (got %v), want ≤ %v", maxE, worst, tanhTOne(worst), tanhTMaxULPTrue)
		}
	})
}

// TestTanhVecPositions places the same inputs at every offset 0..7 of slices
// of length 0..13 and requires bitwise identical outputs, no writes outside
// dst, src left untouched, and dst == src aliasing to give the same result.
func TestTanhVecPositions(t *testing.T) {
	r := tanhTRand()
	pool, _ := tanhTSpecial()
	pool = append(pool, tanhTBoundaries()[:20]...)
	pool = append(pool, tanhTMagnitudes(r, 40)...)
	for range 40 {
		pool = append(pool, 8*r.NormFloat64())
	}
	tanhTWithPath(t, func(t *testing.T) {
		// Reference: each value computed alone.
		want := make([]float64, len(pool))
		for i, x := range pool {
			want[i] = tanhTOne(x)
		}
		const canary = -123.456
		for n := 0; n <= 13; n++ {
			for off := 0; off <= 7; off++ {
				for rot := 0; rot < len(pool); rot += 7 {
					idx := func(i int) int { return (i + rot) % len(pool) }
					srcBuf := make([]float64, off+n+8)
					dstBuf := make([]float64, off+n+8)
					for i := range srcBuf {
						srcBuf[i], dstBuf[i] = canary, canary
					}
					for i := range n {
						srcBuf[off+i] = pool[idx(i)]
					}
					src := srcBuf[off : off+n]
					dst := dstBuf[off : off+n]
					tanhVec(dst, src)
					for i := range dstBuf {
						if i >= off && i < off+n {
							j := idx(i - off)
							if math.Float64bits(dstBuf[i]) != math.Float64bits(want[j]) {
								t.Fatalf("n=%d off=%d: tanh(%v) = %#x at position %d, %#x alone",
									n, off, pool[j], math.Float64bits(dstBuf[i]), i-off, math.Float64bits(want[j]))
							}
							if math.Float64bits(srcBuf[i]) != math.Float64bits(pool[j]) {
								t.Fatalf("n=%d off=%d: src modified", n, off)
							}
						} else if dstBuf[i] != canary || srcBuf[i] != canary {
							t.Fatalf("n=%d off=%d: write outside the slice at buffer index %d", n, off, i)
						}
					}
					// In place: dst == src.
					tanhVec(src, src)
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
	})
}

func TestTanhVecShortDst(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("tanhVec with len(dst) < len(src) did not panic")
		}
	}()
	tanhVec(make([]float64, 3), make([]float64, 4))
}

const tanhBenchN = 1152 * 20

func tanhBenchData() []float64 {
	r := tanhTRand()
	xs := make([]float64, tanhBenchN)
	for i := range xs {
		xs[i] = 1.5 * r.NormFloat64()
	}
	return xs
}

func tanhBenchReport(b *testing.B, iters int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(iters*tanhBenchN), "ns/entry")
}

func BenchmarkTanhVec(b *testing.B) {
	src := tanhBenchData()
	dst := make([]float64, len(src))
	b.SetBytes(8 * tanhBenchN)
	iters := 0
	for b.Loop() {
		tanhVec(dst, src)
		iters++
	}
	tanhBenchReport(b, iters)
}

func BenchmarkTanhMath(b *testing.B) {
	src := tanhBenchData()
	dst := make([]float64, len(src))
	b.SetBytes(8 * tanhBenchN)
	iters := 0
	for b.Loop() {
		for i, v := range src {
			dst[i] = math.Tanh(v)
		}
		iters++
	}
	tanhBenchReport(b, iters)
}

// TestTanhOp checks the Tanh operation, split between two goroutines
// above 8192 entries, against tanhVec one value at a time, bit for bit
// (tanhVec's accuracy is what the tests above check).
func TestTanhOp(t *testing.T) {
	r := tanhTRand()
	x := make([]float64, 1<<13+1001)
	for i := range x {
		x[i] = 3 * r.NormFloat64()
	}
	y := Tanh(New(x, len(x))).Data()
	for i, v := range x {
		if got, want := y[i], tanhTOne(v); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("Tanh(%v) = %v, tanhVec gives %v", v, got, want)
		}
	}
}
