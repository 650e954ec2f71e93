package eimfamily

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/avvi"
	"github.com/eimkit/eimkit/refmodel"
)

// finiteQSetup is the finite model of package refmodel with a Discrete
// proposal over its latent support and a learned energy conditional on
// the data (x is 1-D), the setting in which the families used as
// variational families can be checked by enumeration.
func finiteQSetup() (*refmodel.Finite, *Discrete, *MLPEnergy) {
	f := refmodel.FiniteExample()
	prop := NewDiscrete(f.Points(), ad.New([]float64{0.2, -0.3, 0.1, 0.4}, 4))
	e := NewMLPEnergy(rand.New(rand.NewPCG(8, 9)), 1, 1, 6)
	last := e.Net.Layers[len(e.Net.Layers)-1]
	for i := range last.W.Data() {
		last.W.Data()[i] *= 3
	}
	return f, prop, e
}

// tuples calls fn with every vector of k indices in [0, m).
func tuples(k, m int, fn func([]int)) {
	c := make([]int, k)
	var rec func(i int)
	rec = func(i int) {
		if i == k {
			fn(c)
			return
		}
		for v := range m {
			c[i] = v
			rec(i + 1)
		}
	}
	rec(0)
}

// replayTRSQ is a TRS variational family "drawing" a given (z, λ).
type replayTRSQ struct {
	q      TRSQ
	z      *ad.Tensor
	lambda TRSAux
}

func (r replayTRSQ) Sample(_ *rand.Rand, x *ad.Tensor) (*ad.Tensor, TRSAux, *ad.Tensor) {
	return r.z, r.lambda, r.q.At(x, r.z, r.lambda)
}

// TestTRSQExact checks TRS as a variational family by enumerating every
// run of Alg. 1 (i and x_{1:i}) for one data point: q(z, λ | x) sums to
// 1, E_q[exp(Eq. 4 integrand)] = p(x) with the reverse model TRSReverse,
// and the integrand equals log p(x, z) − ℓ_λ(z) with ℓ_λ TRS's own
// integrand (TRS.IntegrandsAt).
func TestTRSQExact(t *testing.T) {
	f, prop, e := finiteQSetup()
	const T = 3
	trs := NewTRS(prop, e, T)
	trs.LogitZ = ad.Scalar(0.3)
	q := trs.AsQ()
	pts := f.Points().Data()
	for xi := range f.NumObs() {
		x := ad.New([]float64{f.Obs().Data()[xi]}, 1, 1)
		var mass, ev float64
		for i := 1; i <= T; i++ {
			tuples(i, prop.Len(), func(js []int) {
				z := ad.New([]float64{pts[js[i-1]]}, 1, 1)
				lambda := TRSAux{Index: []int{i}}
				var rej *ad.Tensor
				if i > 1 {
					r := make([]float64, i-1)
					for t, j := range js[:i-1] {
						r[t] = pts[j]
					}
					rej = ad.New(r, i-1, 1, 1)
					lambda.Rejected = rej
				}
				lq := q.At(x, z, lambda).Item()
				w := avvi.Integrand[*ad.Tensor, *ad.Tensor, TRSAux](nil, f, replayTRSQ{q, z, lambda}, q.Reverse(), x).Item()
				var ell float64
				if rej == nil {
					ell = trs.IntegrandsAt(x, z, []int{i}, nil).Item()
				} else {
					ell = trs.IntegrandsAt(x, z, []int{i}, ad.Reshape(rej, 1, i-1, 1, 1)).Item()
				}
				if want := f.LogJoint(x, z).Item() - ell; math.Abs(w-want) > exactTol {
					t.Errorf("x_%d, run %v: integrand %v, log p(x, z) − ℓ_λ(z) = %v", xi, js, w, want)
				}
				mass += math.Exp(lq)
				ev += math.Exp(lq + w)
			})
		}
		if math.Abs(mass-1) > exactTol {
			t.Errorf("x_%d: Σ q(z, λ | x) = %v", xi, mass)
		}
		if want := math.Exp(f.LogEvidence(x)[0]); math.Abs(ev-want) > exactTol {
			t.Errorf("x_%d: E_q exp(integrand) = %v, p(x) = %v", xi, ev, want)
		}
	}
}

