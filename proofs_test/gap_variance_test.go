package proofs_test

// Sec. 5 of Lawson et al. (2019): "to first order, the bound gap is
// related to the variance of this partition function estimator". With
// p̂ = exp(integrand), E p̂ = p(x) and ε = p̂/p(x) − 1,
//
//	log p(x) − E log p̂ = −E log(1 + ε) = E ε²/2 − E ε³/3 + …
//	                   = ½ Var(p̂)/p(x)² · (1 + O(ε)),
//
// so the gap over half the relative variance goes to 1 as the estimator
// concentrates. iwae_limit_test.go checks it for IWAE as K → ∞. Here the
// family approaches the posterior instead, at fixed K, for IWAE (Eq. 5)
// and SIVI (Eq. 7), exactly by enumeration: on a finite model with
// z ∈ {0, 1, 2} (IWAE: 0, …, 3),
//
//	IWAE:  q̃(z) = softmax(a)_z,             p(x, z) = e^{−1} q̃(z) e^{δ g(z)}
//	SIVI:  q(z | λ) = softmax(a + δ h_λ)_z,  p(x, z) = e^{−1} softmax(a)_z e^{δ g(z)},
//
// so that for δ → 0 the proposal, the mixture and the posterior all meet
// and ε = O(δ). Checked, for K = 1 and 3: E p̂ = p(x) to 1e-12 relative,
// and gap/(½ Var(p̂)/p²) − 1 → 0 like δ: every halving of δ from 0.4 to
// 0.025 multiplies it by at most 0.6 (½ for the first-order term, which
// dominates as δ → 0).

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/iwae"
	"github.com/eimkit/eimkit/sivi"
)

// gapMoments holds log p(x), the bound E log p̂, and E p̂/p and E p̂²/p²
// of one exactly enumerated estimator.
type gapMoments struct{ logp, bound, mean, second float64 }

// ratio returns the gap over half the relative variance of p̂.
func (g gapMoments) ratio() float64 { return (g.logp - g.bound) / ((g.second - 1) / 2) }

// iwaeMoments enumerates the K-tuples of the finite IWAE model f through
// iwae.IntegrandAt.
func iwaeMoments(f *snisFinite, k int) gapMoments {
	g := gapMoments{logp: avviLogSumExp(f.logPXZ)}
	lq := f.qt.LogWeights()
	n := int(math.Pow(snisM, float64(k)))
	cand := make([]float64, k*n)
	logP := make([]float64, n)
	for s := range n {
		c := s
		for j := range k {
			z := c % snisM
			c /= snisM
			cand[j*n+s] = float64(z)
			logP[s] += lq[z]
		}
	}
	w := iwae.IntegrandAt(f, f.qt, ad.BroadcastTo(f.x, n, 1), ad.New(cand, k, n, 1)).Data()
	for s, lp := range logP {
		p := math.Exp(lp)
		g.bound += p * w[s]
		g.mean += p * math.Exp(w[s]-g.logp)
		g.second += p * math.Exp(2*(w[s]-g.logp))
	}
	return g
}

// siviMoments enumerates (λ₀, z, λ_{2:K}) for the finite SIVI model f
// through sivi.IntegrandAt (siviFinite.expectation).
func siviMoments(f *siviFinite, k int) gapMoments {
	g := gapMoments{logp: f.logPX}
	lq := f.mix.LogWeights()
	mixing := func(l, _ int) float64 { return lq[l] }
	q := f.family()
	var meanExp float64
	g.bound, meanExp = f.expectation(k-1, mixing, func(l0, z, ls *ad.Tensor) float64 {
		return sivi.IntegrandAt(f, q, f.x, z, l0, ls).Item() - g.logp
	})
	g.bound += g.logp
	g.mean = meanExp
	_, g.second = f.expectation(k-1, mixing, func(l0, z, ls *ad.Tensor) float64 {
		return 2 * (sivi.IntegrandAt(f, q, f.x, z, l0, ls).Item() - g.logp)
	})
	return g
}

// perturbations draws the fixed a, g and h of the two models.
type perturbations struct {
	a, g [snisM]float64
	h    [siviM][siviM]float64
}

