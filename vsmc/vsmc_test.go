package vsmc

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distmv"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/internal/mctest"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/statespace"
)

// Tolerances.
const (
	// densityTol: a log density of a 5-dimensional Gaussian computed two
	// ways (ad with an inverted Cholesky factor; gonum's distmv) differs
	// by rounding, ~1e-14 on values of size ~10.
	densityTol = 1e-12
	// mcSigmas is the width of Monte Carlo checks in standard errors.
	mcSigmas = 5
	// fdStep and fdTol are for central differences of log Ẑ (size ~50):
	// truncation ~h² ≈ 1e-12, rounding ~1e-16·50/h ≈ 5e-9; 1e-6 relative
	// leaves a margin of 100 while a wrong term is off by far more.
	fdStep = 1e-6
	fdTol  = 1e-6
)

// lgData is the VSMC example with one observed sequence of T = 10 steps.
type lgData struct {
	ss    *statespace.LinearGaussian
	ys    *ad.Tensor // [T, dy]
	logZ  float64    // Kalman log p(y)
	model *LinearGaussian
}

func newLGData() lgData {
	ss := statespace.VSMCExample()
	_, y := ss.Sample(rand.New(rand.NewPCG(2018, 5)), statespace.VSMCExampleT)
	T, dy := y.Dims()
	return lgData{
		ss:    ss,
		ys:    ad.New(slices.Clone(y.RawMatrix().Data), T, dy),
		logZ:  ss.KalmanLogLikelihood(y),
		model: NewLinearGaussian(ss, false),
	}
}

// Train runs steps Adam steps maximizing o's bound (batch runs per step)
// and returns the mean bound over the last quarter of the steps.
func train(rng *rand.Rand, o Objective, p Model, q Proposal, ys *ad.Tensor, steps, batch int, lr float64, opts Options) float64 {
	params := append(slices.Clone(q.Params()), p.Params()...)
	opt := &nn.Adam{LR: lr, Schedule: func(s int) float64 { return math.Pow(0.1, float64(s)/float64(steps)) }}
	tail := 0.0
	for s := range steps {
		var sum *ad.Tensor
		for range batch {
			b := o.Bound(rng, p, q, ys, opts)
			if sum == nil {
				sum = b
			} else {
				sum = ad.Add(sum, b)
			}
		}
		loss := ad.MulScalar(sum, -1/float64(batch))
		opt.Step(params, ad.Grad(loss, params...))
		if s >= steps-steps/4 {
			tail -= loss.Item() / float64(steps/4)
		}
	}
	return tail
}

// trained is a GaussianProposal trained on FIVO(4) for the VSMC example,
// shared by the tests that need a learned proposal (about a second).
var trained = sync.OnceValues(func() (lgData, *GaussianProposal) {
	d := newLGData()
	q := NewGaussianProposal(5, 3)
	train(rand.New(rand.NewPCG(7, 7)), FIVO(4), d.model, q, d.ys, 1500, 2, 0.01, Options{})
	return d, q
})

func TestLinearGaussianDensities(t *testing.T) {
	d := newLGData()
	p := d.ss.Params()
	m := d.model
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 7
	x := ad.Randn(rng, n, 5)
	prev := ad.Randn(rng, n, 5)
	y := ad.Randn(rng, 3)
	lp0 := m.LogInitial(x).Data()
	lpf := m.LogTransition(prev, x).Data()
	lpg := m.LogEmission(x, y).Data()
	for i := range n {
		xi := x.Data()[i*5 : (i+1)*5]
		pi := mat.NewVecDense(5, slices.Clone(prev.Data()[i*5:(i+1)*5]))
		n0, _ := distmv.NewNormal(p.Mu0.RawVector().Data, p.Sigma0, nil)
		var ax, cx mat.VecDense
		ax.MulVec(p.A, pi)
		nf, _ := distmv.NewNormal(ax.RawVector().Data, p.Q, nil)
		cx.MulVec(p.C, mat.NewVecDense(5, slices.Clone(xi)))
		ng, _ := distmv.NewNormal(cx.RawVector().Data, p.R, nil)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"LogInitial", lp0[i], n0.LogProb(xi)},
			{"LogTransition", lpf[i], nf.LogProb(xi)},
			{"LogEmission", lpg[i], ng.LogProb(y.Data())},
		} {
			if math.Abs(c.got-c.want) > densityTol {
				t.Errorf("%s row %d: %.15g, distmv %.15g", c.name, i, c.got, c.want)
			}
		}
	}
	// A learned A: the gradient of a sum of transition densities.
	ml := NewLinearGaussian(d.ss, true)
	if ps := ml.Params(); len(ps) != 1 || ps[0] != ml.A {
		t.Fatalf("Params with learnA = %v, want [A]", ps)
	}
	checkFD(t, "LogTransition wrt A", ml.Params(), func() *ad.Tensor { return ad.Sum(ml.LogTransition(prev, x)) })
	if got := ml.Statespace().KalmanLogLikelihood(mat.NewDense(10, 3, d.ys.Data())); got != d.logZ {
		t.Errorf("Statespace().KalmanLogLikelihood = %v, want %v", got, d.logZ)
	}
}

