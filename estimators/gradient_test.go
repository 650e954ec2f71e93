package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/internal/mctest"
)

// The conjugate Gaussian model of the gradient tests, with one learned
// model parameter θ = μ and an amortized Gaussian q with φ = (a, b, c):
//
//	z ~ N(μ, 1),   x | z ~ N(z, σ²),   q(z | x) = N(a x + b, e^{2c}).
//
// The posterior is N((μσ² + x)/(1 + σ²), σ²/(1 + σ²)). Each test runs n
// independent replicates at once: every parameter is an [n] tensor (all
// entries equal), the draws are [K, n], and the gradient of the summed
// surrogate with respect to a parameter is the [n] vector of independent
// single-replicate estimates.
type gaussCase struct {
	x, sigma    float64
	a, b, c, mu float64
}

const gaussParams = 4 // a, b, c, μ

var gaussParamNames = [gaussParams]string{"a", "b", "c", "mu"}

// posterior returns the (a, b, c) that make q the exact posterior.
func (g gaussCase) posterior() gaussCase {
	s2 := g.sigma * g.sigma
	g.a = 1 / (1 + s2)
	g.b = g.mu * s2 / (1 + s2)
	g.c = 0.5 * math.Log(s2/(1+s2))
	return g
}

// logNormal returns log N(v; m, e^{2 logs}) elementwise (broadcasting).
func logNormal(v, m, logs *ad.Tensor) *ad.Tensor {
	d := ad.Div(ad.Sub(v, m), ad.Exp(logs))
	return ad.Sub(ad.AddScalar(ad.MulScalar(ad.Square(d), -0.5), -0.5*math.Log(2*math.Pi)), logs)
}

// terms draws K samples for n replicates and returns the IWAETerms, the
// leaf parameters (a, b, c, μ) and the log weights (values).
func (g gaussCase) terms(rng *rand.Rand, K, n int, reparam bool) (IWAETerms, [gaussParams]*ad.Tensor) {
	a := ad.Full(g.a, n).RequireGrad()
	b := ad.Full(g.b, n).RequireGrad()
	c := ad.Full(g.c, n).RequireGrad()
	mu := ad.Full(g.mu, n).RequireGrad()
	m := ad.AddScalar(ad.MulScalar(a, g.x), 0) // a x
	m = ad.Add(m, b)
	z := ad.Add(m, ad.Mul(ad.Exp(c), ad.Randn(rng, K, n)))
	if !reparam {
		z = z.Detach()
	}
	logp := func(z *ad.Tensor) *ad.Tensor {
		return ad.Add(logNormal(z, mu, ad.Scalar(0)), logNormal(ad.Scalar(g.x), z, ad.Scalar(math.Log(g.sigma))))
	}
	return IWAETerms{
		LogP:         logp(z),
		LogQ:         logNormal(z, m, c),
		LogQStopped:  logNormal(z, m.Detach(), c.Detach()),
		LogPStoppedZ: logp(z.Detach()),
	}, [gaussParams]*ad.Tensor{a, b, c, mu}
}

// grads returns n single-replicate estimates of ∇(a, b, c, μ) of the
// K-sample bound with estimator e, as [param][replicate].
func (g gaussCase) grads(rng *rand.Rand, e GradientEstimator, K, n int) [gaussParams][]float64 {
	t, ps := g.terms(rng, K, n, e != ScoreFunction)
	gs := ad.Grad(ad.Sum(IWAESurrogate(e, t)), ps[:]...)
	var out [gaussParams][]float64
	for i := range gaussParams {
		out[i] = gs[i].Data()
	}
	return out
}

// elboGrad returns the exact gradient of the ELBO (K = 1) in (a, b, c, μ):
// with m = a x + b, s = e^c,
//
//	ELBO = −½((m − μ)² + s²) − ((x − m)² + s²)/(2σ²) + c + const,
//	∂/∂m = −(m − μ) + (x − m)/σ²,   ∂/∂c = 1 − s² − s²/σ²,   ∂/∂μ = m − μ.
func (g gaussCase) elboGrad() [gaussParams]float64 {
	m, s2, v := g.a*g.x+g.b, math.Exp(2*g.c), g.sigma*g.sigma
	dm := -(m - g.mu) + (g.x-m)/v
	return [gaussParams]float64{dm * g.x, dm, 1 - s2 - s2/v, m - g.mu}
}

