package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Tolerances of the resampling and SMC tests.
const (
	// rsExactTol is the tolerance of expectations computed exactly, by
	// enumerating every outcome: sums of at most a few hundred thousand
	// products of probabilities, whose rounding stays far below it.
	rsExactTol = 1e-12
	// rsSigmas is the width, in standard errors, of every Monte Carlo
	// check (the design's 5σ) at a fixed seed.
	rsSigmas = 5
)

// rsMethods are the resampling schemes under test, by name.
var rsMethods = []struct {
	name string
	fn   Resampler
}{
	{"multinomial", Multinomial},
	{"stratified", Stratified},
	{"systematic", Systematic},
	{"residual", Residual},
}

// rsOutcome is one ancestor vector and its probability.
type rsOutcome struct {
	a []int
	p float64
}

// rsExact returns the exact distribution of the ancestor vector (of
// length m) that the named scheme draws from logw, every outcome of
// positive probability once.
//
// Systematic and stratified resampling are deterministic functions of
// their uniforms, piecewise constant between breakpoints u = m·F_j − k
// (F the cumulative weights); the distribution is read off the
// implementation itself (resampleSorted) at the midpoint of every piece,
// with the piece's width as its probability. Multinomial and residual
// resampling give sorted vectors whose counts are multinomial, so their
// distribution is the multinomial mass function (for residual, of the R
// residual draws on top of the ⌊m·W_i⌋ copies) — an analytic reference the
// frequency tests hold the implementations to.
func rsExact(method string, logw []float64, m int) []rsOutcome {
	w := rsNormalized(logw)
	n := len(w)
	cum := make([]float64, n)
	c := 0.0
	for i, v := range w {
		c += v
		cum[i] = c
	}
	switch method {
	case "systematic":
		var out []rsOutcome
		for _, piece := range rsPieces(cum, m, -1) {
			dst := make([]int, m)
			resampleSorted("test", logw, dst, func(k int) float64 { return (float64(k) + piece.mid) / float64(m) })
			out = rsAdd(out, dst, piece.width)
		}
		return out
	case "stratified":
		// Strata are independent; stratum k's index depends on u_k only.
		per := make([][]rsOutcome, m)
		for k := range m {
			for _, piece := range rsPieces(cum, m, k) {
				dst := make([]int, m)
				resampleSorted("test", logw, dst, func(j int) float64 {
					if j == k {
						return (float64(j) + piece.mid) / float64(m)
					}
					return (float64(j) + 0.5) / float64(m)
				})
				per[k] = rsAdd(per[k], []int{dst[k]}, piece.width)
			}
		}
		out := []rsOutcome{{a: nil, p: 1}}
		for k := range m {
			var next []rsOutcome
			for _, o := range out {
				for _, s := range per[k] {
					next = append(next, rsOutcome{a: append(slices.Clone(o.a), s.a[0]), p: o.p * s.p})
				}
			}
			out = next
		}
		return out
	case "multinomial":
		return rsMultinomial(w, make([]int, n), m)
	case "residual":
		// x_i = M·W_i computed as Residual computes it, so that the integer
		// parts agree to the bit where M·W_i is an integer.
		shift := math.Inf(-1)
		for _, l := range logw {
			shift = max(shift, l)
		}
		ew := make([]float64, n)
		tot := 0.0
		for i, l := range logw {
			ew[i] = 1
			if !math.IsInf(shift, -1) {
				ew[i] = math.Exp(l - shift)
			}
			tot += ew[i]
		}
		base := make([]int, n)
		res := make([]float64, n)
		R := m
		for i, v := range ew {
			x := float64(m) / tot * v
			base[i] = int(math.Floor(x))
			res[i] = x - math.Floor(x)
			R -= base[i]
		}
		if R == 0 {
			return []rsOutcome{{a: rsExpand(base), p: 1}}
		}
		s := 0.0
		for _, v := range res {
			s += v
		}
		for i := range res {
			res[i] /= s
		}
		return rsMultinomial(res, base, R)
	}
	panic("unknown method " + method)
}

