package proofs_test

// SIVI, IWHVI and DSIVI (Sec. 5.2) on the conjugate Gaussian model
//
//	z ~ N(0, 1),   x | z ~ N(z, σ²),   log p(x) = log N(x; 0, 1 + σ²),
//
// with the semi-implicit family λ ~ N(0, 1), z | λ ~ N(aλ + b, c²), whose
// marginal N(b, a² + c²) gives the marginal ELBO in closed form, and for
// DSIVI the same prior written semi-implicitly, ζ ~ N(0, 1),
// z | ζ ~ N(0.6ζ, 0.64). By Monte Carlo at a fixed seed, within 5
// standard errors: SIVI_0 equals its closed form E_q log p(x, z) +
// ½ log 2πe c²; SIVI_K is non-decreasing in K and below the marginal
// ELBO; IWHVI with τ the exact q(λ | z) is the marginal ELBO; DSIVI is
// non-decreasing in L and below SIVI_K; E[exp(integrand)] = p(x) for all.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/sivi"
)

const (
	sgSigma2    = 0.5
	sgA, sgB    = 0.8, 0.3
	sgC         = 0.5
	sgX         = 1.3
	sgN         = 20000 // independent draws (rows of x, all equal to sgX)
	sgPriorW    = 0.6
	sgPriorStd  = 0.8
	sgMarginalV = sgA*sgA + sgC*sgC
)

type siviGauss struct{}

func (siviGauss) LogLik(x, z *ad.Tensor) *ad.Tensor {
	return ad.Sum(ad.AddScalar(ad.MulScalar(ad.Square(ad.Sub(x, z)), -0.5/sgSigma2), -0.5*math.Log(2*math.Pi*sgSigma2)), -1)
}

func (m siviGauss) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	prior := ad.Sum(ad.AddScalar(ad.MulScalar(ad.Square(z), -0.5), -0.5*math.Log(2*math.Pi)), -1)
	return ad.Add(prior, m.LogLik(x, z))
}

// linearGaussian returns N(z; wλ + b, s²) as a sivi.GaussianConditional.
func linearGaussian(w, b, s float64) *sivi.GaussianConditional {
	c := sivi.NewGaussianConditional(rand.New(rand.NewPCG(1, 1)), 1, 1, s)
	c.Net.Layers[0].W.Data()[0] = w
	c.Net.Layers[0].B.Data()[0] = b
	return c
}

// sgPosterior is the exact q(λ | z) = N(a(z − b)/v, c²/v), v = a² + c².
type sgPosterior struct{}

func (sgPosterior) Dim() int { return 1 }
func (sgPosterior) moments(z *ad.Tensor) (*ad.Tensor, float64) {
	return ad.MulScalar(ad.AddScalar(z, -sgB), sgA/sgMarginalV), math.Sqrt(sgC * sgC / sgMarginalV)
}
func (t sgPosterior) Sample(rng *rand.Rand, _, z *ad.Tensor, k int) *ad.Tensor {
	m, s := t.moments(z)
	return ad.Add(m, ad.MulScalar(ad.Randn(rng, k, z.Dim(0), 1), s))
}
func (t sgPosterior) LogProb(_, z, lambda *ad.Tensor) *ad.Tensor {
	m, s := t.moments(z)
	u := ad.MulScalar(ad.Sub(lambda, m), 1/s)
	return ad.Sum(ad.AddScalar(ad.MulScalar(ad.Square(u), -0.5), -math.Log(s)-0.5*math.Log(2*math.Pi)), -1)
}

type sgEstimate struct{ mean, se, logMeanExp, logSE float64 }

func sgSummarize(w *ad.Tensor) sgEstimate {
	flat := ad.Reshape(w, w.Len())
	s := avvi.Summarize(flat)
	e := avvi.EstimateEvidence(flat)
	return sgEstimate{s.Mean[0], s.StdErr[0], e.LogMean[0], math.Exp(e.LogStdErr[0] - e.LogMean[0])}
}

