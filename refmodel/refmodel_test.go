package refmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distmv"

	"github.com/eimkit/eimkit/ad"
)

// exactTol is the agreement required between two closed forms of one
// quantity: they differ only by rounding.
const exactTol = 1e-12

// zMax is the number of standard errors a Monte Carlo mean may be off.
const zMax = 5

// TestConjugateIdentity checks log p(x, z) − log p(z | x) = log p(x) at
// several z (Bayes' rule, exact for any z), and that Conjugate agrees
// with LinearGaussian with W = I.
func TestConjugateIdentity(t *testing.T) {
	m := NewConjugate(2, 0.7)
	lg := LinearGaussian{W: [][]float64{{1, 0}, {0, 1}}, Sigma: 0.7}
	x := ad.New([]float64{0.3, -1.2, 2.5, 0.1}, 2, 2)
	logp := m.LogEvidence(x)
	mean, va := m.Posterior(x)
	for i, lp := range logp {
		if got := lg.LogEvidence(x.Data()[2*i : 2*i+2]); !scalar.EqualWithinAbsOrRel(got, lp, exactTol, exactTol) {
			t.Errorf("row %d: LinearGaussian log p(x) = %v, Conjugate %v", i, got, lp)
		}
	}
	for _, zv := range [][]float64{{0, 0}, {1.3, -0.4}, {-2, 3}} {
		z := ad.New(append(append([]float64(nil), zv...), zv...), 2, 2)
		lj := m.LogJoint(x, z).Data()
		lj2 := lg.LogJoint(x, z).Data()
		for i := range lj {
			post := 0.0
			for j := range 2 {
				post += logNormal(zv[j], mean[i][j], va[i][j])
			}
			if got := lj[i] - post; !scalar.EqualWithinAbsOrRel(got, logp[i], exactTol, exactTol) {
				t.Errorf("z %v row %d: log p(x,z) − log p(z|x) = %v, log p(x) = %v", zv, i, got, logp[i])
			}
			if !scalar.EqualWithinAbsOrRel(lj[i], lj2[i], exactTol, exactTol) {
				t.Errorf("z %v row %d: Conjugate log p(x,z) %v, LinearGaussian %v", zv, i, lj[i], lj2[i])
			}
		}
	}
}

// TestLinearGaussianIdentity checks Bayes' rule for a correlated
// posterior with the Posterior covariance, and the mean-field gap of the
// two-latent model x = z₁ + z₂ + noise(0.5): ½ log(25/9).
func TestLinearGaussianIdentity(t *testing.T) {
	m := LinearGaussian{W: [][]float64{{1, 1}, {0.5, -1}, {2, 0.3}}, Sigma: 0.6}
	x := []float64{0.4, -1.1, 1.7}
	mean, cov := m.Posterior(x)
	post, ok := distmv.NewNormal(mean, cov, nil)
	if !ok {
		t.Fatal("posterior covariance not positive definite")
	}
	lp := m.LogEvidence(x)
	for _, zv := range [][]float64{{0, 0}, {1.3, -0.4}, {-2, 3}} {
		lj := m.LogJoint(ad.New(x, 1, 3), ad.New(zv, 1, 2)).Item()
		if got := lj - post.LogProb(zv); !scalar.EqualWithinAbsOrRel(got, lp, exactTol, exactTol) {
			t.Errorf("z %v: log p(x,z) − log p(z|x) = %v, log p(x) = %v", zv, got, lp)
		}
	}
	c := LinearGaussian{W: [][]float64{{1, 1}}, Sigma: 0.5}
	if got, want := c.MeanFieldGap(), 0.5*math.Log(25.0/9); !scalar.EqualWithinAbsOrRel(got, want, exactTol, exactTol) {
		t.Errorf("MeanFieldGap = %v, want ½ log(25/9) = %v", got, want)
	}
}