func TestGaussianProposal(t *testing.T) {
	q := NewGaussianProposal(5, 3)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range q.Params() { // move away from zero
		for i := range p.Data() {
			p.Data()[i] = 0.3 * rng.NormFloat64()
		}
	}
	y := ad.Randn(rng, 3)
	prev := ad.Randn(rng, 4, 5)
	for _, tt := range []int{0, 3} {
		var pr *ad.Tensor
		if tt > 0 {
			pr = prev
		}
		x := q.Sample(rand.New(rand.NewPCG(9, 9)), tt, pr, y, 4)
		eps := ad.Randn(rand.New(rand.NewPCG(9, 9)), 4, 5).Data()
		lp := q.LogProb(tt, pr, y, x).Data()
		B, C, b, s := q.B, q.C, q.Bias, q.LogScale
		if tt == 0 {
			B, C, b, s = ad.Zeros(5, 5), q.C0, q.Bias0, q.LogScale0
		}
		for i := range 4 {
			mean := make([]float64, 5)
			cov := mat.NewSymDense(5, nil)
			for j := range 5 {
				mean[j] = b.Data()[j]
				for k := range 5 {
					mean[j] += B.Data()[j*5+k] * prev.Data()[i*5+k]
				}
				for k := range 3 {
					mean[j] += C.Data()[j*3+k] * y.Data()[k]
				}
				sd := math.Exp(s.Data()[j])
				cov.SetSym(j, j, sd*sd)
				if got, want := x.Data()[i*5+j], mean[j]+sd*eps[i*5+j]; math.Abs(got-want) > densityTol {
					t.Errorf("t = %d: Sample[%d, %d] = %v, want mean + sd·ε = %v", tt, i, j, got, want)
				}
			}
			nq, _ := distmv.NewNormal(mean, cov, nil)
			if want := nq.LogProb(x.Data()[i*5 : (i+1)*5]); math.Abs(lp[i]-want) > densityTol {
				t.Errorf("t = %d: LogProb row %d = %.15g, distmv %.15g", tt, i, lp[i], want)
			}
		}
		checkFD(t, "GaussianProposal.LogProb", q.Params(), func() *ad.Tensor {
			return ad.Sum(q.LogProb(tt, pr, y, x.Detach()))
		})
	}
}

// checkFD compares ad.Grad of f with central differences in params.
func checkFD(t *testing.T, name string, params []*ad.Tensor, f func() *ad.Tensor) {
	t.Helper()
	theta := nn.Flatten(params)
	set := func(x []float64) { nn.SetFlat(params, x) }
	got := nn.Flatten(ad.Grad(f(), params...))
	want := fd.Gradient(nil, func(x []float64) float64 { set(x); return f().Item() },
		slices.Clone(theta), &fd.Settings{Formula: fd.Central, Step: fdStep})
	set(theta)
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > fdTol*max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
			t.Errorf("%s: ∂/∂θ[%d] = %.12g by ad, %.12g by differences", name, i, got[i], want[i])
		}
	}
}

