package proofs_test

// The orderings of the AVVI bounds and of IWAE (Lawson et al. 2019,
// Sec. 5, 5.1) on the conjugate Gaussian model
//
//	z ~ N(0, 1),   x | z ~ N(z, σ²),   so   log p(x) = log N(x; 0, 1 + σ²),
//
// by Monte Carlo at fixed seeds, every comparison within 5 standard errors.
// The variational side is Gaussian too, so the ELBO, Eq. 4 and Eq. 8 have
// closed forms (below) and each estimate is checked against its own
// value, two-sided; the orderings ELBO ≥ Eq. 4 ≥ Eq. 8 and
// ELBO = IWAE_1 ≤ IWAE_2 ≤ … ≤ log p(x) are checked between estimates,
// and E[exp(integrand)] = p(x) for every bound.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/iwae"
)

// avviSigmas is the width, in standard errors, of a Monte Carlo check at a
// fixed seed (the design's 5σ): a correct estimator passes for all but
// about 6e-7 of seeds per comparison.
const avviSigmas = 5

// The model and the variational pieces, all Gaussian (variances given):
//
//	p:   z ~ N(0, 1), x | z ~ N(z, σ²)
//	q:   λ ~ N(0, 1), z | λ, x ~ N(aλ + bx, s²)      ⇒ q(z | x) = N(bx, a² + s²)
//	     q(λ | z, x) = N(a(z − bx)/(a² + s²), s²/(a² + s²))
//	r:   r(λ | z, x) = N(c(z − bx), vr)
//	s:   s(γ | z, λ, x) = N(λ, 1)
//	r':  r(λ, γ | z, x) = r(λ | z, x) N(γ; hλ, vg)
const (
	gSigma2      = 0.5
	gA, gS2, gB  = 0.8, 0.36, 0.5
	gC, gVR      = 0.4, 0.6
	gH, gVG      = 0.5, 0.64
	gMarginalVar = gA*gA + gS2
)

var gData = ad.New([]float64{-1.5, 0.3, 2.0}, 3, 1)

type gaussModel struct{}

func (gaussModel) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	prior := dist.NewNormal(ad.Zeros(1), ad.Ones(1)).LogProb(z)
	return ad.Add(prior, dist.NewNormal(z, ad.Full(math.Sqrt(gSigma2), 1)).LogProb(x))
}

func gaussLogNormal(x, m, v float64) float64 { return -0.5*(x-m)*(x-m)/v - 0.5*math.Log(2*math.Pi*v) }

// gaussKL is KL(N(m1, v1) ‖ N(m2, v2)) in one dimension.
func gaussKL(m1, v1, m2, v2 float64) float64 {
	return 0.5 * (math.Log(v2/v1) + (v1+(m1-m2)*(m1-m2))/v2 - 1)
}

// gaussExact returns log p(x), the ELBO of q(z | x), Eq. 4 and Eq. 8 in
// closed form for the data point x. With m = bx and v = a² + s²:
//
//	ELBO  = E_q[log N(z; 0, 1) + log N(x; z, σ²)] + ½ log 2πe v
//	      = −½ log 2π − ½(m² + v) − ½ log 2πσ² − ((x − m)² + v)/(2σ²) + ½ log 2πe v,
//	Eq. 4 = ELBO − E_{q(z|x)} KL(q(λ | z, x) ‖ r(λ | z, x)),
//	        the means differ by (a/v − c)(z − m), so E(mean gap)² = (a/v − c)² v;
//	Eq. 8 = Eq. 4 − E_{q(λ)} KL(N(λ, 1) ‖ N(hλ, vg)),
//	        the means differ by (1 − h)λ, λ ~ N(0, 1), so E(mean gap)² = (1 − h)².
func gaussExact(x float64) (logp, elbo, eq4, eq8 float64) {
	m, v := gB*x, gMarginalVar
	logp = gaussLogNormal(x, 0, 1+gSigma2)
	elbo = -0.5*math.Log(2*math.Pi) - 0.5*(m*m+v) - 0.5*math.Log(2*math.Pi*gSigma2) -
		((x-m)*(x-m)+v)/(2*gSigma2) + 0.5*math.Log(2*math.Pi*math.E*v)
	dm := (gA/v - gC) * math.Sqrt(v) // root mean square gap of the means
	eq4 = elbo - gaussKL(dm, gS2/v, 0, gVR)
	eq8 = eq4 - gaussKL((1-gH), 1, 0, gVG)
	return logp, elbo, eq4, eq8
}

