package sivi_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/refmodel"
	"github.com/eimkit/eimkit/sivi"
)

// gaussModel is p(z) = N(0, I), p(x | z) = N(z, 0.5 I) in dz = dx = 2, the
// reference model refmodel.Conjugate.
var gaussModel = refmodel.NewConjugate(2, math.Sqrt(0.5))

func testSetup() (sivi.Family, *sivi.GaussianTau, *ad.Tensor) {
	rng := rand.New(rand.NewPCG(7, 11))
	q := sivi.Family{
		Mixing:      eimfamily.NewStdNormal(3, 1),
		Conditional: sivi.NewGaussianConditional(rng, 3, 2, 0.4, 8),
	}
	tau := sivi.NewGaussianTau(rng, 2, 3, 8)
	x := ad.New([]float64{0.3, -1.2, 1.5, 0.7, -0.4, 0.1, 2.0, -2.0}, 4, 2)
	return q, tau, x
}

const tol = 1e-12

func maxAbsDiff(a, b *ad.Tensor) float64 {
	m := 0.0
	for i, v := range a.Data() {
		m = max(m, math.Abs(v-b.Data()[i]))
	}
	return m
}

// TestAssembledEqualsEq7 checks App. B sample by sample: the avvi
// assembly (Eq. 8 with r the SNIS family over λ and s the selector) equals
// the closed form Eq. 7 on shared draws.
func TestAssembledEqualsEq7(t *testing.T) {
	q, _, x := testSetup()
	for _, k := range []int{1, 2, 6, 21} {
		for seed := range uint64(20) {
			b := sivi.SIVI{K: k}
			want := b.Integrand(rand.New(rand.NewPCG(seed, 1)), gaussModel, q, x)
			got := b.Assembled(rand.New(rand.NewPCG(seed, 1)), gaussModel, q, x)
			if d := maxAbsDiff(got, want); !(d <= tol) {
				t.Fatalf("K = %d, seed %d: assembled %v, Eq. 7 %v (|Δ| = %g)", k, seed, got.Data(), want.Data(), d)
			}
		}
	}
}

// TestIWHVIWithMixingIsSIVI checks that IWHVI with τ = q(λ | x) equals
// SIVI sample by sample, in closed form and assembled, and that IWHVI's
// assembly with a learned τ equals its closed form.
func TestIWHVIWithMixingIsSIVI(t *testing.T) {
	q, tau, x := testSetup()
	mt := sivi.MixingTau{Mixing: q.Mixing}
	for _, k := range []int{1, 4, 11} {
		for seed := range uint64(10) {
			rs := func() *rand.Rand { return rand.New(rand.NewPCG(seed, 2)) }
			s := sivi.SIVI{K: k}.Integrand(rs(), gaussModel, q, x)
			w := sivi.IWHVI{K: k}.Integrand(rs(), gaussModel, q, mt, x)
			wa := sivi.IWHVI{K: k}.Assembled(rs(), gaussModel, q, mt, x)
			if d := max(maxAbsDiff(w, s), maxAbsDiff(wa, s)); !(d <= tol) {
				t.Fatalf("K = %d, seed %d: IWHVI(τ = q(λ)) %v, assembled %v, SIVI %v", k, seed, w.Data(), wa.Data(), s.Data())
			}
			l := sivi.IWHVI{K: k}.Integrand(rs(), gaussModel, q, tau, x)
			la := sivi.IWHVI{K: k}.Assembled(rs(), gaussModel, q, tau, x)
			if d := maxAbsDiff(l, la); !(d <= tol) {
				t.Fatalf("K = %d, seed %d: IWHVI learned τ: closed form %v, assembled %v", k, seed, l.Data(), la.Data())
			}
		}
	}
}

