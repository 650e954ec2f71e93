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
// set to 0. The value is always L, never NaN.
//
// It panics if logw and logq are not both [K, n] with K ≥ 2 (the
// leave-one-out baseline needs two draws).
func VIMCO(logw, logq *ad.Tensor) *ad.Tensor {
	if logw.Rank() != 2 || !slices.Equal(logw.Shape(), logq.Shape()) || logw.Dim(0) < 2 {
		panic(fmt.Sprintf("estimators: VIMCO: logw shape %v and logq shape %v, want both [K, n] with K ≥ 2", logw.Shape(), logq.Shape()))
	}
	K, n := logw.Dim(0), logw.Dim(1)
	bound := ad.LogMeanExp(logw, 0) // [n]
	lhat := vimcoSignals(logw.Detach().Data(), bound.Detach().Data(), K, n)
	zero := ad.Sub(logq, logq.Detach()) // value 0, gradient ∇ log q
	return ad.Add(bound, ad.Sum(ad.Mul(ad.New(lhat, K, n), zero), 0))
}

// vimcoSignals returns the learning signals L̂_k, [K, n] row-major, for log
// weights w [K, n] and bounds L [n].
func vimcoSignals(w, L []float64, K, n int) []float64 {
	out := make([]float64, K*n)
	others := make([]float64, K)
	for i := range n {
		for k := range K {
			// ŵ_{−k}: mean of the other log weights.
			s := 0.0
			for j := range K {
				if j != k {
					s += w[j*n+i]
				}
			}
			for j := range K {
				others[j] = w[j*n+i]
			}
			others[k] = s / float64(K-1)
			base := logSumExpFloats(others) - math.Log(float64(K))
			switch {
			case math.IsInf(L[i], -1):
				out[k*n+i] = 0 // every weight is zero: no signal
			case math.IsInf(base, -1):
				out[k*n+i] = L[i] // every other weight is zero: baseline 0
			default:
				out[k*n+i] = L[i] - base
			}
		}
	}
	return out
}

// logSumExpFloats returns log Σ exp(v), max-shifted; −Inf if all are −Inf.
func logSumExpFloats(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