// gaussProposal is q̃(z | x) = N(bx, v), conditional on x (the context);
// with v = a² + s² it is the marginal q(z | x) of gaussQ.
type gaussProposal struct{}

func (gaussProposal) Dim() int { return 1 }

func (gaussProposal) Sample(rng *rand.Rand, x *ad.Tensor, k int) *ad.Tensor {
	eps := ad.Randn(rng, k, x.Dim(0), 1)
	return ad.Add(ad.MulScalar(x, gB), ad.MulScalar(eps, math.Sqrt(gMarginalVar)))
}

func (gaussProposal) LogProb(x, z *ad.Tensor) *ad.Tensor {
	return dist.NewNormal(ad.MulScalar(x, gB), ad.Full(math.Sqrt(gMarginalVar), 1)).LogProb(z)
}

func (gaussProposal) Params() []*ad.Tensor { return nil }

// gaussQ draws λ ~ N(0, 1), z ~ N(aλ + bx, s²).
type gaussQ struct{}

func (gaussQ) Sample(rng *rand.Rand, x *ad.Tensor) (z, lambda, logq *ad.Tensor) {
	n := x.Dim(0)
	lambda = ad.Randn(rng, n, 1)
	loc := ad.Add(ad.MulScalar(lambda, gA), ad.MulScalar(x, gB))
	z = ad.Add(loc, ad.MulScalar(ad.Randn(rng, n, 1), math.Sqrt(gS2)))
	logq = ad.Add(dist.NewNormal(ad.Zeros(1), ad.Ones(1)).LogProb(lambda), dist.NewNormal(loc, ad.Full(math.Sqrt(gS2), 1)).LogProb(z))
	return z, lambda, logq
}

// gaussR is r(λ | z, x) = N(c(z − bx), vr).
type gaussR struct{}

func (gaussR) LogProb(x, z, lambda *ad.Tensor) *ad.Tensor {
	loc := ad.MulScalar(ad.Sub(z, ad.MulScalar(x, gB)), gC)
	return dist.NewNormal(loc, ad.Full(math.Sqrt(gVR), 1)).LogProb(lambda)
}

// gaussS draws γ ~ N(λ, 1).
type gaussS struct{}

func (gaussS) Sample(rng *rand.Rand, _, _, lambda *ad.Tensor) (gamma, logs *ad.Tensor) {
	gamma = ad.Add(lambda, ad.Randn(rng, lambda.Shape()...))
	return gamma, dist.NewNormal(lambda, ad.Ones(1)).LogProb(gamma)
}

// gaussRJ is r(λ, γ | z, x) = r(λ | z, x) N(γ; hλ, vg).
type gaussRJ struct{}

func (gaussRJ) LogProb(x, z *ad.Tensor, a avvi.Aux[*ad.Tensor, *ad.Tensor]) *ad.Tensor {
	g := dist.NewNormal(ad.MulScalar(a.Lambda, gH), ad.Full(math.Sqrt(gVG), 1)).LogProb(a.Gamma)
	return ad.Add(gaussR{}.LogProb(x, z, a.Lambda), g)
}

// gaussCheck is one Monte Carlo estimate under test: the integrands'
// summary and evidence estimate.
type gaussCheck struct {
	name string
	est  avvi.Estimate
	ev   avvi.Evidence
}

func gaussSummarize(name string, w *ad.Tensor) gaussCheck {
	return gaussCheck{name, avvi.Summarize(w), avvi.EstimateEvidence(w)}
}

// checkEvidence asserts |p̂ − p(x)| ≤ 5 SE(p̂) at every data point.
func (c gaussCheck) checkEvidence(t *testing.T, logp []float64) {
	t.Helper()
	for i, lp := range logp {
		rel, relSE := math.Exp(c.ev.LogMean[i]-lp)-1, math.Exp(c.ev.LogStdErr[i]-lp)
		if math.Abs(rel) > avviSigmas*relSE {
			t.Errorf("%s, x[%d]: E[exp(integrand)]/p(x) − 1 = %.4g, standard error %.2g", c.name, i, rel, relSE)
		}
	}
}

// checkAgainst asserts |mean − want| ≤ 5 SE at every data point.
func (c gaussCheck) checkAgainst(t *testing.T, what string, want []float64) {
	t.Helper()
	for i, w := range want {
		if d := c.est.Mean[i] - w; math.Abs(d) > avviSigmas*c.est.StdErr[i] {
			t.Errorf("%s, x[%d]: %.5f ± %.5f, %s %.5f (%.1fσ)", c.name, i, c.est.Mean[i], c.est.StdErr[i], what, w, d/c.est.StdErr[i])
		}
	}
}

