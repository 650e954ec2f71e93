package proofs_test

// IWAE_K → log p(x) as K grows (Burda et al. 2016; Lawson et al. 2019,
// Sec. 5.1), with the gap equal to the KL terms of Eq. 4 at every K, for
// the IWAE family of package iwae (iwae.IWAE.Family: SNIS with proposal q̃
// and U = log q̃ − log p(x, ·), and its reverse model Eq. 6), and the
// delta-method relation of Sec. 5 between the gap and the relative
// variance of the estimator p̂ = exp(integrand). On the finite model of
// finite_iwae_test.go (z takes 4 values) every expectation over
// λ = (z_{1:K}, i) is a sum over the multisets of the K candidates and the
// selected value (snis_interpolation_test.go), so K runs to 32. Checked:
//
//   - the avvi assembly (avvi.Integrand with SNISQ and its Reverse) has
//     total mass 1 and the expectation of the closed form iwae.IntegrandAt
//     (Eq. 5), and E[p̂] = p(x), to 1e-12 (relative for p̂);
//   - log p(x) − IWAE_K = KL(q_SNIS(z | x) ‖ p(z | x)) + E KL(q(λ | z, x) ‖ r(λ | z, x))
//     to 1e-12 at every K, both terms computed from their definitions;
//   - the gap decreases strictly in K and goes to 0 as the delta method
//     says: with r = p(x, z)/(q̃(z) p(x)), v = Var_q̃ r and μ₃ the third
//     central moment, Var(p̂)/p(x)² = v/K (checked by enumeration), and
//
//	log p(x) − IWAE_K = v/(2K) + (3v²/4 − μ₃/3)/K² + O(1/K³),
//
//     so the gap over half the relative variance goes to 1 like 1/K
//     (K·(ratio − 1) within 10% of its limit 2(3v/4 − μ₃/(3v)) at K = 32),
//     and K²(gap − v/(2K)) approaches 3v²/4 − μ₃/3 like 1/K (its distance
//     at most 0.6 of what it was at K/2, from K = 16 on; the ratio tends
//     to ½).

import (
	"math"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/iwae"
)

// iwaeExact is the result of the multiset enumeration at one K.
type iwaeExact struct {
	mass, bound, closedForm, meanExp, meanExp2 float64
	klZ, klAux                                 float64
}

// exactIWAE enumerates λ = (z_{1:K}, i) by multisets for the IWAE family
// of f with K candidates.
func (f *snisFinite) exactIWAE(k int, logp float64) iwaeExact {
	b := newMultisetBatch(snisM, k)
	fam := iwae.IWAE{K: k}.Family(f, f.qt)
	q := fam.AsQ()
	rev := q.Reverse()
	xs := ad.BroadcastTo(f.x, b.N, 1)
	lq := f.qt.LogWeights()
	var e iwaeExact
	// The closed form: a multiset's tuples have probability Π q̃ each.
	cf := iwae.IntegrandAt(f, f.qt, xs, b.candidates).Data()
	for col, c := range b.counts {
		lp := b.logOrders[col]
		for z, n := range c {
			lp += float64(n) * lq[z]
		}
		e.closedForm += math.Exp(lp) * cf[col]
	}
	// The assembly, per selected value z.
	type term struct{ logP, w, logq, logr float64 }
	terms := make([][]term, snisM)
	qz := make([]float64, snisM)
	for z := range snisM {
		lambda := b.aux(z)
		_, logq := q.At(xs, lambda)
		zt := ad.Full(float64(z), b.N, 1)
		logr := rev.LogProb(xs, zt, lambda)
		w := avvi.Integrand(nil, f, replaySNIS{q, lambda}, rev, xs)
		for col, c := range b.counts {
			if c[z] == 0 {
				continue
			}
			tm := term{b.logOrders[col] + math.Log(float64(c[z])) + logq.Data()[col], w.Data()[col], logq.Data()[col], logr.Data()[col]}
			terms[z] = append(terms[z], tm)
			p := math.Exp(tm.logP)
			qz[z] += p
			e.mass += p
			e.bound += p * tm.w
			e.meanExp += p * math.Exp(tm.w-logp)
			e.meanExp2 += p * math.Exp(2*(tm.w-logp))
		}
	}
	for z := range snisM {
		e.klZ += qz[z] * (math.Log(qz[z]) - (f.logPXZ[z] - logp))
		for _, tm := range terms[z] {
			// q(λ | z, x) = q(z, λ | x)/q_SNIS(z | x)
			e.klAux += math.Exp(tm.logP) * (tm.logq - math.Log(qz[z]) - tm.logr)
		}
	}
	return e
}