// rsNormalized returns exp(logw) normalized; all −Inf gives equal weights.
func rsNormalized(logw []float64) []float64 {
	m := math.Inf(-1)
	for _, l := range logw {
		m = max(m, l)
	}
	w := make([]float64, len(logw))
	s := 0.0
	for i, l := range logw {
		if math.IsInf(m, -1) {
			w[i] = 1
		} else {
			w[i] = math.Exp(l - m)
		}
		s += w[i]
	}
	for i := range w {
		w[i] /= s
	}
	return w
}

type rsPiece struct{ mid, width float64 }

// rsPieces cuts [0, 1) at the breakpoints u = m·cum_j − k (for every k, or
// only for stratum k if k ≥ 0) and returns the pieces of positive width.
func rsPieces(cum []float64, m, k int) []rsPiece {
	cuts := []float64{0, 1}
	for j := range cum {
		for kk := range m {
			if k >= 0 && kk != k {
				continue
			}
			if u := float64(m)*cum[j] - float64(kk); u > 0 && u < 1 {
				cuts = append(cuts, u)
			}
		}
	}
	slices.Sort(cuts)
	var out []rsPiece
	for i := 1; i < len(cuts); i++ {
		if w := cuts[i] - cuts[i-1]; w > 1e-12 {
			out = append(out, rsPiece{mid: (cuts[i] + cuts[i-1]) / 2, width: w})
		}
	}
	return out
}

// rsMultinomial returns the sorted vectors of base[i] + c_i copies of i,
// c ~ Multinomial(r, w), with their probabilities.
func rsMultinomial(w []float64, base []int, r int) []rsOutcome {
	var out []rsOutcome
	counts := make([]int, len(w))
	var rec func(i, left int, p float64)
	rec = func(i, left int, p float64) {
		if i == len(w)-1 {
			counts[i] = left
			q := p * math.Pow(w[i], float64(left)) / rsFactorial(left)
			if q > 0 {
				tot := make([]int, len(w))
				for j := range tot {
					tot[j] = base[j] + counts[j]
				}
				out = append(out, rsOutcome{a: rsExpand(tot), p: q * rsFactorial(r)})
			}
			return
		}
		for c := 0; c <= left; c++ {
			counts[i] = c
			rec(i+1, left-c, p*math.Pow(w[i], float64(c))/rsFactorial(c))
		}
	}
	rec(0, r, 1)
	return out
}

func rsFactorial(k int) float64 {
	f := 1.0
	for i := 2; i <= k; i++ {
		f *= float64(i)
	}
	return f
}

func rsExpand(counts []int) []int {
	var a []int
	for i, c := range counts {
		for range c {
			a = append(a, i)
		}
	}
	return a
}

func rsAdd(out []rsOutcome, a []int, p float64) []rsOutcome {
	for i := range out {
		if slices.Equal(out[i].a, a) {
			out[i].p += p
			return out
		}
	}
	return append(out, rsOutcome{a: slices.Clone(a), p: p})
}

// rsCases are weight vectors for the exact tests: uneven, with zero
// weights first, inside and last, huge offsets, and all zero.
var rsCases = []struct {
	name string
	logw []float64
}{
	{"one", []float64{0.3}},
	{"two", []float64{0, math.Log(3)}},
	{"uneven", []float64{math.Log(0.5), math.Log(0.3), math.Log(0.15), math.Log(0.05)}},
	{"zeros", []float64{math.Inf(-1), math.Log(2), math.Inf(-1), 0, math.Inf(-1)}},
	{"offset", []float64{-1000.2, -1001, -999.9}},
	{"equal", []float64{7, 7, 7}},
	{"thirds", []float64{math.Log(2), 0, 0, math.Log(2)}},
	{"all-zero", []float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}},
}