var allEstimators = []GradientEstimator{Reparameterized, STL, DReG, ScoreFunction}

// gaussOff is q away from the posterior, so that the gradients are
// nonzero: q = N(0.46, e^{−0.4}) against the posterior N(0.8488, 0.3902)
// (x = 1.2, σ = 0.8, μ = 0.3; see posterior).
var gaussOff = gaussCase{x: 1.2, sigma: 0.8, a: 0.3, b: 0.1, c: -0.2, mu: 0.3}

// The surrogate's value is the bound for every estimator, sample by sample.
func TestIWAESurrogateValue(t *testing.T) {
	for _, K := range []int{1, 5} {
		rng := rand.New(rand.NewPCG(1, 2))
		tm, _ := gaussOff.terms(rng, K, 50, true)
		want := ad.LogMeanExp(ad.Sub(tm.LogP, tm.LogQ), 0).Data()
		for _, e := range allEstimators {
			got := IWAESurrogate(e, tm).Data()
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12 {
					t.Fatalf("K=%d %v: value[%d] = %v, want the bound %v", K, e, i, got[i], want[i])
				}
			}
		}
	}
}

// K = 1: every estimator, STL included, is unbiased for the closed-form
// ELBO gradient (within 5 standard errors).
func TestGradientEstimatorsELBO(t *testing.T) {
	const n = 40000
	want := gaussOff.elboGrad()
	for ei, e := range allEstimators {
		rng := rand.New(rand.NewPCG(3, uint64(ei)))
		gs := gaussOff.grads(rng, e, 1, n)
		for p := range gaussParams {
			m, se := mctest.MeanSE(gs[p])
			if math.Abs(m-want[p]) > 5*se {
				t.Errorf("%v ∂/∂%s: %.5f ± %.5f, exact %.5f", e, gaussParamNames[p], m, se, want[p])
			}
			t.Logf("K=1 %-15v ∂/∂%-2s %+.5f ± %.5f (exact %+.5f)", e, gaussParamNames[p], m, se, want[p])
		}
	}
}

// K > 1: Reparameterized, DReG and ScoreFunction estimate the same
// gradient of IWAE_K (within 5 standard errors of the difference, against
// a Reparameterized reference of many draws); STL's bias is reported.
func TestGradientEstimatorsIWAE(t *testing.T) {
	const K = 8
	const nRef, n = 200000, 50000
	ref := gaussOff.grads(rand.New(rand.NewPCG(4, 0)), Reparameterized, K, nRef)
	var rm, rse [gaussParams]float64
	for p := range gaussParams {
		rm[p], rse[p] = mctest.MeanSE(ref[p])
	}
	for ei, e := range allEstimators {
		nn := n
		if e == ScoreFunction {
			nn = 4 * n // the noisiest
		}
		gs := gaussOff.grads(rand.New(rand.NewPCG(5, uint64(ei))), e, K, nn)
		for p := range gaussParams {
			m, se := mctest.MeanSE(gs[p])
			z := (m - rm[p]) / math.Hypot(se, rse[p])
			t.Logf("K=%d %-15v ∂/∂%-2s %+.5f ± %.5f  reference %+.5f ± %.5f  z = %+.2f", K, e, gaussParamNames[p], m, se, rm[p], rse[p], z)
			if e != STL && math.Abs(z) > 5 {
				t.Errorf("%v ∂/∂%s: %.5f ± %.5f, reference %.5f ± %.5f (z = %.2f)", e, gaussParamNames[p], m, se, rm[p], rse[p], z)
			}
		}
	}
}

