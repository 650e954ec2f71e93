package avvi

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// Draws returns s independent draws of an integrand stacked along a new
// first axis: [s, ...] for integrands of shape [...]. The draws use rng in
// order, so a seed gives the same tensor every time. It panics if s < 1.
//
// For example, s draws of the Eq. 4 integrand for a batch x:
//
//	w := avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor {
//		return avvi.Integrand(rng, p, q, r, x)
//	})
func Draws(rng *rand.Rand, s int, integrand func(rng *rand.Rand) *ad.Tensor) *ad.Tensor {
	if s < 1 {
		panic(fmt.Sprintf("avvi: Draws: s = %d, want s ≥ 1", s))
	}
	ws := make([]*ad.Tensor, s)
	for i := range ws {
		ws[i] = integrand(rng)
	}
	return ad.Stack(0, ws...)
}

// Bound returns the mean of the integrands w over their first (draw) axis,
//
//	(1/S) Σ_s w_s,
//
// the Monte Carlo estimate of the bound for each data point: [S, ...] gives
// [...]. It is differentiable. It panics if w has rank 0.
func Bound(w *ad.Tensor) *ad.Tensor {
	checkDraws("Bound", w)
	return ad.Mean(w, 0)
}

// MultiSample returns the integrands of the k-sample bound built from w,
// the log-mean-exp of consecutive groups of k draws along the first axis,
//
//	w'_t = log (1/k) Σ_{s=(t−1)k+1}^{tk} exp w_s,   t = 1, …, S/k,
//
// [S, ...] giving [S/k, ...]. When the draws are independent, exp w' is
// again an unbiased estimate of p(x), and E w' increases with k toward
// log p(x) (Burda et al. 2016, Thm. 1): the k-sample bound is an
// integrand like any other. With k = S, Bound(MultiSample(w, S)) is the
// S-sample bound. It is differentiable. It panics if k < 1 or k does not
// divide S.
func MultiSample(w *ad.Tensor, k int) *ad.Tensor {
	checkDraws("MultiSample", w)
	s := w.Dim(0)
	if k < 1 || s%k != 0 {
		panic(fmt.Sprintf("avvi: MultiSample: k = %d does not divide the %d draws of shape %v", k, s, w.Shape()))
	}
	shape := append([]int{s / k, k}, w.Shape()[1:]...)
	return ad.LogMeanExp(ad.Reshape(w, shape...), 1)
}

// Estimate is a Monte Carlo mean with its standard error, for each data
// point: the value of a bound estimated from S draws of its integrand.
type Estimate struct {
	// Mean is (1/S) Σ_s w_s.
	Mean []float64
	// StdErr is the sample standard deviation of w (with S − 1 in the
	// denominator) over √S; +Inf when S = 1.
	StdErr []float64
	// S is the number of draws.
	S int
}

// Summarize returns the mean and standard error of the integrands w over
// their first axis, entry by entry of the remaining axes (flattened,
// row-major). It panics if w has rank 0.
func Summarize(w *ad.Tensor) Estimate {
	s, cols, wd := draws("Summarize", w)
	e := Estimate{Mean: make([]float64, cols), StdErr: make([]float64, cols), S: s}
	for c := range cols {
		mean := 0.0
		for i := range s {
			mean += wd[i*cols+c]
		}
		mean /= float64(s)
		ss := 0.0
		for i := range s {
			d := wd[i*cols+c] - mean
			ss += d * d
		}
		e.Mean[c] = mean
		e.StdErr[c] = stdErr(ss, s)
	}
	return e
}

// Evidence is a Monte Carlo estimate of p(x) for each data point, kept in
// log space: p̂ = (1/S) Σ_s exp w_s with its standard error.
type Evidence struct {
	// LogMean is log p̂ = log (1/S) Σ_s exp w_s: the S-sample bound's
	// value at these draws.
	LogMean []float64
	// LogStdErr is the log of the standard error of p̂ (the sample
	// standard deviation of exp w, with S − 1 in the denominator, over
	// √S); +Inf when S = 1. exp(LogStdErr − LogMean) is the relative
	// standard error, which for small values is the standard error of
	// log p̂.
	LogStdErr []float64
	// S is the number of draws.
	S int
}