// TestTRSQSample checks TRSQ.Sample: its log q equals At at the draws,
// and the frequencies of z match the exact p_TRS(z | x) (TRS.LogProb,
// chi-square test).
func TestTRSQSample(t *testing.T) {
	f, prop, e := finiteQSetup()
	trs := NewTRS(prop, e, 3)
	q := trs.AsQ()
	const n = 6000
	x := ad.Full(f.Obs().Data()[2], n, 1)
	z, lambda, logq := q.Sample(rand.New(rand.NewPCG(4, 5)), x)
	at := q.At(x, z, lambda).Data()
	for i, v := range logq.Data() {
		if math.Abs(v-at[i]) > exactTol {
			t.Fatalf("row %d: Sample's log q %v, At %v", i, v, at[i])
		}
	}
	m := prop.Len()
	exact, err := trs.LogProb(ad.Full(f.Obs().Data()[2], m, 1), prop.Points())
	if err != nil {
		t.Fatal(err)
	}
	probs := make([]float64, m)
	for j, v := range exact.Data() {
		probs[j] = math.Exp(v)
	}
	if pv := chiSquareP(t, countDraws(t, prop, z), probs); pv < chiMinP {
		t.Errorf("TRSQ.Sample: chi-square p = %v against p_TRS(z | x)", pv)
	}
}

// TestRSample checks the differentiable samplers: over a Discrete proposal
// their frequencies match the exact densities (chi-square); over a Normal
// proposal each sample is its proposal draw Loc + scale·ε, so the
// gradient of Σ samples in Loc is n per dimension.
func TestRSample(t *testing.T) {
	f := newFixture()
	for name, m := range map[string]interface {
		RSampler
		LogProb(ctx, x *ad.Tensor) (*ad.Tensor, error)
	}{"SNIS": &SNIS{Proposal: f.prop, Energy: f.energy, K: 4}, "TRS": NewTRS(f.prop, f.energy, 3)} {
		lp, err := m.LogProb(nil, f.support())
		if err != nil {
			t.Fatal(err)
		}
		probs := make([]float64, f.prop.Len())
		for j, v := range lp.Data() {
			probs[j] = math.Exp(v)
		}
		s := m.RSample(rand.New(rand.NewPCG(6, 7)), nil, 8000)
		if pv := chiSquareP(t, countDraws(t, f.prop, s), probs); pv < chiMinP {
			t.Errorf("%s.RSample: chi-square p = %v", name, pv)
		}
		// A context given to the unconditional energy is refused in the
		// words of the method called, not of a network layer.
		func() {
			defer func() {
				msg, _ := recover().(string)
				if want := "eimfamily: " + name + ".RSample: a context of shape [3 1] was given to an unconditional energy"; !strings.HasPrefix(msg, want) {
					t.Errorf("panic %q, want it to start %q", msg, want)
				}
			}()
			m.RSample(rand.New(rand.NewPCG(6, 7)), ad.Zeros(3, 1), 5)
		}()
		sc := AsProposal(m, false).Sample(rand.New(rand.NewPCG(6, 7)), ad.Zeros(3, 1), 5)
		if got := sc.Shape(); len(got) != 3 || got[0] != 5 || got[1] != 3 || got[2] != 2 {
			t.Errorf("AsProposal(%s).Sample with ctx [3, 1]: shape %v", name, got)
		}
	}
	prop, energy, _ := gradModel()
	const n = 7
	for name, m := range map[string]RSampler{
		"SNIS": &SNIS{Proposal: prop, Energy: energy, K: 4},
		"TRS":  NewTRS(prop, energy, 3),
		"LARS": NewLARS(prop, energy, 3, 4),
	} {
		g := ad.Grad(ad.Sum(m.RSample(rand.New(rand.NewPCG(1, 2)), nil, n)), prop.Loc)[0].Data()
		for j, v := range g {
			if v != n {
				t.Errorf("%s.RSample: ∂Σz/∂Loc_%d = %v, want %d", name, j, v, n)
			}
		}
	}
	h := newTestHIS(5, 2, 0, 2)
	checkGrad(t, "HIS.RSample", h.Params(), func() *ad.Tensor {
		return ad.Sum(ad.Square(h.RSample(rand.New(rand.NewPCG(3, 3)), nil, 4)))
	})
}