// At q = p(z | x) the log weights are constant in z: STL's and DReG's
// φ-gradients are zero for every draw (zero variance), while the
// reparameterized estimator's are not; the true gradient is zero, since
// IWAE_K = log p(x) is at its maximum.
func TestGradientZeroVarianceAtPosterior(t *testing.T) {
	g := gaussOff.posterior()
	for _, K := range []int{1, 10} {
		for _, e := range []GradientEstimator{STL, DReG, Reparameterized} {
			gs := g.grads(rand.New(rand.NewPCG(6, uint64(K))), e, K, 200)
			maxAbs := 0.0
			for p := range 3 { // a, b, c
				for _, v := range gs[p] {
					maxAbs = max(maxAbs, math.Abs(v))
				}
			}
			if e == Reparameterized {
				if maxAbs < 1e-3 {
					t.Errorf("K=%d reparameterized: max |∇φ| = %g, want the nonzero score noise", K, maxAbs)
				}
			} else if maxAbs > 1e-12 {
				t.Errorf("K=%d %v: max |∇φ| = %g at the posterior, want 0", K, e, maxAbs)
			}
		}
	}
}

// snr returns |mean|/std of v and its standard error by the delta method
// for normal data, √((1 + SNR²/2)/n).
func snr(v []float64) (r, se float64) {
	m, sem := mctest.MeanSE(v)
	sd := sem * math.Sqrt(float64(len(v)))
	r = math.Abs(m) / sd
	return r, math.Sqrt((1 + r*r/2) / float64(len(v)))
}

// Rainforth et al. (2018): as K grows the reparameterized estimator's
// signal-to-noise ratio for the inference parameters falls (O(1/√K)) while
// DReG's rises (O(√K)); the model parameter's rises for both. Asserted
// between K = 1 and K = 1000 by more than 5 standard errors of the
// difference of the SNR estimates; the table is logged. (Not between
// neighbouring K: ∂/∂c of IWAE_K changes sign near K = 10 for this q, so
// its SNR is not monotone there, and from K = 100 on the reparameterized
// SNRs sit at the floor ≈ 1/√n of an estimate of zero. ∂/∂a = x ∂/∂b draw
// by draw, so their SNRs coincide.)
func TestGradientSNR(t *testing.T) {
	Ks := []int{1, 10, 100, 1000}
	const n = 2000
	type key struct {
		e GradientEstimator
		K int
	}
	val := map[key][gaussParams][2]float64{}
	var b strings.Builder
	fmt.Fprintf(&b, "SNR = |mean|/std over %d draws (± s.e.), q away from the posterior\n", n)
	fmt.Fprintf(&b, "%-16s %5s", "estimator", "K")
	for _, nm := range gaussParamNames {
		fmt.Fprintf(&b, " %16s", "∂/∂"+nm)
	}
	b.WriteString("\n")
	for _, e := range []GradientEstimator{Reparameterized, DReG, STL} {
		for _, K := range Ks {
			gs := gaussOff.grads(rand.New(rand.NewPCG(7, uint64(K))), e, K, n)
			var row [gaussParams][2]float64
			fmt.Fprintf(&b, "%-16v %5d", e, K)
			for p := range gaussParams {
				r, se := snr(gs[p])
				row[p] = [2]float64{r, se}
				fmt.Fprintf(&b, "  %7.3f ± %5.3f", r, se)
			}
			b.WriteString("\n")
			val[key{e, K}] = row
		}
	}
	t.Log("\n" + b.String())
	for p := range 3 { // inference parameters a, b, c
		lo, hi := val[key{DReG, 1}][p], val[key{DReG, 1000}][p]
		if hi[0]-lo[0] < 5*math.Hypot(lo[1], hi[1]) {
			t.Errorf("DReG ∂/∂%s: SNR %.3f ± %.3f at K=1000 vs %.3f ± %.3f at K=1, want it to grow", gaussParamNames[p], hi[0], hi[1], lo[0], lo[1])
		}
		lo, hi = val[key{Reparameterized, 1}][p], val[key{Reparameterized, 1000}][p]
		if lo[0]-hi[0] < 5*math.Hypot(lo[1], hi[1]) {
			t.Errorf("reparameterized ∂/∂%s: SNR %.3f ± %.3f at K=1000 vs %.3f ± %.3f at K=1, want it to shrink", gaussParamNames[p], hi[0], hi[1], lo[0], lo[1])
		}
	}
}