// EstimateEvidence returns the estimate of p(x) from the integrands w, the
// mean of exp w over the first axis, computed in log space (shifted by the
// maximum, so that very negative w do not underflow), entry by entry of
// the remaining axes (flattened, row-major). Entries whose draws are all
// −Inf give LogMean = LogStdErr = −Inf. It panics if w has rank 0.
func EstimateEvidence(w *ad.Tensor) Evidence {
	s, cols, wd := draws("EstimateEvidence", w)
	e := Evidence{LogMean: make([]float64, cols), LogStdErr: make([]float64, cols), S: s}
	for c := range cols {
		m := math.Inf(-1)
		for i := range s {
			m = max(m, wd[i*cols+c])
		}
		if math.IsInf(m, -1) {
			e.LogMean[c], e.LogStdErr[c] = m, m
			continue
		}
		mean := 0.0
		for i := range s {
			mean += math.Exp(wd[i*cols+c] - m)
		}
		mean /= float64(s)
		ss := 0.0
		for i := range s {
			d := math.Exp(wd[i*cols+c]-m) - mean
			ss += d * d
		}
		e.LogMean[c] = m + math.Log(mean)
		e.LogStdErr[c] = m + math.Log(stdErr(ss, s))
	}
	return e
}

// stdErr returns sqrt(ss/(s − 1)/s), the standard error of a mean of s
// draws whose squared deviations sum to ss, and +Inf for s = 1.
func stdErr(ss float64, s int) float64 {
	if s < 2 {
		return math.Inf(1)
	}
	return math.Sqrt(ss / float64(s-1) / float64(s))
}

// draws returns the number of draws S, the number of entries per draw and
// the data of w, panicking if w has no draw axis.
func draws(who string, w *ad.Tensor) (s, cols int, data []float64) {
	checkDraws(who, w)
	s = w.Dim(0)
	return s, w.Len() / s, w.Data()
}

func checkDraws(who string, w *ad.Tensor) {
	if w == nil || w.Rank() == 0 || w.Dim(0) == 0 {
		panic(fmt.Sprintf("avvi: %s: integrands of shape %v, want [S, ...] with S ≥ 1", who, shapeOf(w)))
	}
}

// Summary is a batch mean of per-point values (bounds, integrands) with
// the standard error of that mean, what an experiment reports as
// "mean ± s.e.".
type Summary struct {
	// Mean is (1/N) Σ_i b_i over every entry.
	Mean float64
	// StdErr is the sample standard deviation of the entries (N − 1 in the
	// denominator) over √N: the standard error of Mean when the entries
	// are independent (per-point bounds with shared candidates are not;
	// then use independent batches). +Inf for N = 1.
	StdErr float64
	// N is the number of entries.
	N int
}

// String formats the summary as "mean ± s.e." with the standard error to
// two significant digits and the mean to the same decimal place.
func (s Summary) String() string {
	if math.IsNaN(s.StdErr) || math.IsInf(s.StdErr, 0) || s.StdErr == 0 {
		return fmt.Sprintf("%g ± %g", s.Mean, s.StdErr)
	}
	dec := max(0, 1-int(math.Floor(math.Log10(s.StdErr))))
	return fmt.Sprintf("%.*f ± %.*f", dec, s.Mean, dec, s.StdErr)
}

// SummarizeBatch returns the mean of all entries of b (per-point bounds
// [n], or integrands [S, n] taken together) and its standard error,
// computed in two passes (the deviations from the mean), so that values
// far from zero keep their precision. A NaN entry makes both NaN; an
// infinite entry makes Mean that infinity (NaN if both signs occur) and
// StdErr +Inf. It panics if b is nil or empty.
//
// It lives here, beside Summarize (the same statistics over the draw
// axis, per point), so that commands, notebooks and tests share one
// implementation instead of each writing its own.
func SummarizeBatch(b *ad.Tensor) Summary {
	if b == nil || b.Len() == 0 {
		panic(fmt.Sprintf("avvi: SummarizeBatch: values of shape %v, want at least one", shapeOf(b)))
	}
	v := b.Data()
	n := len(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(n)
	if math.IsNaN(mean) || math.IsInf(mean, 0) {
		se := math.Inf(1)
		if math.IsNaN(mean) {
			se = math.NaN()
		}
		return Summary{Mean: mean, StdErr: se, N: n}
	}
	ss := 0.0
	for _, x := range v {
		d := x - mean
		ss += d * d
	}
	return Summary{Mean: mean, StdErr: stdErr(ss, n), N: n}
}
