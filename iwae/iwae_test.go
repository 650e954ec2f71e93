package iwae_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/iwae"
	"github.com/eimkit/eimkit/refmodel"
)

const (
	// identityTol is the absolute tolerance of an identity that holds
	// sample by sample: both sides are sums of K log densities of size
	// ≲ 10 and a log-sum-exp, computed in a different order, so they
	// differ by rounding of order 1e-14.
	identityTol = 1e-12
	// gradTol is the absolute-or-relative tolerance between the gradients
	// of two sides of such an identity: the backward passes add the same
	// terms in a different order, a few ulps of gradients of size ≲ 10.
	gradTol = 1e-10
	// zMax is the number of standard errors a Monte Carlo estimate may be
	// from its reference at a fixed seed (the design's 5σ).
	zMax = 5
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// newConjugate is the reference model z ~ N(0, I), x | z ~ N(z, σ² I) in
// d dimensions with log σ learnable (refmodel.Conjugate).
func newConjugate(d int, sigma float64) refmodel.Conjugate { return refmodel.NewConjugate(d, sigma) }

// proposal returns a learnable diagonal Normal q̃ that is wider than the
// posterior and off its mean, so that IWAE improves visibly with K.
func proposal(d int) *eimfamily.Normal {
	loc, logScale := ad.Full(0.3, d), ad.Full(math.Log(1.3), d)
	return &eimfamily.Normal{Loc: loc.RequireGrad(), LogScale: logScale.RequireGrad()}
}

// data is a batch of n points in d dimensions.
func data(n, d int) *ad.Tensor {
	x := ad.Zeros(n, d)
	for i := range x.Data() {
		x.Data()[i] = -1.5 + 3*float64(i)/float64(n*d)
	}
	return x
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !scalar.EqualWithinAbsOrRel(got[i], want[i], tol, tol) {
			t.Errorf("%s[%d] = %.17g, want %.17g (diff %.3g)", what, i, got[i], want[i], got[i]-want[i])
		}
	}
}

// grads returns the gradients of Σ y with respect to ps, flattened.
func grads(y *ad.Tensor, ps []*ad.Tensor) []float64 {
	var out []float64
	for _, g := range ad.Grad(ad.Sum(y), ps...) {
		out = append(out, g.Data()...)
	}
	return out
}

// TestAssembledIsClosedForm checks App. A sample by sample: with the same
// seed, the Eq. 4 integrand of the SNIS family with the reverse model of
// Eq. 6, computed by avvi, equals the closed form of Eq. 5 at the same
// candidates, and so do their gradients in the proposal's and the model's
// parameters.
func TestAssembledIsClosedForm(t *testing.T) {
	const d, n = 2, 5
	p, qt, x := newConjugate(d, 0.7), proposal(d), data(n, d)
	params := append(qt.Params(), p.LogSigma)
	for _, k := range []int{1, 2, 5, 20} {
		for seed := range uint64(4) {
			b := iwae.IWAE{K: k}
			closed := b.Integrand(newRNG(seed), p, qt, x)
			assembled := b.Assembled(newRNG(seed), p, qt, x)
			what := fmt.Sprintf("K=%d seed=%d", k, seed)
			assertClose(t, what+" integrand", assembled.Data(), closed.Data(), identityTol)
			assertClose(t, what+" gradient", grads(assembled, params), grads(closed, params), gradTol)
		}
	}
}

// TestK1IsELBO checks that IWAE with K = 1 is the ELBO of q̃ (Eq. 1),
// sample by sample on shared draws, in the closed form and assembled.
func TestK1IsELBO(t *testing.T) {
	const d, n = 2, 4
	p, qt, x := newConjugate(d, 0.5), proposal(d), data(n, d)
	for seed := range uint64(4) {
		elbo := avvi.ELBO(newRNG(seed), p, iwae.ProposalQ{Proposal: qt}, x)
		b := iwae.IWAE{K: 1}
		assertClose(t, "closed form", b.Integrand(newRNG(seed), p, qt, x).Data(), elbo.Data(), identityTol)
		assertClose(t, "assembled", b.Assembled(newRNG(seed), p, qt, x).Data(), elbo.Data(), identityTol)
	}
}

