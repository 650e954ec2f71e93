package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Resampler draws len(dst) ancestor indices into dst from the categorical
// distribution with probabilities W_i = exp(logw_i) / Σ_j exp(logw_j): the
// log weights need not be normalized (they are max-shifted before
// exponentiating). Every draw is unbiased, E[#{k : dst[k] = i}] =
// len(dst)·W_i, which is what keeps SMC's estimate of Z unbiased.
//
// Multinomial, Stratified, Systematic and Residual are Resamplers. They
// share these guarantees:
//
//   - an index is in [0, len(logw)) and has positive weight, whatever the
//     rounding of the cumulative sums (a draw that lands past the last sum,
//     which rounding can cause, goes to the last index of positive weight);
//   - dst is written in nondecreasing order;
//   - if every weight is zero (all log weights −Inf), the weights are taken
//     as equal;
//   - nothing is allocated (except in that all-zero case).
//
// They panic if len(dst) > 0 and logw is empty, or if a log weight is NaN
// or +Inf. A Resampler must not modify logw (RunSMC hands it the values
// of its log weights, a tensor's backing array on the differentiable
// path).
type Resampler func(rng *rand.Rand, logw []float64, dst []int)

var (
	_ Resampler = Multinomial
	_ Resampler = Stratified
	_ Resampler = Systematic
	_ Resampler = Residual
)

// Multinomial draws the M = len(dst) ancestors independently,
//
//	dst[k] ~ Categorical(W),   k = 0, …, M−1,
//
// and returns them sorted. The M uniforms are generated directly in
// increasing order (the order statistics, Bentley & Saxe 1980, "Generating
// sorted lists of random numbers"),
//
//	1 − U₍ₖ₎ = Π_{j≤k} V_j^{1/(M−j)},   V_j ~ U(0, 1],
//
// and merged with the cumulative weights, so the cost is O(N + M) with no
// buffer. The counts of the indices are Multinomial(M, W).
func Multinomial(rng *rand.Rand, logw []float64, dst []int) {
	m := len(dst)
	r := 1.0 // 1 − U₍ₖ₎: the mass above the last point
	resampleSorted("Multinomial", logw, dst, func(k int) float64 {
		r *= math.Exp(math.Log(1-rng.Float64()) / float64(m-k))
		return 1 - r
	})
}

// Stratified draws one uniform in each of M = len(dst) equal strata and
// inverts the cumulative weights there (Kitagawa 1996):
//
//	dst[k] = F⁻¹((k + u_k)/M),   u_k ~ U[0, 1) independent,
//
// with F the cumulative distribution of W. Its offspring counts differ
// from M·W_i by less than 2, and it consumes M uniforms.
func Stratified(rng *rand.Rand, logw []float64, dst []int) {
	m := float64(len(dst))
	resampleSorted("Stratified", logw, dst, func(k int) float64 {
		return (float64(k) + rng.Float64()) / m
	})
}

// Systematic is Stratified with a single uniform shared by every stratum
// (Carpenter, Clifford & Fearnhead 1999):
//
//	dst[k] = F⁻¹((k + u)/M),   u ~ U[0, 1).
//
// Each index i gets ⌊M·W_i⌋ or ⌈M·W_i⌉ offspring. The offspring of
// different indices are strongly dependent, and the result depends on the
// order of the particles.
func Systematic(rng *rand.Rand, logw []float64, dst []int) {
	m := float64(len(dst))
	u := rng.Float64()
	resampleSorted("Systematic", logw, dst, func(k int) float64 {
		return (float64(k) + u) / m
	})
}