// TestResampleExact checks, for every scheme and weight vector, that the
// exact distribution of the ancestors sums to 1, never picks a zero weight,
// and gives each index len(dst)·W_i offspring in expectation, which is
// what makes SMC unbiased — and the schemes' own count guarantees.
func TestResampleExact(t *testing.T) {
	for _, c := range rsCases {
		w := rsNormalized(c.logw)
		for _, m := range []int{1, 2, len(c.logw), len(c.logw) + 2} {
			for _, meth := range rsMethods {
				name := fmt.Sprintf("%s/%s/M=%d", meth.name, c.name, m)
				out := rsExact(meth.name, c.logw, m)
				total := 0.0
				mean := make([]float64, len(w))
				for _, o := range out {
					total += o.p
					if len(o.a) != m || !slices.IsSorted(o.a) {
						t.Fatalf("%s: outcome %v is not a sorted vector of length %d", name, o.a, m)
					}
					counts := make([]int, len(w))
					for _, i := range o.a {
						if w[i] == 0 {
							t.Errorf("%s: outcome %v picks index %d of zero weight", name, o.a, i)
						}
						counts[i]++
						mean[i] += o.p
					}
					for i, k := range counts {
						x := float64(m) * w[i]
						switch meth.name {
						case "systematic", "residual":
							if float64(k) < math.Floor(x)-1e-9 || (meth.name == "systematic" && float64(k) > math.Ceil(x)+1e-9) {
								t.Errorf("%s: outcome %v gives index %d %d offspring, expected ⌊%g⌋ or ⌈%g⌉", name, o.a, i, k, x, x)
							}
						case "stratified":
							if math.Abs(float64(k)-x) >= 2 {
								t.Errorf("%s: outcome %v gives index %d %d offspring, %g expected", name, o.a, i, k, x)
							}
						}
					}
				}
				if math.Abs(total-1) > rsExactTol {
					t.Errorf("%s: probabilities sum to %.17g", name, total)
				}
				for i := range w {
					if math.Abs(mean[i]-float64(m)*w[i]) > rsExactTol {
						t.Errorf("%s: E[offspring of %d] = %.15g, want M·W = %.15g", name, i, mean[i], float64(m)*w[i])
					}
				}
			}
		}
	}
}

// TestResampleFrequencies draws from the public functions and compares
// the frequency of every ancestor vector with its exact probability
// (within rsSigmas binomial standard errors), so the random number
// plumbing (uniforms, order statistics, residual draws) is checked against
// the exact distributions.
func TestResampleFrequencies(t *testing.T) {
	const draws = 50_000
	rng := rand.New(rand.NewPCG(11, 12))
	key := func(a []int) uint64 { // indices < 16, at most 16 of them
		k := uint64(0)
		for _, i := range a {
			k = k<<4 | uint64(i)
		}
		return k
	}
	for _, c := range rsCases[1:] {
		for _, m := range []int{2, len(c.logw) + 1} {
			for _, meth := range rsMethods {
				name := fmt.Sprintf("%s/%s/M=%d", meth.name, c.name, m)
				out := rsExact(meth.name, c.logw, m)
				index := make(map[uint64]int, len(out))
				for j, o := range out {
					index[key(o.a)] = j
				}
				seen := make([]int, len(out))
				dst := make([]int, m)
				for range draws {
					meth.fn(rng, c.logw, dst)
					j, ok := index[key(dst)]
					if !ok {
						t.Fatalf("%s: drew %v, which has probability 0", name, dst)
					}
					seen[j]++
				}
				for j, o := range out {
					f := float64(seen[j]) / draws
					se := math.Sqrt(o.p * (1 - o.p) / draws)
					if math.Abs(f-o.p) > rsSigmas*se+1e-12 {
						t.Errorf("%s: outcome %v has frequency %.5f, probability %.5f (se %.2g)", name, o.a, f, o.p, se)
					}
				}
			}
		}
	}
}

// rsConstSource is a rand.Source that always returns the same value:
// with ^uint64(0), Float64 returns 1 − 2⁻⁵³, the largest value it can.
type rsConstSource uint64

func (s rsConstSource) Uint64() uint64 { return uint64(s) }