// TestLearnedAssembledIsClosedForm checks the learned reverse model of
// Sec. 5.1 sample by sample: avvi's Eq. 4 integrand with the SNIS family
// and Reverse{R} equals Learned.IntegrandAt at the λ drawn (the same seed
// gives the same λ to eimfamily.SNISQ.Sample); with R = q̃ both equal the
// IWAE integrand at the same candidates.
func TestLearnedAssembledIsClosedForm(t *testing.T) {
	const d, n, k = 2, 4, 5
	p, qt, x := newConjugate(d, 0.7), proposal(d), data(n, d)
	r := iwae.NewGaussian(newRNG(99), d, d, 8)
	for seed := range uint64(4) {
		b := iwae.Learned{K: k, R: r}
		_, lambda, _ := iwae.IWAE{K: k}.Family(p, qt).AsQ().Sample(newRNG(seed), x)
		assembled := b.Assembled(newRNG(seed), p, qt, x)
		assertClose(t, "learned", assembled.Data(), b.IntegrandAt(p, qt, x, lambda).Data(), identityTol)

		ind := iwae.Learned{K: k, R: iwae.Independent{Proposal: qt}}
		iw := iwae.IntegrandAt(p, qt, x, lambda.Candidates).Data()
		assertClose(t, "independent R, assembled", ind.Assembled(newRNG(seed), p, qt, x).Data(), iw, identityTol)
		assertClose(t, "independent R, closed form", ind.IntegrandAt(p, qt, x, lambda).Data(), iw, identityTol)
		assertClose(t, "independent R, summed over i", ind.BoundAt(p, qt, x, lambda.Candidates).Data(), iw, identityTol)
	}
}

// TestLearnedBoundSumsIndex checks that Learned.BoundAt is the integrand
// averaged over the index exactly: Σ_i P(i | z_{1:K}) IntegrandAt(z_{1:K}, i),
// P(i | z_{1:K}) = w_i/Σ_k w_k, at fixed candidates.
func TestLearnedBoundSumsIndex(t *testing.T) {
	const d, n, k = 2, 3, 4
	p, qt, x := newConjugate(d, 0.7), proposal(d), data(n, d)
	b := iwae.Learned{K: k, R: iwae.NewGaussian(newRNG(7), d, d, 8)}
	z := qt.Sample(newRNG(1), x, k).Detach()
	logw := ad.Sub(p.LogJoint(x, z), qt.LogProb(x, z)).Detach() // [K, n]
	want := make([]float64, n)
	for i := range k {
		idx := make([]int, n)
		for r := range idx {
			idx[r] = i
		}
		w := b.IntegrandAt(p, qt, x, eimfamily.SNISAux{Candidates: z, Index: idx}).Data()
		for r := range n {
			lse := ad.LogSumExp(ad.Slice(logw, 1, r, r+1), 0).Item()
			want[r] += math.Exp(logw.At(i, r)-lse) * w[r]
		}
	}
	assertClose(t, "BoundAt", b.BoundAt(p, qt, x, z).Data(), want, identityTol)

	// The same objective from the family: eimfamily.SNISQ.IndexSummedAt
	// with the learned reverse model, in value and gradient.
	q := iwae.IWAE{K: k}.Family(p, qt).AsQ()
	generic := q.IndexSummedAt(p, b.Reverse(), x, z)
	assertClose(t, "SNISQ.IndexSummedAt", generic.Data(), want, identityTol)
	ps := append(append(qt.Params(), p.LogSigma), b.R.Params()...)
	assertClose(t, "gradient of IndexSummedAt", grads(generic, ps), grads(b.BoundAt(p, qt, x, z), ps), identityTol)
}

