package estimators

import (
	"fmt"
	"math"
	"slices"

	"github.com/eimkit/eimkit/ad"
)

// VIMCO returns the K-sample bound of each of n points with the gradient
// of the VIMCO estimator (Mnih & Rezende 2016, "Variational inference for
// Monte Carlo objectives"), for latents that cannot be reparameterized
// (discrete ones). With K draws h_k ~ q(h | x) and log weights
// w_k = log p(x, h_k) − log q(h_k | x), the bound is
//
//	L = log (1/K) Σ_k exp(w_k)
//
// and its gradient is estimated by
//
//	∇L ≈ Σ_k L̂_k ∇ log q(h_k | x) + Σ_k w̃_k ∇ w_k,   w̃_k = exp(w_k) / Σ_j exp(w_j),
//	L̂_k = L − log (1/K) ( Σ_{j≠k} exp(w_j) + exp(ŵ_{−k}) ),   ŵ_{−k} = (1/(K−1)) Σ_{j≠k} w_j,
//
// the score function term with a per-sample baseline that replaces w_k by
// the geometric mean of the others (a baseline that does not depend on
// h_k, so the estimator stays unbiased), plus the direct term. ∇ w_k
// holds the −∇ log q(h_k | x) of the weight itself.
//
// logw and logq are [K, n] (K draws of a batch of n): logw must be built
// from logq (w = log p − log q, with logq attached to the graph), and the
// draws h_k themselves must be constants. The result [n] is the surrogate
//
//	L + Σ_k L̂_k · (log q(h_k | x) − stopgrad(log q(h_k | x))),
//
// whose value is exactly L and whose gradient (by ad.Grad) is the VIMCO
// estimate. The L̂_k are constants.
//
// Log weights of −Inf (zero weights) are allowed; every ŵ_{−k} that
// averages one is then −Inf. Where all the weights other than w_k are
// zero, the baseline term log (1/K)(…) is −Inf, and it is replaced by 0
// (L̂_k = L): a choice made from h_{−k} alone, so the estimator stays
// unbiased. Where all K weights are zero, L = −Inf and the signals are
// set to 0. Where a log weight is +Inf, L = +Inf, the signals are set to
// 0 and the bound's gradient for that point is 0 (an infinite bound has no
// usable direction). A log q of ±Inf gets no score-function gradient. The
// value is always L, never NaN unless an input is NaN.
//
// The signals take O(K) time per point (the doc of the package, Numerics,
// says how), not the O(K²) of recomputing each leave-one-out sum.
//
// It panics if logw and logq are not both [K, n] with K ≥ 2 (the
// leave-one-out baseline needs two draws).
func VIMCO(logw, logq *ad.Tensor) *ad.Tensor {
	if logw.Rank() != 2 || !slices.Equal(logw.Shape(), logq.Shape()) || logw.Dim(0) < 2 {
		panic(fmt.Sprintf("estimators: VIMCO: logw shape %v and logq shape %v, want both [K, n] with K ≥ 2", logw.Shape(), logq.Shape()))
	}
	K, n := logw.Dim(0), logw.Dim(1)
	bound := ad.LogMeanExp(logw, 0) // [n]
	L := bound.Detach().Data()
	if slices.ContainsFunc(L, isNotFinite) {
		// Points with a +Inf (or NaN) log weight: their softmax weights,
		// the gradient of log-sum-exp, would be exp(+Inf). Give them a safe
		// input and the constant L (the double-where idiom of ad.Where).
		ok := make([]float64, n)
		for i, v := range L {
			if !isNotFinite(v) {
				ok[i] = 1
			}
		}
		okN := ad.New(ok, n)
		safe := ad.Where(ad.BroadcastTo(okN, K, n), logw, ad.Scalar(0))
		bound = ad.Where(okN, ad.LogMeanExp(safe, 0), ad.New(slices.Clone(L), n))
	}
	lhat := vimcoSignals(logw.Detach().Data(), L, K, n)
	zero := ad.Sub(logq, logq.Detach()) // value 0, gradient ∇ log q
	if lq := logq.Detach().Data(); slices.ContainsFunc(lq, func(v float64) bool { return math.IsInf(v, 0) }) {
		// ±Inf − ±Inf is NaN: no score-function term there.
		fin := make([]float64, len(lq))
		for i, v := range lq {
			if !math.IsInf(v, 0) {
				fin[i] = 1
			}
		}
		zero = ad.Where(ad.New(fin, K, n), zero, ad.Scalar(0))
	}
	return ad.Add(bound, ad.Sum(ad.Mul(ad.New(lhat, K, n), zero), 0))
}