// TestGradientsAgree checks that the closed form and the assembly have the
// same gradient in the family's and τ's parameters at shared draws (the
// assembled integrand does not depend on the index, so its pathwise
// gradient is the closed form's).
func TestGradientsAgree(t *testing.T) {
	q, tau, x := testSetup()
	c := q.Conditional.(*sivi.GaussianConditional)
	ps := append(c.Params(), tau.Params()...)
	for _, p := range ps {
		p.RequireGrad()
	}
	grad := func(f func(*rand.Rand) *ad.Tensor) []*ad.Tensor {
		return ad.Grad(ad.Sum(f(rand.New(rand.NewPCG(3, 3)))), ps...)
	}
	b := sivi.IWHVI{K: 4}
	g1 := grad(func(r *rand.Rand) *ad.Tensor { return b.Integrand(r, gaussModel, q, tau, x) })
	g2 := grad(func(r *rand.Rand) *ad.Tensor { return b.Assembled(r, gaussModel, q, tau, x) })
	for i := range g1 {
		if d := maxAbsDiff(g1[i], g2[i]); !(d <= 1e-10) {
			t.Fatalf("parameter %d: gradients differ by %g", i, d)
		}
	}
}

func TestPanics(t *testing.T) {
	q, _, x := testSetup()
	for name, f := range map[string]func(){
		"sivi: SIVI.Integrand: K = 0":  func() { sivi.SIVI{K: 0}.Integrand(rand.New(rand.NewPCG(1, 1)), gaussModel, q, x) },
		"sivi: IWHVI.Integrand: K = 0": func() { sivi.IWHVI{K: 0}.Integrand(nil, gaussModel, q, nil, x) },
		"sivi: SIVI.Integrand: x shape": func() {
			sivi.SIVI{K: 1}.Integrand(rand.New(rand.NewPCG(1, 1)), gaussModel, q, ad.New([]float64{1}, 1))
		},
		"sivi: DSIVI.Integrand: K = 1, L = 0": func() { sivi.DSIVI{K: 1, L: 0}.Integrand(nil, nil, sivi.Prior{}, q, x) },
		"sivi: IntegrandAt: λ₁ shape":         func() { sivi.IntegrandAt(gaussModel, q, x, ad.Zeros(4, 2), ad.Zeros(4), nil) },
	} {
		func() {
			defer func() {
				r := recover()
				if m, ok := r.(string); !ok || !strings.HasPrefix(m, name) {
					t.Errorf("panic %v, want a message starting %q", r, name)
				}
			}()
			f()
		}()
	}
}

// TestKCountsTerms checks that K is the number of terms of Eq. 7, as the
// paper counts them: SIVI{K: 1} is log p(x, z) − log q(z | λ₁, x) at the
// generating λ₁ (Eq. 4 with r = q(λ | x)), and SIVI{K: 3} averages
// q(z | λ_k, x) over λ₁ and exactly two more draws, taken from rng after
// λ₁ and z.
func TestKCountsTerms(t *testing.T) {
	q, _, x := testSetup()
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(9, 9)) }
	got1 := sivi.SIVI{K: 1}.Integrand(rng(), gaussModel, q, x)
	r := rng()
	z, l1, _ := q.Sample(r, x)
	want1 := ad.Sub(gaussModel.LogJoint(x, z), q.Conditional.LogProb(x, l1, z))
	if d := maxAbsDiff(got1, want1); !(d <= tol) {
		t.Errorf("K = 1: %v, want log p(x, z) − log q(z | λ₁) = %v", got1.Data(), want1.Data())
	}
	got3 := sivi.SIVI{K: 3}.Integrand(rng(), gaussModel, q, x)
	r = rng()
	z, l1, _ = q.Sample(r, x)
	others := q.Mixing.Sample(r, x, 2)
	terms := q.Conditional.LogProb(x, ad.Concat(0, ad.Unsqueeze(l1, 0), others), z) // [3, n]
	want3 := ad.Sub(gaussModel.LogJoint(x, z), ad.LogMeanExp(terms, 0))
	if d := maxAbsDiff(got3, want3); !(d <= tol) {
		t.Errorf("K = 3: %v, want the mean over 3 terms %v", got3.Data(), want3.Data())
	}
}

// TestSharedMatchesPerPoint checks that the shared-draw integrand at
// λ_{2:K} [K − 1, 1, dλ] equals the per-point form with those draws
// repeated.
func TestSharedMatchesPerPoint(t *testing.T) {
	q, _, x := testSetup()
	rng := rand.New(rand.NewPCG(5, 5))
	z := ad.Randn(rng, 4, 2)
	l0 := ad.Randn(rng, 4, 3)
	ls := ad.Randn(rng, 6, 1, 3)
	got := sivi.IntegrandAt(gaussModel, q, x, z, l0, ls)
	want := sivi.IntegrandAt(gaussModel, q, x, z, l0, ad.BroadcastTo(ls, 6, 4, 3))
	if d := maxAbsDiff(got, want); !(d <= tol) {
		t.Fatalf("shared %v, repeated %v", got.Data(), want.Data())
	}
	_ = sivi.SIVI{K: 6}.SharedIntegrand(rng, gaussModel, q, x)
}