// TestLearnedTrains trains the Gaussian reverse model on the Bound of a
// fixed model and a fixed, poor proposal, at data points in its tails
// (where the selected candidate pushes the others away from the
// posterior, the dependence Eq. 6 ignores), and checks that the learned
// bound, averaged over the batch, ends above IWAE's with the same K by
// more than 5 standard errors of the difference (paired: both at the same
// candidates), and that it stays below log p(x) at every point.
func TestLearnedTrains(t *testing.T) {
	const d, k, steps = 1, 4, 1000
	p, x := newConjugate(d, 0.4), ad.New([]float64{-2, -1, 1, 2}, 4, 1)
	qt := &eimfamily.Normal{Loc: ad.Full(0.0, d), LogScale: ad.Full(math.Log(1.5), d)}
	r := iwae.NewGaussian(newRNG(3), d, d, 16)
	b := iwae.Learned{K: k, R: r}
	opt := adam{lr: 1e-2}
	rng := newRNG(5)
	for range steps {
		loss := ad.Neg(ad.Mean(b.Bound(rng, p, qt, x)))
		opt.step(r.Params(), ad.Grad(loss, r.Params()...))
	}
	const s = 4000
	iw, learned, gain := make([]*ad.Tensor, s), make([]*ad.Tensor, s), make([]*ad.Tensor, s)
	erng := newRNG(11)
	for j := range s {
		z := qt.Sample(erng, x, k)
		iw[j] = iwae.IntegrandAt(p, qt, x, z).Detach()
		learned[j] = b.BoundAt(p, qt, x, z).Detach()
		gain[j] = ad.Sub(learned[j], iw[j])
	}
	g := avvi.Summarize(ad.Stack(0, gain...))
	gm := avvi.Summarize(ad.Mean(ad.Stack(0, gain...), 1)) // the batch mean
	lb := avvi.Summarize(ad.Stack(0, learned...))
	ib := avvi.Summarize(ad.Stack(0, iw...))
	logp := p.LogEvidence(x)
	for i := range x.Dim(0) {
		t.Logf("x=%.1f: IWAE_%d = %.4f ± %.4f, learned = %.4f ± %.4f, gain %.4f ± %.4f, log p(x) = %.4f",
			x.At(i, 0), k, ib.Mean[i], ib.StdErr[i], lb.Mean[i], lb.StdErr[i], g.Mean[i], g.StdErr[i], logp[i])
		if lb.Mean[i] > logp[i]+zMax*lb.StdErr[i] {
			t.Errorf("x=%.1f: learned bound %.4g ± %.2g above log p(x) = %.4g", x.At(i, 0), lb.Mean[i], lb.StdErr[i], logp[i])
		}
	}
	t.Logf("batch mean gain %.4f ± %.4f", gm.Mean[0], gm.StdErr[0])
	if gm.Mean[0] < zMax*gm.StdErr[0] {
		t.Errorf("learned r does not beat IWAE: batch mean gain %.4g ± %.2g", gm.Mean[0], gm.StdErr[0])
	}
}

// adam is a minimal Adam for the training test (nn.Adam needs nn.Params
// bookkeeping that the test does not).
type adam struct {
	lr   float64
	t    int
	m, v [][]float64
}

func (o *adam) step(ps, gs []*ad.Tensor) {
	if o.m == nil {
		for _, p := range ps {
			o.m = append(o.m, make([]float64, p.Len()))
			o.v = append(o.v, make([]float64, p.Len()))
		}
	}
	o.t++
	c1, c2 := 1-math.Pow(0.9, float64(o.t)), 1-math.Pow(0.999, float64(o.t))
	for i, p := range ps {
		for j, g := range gs[i].Data() {
			o.m[i][j] = 0.9*o.m[i][j] + 0.1*g
			o.v[i][j] = 0.999*o.v[i][j] + 0.001*g*g
			p.Data()[j] -= o.lr * (o.m[i][j] / c1) / (math.Sqrt(o.v[i][j]/c2) + 1e-8)
		}
	}
}