// isNotFinite reports whether v is +Inf or NaN (a bound that is not −Inf
// nor finite).
func isNotFinite(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 1) }

// vimcoSignals returns the learning signals L̂_k, [K, n] row-major, for log
// weights w [K, n] and bounds L [n], in O(K) per point.
func vimcoSignals(w, L []float64, K, n int) []float64 {
	out := make([]float64, K*n)
	col := make([]float64, K)
	sc := newVIMCOScratch(K)
	for i := range n {
		if math.IsInf(L[i], 0) || math.IsNaN(L[i]) {
			continue // all weights zero, or a +Inf (or NaN) one: no signal
		}
		for k := range K {
			col[k] = w[k*n+i]
		}
		sc.baselines(col)
		for k := range K {
			if b := sc.base[k]; math.IsInf(b, -1) {
				out[k*n+i] = L[i] // every other weight is zero: baseline 0
			} else {
				out[k*n+i] = L[i] - b
			}
		}
	}
	return out
}

// vimcoScratch holds the buffers of one point's baselines.
type vimcoScratch struct {
	e, pre, suf, preW, sufW, base []float64
}

func newVIMCOScratch(K int) *vimcoScratch {
	buf := make([]float64, 6*K)
	return &vimcoScratch{e: buf[:K], pre: buf[K : 2*K], suf: buf[2*K : 3*K], preW: buf[3*K : 4*K], sufW: buf[4*K : 5*K], base: buf[5*K:]}
}

// baselines sets base[k] = log (1/K) ( Σ_{j≠k} exp(w_j) + exp(ŵ_{−k}) ) for
// log weights w in [−Inf, ∞) with a finite maximum. Both leave-one-out
// sums are prefix plus suffix sums, never a total minus w_k (which cancels
// when w_k dominates, and gives −Inf − (−Inf) = NaN at zero weights):
//
//	Σ_{j≠k} exp(w_j − m) = A_k + B_k,   A_k = Σ_{j<k} e_j,  B_k = Σ_{j>k} e_j,  e_j = exp(w_j − m),
//
// with m = max w. For k ≠ k* = argmax, A_k + B_k ≥ e_{k*} = 1, so the
// shift by m loses nothing; for k* itself the others may all underflow
// after that shift, so its sum is shifted by their own maximum instead.
func (s *vimcoScratch) baselines(w []float64) {
	K := len(w)
	m, top := math.Inf(-1), 0
	for k, v := range w {
		if v > m {
			m, top = v, k
		}
	}
	a, sw := 0.0, 0.0
	for k := range K {
		s.e[k] = math.Exp(w[k] - m)
		s.pre[k], s.preW[k] = a, sw
		a += s.e[k]
		sw += w[k]
	}
	b, sw := 0.0, 0.0
	for k := K - 1; k >= 0; k-- {
		s.suf[k], s.sufW[k] = b, sw
		b += s.e[k]
		sw += w[k]
	}
	logK := math.Log(float64(K))
	inv := 1 / float64(K-1)
	for k := range K {
		mean := (s.preW[k] + s.sufW[k]) * inv // ŵ_{−k}, −Inf if it averages a −Inf
		if k == top {
			continue
		}
		s.base[k] = m + math.Log(s.pre[k]+s.suf[k]+math.Exp(mean-m)) - logK
	}
	// k*: max-shift by the largest of the other terms.
	mean := (s.preW[top] + s.sufW[top]) * inv
	m2 := mean
	for k, v := range w {
		if k != top {
			m2 = max(m2, v)
		}
	}
	if math.IsInf(m2, -1) {
		s.base[top] = m2
		return
	}
	sum := math.Exp(mean - m2)
	for k, v := range w {
		if k != top {
			sum += math.Exp(v - m2)
		}
	}
	s.base[top] = m2 + math.Log(sum) - logK
}