func TestSIVIGaussianOrderings(t *testing.T) {
	x := ad.Full(sgX, sgN, 1)
	q := sivi.Family{Mixing: eimfamily.NewStdNormal(1, 1), Conditional: linearGaussian(sgA, sgB, sgC)}
	logp := gaussLogNormal(sgX, 0, 1+sgSigma2)
	v := sgMarginalV
	eLogJoint := -0.5*math.Log(2*math.Pi) - 0.5*(sgB*sgB+v) - 0.5*math.Log(2*math.Pi*sgSigma2) - ((sgX-sgB)*(sgX-sgB)+v)/(2*sgSigma2)
	elbo := eLogJoint + 0.5*math.Log(2*math.Pi*math.E*v)
	sivi0 := eLogJoint + 0.5*math.Log(2*math.Pi*math.E*sgC*sgC)
	rng := rand.New(rand.NewPCG(2018, 7))
	check := func(name string, e sgEstimate) {
		t.Logf("%s: %.4f ± %.4f (log mean exp %.4f ± %.4f; ELBO %.4f, log p(x) %.4f)", name, e.mean, e.se, e.logMeanExp, e.logSE, elbo, logp)
		if math.Abs(e.logMeanExp-logp) > avviSigmas*e.logSE {
			t.Errorf("%s: log mean exp(integrand) = %v ± %v, log p(x) = %v", name, e.logMeanExp, e.logSE, logp)
		}
		if e.mean > elbo+avviSigmas*e.se {
			t.Errorf("%s: %v ± %v above the marginal ELBO %v", name, e.mean, e.se, elbo)
		}
	}
	notBelow := func(what string, hi, lo sgEstimate) {
		if hi.mean-lo.mean < -avviSigmas*math.Hypot(hi.se, lo.se) {
			t.Errorf("%s: %v ± %v below %v ± %v", what, hi.mean, hi.se, lo.mean, lo.se)
		}
	}
	var siviK []sgEstimate
	for _, k := range []int{1, 2, 5, 17} { // K terms of Eq. 7: λ₁ and K − 1 more
		e := sgSummarize(sivi.SIVI{K: k}.Integrand(rng, siviGauss{}, q, x))
		check("SIVI", e)
		if k == 1 && math.Abs(e.mean-sivi0) > avviSigmas*e.se {
			t.Errorf("SIVI_1 = %v ± %v, closed form %v", e.mean, e.se, sivi0)
		}
		if len(siviK) > 0 {
			notBelow("SIVI_K non-decreasing", e, siviK[len(siviK)-1])
		}
		siviK = append(siviK, e)
	}
	if siviK[len(siviK)-1].mean-siviK[0].mean < avviSigmas*math.Hypot(siviK[0].se, siviK[len(siviK)-1].se) {
		t.Errorf("SIVI_17 − SIVI_1 not resolved: the test does not exercise the ordering")
	}
	iw := sgSummarize(sivi.IWHVI{K: 3}.Integrand(rng, siviGauss{}, q, sgPosterior{}, x))
	check("IWHVI, τ = q(λ | z)", iw)
	if math.Abs(iw.mean-elbo) > avviSigmas*iw.se {
		t.Errorf("IWHVI with the exact q(λ | z): %v ± %v, marginal ELBO %v", iw.mean, iw.se, elbo)
	}
	prior := sivi.Prior{Mixing: eimfamily.NewStdNormal(1, 1), Conditional: linearGaussian(sgPriorW, 0, sgPriorStd)}
	var prev *sgEstimate
	for _, l := range []int{1, 4, 16} {
		e := sgSummarize(sivi.DSIVI{K: 5, L: l}.Integrand(rng, siviGauss{}, prior, q, x))
		check("DSIVI", e)
		notBelow("SIVI_5 ≥ DSIVI_{5,L}", siviK[2], e)
		if prev != nil {
			notBelow("DSIVI non-decreasing in L", e, *prev)
		}
		prev = &e
	}
}