// Residual gives each index its ⌊M·W_i⌋ offspring deterministically and
// draws the remaining R = M − Σ_i ⌊M·W_i⌋ multinomially from the residual
// weights (Liu & Chen 1998),
//
//	r_i = M·W_i − ⌊M·W_i⌋,   R draws ~ Categorical(r / Σ r),
//
// merged so that dst is sorted. It consumes R uniforms (none when every
// M·W_i is an integer).
func Residual(rng *rand.Rand, logw []float64, dst []int) {
	m := len(dst)
	if m == 0 {
		return
	}
	shift, total, last, zeros := resampleScan("Residual", logw)
	if zeros != nil {
		Residual(rng, zeros, dst)
		return
	}
	// First pass: R and the residual total.
	scale := float64(m) / total
	deterministic, rsum, lastRes := 0, 0.0, -1
	for i, l := range logw {
		x := scale * math.Exp(l-shift)
		f := math.Floor(x)
		deterministic += int(f)
		if x > f {
			rsum += x - f
			lastRes = i
		}
	}
	// Σ⌊x_i⌋ ≤ Σ x_i, which rounding keeps below M + 1, so R ≥ 0; and R > 0
	// implies Σ r_i ≈ R ≥ 1. The guards are for the impossible.
	R := max(m-deterministic, 0)
	// Second pass: the ⌊x_i⌋ copies of i, then the residual draws landing on
	// i (sorted uniforms against the running residual sum, clamped to the last
	// positive residual), so dst comes out sorted.
	k, j := 0, 0
	rem := 1.0
	next := func() float64 {
		rem *= math.Exp(math.Log(1-rng.Float64()) / float64(R-j))
		return (1 - rem) * rsum
	}
	var p float64
	if R > 0 {
		p = next()
	}
	cum := 0.0
	for i, l := range logw {
		x := scale * math.Exp(l-shift)
		f := math.Floor(x)
		for c := 0; c < int(f) && k < m; c++ {
			dst[k] = i
			k++
		}
		cum += x - f
		for j < R && (p < cum || i == lastRes) && x > f {
			dst[k] = i
			k++
			j++
			if j < R {
				p = next()
			}
		}
	}
	for ; k < m; k++ { // unreachable unless rounding broke the count
		dst[k] = last
	}
}

// resampleScan checks logw and returns its maximum, Σ_i exp(logw_i − max),
// and the last index of positive weight exp(logw_i − max) > 0. If every
// weight is zero it returns zeros, a slice of len(logw) zeros, for the
// caller to resample equal weights instead. It panics as Resampler
// documents.
func resampleScan(name string, logw []float64) (shift, total float64, last int, zeros []float64) {
	if len(logw) == 0 {
		panic(fmt.Sprintf("estimators: %s: no log weights to resample", name))
	}
	shift = math.Inf(-1)
	for i, l := range logw {
		if math.IsNaN(l) || math.IsInf(l, 1) {
			panic(fmt.Sprintf("estimators: %s: log weight %d is %v", name, i, l))
		}
		shift = max(shift, l)
	}
	if math.IsInf(shift, -1) {
		return 0, 0, -1, make([]float64, len(logw))
	}
	// A weight is zero if exp(l − shift) underflows, not only at l = −Inf.
	for i, l := range logw {
		if w := math.Exp(l - shift); w > 0 {
			total += w
			last = i
		}
	}
	return shift, total, last, nil
}

// resampleSorted sets dst[k] to the index i whose interval of the
// cumulative weights holds point(k)·total,
//
//	c_{i−1} ≤ point(k)·total < c_i,   c_i = Σ_{j≤i} exp(logw_j − max),
//
// for points in [0, 1) given in nondecreasing order, merging points and
// cumulative sums in one pass. A point at or past c_last (only rounding
// puts one there) goes to last, the last index of positive weight; a
// zero-weight index has an empty interval and is never chosen.
func resampleSorted(name string, logw []float64, dst []int, point func(k int) float64) {
	if len(dst) == 0 {
		return
	}
	shift, total, last, zeros := resampleScan(name, logw)
	if zeros != nil {
		logw = zeros
		shift, total, last = 0, float64(len(zeros)), len(zeros)-1
	}
	i := 0
	c := math.Exp(logw[0] - shift)
	for k := range dst {
		p := point(k) * total
		for p >= c && i < last {
			i++
			c += math.Exp(logw[i] - shift)
		}
		dst[k] = i
	}
}