func newPerturbations() perturbations {
	rng := rand.New(rand.NewPCG(2015, 5))
	var p perturbations
	for z := range snisM {
		p.a[z] = rng.NormFloat64()
		p.g[z] = 2 * rng.NormFloat64()
	}
	for l := range siviM {
		for z := range siviM {
			p.h[l][z] = 2 * rng.NormFloat64()
		}
	}
	return p
}

// iwaeAt returns the IWAE model at δ: q̃ = softmax(a), log p(x, z) =
// −1 + log q̃(z) + δ g(z).
func (p perturbations) iwaeAt(delta float64) *snisFinite {
	pts := make([]float64, snisM)
	for z := range pts {
		pts[z] = float64(z)
	}
	f := &snisFinite{logPXZ: make([]float64, snisM), x: ad.New([]float64{0.5}, 1, 1)}
	f.qt = eimfamily.NewDiscrete(ad.New(pts, snisM, 1), ad.New(p.a[:], snisM))
	for z, lq := range f.qt.LogWeights() {
		f.logPXZ[z] = -1 + lq + delta*p.g[z]
	}
	return f
}

// siviAt returns the SIVI model at δ: q(λ) = softmax(a[:3]),
// q(z | λ) = softmax(a[:3] + δ h_λ), log p(x, z) = −1 + log softmax(a[:3])_z + δ g(z).
func (p perturbations) siviAt(delta float64) *siviFinite {
	pts := ad.New([]float64{0, 1, 2}, siviM, 1)
	base := ad.LogSoftmax(ad.New(p.a[:siviM], siviM), 0).Data()
	f := &siviFinite{x: ad.New([]float64{0.5}, 1, 1), cond: &siviTable{}}
	f.mix = eimfamily.NewDiscrete(pts, ad.New(p.a[:siviM], siviM))
	for l := range siviM {
		row := make([]float64, siviM)
		for z := range siviM {
			row[z] = p.a[z] + delta*p.h[l][z]
		}
		copy(f.cond.logP[l][:], ad.LogSoftmax(ad.New(row, siviM), 0).Data())
	}
	px := 0.0
	for z := range siviM {
		f.logPrior[z] = base[z]
		f.logLik[z] = -1 + delta*p.g[z]
		px += math.Exp(f.logLik[z] + f.logPrior[z])
	}
	f.logPX = math.Log(px)
	return f
}

func TestBoundGapIsHalfRelativeVariance(t *testing.T) {
	pert := newPerturbations()
	deltas := []float64{0.4, 0.2, 0.1, 0.05, 0.025}
	for _, c := range []struct {
		name    string
		moments func(delta float64, k int) gapMoments
	}{
		{"IWAE", func(d float64, k int) gapMoments { return iwaeMoments(pert.iwaeAt(d), k) }},
		{"SIVI", func(d float64, k int) gapMoments { return siviMoments(pert.siviAt(d), k) }},
	} {
		for _, k := range []int{1, 3} {
			prev := math.NaN()
			for i, d := range deltas {
				g := c.moments(d, k)
				if math.Abs(g.mean-1) > avviExactTol {
					t.Errorf("%s, K = %d, δ = %g: E p̂/p(x) = %.15g, want 1", c.name, k, d, g.mean)
				}
				dev := g.ratio() - 1
				t.Logf("%s, K = %d, δ = %-5g: gap %.4e, ½ Var(p̂)/p² %.4e, ratio − 1 = %+.5f", c.name, k, d, g.logp-g.bound, (g.second-1)/2, dev)
				if !(g.logp-g.bound > 0) {
					t.Errorf("%s, K = %d, δ = %g: gap %v not positive", c.name, k, d, g.logp-g.bound)
				}
				if i > 0 && !(math.Abs(dev) <= 0.6*math.Abs(prev)) {
					t.Errorf("%s, K = %d, δ = %g: gap/(½ relative variance) − 1 = %.4g, not ≤ 0.6 × %.4g at 2δ", c.name, k, d, dev, prev)
				}
				prev = dev
			}
		}
	}
}
