package estimators

import (
	"fmt"
	"math"
	"slices"

	"github.com/eimkit/eimkit/ad"
)

// InfoNCE returns the K terms of the InfoNCE (contrastive predictive
// coding) lower bound on the mutual information I(X; Y) (van den Oord, Li
// & Vinyals 2018) for a critic f, given the scores of K pairs
// (x_i, y_i) ~ p(x, y) against each other, scores[..., i, j] = f(x_i, y_j):
//
//	ℓ_i  = log [ exp f(x_i, y_i) / ( (1/K) Σ_j exp f(x_i, y_j) ) ],
//	I_NCE = E[ (1/K) Σ_i ℓ_i ] ≤ I(X; Y),   and   ℓ_i ≤ log K.
//
// Each term is, sample by sample, the integrand of the Barber–Agakov bound
// I(X; Y) ≥ E[log q(y | x) − log p(y)] with q the self-normalized
// importance sampling model SNIS(π, U, K) of Sec. 3.2 (Eq. 3) and
//
//	π = p(y),   U(y | x) = −f(x, y),
//
// whose K candidates are y_i (the data point) and the other pairs' y_j,
// draws of p(y) independent of x_i (Lawson et al. 2019, App. C, written
// there with the roles of x and y swapped; proofs_test checks the
// identity). The optimal critic is f(x, y) = log p(y | x) − log p(y) + c(x).
//
// scores has shape [..., K, K] (leading axes a batch of independent sets of
// K pairs) and the result [..., K]; the bound is its mean. It is
// differentiable in the scores. Each term is computed as
//
//	ℓ_i = log K − log Σ_j exp( f(x_i, y_j) − f(x_i, y_i) ),
//
// from differences of scores only, so it is right for scores of any
// finite size (1e300 against −1e300 gives log 2 for K = 2) and exactly
// ≤ log K. Infinite scores get their limits: a row of all −Inf gives 0,
// the term of a constant critic (SNIS's uniform choice when every weight
// is zero, which keeps q normalized); a positive score at +Inf gives
// log K − log c with c the number of +Inf scores in its row; a positive
// score at −Inf, or below a +Inf one, gives −Inf. Such rows get a zero
// gradient. It is never NaN unless a score is NaN.
//
// It panics if the last two axes of scores are not equal or K < 1.
func InfoNCE(scores *ad.Tensor) *ad.Tensor {
	r := scores.Rank()
	if r < 2 || scores.Dim(-1) != scores.Dim(-2) || scores.Dim(-1) < 1 {
		panic(fmt.Sprintf("estimators: InfoNCE: scores of shape %v, want [..., K, K] with K ≥ 1", scores.Shape()))
	}
	K := scores.Dim(-1)
	rows := scores.Len() / K
	idx := make([]int, rows)
	for i := range idx {
		idx[i] = i % K // the diagonal: row i of each K×K block picks column i
	}
	limits, special := infoNCELimits(scores.Detach().Data(), K)
	x := scores
	var ok *ad.Tensor
	if special {
		// Rows with infinite scores: a safe input (the double-where idiom
		// of ad.Where), then their limits as constants.
		okd := make([]float64, rows)
		for i, l := range limits {
			if math.IsNaN(l) && !hasNaN(scores.Detach().Data()[i*K:(i+1)*K]) {
				okd[i] = 1
			}
		}
		ok = ad.New(okd, scores.Shape()[:r-1]...)
		x = ad.Where(ad.BroadcastTo(ad.Unsqueeze(ok, r-1), scores.Shape()...), scores, ad.Scalar(0))
	}
	// The shift f(x_i, y_i) is a constant inside the log-sum-exp and enters
	// once more, as (f − stopgrad f) of value 0, for its gradient: the
	// same derivative as shifting by the attached diagonal, without a
	// broadcast operand to reduce in the backward pass.
	diag := ad.Gather(x, r-1, idx, 1) // [..., K, 1]
	shift := diag.Detach()
	lse := ad.LogSumExp(ad.Sub(x, shift), r-1)
	terms := ad.AddScalar(ad.Sub(ad.Reshape(ad.Sub(diag, shift), lse.Shape()...), lse), math.Log(float64(K)))
	if special {
		terms = ad.Where(ok, terms, ad.New(limits, scores.Shape()[:r-1]...))
	}
	return terms
}

// infoNCELimits returns, per row of K scores, the limit of the InfoNCE
// term where the row holds an infinite score or a NaN (NaN for regular rows
// and for rows with a NaN), and whether any row is not regular. Regular
// rows have a finite positive score and no +Inf.
func infoNCELimits(s []float64, K int) ([]float64, bool) {
	rows := len(s) / K
	out := make([]float64, rows)
	special := false
	logK := math.Log(float64(K))
	for i := range rows {
		row := s[i*K : (i+1)*K]
		pos := row[i%K]
		m, inf := math.Inf(-1), 0
		for _, v := range row {
			m = max(m, v)
			if math.IsInf(v, 1) {
				inf++
			}
		}
		out[i] = math.NaN()
		switch {
		case math.IsNaN(m):
			special = true
		case math.IsInf(m, -1):
			out[i], special = 0, true // every score −Inf
		case inf > 0 && math.IsInf(pos, 1):
			out[i], special = logK-math.Log(float64(inf)), true
		case inf > 0 || math.IsInf(pos, -1):
			out[i], special = math.Inf(-1), true
		}
	}
	return out, special
}

// hasNaN reports whether v holds a NaN.
func hasNaN(v []float64) bool { return slices.ContainsFunc(v, math.IsNaN) }

// RankingNCE returns the ranking noise-contrastive estimation objective
// (Jozefowicz et al. 2016; Ma & Collins 2018, "Noise contrastive
// estimation and negative sampling for conditional models: consistency
// and statistical efficiency") of a score s for n data points, each
// ranked against K − 1 noise samples from p_N:
//
//	J = log [ exp s̄(x_0) / Σ_{k=0}^{K−1} exp s̄(x_k) ],   s̄ = s − log p_N,
//
// with x_0 the data point and x_{1:K−1} ~ p_N (Ma & Collins' K is our
// K − 1). s and logNoise hold s(x_k) and log p_N(x_k), [K, n], row 0 the
// data points. The result is [n], differentiable in s and logNoise; it is
// at most 0.
//
// Sec. 3.2 of Lawson et al. (2019): with π = p_N and U = log p_N − s, the
// Eq. (3) integrand of SNIS(π, U, K) at the data point x_0 with candidates
// x_{1:K−1} is
//
//	log [ π(x_0) exp(−U(x_0)) / ( (1/K) Σ_k exp(−U(x_k)) ) ] = J + log p_N(x_0) + log K,
//
// the ranking NCE objective plus a constant in s (proofs_test checks it).
//
// It panics if s and logNoise are not both [K, n] with K ≥ 1.
func RankingNCE(s, logNoise *ad.Tensor) *ad.Tensor {
	if s.Rank() != 2 || !slices.Equal(s.Shape(), logNoise.Shape()) || s.Dim(0) < 1 {
		panic(fmt.Sprintf("estimators: RankingNCE: s shape %v and logNoise shape %v, want both [K, n] with K ≥ 1", s.Shape(), logNoise.Shape()))
	}
	sbar := ad.Sub(s, logNoise)
	n := s.Dim(1)
	first := ad.Reshape(ad.Slice(sbar, 0, 0, 1), n)
	return ad.Sub(first, ad.LogSumExp(sbar, 0))
}