// iwae computes the IWAE bound directly, without SMC: n trajectories from
// the proposal, each weighted by Π_t α_t, and log (1/n) Σ exp of the log
// weights. The draws are made step by step for all n trajectories at once
// (the order SMC draws them in), so the same seed gives the same draws.
func iwae(rng *rand.Rand, p Model, q Proposal, ys *ad.Tensor, n int) *ad.Tensor {
	T, dy := ys.Dim(0), ys.Dim(1)
	var x, logw *ad.Tensor
	for t := range T {
		y := ad.Reshape(ad.Slice(ys, 0, t, t+1), dy)
		prev := x
		x = q.Sample(rng, t, prev, y, n)
		var lp *ad.Tensor
		if t == 0 {
			lp = ad.Add(p.LogInitial(x), p.LogEmission(x, y))
		} else {
			lp = ad.Add(p.LogTransition(prev, x), p.LogEmission(x, y))
		}
		la := ad.Sub(lp, q.LogProb(t, prev, y, x))
		if logw == nil {
			logw = la
		} else {
			logw = ad.Add(logw, la)
		}
	}
	return ad.LogMeanExp(logw, 0)
}

// TestNeverIsIWAE checks that SMC with the never criterion is IWAE bit for
// bit, value and gradient, at the same seed; and that N = 1 is the ELBO's
// integrand whatever the criterion (at the same seed when resampling
// draws no random numbers).
func TestNeverIsIWAE(t *testing.T) {
	d := newLGData()
	q := NewGaussianProposal(5, 3)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range q.Params() {
		for i := range p.Data() {
			p.Data()[i] = 0.2 * rng.NormFloat64()
		}
	}
	for _, n := range []int{1, 4, 16} {
		for seed := range uint64(5) {
			got := IWAE(n).Bound(rand.New(rand.NewPCG(seed, 1)), d.model, q, d.ys, Options{ResamplingGradient: true})
			want := iwae(rand.New(rand.NewPCG(seed, 1)), d.model, q, d.ys, n)
			if got.Item() != want.Item() {
				t.Fatalf("N = %d, seed %d: Never gives %v, IWAE %v", n, seed, got.Item(), want.Item())
			}
			g1, g2 := ad.Grad(got, q.Params()...), ad.Grad(want, q.Params()...)
			for i := range g1 {
				if !slices.Equal(g1[i].Data(), g2[i].Data()) {
					t.Fatalf("N = %d, seed %d: gradients differ in parameter %d", n, seed, i)
				}
			}
		}
	}
	// With N = 1, ESS = 1 and FIVO never resamples; resampling always
	// with Residual draws no uniform (⌊1·W⌋ = 1), so the stream is the
	// same as without resampling.
	for _, o := range []Objective{{N: 1, Criterion: estimators.Always, Resampling: estimators.Residual}, FIVO(1), ELBO()} {
		got := o.Bound(rand.New(rand.NewPCG(8, 1)), d.model, q, d.ys, Options{})
		want := iwae(rand.New(rand.NewPCG(8, 1)), d.model, q, d.ys, 1)
		if got.Item() != want.Item() {
			t.Errorf("%v with N = 1: %v, want the ELBO integrand %v", o, got.Item(), want.Item())
		}
	}
}

// TestBoundValue checks that ResamplingGradient changes the gradient and
// not the value: the same bits at the same seed.
func TestBoundValue(t *testing.T) {
	d, q := trained()
	for seed := range uint64(20) {
		a := AESMC(4).Bound(rand.New(rand.NewPCG(seed, 2)), d.model, q, d.ys, Options{})
		b := AESMC(4).Bound(rand.New(rand.NewPCG(seed, 2)), d.model, q, d.ys, Options{ResamplingGradient: true, Baseline: &Baseline{}})
		if a.Item() != b.Item() {
			t.Fatalf("seed %d: %v without the score term, %v with it", seed, a.Item(), b.Item())
		}
	}
}