// TestPanics checks that caller errors panic with a message naming the
// package.
func TestPanics(t *testing.T) {
	p, qt := newConjugate(1, 1), proposal(1)
	x := data(3, 1)
	cases := map[string]func(){
		"K=0":         func() { iwae.IWAE{}.Integrand(newRNG(1), p, qt, x) },
		"x rank 1":    func() { iwae.IWAE{K: 2}.Integrand(newRNG(1), p, qt, ad.Zeros(3)) },
		"samples":     func() { iwae.IntegrandAt(p, qt, x, ad.Zeros(2, 4, 1)) },
		"learned nil": func() { iwae.Learned{K: 2}.Bound(newRNG(1), p, qt, x) },
		"index": func() {
			iwae.Learned{K: 2, R: iwae.Independent{Proposal: qt}}.IntegrandAt(p, qt, x, eimfamily.SNISAux{Candidates: ad.Zeros(2, 3, 1), Index: []int{0, 2, 1}})
		},
	}
	for name, f := range cases {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "iwae: ") {
					t.Errorf("%s: panic %q, want one starting with \"iwae: \"", name, msg)
				}
			}()
			f()
		}()
	}
}

// shrinkR is the conditional r(z' | z, x) = N(z'; 0.8 z, 1.5²): of the
// scale of the proposal N(0, 1.5²) of TestLearnedIntegrandUnbiased, so
// that the importance weights have finite variance and their standard
// error means something, and dependent enough on z that a wrong index
// distribution shows (uniform indices move the integrand's mean by 20σ).
type shrinkR struct{}

func (shrinkR) LogProb(_, z, zp *ad.Tensor) *ad.Tensor {
	return dist.NewNormal(ad.MulScalar(z, 0.8), ad.Full(1.5, 1)).LogProb(zp)
}

func (shrinkR) Params() []*ad.Tensor { return nil }

// TestLearnedIntegrandUnbiased checks Learned.Integrand, which draws the
// index i ~ w_i/Σ_k w_k itself, by Monte Carlo: E[exp(integrand)] = p(x)
// within 5 standard errors, and its mean agrees with that of Bound (the
// index summed out) within 5 standard errors of the difference. A wrong
// index distribution (uniform, say) biases both.
func TestLearnedIntegrandUnbiased(t *testing.T) {
	const d, k, s = 1, 4, 10000
	p, x := newConjugate(d, 0.4), ad.New([]float64{-2, 0.5}, 2, 1)
	qt := &eimfamily.Normal{Loc: ad.Full(0.0, d), LogScale: ad.Full(math.Log(1.5), d)}
	b := iwae.Learned{K: k, R: shrinkR{}}
	rng := newRNG(17)
	w := avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor { return b.Integrand(rng, p, qt, x) })
	rb := avvi.Summarize(avvi.Draws(rng, s, func(rng *rand.Rand) *ad.Tensor { return b.Bound(rng, p, qt, x) }))
	ev, est := avvi.EstimateEvidence(w), avvi.Summarize(w)
	for i, lp := range p.LogEvidence(x) {
		rel, relSE := math.Exp(ev.LogMean[i]-lp)-1, math.Exp(ev.LogStdErr[i]-lp)
		t.Logf("x=%.1f: p̂/p(x) − 1 = %.4f ± %.4f; integrand %.4f ± %.4f, index summed %.4f ± %.4f",
			x.At(i, 0), rel, relSE, est.Mean[i], est.StdErr[i], rb.Mean[i], rb.StdErr[i])
		if math.Abs(rel) > zMax*relSE {
			t.Errorf("x=%.1f: E[exp(integrand)]/p(x) − 1 = %.4g ± %.2g", x.At(i, 0), rel, relSE)
		}
		if diff, se := est.Mean[i]-rb.Mean[i], math.Hypot(est.StdErr[i], rb.StdErr[i]); math.Abs(diff) > zMax*se {
			t.Errorf("x=%.1f: integrand mean %.4g and index-summed mean %.4g differ by %.1fσ", x.At(i, 0), est.Mean[i], rb.Mean[i], diff/se)
		}
	}
}