// TestAsProposalExact checks an EIM as the proposal of another family,
// exactly: the outer SNIS over AsProposal(TRS over a Discrete) draws its
// candidates from p_TRS, and E[exp(outer integrand)] over every tuple of
// candidates, weighted by p_TRS, is the outer p_SNIS(x), computed by
// SNIS.LogProb over a Discrete whose weights are p_TRS.
func TestAsProposalExact(t *testing.T) {
	f := newFixture()
	inner := NewTRS(f.prop, f.energy, 3)
	pi := AsProposal(inner, false)
	lpTRS, err := inner.LogProb(nil, f.support())
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbs(pi.LogProb(nil, f.support()).Data(), lpTRS.Data()); d > exactTol {
		t.Errorf("AsProposal(TRS).LogProb differs from TRS.LogProb by %g", d)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	e2 := NewMLPEnergy(rng, 2, 0, 5)
	const K = 3
	outer := &SNIS{Proposal: pi, Energy: e2, K: K}
	ref := &SNIS{Proposal: NewDiscrete(f.support(), lpTRS.Detach()), Energy: e2, K: K}
	x := f.support()
	want, err := ref.LogProb(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	m := f.prop.Len()
	pts := f.support().Data()
	got := make([]float64, m)
	tuples(K-1, m, func(js []int) {
		cand := make([]float64, 0, 2*(K-1))
		lp := 0.0
		for _, j := range js {
			cand = append(cand, pts[2*j:2*j+2]...)
			lp += lpTRS.Data()[j]
		}
		w := outer.IntegrandsAt(nil, x, ad.New(cand, 1, K-1, 2)).Data()
		for r := range got {
			got[r] += math.Exp(lp + w[r])
		}
	})
	for r := range got {
		if d := math.Abs(math.Log(got[r]) - want.Data()[r]); d > exactTol {
			t.Errorf("s_%d: log E exp(outer integrand) = %v, outer log p_SNIS = %v", r, math.Log(got[r]), want.Data()[r])
		}
	}
	// Its draws are the inner family's: shapes of the Proposal convention.
	if s := pi.Sample(rng, ad.Zeros(4, 1), 3); s.Dim(0) != 3 || s.Dim(1) != 4 || s.Dim(2) != 2 {
		t.Errorf("AsProposal(TRS).Sample(ctx [4, 1], 3) shape %v, want [3 4 2]", s.Shape())
	}
	expectPanic(t, func() { AsProposal(newTestHIS(5, 2, 0, 2), false).LogProb(nil, x) })
}

func maxAbs(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// TestIndexSummedGradient checks that the index-summed integrand of an
// SNIS q gives the gradient of the exact Eq. 4 bound: over a Discrete
// proposal the bound is Σ over every tuple of candidates of their
// probability times IndexSummedAt, and its ad gradient in a learned
// energy matches finite differences of that exact sum; the pathwise
// gradient at a drawn index (averaged exactly over the index) does not,
// which is why the index must be summed out.
func TestIndexSummedGradient(t *testing.T) {
	f, prop, e := finiteQSetup()
	const K = 3
	snis := &SNIS{Proposal: prop, Energy: e, K: K}
	q := snis.AsQ()
	r := q.Reverse()
	x := f.Obs()
	n := f.NumObs()
	m := prop.Len()
	pts := prop.Points().Data()
	lw := prop.LogWeights()
	bound := func(summed bool) *ad.Tensor {
		var total *ad.Tensor
		tuples(K, m, func(js []int) {
			cand := make([]float64, 0, K*n)
			lp := 0.0
			for _, j := range js {
				for range n {
					cand = append(cand, pts[j])
				}
				lp += lw[j]
			}
			c := ad.New(cand, K, n, 1)
			var v *ad.Tensor
			if summed {
				v = q.IndexSummedAt(f, r, x, c)
			} else {
				// Σ_i q(i) · integrand_i with q(i) held constant: the
				// pathwise gradient at a drawn index, averaged exactly.
				prob := ad.Softmax(ad.Neg(e.Energy(x, c)), 0).Detach()
				for i := range K {
					idx := make([]int, n)
					for p := range idx {
						idx[p] = i
					}
					z, logq := q.At(x, SNISAux{Candidates: c, Index: idx})
					w := ad.Sub(ad.Add(f.LogJoint(x, z), r.LogProb(x, z, SNISAux{Candidates: c, Index: idx})), logq)
					term := ad.Mul(ad.Reshape(ad.Slice(prob, 0, i, i+1), n), w)
					if v == nil {
						v = term
					} else {
						v = ad.Add(v, term)
					}
				}
			}
			v = ad.MulScalar(ad.Sum(v), math.Exp(lp))
			if total == nil {
				total = v
			} else {
				total = ad.Add(total, v)
			}
		})
		return total
	}
	checkGrad(t, "IndexSummedAt", e.Params(), func() *ad.Tensor { return bound(true) })
	if d := math.Abs(bound(true).Item() - bound(false).Item()); d > exactTol {
		t.Errorf("the two forms differ in value by %g", d)
	}
	gs := ad.Grad(bound(true), e.Params()...)
	gp := ad.Grad(bound(false), e.Params()...)
	diff := 0.0
	for i := range gs {
		diff = max(diff, maxAbs(gs[i].Data(), gp[i].Data()))
	}
	if diff < 1e-3 {
		t.Errorf("the drawn-index gradient is within %g of the exact one: the test does not show the missing term", diff)
	}
}