// TestPublishedGradient checks that the default gradient of Bound is the
// derivative of log Ẑ with the noise and the ancestors held fixed: at a
// fixed seed, central differences in the parameters (steps of 1e-6, too
// small to change an ancestor here) agree with ad.
func TestPublishedGradient(t *testing.T) {
	d, q0 := trained()
	q := *q0
	q.B, q.C, q.Bias, q.LogScale = q0.B.Clone().RequireGrad(), q0.C.Clone().RequireGrad(), q0.Bias.Clone().RequireGrad(), q0.LogScale.Clone().RequireGrad()
	q.C0, q.Bias0, q.LogScale0 = q0.C0.Clone().RequireGrad(), q0.Bias0.Clone().RequireGrad(), q0.LogScale0.Clone().RequireGrad()
	model := NewLinearGaussian(d.ss, true)
	params := append(q.Params(), model.Params()...)
	for _, o := range []Objective{AESMC(4), FIVO(4)} {
		run := o.Run(rand.New(rand.NewPCG(3, 3)), model, &q, d.ys)
		resampled := 0
		for _, r := range run.Resampled {
			if r {
				resampled++
			}
		}
		if resampled == 0 {
			t.Fatalf("%v: the run does not resample; pick another seed", o)
		}
		checkFD(t, o.String(), params, func() *ad.Tensor {
			r := o.Run(rand.New(rand.NewPCG(3, 3)), model, &q, d.ys)
			if !slices.EqualFunc(r.Ancestry, run.Ancestry, slices.Equal) {
				t.Fatalf("%v: the ancestors changed under a step of %g", o, fdStep)
			}
			return r.LogZ
		})
	}
}

// TestLGUnbiased checks on the VSMC example, with a learned proposal, that
// Ẑ is unbiased, E[Ẑ]/p(y) = 1, and that E[log Ẑ] ≤ log p(y), both
// within 5 standard errors of 4000 runs, with p(y) from the Kalman
// filter, for every bound and resampler; and that training raised the
// bound.
func TestLGUnbiased(t *testing.T) {
	d, q := trained()
	const runs = 4000
	for i, o := range []Objective{
		ELBO(), IWAE(4), FIVO(4), AESMC(4),
		{N: 4, Criterion: estimators.ESSBelow(0.5), Resampling: estimators.Systematic},
		{N: 4, Criterion: estimators.Always, Resampling: estimators.Stratified},
		{N: 4, Criterion: estimators.Always, Resampling: estimators.Residual},
	} {
		rng := rand.New(rand.NewPCG(100, uint64(i)))
		ratio := make([]float64, runs)
		logZ := make([]float64, runs)
		for r := range runs {
			logZ[r] = o.Bound(rng, d.model, q, d.ys, Options{}).Item()
			ratio[r] = math.Exp(logZ[r] - d.logZ)
		}
		mr, ser := mctest.MeanSE(ratio)
		mb, seb := mctest.MeanSE(logZ)
		if math.Abs(mr-1) > mcSigmas*ser {
			t.Errorf("%v %p: E[Ẑ]/p(y) = %.4f ± %.4f, want 1", o, o.Resampling, mr, ser)
		}
		if mb > d.logZ+mcSigmas*seb {
			t.Errorf("%v: E[log Ẑ] = %.4f ± %.4f above log p(y) = %.4f", o, mb, seb, d.logZ)
		}
		t.Logf("%-11v E[Ẑ]/p(y) = %.4f ± %.4f   E[log Ẑ] − log p(y) = %.4f ± %.4f", o, mr, ser, mb-d.logZ, seb)
	}
	// Training raised FIVO(4) from the initial N(0, I) proposal.
	before, after := make([]float64, 500), make([]float64, 500)
	rng := rand.New(rand.NewPCG(200, 1))
	q0 := NewGaussianProposal(5, 3)
	for r := range before {
		before[r] = FIVO(4).Bound(rng, d.model, q0, d.ys, Options{}).Item()
		after[r] = FIVO(4).Bound(rng, d.model, q, d.ys, Options{}).Item()
	}
	mb, seb := mctest.MeanSE(before)
	ma, sea := mctest.MeanSE(after)
	if ma-mb < mcSigmas*math.Hypot(seb, sea) {
		t.Errorf("FIVO(4) bound %.3f ± %.3f before training, %.3f ± %.3f after", mb, seb, ma, sea)
	}
}