// TestResampleRounding feeds weights whose cumulative sum rounds below the
// total (ten weights of 0.1 sum to 0.9999999999999999) and zero weights at
// both ends, with uniforms at their extremes, and checks that no index is
// out of range or of zero weight.
func TestResampleRounding(t *testing.T) {
	tenth := math.Log(0.1)
	ten := slices.Repeat([]float64{tenth}, 10)
	s := 0.0
	for range 10 {
		s += 0.1
	}
	if s >= 1 {
		t.Fatalf("0.1 summed ten times is %v; the test wants a sum below 1", s)
	}
	ninf := math.Inf(-1)
	cases := map[string][]float64{
		"tenths":          ten,
		"tenths+zeros":    append(slices.Clone(ten), ninf, ninf, ninf),
		"zeros+tenths":    append([]float64{ninf, ninf}, ten...),
		"one-of-many":     {ninf, ninf, 0, ninf, ninf},
		"tiny-last":       {0, 0, -745},   // exp(−745) is the smallest subnormal
		"underflow-last":  {0, 0, -800},   // its weight underflows to exactly 0
		"huge-and-normal": {700, 0, -700}, // max-shift keeps them finite
	}
	sources := map[string]func() rand.Source{
		"max":    func() rand.Source { return rsConstSource(^uint64(0)) },
		"zero":   func() rand.Source { return rsConstSource(0) },
		"random": func() rand.Source { return rand.NewPCG(3, 3) },
	}
	if u := rand.New(rsConstSource(^uint64(0))).Float64(); u != 1-0x1p-53 {
		t.Fatalf("max source gives Float64 %v, want 1 − 2⁻⁵³", u)
	}
	for cname, logw := range cases {
		// Zero weight means exp(logw_i − max) = 0: a weight that underflows
		// only after normalizing (the "tiny-last" case) is positive.
		w := make([]float64, len(logw))
		top := slices.Max(logw)
		for i, l := range logw {
			w[i] = math.Exp(l - top)
		}
		for sname, src := range sources {
			rng := rand.New(src())
			for _, meth := range rsMethods {
				for _, m := range []int{1, len(logw), 3 * len(logw)} {
					dst := make([]int, m)
					for range 20 {
						meth.fn(rng, logw, dst)
						for _, i := range dst {
							if i < 0 || i >= len(logw) || w[i] == 0 {
								t.Fatalf("%s/%s/%s M=%d: index %d (weights %v)", meth.name, cname, sname, m, i, w)
							}
						}
						if !slices.IsSorted(dst) {
							t.Fatalf("%s/%s/%s: %v is not sorted", meth.name, cname, sname, dst)
						}
					}
				}
			}
		}
		// Points at and beyond the top of [0, 1), which no scheme makes but
		// rounding could: they go to the last index of positive weight.
		last := len(w) - 1
		for w[last] == 0 {
			last--
		}
		for _, p := range []float64{1, 1 + 1e-9} {
			dst := make([]int, 3)
			resampleSorted("test", logw, dst, func(int) float64 { return p })
			for _, i := range dst {
				if i != last {
					t.Errorf("%s: point %v went to %d, want the last positive index %d", cname, p, i, last)
				}
			}
		}
	}
}

func TestResampleEqualWeights(t *testing.T) {
	// With equal weights and M = N, systematic, stratified and residual
	// resampling keep every particle exactly once.
	rng := rand.New(rand.NewPCG(1, 9))
	for _, logw := range [][]float64{{2, 2, 2, 2}, {math.Inf(-1), math.Inf(-1), math.Inf(-1), math.Inf(-1)}} {
		for _, meth := range rsMethods[1:] {
			dst := make([]int, 4)
			meth.fn(rng, logw, dst)
			if !slices.Equal(dst, []int{0, 1, 2, 3}) {
				t.Errorf("%s %v: %v, want the identity", meth.name, logw, dst)
			}
		}
	}
}

func TestResampleAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	logw := make([]float64, 1000)
	for i := range logw {
		logw[i] = rng.NormFloat64()
	}
	dst := make([]int, 1000)
	for _, meth := range rsMethods {
		if a := testing.AllocsPerRun(20, func() { meth.fn(rng, logw, dst) }); a != 0 {
			t.Errorf("%s allocates %v times per call, want 0", meth.name, a)
		}
	}
}

func TestResamplePanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, meth := range rsMethods {
		for name, logw := range map[string][]float64{
			"NaN":   {0, math.NaN()},
			"+Inf":  {math.Inf(1), 0},
			"empty": {},
		} {
			func() {
				defer func() {
					r := recover()
					s, ok := r.(string)
					if !ok || !strings.HasPrefix(s, "estimators: ") {
						t.Errorf("%s %s: recovered %v, want a panic starting with \"estimators: \"", meth.name, name, r)
					}
				}()
				meth.fn(rng, logw, make([]int, 2))
			}()
		}
		// No draws asked for: nothing to check, nothing done.
		meth.fn(rng, nil, nil)
	}
}
