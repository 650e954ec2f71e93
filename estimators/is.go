package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// LogProber is a (possibly unnormalized) log density over a batch of
// points: LogProb takes x of shape [n, ...] (a batch of n points, the
// point's own axes after the first) and returns [n]. Every distribution of
// package dist with a vector event satisfies it for x [n, d].
type LogProber interface {
	LogProb(x *ad.Tensor) *ad.Tensor
}

// Sampler draws exact samples: Sample(rng, n) returns a batch [n, ...] of
// independent draws made with rng. Every dist.Sampler with a vector event
// satisfies it (Sample(rng, n) is then [n, d]).
type Sampler interface {
	Sample(rng *rand.Rand, sampleShape ...int) *ad.Tensor
}

// SampleLogProber draws exact samples and scores them with its normalized
// log density, as an importance sampling proposal or the initial
// distribution of annealed importance sampling must.
type SampleLogProber interface {
	Sampler
	LogProber
}

// Estimate is an estimate of a normalizing constant Z from n log weights
// wᵢ, each exp(wᵢ) an unbiased estimate of Z, kept in log space:
//
//	log Ẑ  = log (1/n) Σᵢ exp(wᵢ)
//	ESS    = (Σᵢ exp(wᵢ))² / Σᵢ exp(2wᵢ)
//	StdErr = √( Σᵢ (rᵢ − 1)² / (n(n − 1)) ),   rᵢ = exp(wᵢ − log Ẑ)
//
// StdErr is the estimated relative standard error of Ẑ, sd(exp w)/(√n·Ẑ),
// which by the delta method is also the standard error of log Ẑ. In terms
// of the effective sample size it is √((n/ESS − 1)/(n − 1)). ESS and
// StdErr are computed from the max-shifted weights exp(wᵢ − max w), so
// they depend on the differences of the log weights only and are right
// for log weights of any finite size.
//
// With every weight −Inf, LogZ is −Inf, ESS is 0 and StdErr is +Inf. With
// n = 1, StdErr is NaN (one weight says nothing about its spread).
type Estimate struct {
	// LogZ is log Ẑ. Ẑ is unbiased for Z; log Ẑ is biased low (Jensen),
	// which makes E[log Ẑ] a lower bound on log Z.
	LogZ float64
	// LogWeights are the wᵢ, one per sample (or chain).
	LogWeights []float64
	// ESS is the effective sample size, between 1 and n (0 if all
	// weights are zero).
	ESS float64
	// StdErr is the relative standard error of Ẑ, that is the standard
	// error of log Ẑ by the delta method.
	StdErr float64
}

// EstimateFromLogWeights returns the Estimate made from the log weights
// logw (kept, not copied). It panics if logw is empty or holds a NaN or
// +Inf.
func EstimateFromLogWeights(logw []float64) Estimate {
	n := len(logw)
	if n == 0 {
		panic("estimators: EstimateFromLogWeights: no log weights")
	}
	m := math.Inf(-1)
	for i, w := range logw {
		if math.IsNaN(w) || math.IsInf(w, 1) {
			panic(fmt.Sprintf("estimators: EstimateFromLogWeights: log weight %d is %v", i, w))
		}
		m = max(m, w)
	}
	e := Estimate{LogWeights: logw}
	if math.IsInf(m, -1) {
		e.LogZ, e.ESS, e.StdErr = math.Inf(-1), 0, math.Inf(1)
		return e
	}
	// Everything from the max-shifted weights uᵢ = exp(wᵢ − m) ∈ [0, 1]:
	// rᵢ = n·uᵢ/Σu. Taking rᵢ = exp(wᵢ − log Ẑ) instead would subtract two
	// numbers of the size of m, and log Ẑ is rounded at that size (at
	// m = 1e16 by up to 1, so rᵢ would be off by a factor e).
	s := 0.0
	for _, w := range logw {
		s += math.Exp(w - m)
	}
	e.LogZ = m + math.Log(s/float64(n))
	sq, dev := 0.0, 0.0
	scale := float64(n) / s
	for _, w := range logw {
		u := math.Exp(w - m)
		sq += u * u
		r := u * scale
		dev += (r - 1) * (r - 1)
	}
	e.ESS = s * s / sq
	if n < 2 {
		e.StdErr = math.NaN()
	} else {
		e.StdErr = math.Sqrt(dev / (float64(n) * float64(n-1)))
	}
	return e
}

// Importance estimates the normalizing constant Z = ∫ γ(x) dx of the
// unnormalized target density γ by importance sampling from proposal q:
//
//	xᵢ ~ q,   wᵢ = log γ(xᵢ) − log q(xᵢ),   Ẑ = (1/n) Σᵢ exp(wᵢ),
//
// so that E[Ẑ] = Z whenever q(x) > 0 wherever γ(x) > 0. target.LogProb
// returns log γ; proposal must be normalized. The draws are one call
// proposal.Sample(rng, n), so the same rng state gives the same estimate.
// Nothing is differentiated: the log weights are constants.
//
// It panics if n < 1 or if the log densities are not of shape [n].
func Importance(rng *rand.Rand, target LogProber, proposal SampleLogProber, n int) Estimate {
	if n < 1 {
		panic(fmt.Sprintf("estimators: Importance: n = %d, want n ≥ 1", n))
	}
	x := proposal.Sample(rng, n).Detach()
	if x.Rank() < 1 || x.Dim(0) != n {
		panic(fmt.Sprintf("estimators: Importance: proposal draws of shape %v, want [%d, ...]", x.Shape(), n))
	}
	lg := target.LogProb(x)
	lq := proposal.LogProb(x)
	if !isVector(lg, n) || !isVector(lq, n) {
		panic(fmt.Sprintf("estimators: Importance: log γ shape %v and log q shape %v, want [%d]", lg.Shape(), lq.Shape(), n))
	}
	gd, qd := lg.Data(), lq.Data()
	logw := make([]float64, n)
	for i := range logw {
		logw[i] = gd[i] - qd[i]
		if math.IsInf(gd[i], -1) {
			logw[i] = math.Inf(-1) // γ(x) = 0: weight 0 even where q(x) = 0 too
		}
	}
	return EstimateFromLogWeights(logw)
}

// isVector reports whether t has shape [n].
func isVector(t *ad.Tensor, n int) bool { return t.Rank() == 1 && t.Dim(0) == n }