// TestSampleMoments checks the sample mean and covariance of x from
// Sample against W Wᵀ + σ² I, within zMax standard errors (the standard
// error of a sample covariance entry is sqrt((Σ_aa Σ_bb + Σ_ab²)/n)).
func TestSampleMoments(t *testing.T) {
	m := LinearGaussian{W: [][]float64{{1, 1}, {0.5, -1}}, Sigma: 0.6}
	const n = 20000
	_, x := m.Sample(rand.New(rand.NewPCG(3, 4)), n)
	var want mat.SymDense
	want.SymOuterK(1, m.wDense())
	for i := range 2 {
		want.SetSym(i, i, want.At(i, i)+m.Sigma*m.Sigma)
	}
	xd := x.Data()
	for a := range 2 {
		mu := 0.0
		for i := range n {
			mu += xd[2*i+a]
		}
		mu /= n
		if se := math.Sqrt(want.At(a, a) / n); math.Abs(mu) > zMax*se {
			t.Errorf("mean of x_%d = %v, want 0 ± %v", a, mu, se)
		}
		for b := range 2 {
			c := 0.0
			for i := range n {
				c += xd[2*i+a] * xd[2*i+b]
			}
			c /= n
			se := math.Sqrt((want.At(a, a)*want.At(b, b) + want.At(a, b)*want.At(a, b)) / n)
			if math.Abs(c-want.At(a, b)) > zMax*se {
				t.Errorf("cov(x_%d, x_%d) = %v, want %v ± %v", a, b, c, want.At(a, b), se)
			}
		}
	}
}

// TestFinite checks the finite model by enumeration: p(x) sums to 1 over
// the observations, the posterior is normalized and equals p(x, z)/p(x),
// LogJoint is −Inf off the support, and Sample's joint frequencies match
// p(x, z) within zMax binomial standard errors.
func TestFinite(t *testing.T) {
	f := FiniteExample()
	x := f.Obs()
	le := f.LogEvidence(x)
	if s := math.Exp(logSumExp(le)); math.Abs(s-1) > exactTol {
		t.Errorf("Σ_x p(x) = %v, want 1", s)
	}
	post := f.LogPosterior(x)
	m := f.Len()
	z := ad.BroadcastTo(ad.Unsqueeze(f.Points(), 1), m, f.NumObs(), 1) // z_j for every x
	lj := f.LogJoint(x, z).Data()
	for i := range f.NumObs() {
		if s := math.Exp(logSumExp(post[i])); math.Abs(s-1) > exactTol {
			t.Errorf("x_%d: Σ_z p(z|x) = %v", i, s)
		}
		for j := range m {
			if got := lj[j*f.NumObs()+i] - le[i]; math.Abs(got-post[i][j]) > exactTol {
				t.Errorf("x_%d z_%d: log p(x,z) − log p(x) = %v, log p(z|x) = %v", i, j, got, post[i][j])
			}
		}
	}
	if v := f.LogJoint(ad.New([]float64{0}, 1, 1), ad.New([]float64{0.3}, 1, 1)).Item(); !math.IsInf(v, -1) {
		t.Errorf("LogJoint off the support = %v, want -Inf", v)
	}
	const n = 40000
	zs, xs := f.Sample(rand.New(rand.NewPCG(5, 6)), n)
	count := make([]float64, m*f.NumObs())
	for r := range n {
		count[f.ZIndex(zs.Data()[r:r+1])*f.NumObs()+f.XIndex(xs.Data()[r:r+1])]++
	}
	for j := range m {
		for i := range f.NumObs() {
			p := math.Exp(f.logPrior[j] + f.logLik[j][i])
			se := math.Sqrt(p * (1 - p) / n)
			if got := count[j*f.NumObs()+i] / n; math.Abs(got-p) > zMax*se {
				t.Errorf("frequency of (z_%d, x_%d) = %v, want %v ± %v", j, i, got, p, se)
			}
		}
	}
}

// TestPanics checks that misuse panics with a message naming the function.
func TestPanics(t *testing.T) {
	cases := map[string]func(){
		"refmodel: NewConjugate":            func() { NewConjugate(0, 1) },
		"refmodel: Conjugate.LogJoint":      func() { NewConjugate(2, 1).LogJoint(ad.Zeros(3, 2), ad.Zeros(2, 2)) },
		"refmodel: LinearGaussian.LogJoint": func() { LinearGaussian{W: [][]float64{{1}}, Sigma: 1}.LogJoint(ad.Zeros(3, 2), ad.Zeros(3, 1)) },
		"refmodel: NewFinite":               func() { NewFinite([][]float64{{0}, {0}}, []float64{0, 0}, [][]float64{{1}}, [][]float64{{0}, {0}}) },
		"refmodel: Finite.LogJoint":         func() { FiniteExample().LogJoint(ad.New([]float64{0.5}, 1, 1), ad.Zeros(1, 1)) },
	}
	for want, f := range cases {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || len(s) < len(want) || s[:len(want)] != want {
					t.Errorf("panic %v, want a message starting %q", r, want)
				}
			}()
			f()
		}()
	}
}