func TestIWAEConvergesToLogEvidence(t *testing.T) {
	f := newSNISFinite()
	logp := avviLogSumExp(f.logPXZ)
	// Moments of r = p(x, z)/(q̃(z) p(x)) under q̃: mean 1.
	lq := f.qt.LogWeights()
	v, mu3 := 0.0, 0.0
	for z := range snisM {
		d := math.Exp(f.logPXZ[z]-lq[z]-logp) - 1
		v += math.Exp(lq[z]) * d * d
		mu3 += math.Exp(lq[z]) * d * d * d
	}
	c2 := 3*v*v/4 - mu3/3
	ratioLimit := 2 * c2 / v // K·(gap/(v/(2K)) − 1) → 2 c₂/v
	t.Logf("log p(x) = %.12f, v = Var r = %.6f, μ₃ = %.6f, second-order coefficient %.6f", logp, v, mu3, c2)
	prevGap, prevDist := math.Inf(1), math.NaN()
	for _, k := range []int{1, 2, 4, 8, 16, 32} {
		e := f.exactIWAE(k, logp)
		gap := logp - e.bound
		relVar := e.meanExp2 - 1 // Var(p̂)/p(x)², E p̂ = p(x)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"Σ q(z, λ | x)", e.mass, 1},
			{"E[p̂]/p(x)", e.meanExp, 1},
			{"assembled − closed form", e.bound, e.closedForm},
			{"gap − KL terms", gap, e.klZ + e.klAux},
			{"Var(p̂)/p² − v/K", relVar, v / float64(k)},
		} {
			if math.Abs(c.got-c.want) > avviExactTol {
				t.Errorf("K = %d: %s: %.15g, want %.15g", k, c.name, c.got, c.want)
			}
		}
		if !(gap < prevGap) || !(e.klZ >= 0) || !(e.klAux >= 0) {
			t.Errorf("K = %d: gap %.6g (previous %.6g), KL terms %.6g and %.6g", k, gap, prevGap, e.klZ, e.klAux)
		}
		prevGap = gap
		ratio := gap / (relVar / 2)
		second := float64(k*k) * (gap - v/(2*float64(k)))
		dist := math.Abs(second - c2)
		t.Logf("K = %2d: IWAE = %.12f, gap %.3e = KL(q_SNIS‖post) %.3e + E KL(q(λ|z)‖r) %.3e; gap/(½ Var p̂/p²) = %.5f, K²(gap − v/2K) = %.5f",
			k, e.bound, gap, e.klZ, e.klAux, ratio, second)
		if k >= 16 && !(dist <= 0.6*prevDist) {
			t.Errorf("K = %d: K²(gap − v/(2K)) = %.6f is %.3g from %.6f, not about half the distance at K/2 (%.3g)", k, second, dist, c2, prevDist)
		}
		prevDist = dist
		if k == 32 {
			if got := float64(k) * (ratio - 1); math.Abs(got-ratioLimit) > 0.1*math.Abs(ratioLimit) {
				t.Errorf("K = 32: K·(gap/(½ Var p̂/p²) − 1) = %.5f, limit %.5f", got, ratioLimit)
			}
		}
	}
}