// checkAtMost asserts mean ≤ bound + 5 SE at every data point.
func (c gaussCheck) checkAtMost(t *testing.T, bound []float64) {
	t.Helper()
	for i, b := range bound {
		if d := c.est.Mean[i] - b; d > avviSigmas*c.est.StdErr[i] {
			t.Errorf("%s, x[%d]: %.5f ± %.5f above log p(x) = %.5f (%.1fσ)", c.name, i, c.est.Mean[i], c.est.StdErr[i], b, d/c.est.StdErr[i])
		}
	}
}

// gaussCheckAbove asserts hi ≥ lo − 5σ at every data point, σ the standard
// error of the difference of the two independent estimates.
func gaussCheckAbove(t *testing.T, hi, lo gaussCheck) {
	t.Helper()
	for i := range hi.est.Mean {
		se := math.Hypot(hi.est.StdErr[i], lo.est.StdErr[i])
		if d := hi.est.Mean[i] - lo.est.Mean[i]; d < -avviSigmas*se {
			t.Errorf("x[%d]: %s = %.5f below %s = %.5f by %.1fσ", i, hi.name, hi.est.Mean[i], lo.name, lo.est.Mean[i], -d/se)
		}
	}
}

func gaussLogEvidence() []float64 {
	out := make([]float64, gData.Dim(0))
	for i := range out {
		out[i], _, _, _ = gaussExact(gData.At(i, 0))
	}
	return out
}

func TestAVVIOrderingsGaussian(t *testing.T) {
	const s = 20_000
	x := gData
	rng := rand.New(rand.NewPCG(44, 1))
	p := gaussModel{}
	elbo := gaussSummarize("ELBO", avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor {
		return avvi.ELBO(rng, p, iwae.ProposalQ{Proposal: gaussProposal{}}, x)
	}))
	eq4 := gaussSummarize("Eq. 4", avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor {
		return avvi.Integrand(rng, p, gaussQ{}, gaussR{}, x)
	}))
	eq8 := gaussSummarize("Eq. 8", avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor {
		return avvi.AugmentedIntegrand(rng, p, gaussQ{}, gaussS{}, gaussRJ{}, x)
	}))
	n := x.Dim(0)
	logp, wElbo, wEq4, wEq8 := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		logp[i], wElbo[i], wEq4[i], wEq8[i] = gaussExact(x.At(i, 0))
		t.Logf("x=%.1f: log p(x) = %.4f; ELBO %.4f ± %.4f (exact %.4f); Eq. 4 %.4f ± %.4f (exact %.4f); Eq. 8 %.4f ± %.4f (exact %.4f)",
			x.At(i, 0), logp[i], elbo.est.Mean[i], elbo.est.StdErr[i], wElbo[i], eq4.est.Mean[i], eq4.est.StdErr[i], wEq4[i], eq8.est.Mean[i], eq8.est.StdErr[i], wEq8[i])
	}
	elbo.checkAgainst(t, "closed form", wElbo)
	eq4.checkAgainst(t, "closed form", wEq4)
	eq8.checkAgainst(t, "closed form", wEq8)
	for _, c := range []gaussCheck{elbo, eq4, eq8} {
		c.checkEvidence(t, logp)
		c.checkAtMost(t, logp)
	}
	gaussCheckAbove(t, elbo, eq4)
	gaussCheckAbove(t, eq4, eq8)
}

func TestIWAEGaussian(t *testing.T) {
	const s = 4000
	x := gData
	rng := rand.New(rand.NewPCG(45, 1))
	logp := gaussLogEvidence()
	n := x.Dim(0)
	wElbo := make([]float64, n)
	for i := range n {
		_, wElbo[i], _, _ = gaussExact(x.At(i, 0))
	}
	var prev gaussCheck
	for _, k := range []int{1, 2, 5, 20, 100} {
		c := gaussSummarize(fmt.Sprintf("IWAE_%d", k), iwae.IWAE{K: k}.Integrands(rng, gaussModel{}, gaussProposal{}, x, s))
		for i := range n {
			t.Logf("x=%.1f: %s = %.4f ± %.4f (ELBO %.4f, log p(x) = %.4f)", x.At(i, 0), c.name, c.est.Mean[i], c.est.StdErr[i], wElbo[i], logp[i])
		}
		c.checkEvidence(t, logp)
		c.checkAtMost(t, logp)
		if k == 1 {
			c.checkAgainst(t, "the ELBO", wElbo)
		} else {
			gaussCheckAbove(t, c, prev)
		}
		prev = c
	}
}