// TestResamplingGradientTrains checks that the unbiased estimator, with
// the Baseline, trains: a short AESMC(4) run raises the bound well above
// the initial proposal's (by more than 5 standard errors; in fact by
// about 100 nats). (The gradient's exactness is checked by
// enumeration in TestResamplingGradientExact.)
func TestResamplingGradientTrains(t *testing.T) {
	d := newLGData()
	q := NewGaussianProposal(5, 3)
	eval := func(seed uint64) (float64, float64) {
		rng := rand.New(rand.NewPCG(seed, 3))
		v := make([]float64, 500)
		for r := range v {
			v[r] = AESMC(4).Bound(rng, d.model, q, d.ys, Options{}).Item()
		}
		return mctest.MeanSE(v)
	}
	mb, seb := eval(1)
	train(rand.New(rand.NewPCG(8, 8)), AESMC(4), d.model, q, d.ys, 600, 2, 0.01, Options{ResamplingGradient: true, Baseline: &Baseline{}})
	ma, sea := eval(2)
	if ma-mb < mcSigmas*math.Hypot(seb, sea) {
		t.Errorf("AESMC(4) with the resampling gradient: %.3f ± %.3f before training, %.3f ± %.3f after; log p(y) = %.3f", mb, seb, ma, sea, d.logZ)
	}
	t.Logf("AESMC(4), unbiased gradient, 600 steps: bound %.3f → %.3f (log p(y) = %.3f)", mb, ma, d.logZ)
}

// TestFamily checks the SMC family built from the pieces: exact draws of
// whole trajectories of the right shape, and its bound on their log
// density, which for N = 1 is the proposal's log density exactly.
func TestFamily(t *testing.T) {
	d, q := trained()
	f := FIVO(4).Family(d.model, q, d.ys)
	x := f.Sample(rand.New(rand.NewPCG(1, 1)), 3)
	if got := x.Shape(); !slices.Equal(got, []int{3, 10, 5}) {
		t.Fatalf("Sample shape %v, want [3 10 5]", got)
	}
	if b := f.Bound(rand.New(rand.NewPCG(1, 2)), x); b.Len() != 3 || b.HasNaN() {
		t.Fatalf("Bound = %v", b)
	}
	f1 := ELBO().Family(d.model, q, d.ys)
	got := f1.Bound(rand.New(rand.NewPCG(1, 3)), x).Data()
	for i := range 3 {
		want := 0.0
		var prev *ad.Tensor
		for s := range 10 {
			xs := ad.Reshape(ad.Slice(ad.Slice(x, 0, i, i+1), 1, s, s+1), 1, 5)
			want += q.LogProb(s, prev, ad.Reshape(ad.Slice(d.ys, 0, s, s+1), 3), xs).Item()
			prev = xs
		}
		if math.Abs(got[i]-want) > 1e-10 {
			t.Errorf("N = 1: bound on trajectory %d = %v, log q = %v", i, got[i], want)
		}
	}
}

func TestPanics(t *testing.T) {
	d := newLGData()
	q := NewGaussianProposal(5, 3)
	rng := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		name, want string
		f          func()
	}{
		{"ys shape", "observations of shape [10 2]", func() {
			FIVO(4).Bound(rng, d.model, q, ad.Zeros(10, 2), Options{})
		}},
		{"N < 0", "N = -1", func() { Objective{N: -1}.Bound(rng, d.model, q, d.ys, Options{}) }},
		{"proposal dims", "proposal dimensions (4, 3)", func() {
			FIVO(4).Bound(rng, d.model, NewGaussianProposal(4, 3), d.ys, Options{})
		}},
		{"systematic score", "ResamplingGradient", func() {
			Objective{N: 4, Criterion: estimators.Always, Resampling: estimators.Systematic}.Bound(rng, d.model, q, d.ys, Options{ResamplingGradient: true})
		}},
		{"emission y", "y shape [2]", func() { d.model.LogEmission(ad.Zeros(1, 5), ad.Zeros(2)) }},
		{"proposal size", "dx = 0", func() { NewGaussianProposal(0, 3) }},
	}
	for _, c := range cases {
		func() {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil || !strings.HasPrefix(msg, "vsmc: ") || !strings.Contains(msg, c.want) {
					t.Errorf("%s: panic %v, want a vsmc: message containing %q", c.name, r, c.want)
				}
			}()
			c.f()
		}()
	}
}