// ScoreFunction on a finite model, against the exact gradient of IWAE_K by
// enumeration of all 3^K draws: q(z) = softmax(φ) over z ∈ {0, 1, 2} and
// p(x, z) = exp(θ_z)·c_z with learned θ.
func TestScoreFunctionEnumeration(t *testing.T) {
	const K, nz = 3, 3
	phi0 := []float64{0.2, -0.5, 0.4}
	theta0 := []float64{-1.0, -0.3, -2.0}
	// Exact: E[L] = Σ_{z_{1:K}} Π_k q(z_k) L(z_{1:K}), differentiated by ad.
	phi := ad.New(append([]float64(nil), phi0...), nz).RequireGrad()
	theta := ad.New(append([]float64(nil), theta0...), nz).RequireGrad()
	lq := ad.LogSoftmax(phi, 0)
	w := ad.Sub(theta, lq) // log weight of each value
	var total *ad.Tensor
	for idx := range int(math.Pow(nz, K)) {
		zs := make([]int, K)
		for k, r := 0, idx; k < K; k, r = k+1, r/nz {
			zs[k] = r % nz
		}
		lw := ad.IndexSelect(w, 0, zs)
		prob := ad.Exp(ad.Sum(ad.IndexSelect(lq, 0, zs)))
		term := ad.Mul(prob, ad.LogMeanExp(lw, 0))
		if total == nil {
			total = term
		} else {
			total = ad.Add(total, term)
		}
	}
	exact := ad.Grad(total, phi, theta)
	// Monte Carlo: n replicates, per-replicate parameters [n, 3].
	const n = 100000
	rng := rand.New(rand.NewPCG(8, 9))
	phiN := ad.New(tile(phi0, n), n, nz).RequireGrad()
	thetaN := ad.New(tile(theta0, n), n, nz).RequireGrad()
	lqN := ad.LogSoftmax(phiN, 1) // [n, 3]
	probs := ad.Softmax(phiN, 1).Data()
	onehot := make([]float64, K*n*nz)
	for k := range K {
		for i := range n {
			u, j := rng.Float64(), 0
			for j < nz-1 && u >= probs[i*nz+j] {
				u -= probs[i*nz+j]
				j++
			}
			onehot[(k*n+i)*nz+j] = 1
		}
	}
	oh := ad.New(onehot, K, n, nz)
	pick := func(v *ad.Tensor) *ad.Tensor { return ad.Sum(ad.Mul(oh, v), 2) } // [K, n]
	tm := IWAETerms{LogP: pick(thetaN), LogQ: pick(lqN)}
	gs := ad.Grad(ad.Sum(IWAESurrogate(ScoreFunction, tm)), phiN, thetaN)
	for pi, name := range []string{"phi", "theta"} {
		ex := exact[pi].Data()
		d := gs[pi].Data()
		for j := range nz {
			v := make([]float64, n)
			for i := range n {
				v[i] = d[i*nz+j]
			}
			m, se := mctest.MeanSE(v)
			t.Logf("score function ∂/∂%s_%d: %+.5f ± %.5f, exact %+.5f", name, j, m, se, ex[j])
			if math.Abs(m-ex[j]) > 5*se {
				t.Errorf("score function ∂/∂%s_%d: %.5f ± %.5f, exact %.5f", name, j, m, se, ex[j])
			}
		}
	}
}

func tile(v []float64, n int) []float64 {
	out := make([]float64, 0, n*len(v))
	for range n {
		out = append(out, v...)
	}
	return out
}

func TestIWAESurrogatePanics(t *testing.T) {
	x := ad.Zeros(3, 2)
	for name, f := range map[string]func(){
		"missing LogQ":        func() { IWAESurrogate(Reparameterized, IWAETerms{LogP: x}) },
		"missing LogQStopped": func() { IWAESurrogate(DReG, IWAETerms{LogP: x, LogQ: x}) },
		"shape":               func() { IWAESurrogate(STL, IWAETerms{LogP: x, LogQStopped: ad.Zeros(2, 3)}) },
		"rank":                func() { IWAESurrogate(STL, IWAETerms{LogP: ad.Zeros(3)}) },
		"unknown":             func() { IWAESurrogate(GradientEstimator(9), IWAETerms{LogP: x, LogQ: x}) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "estimators: ") {
					t.Errorf("%s: recovered %v, want a panic starting with \"estimators: \"", name, r)
				}
			}()
			f()
		}()
	}
}