// TestGaussianConditionalX checks that the amortized conditional reads x:
// its log density is that of N(Net([λ, x]), σ²) computed by hand, it
// changes with x, and the shared-λ layout [K, 1, dλ] equals the repeated
// one.
func TestGaussianConditionalX(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	c := sivi.NewGaussianConditionalX(rng, 3, 2, 2, 0.4, 8)
	_, _, x := testSetup()
	lambda := ad.Randn(rng, 4, 3)
	z := ad.Randn(rng, 4, 2)
	got := c.LogProb(x, lambda, z)
	mu := c.Net.Forward(ad.Concat(-1, lambda, x))
	want := ad.Sum(ad.AddScalar(ad.Sub(ad.MulScalar(ad.Square(ad.Div(ad.Sub(z, mu), ad.Exp(c.LogScale))), -0.5), c.LogScale), -0.5*math.Log(2*math.Pi)), -1)
	if d := maxAbsDiff(got, want); !(d <= tol) {
		t.Errorf("LogProb %v, by hand %v", got.Data(), want.Data())
	}
	if d := maxAbsDiff(got, c.LogProb(ad.MulScalar(x, 2), lambda, z)); !(d > 1e-3) {
		t.Errorf("LogProb does not change with x (|Δ| = %g)", d)
	}
	ls := ad.Randn(rng, 5, 1, 3)
	if d := maxAbsDiff(c.LogProb(x, ls, z), c.LogProb(x, ad.BroadcastTo(ls, 5, 4, 3), z)); !(d <= tol) {
		t.Errorf("shared λ differs from repeated λ by %g", d)
	}
	defer func() {
		if m, _ := recover().(string); !strings.HasPrefix(m, "sivi: GaussianConditional.LogProb: x shape") {
			t.Errorf("panic %q, want one naming GaussianConditional.LogProb and x's shape", m)
		}
	}()
	c.LogProb(ad.Zeros(4, 1), lambda, z)
}

// TestEIMMixing checks an energy-inspired model as SIVI's mixing
// distribution with no adapter code (eimfamily.AsProposal): the HIS
// family's draws are reparameterized, so SIVI's integrand at a fixed seed
// is smooth in HIS's step sizes, temperatures and energy, and its
// gradient matches finite differences.
func TestEIMMixing(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	his := eimfamily.NewHIS(rng, eimfamily.NewStdNormal(3, 1), eimfamily.NewMLPEnergy(rng, 3, 0, 6), 2, 0, 4)
	cond := sivi.NewGaussianConditional(rng, 3, 2, 0.4, 8)
	q := sivi.Family{Mixing: eimfamily.AsProposal(his, false), Conditional: cond}
	_, _, x := testSetup()
	params := append([]*ad.Tensor{his.RawEps, his.RawAlpha}, his.Energy.Params()...)
	f := func() float64 {
		return ad.Sum(sivi.SIVI{K: 4}.Integrand(rand.New(rand.NewPCG(7, 7)), gaussModel, q, x)).Item()
	}
	got := nn.Flatten(ad.Grad(ad.Sum(sivi.SIVI{K: 4}.Integrand(rand.New(rand.NewPCG(7, 7)), gaussModel, q, x)), params...))
	theta := nn.Flatten(params)
	want := fd.Gradient(nil, func(v []float64) float64 {
		nn.SetFlat(params, v)
		return f()
	}, append([]float64(nil), theta...), &fd.Settings{Formula: fd.Central, Step: 1e-6})
	nn.SetFlat(params, theta)
	nonzero := false
	for i := range got {
		if !scalar.EqualWithinAbsOrRel(got[i], want[i], 1e-6, 1e-6) {
			t.Errorf("∂/∂θ_%d = %v, finite differences %v", i, got[i], want[i])
		}
		nonzero = nonzero || math.Abs(got[i]) > 1e-6
	}
	if !nonzero {
		t.Error("no gradient reaches the HIS mixing: its samples are constants")
	}
}
