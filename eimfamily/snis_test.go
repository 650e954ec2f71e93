package eimfamily

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/internal/mctest"
)

// snisCase is one way of running the SNIS model on the fixture: the
// model, the batch (x, ctx), and for each row of x its support index and
// the energies of the support under its context.
type snisCase struct {
	name     string
	m        *SNIS
	x, ctx   *ad.Tensor
	point    []int       // row → support index
	energies [][]float64 // row → U(s_k | c_row), k = 1..m
}

func snisCases(f fixture, K int) []snisCase {
	u := f.energies()
	m := f.prop.Len()
	uncond := func(name string, perPoint bool) snisCase {
		c := snisCase{name: name, m: &SNIS{Proposal: f.prop, Energy: f.energy, K: K, PerPoint: perPoint}, x: f.support()}
		for j := range m {
			c.point = append(c.point, j)
			c.energies = append(c.energies, u)
		}
		return c
	}
	x, ctx := f.condBatch()
	cu := f.condEnergies()
	cond := snisCase{name: "conditional", m: &SNIS{Proposal: f.prop, Energy: f.cond, K: K}, x: x, ctx: ctx}
	for r := range fixCtx {
		for j := range m {
			cond.point = append(cond.point, j)
			cond.energies = append(cond.energies, cu[r])
		}
	}
	return []snisCase{uncond("shared", false), uncond("per-point", true), cond}
}

// exactPMF returns p_SNIS(x_row) for every row.
func (c snisCase) exactPMF(logPi []float64) []float64 {
	out := make([]float64, len(c.point))
	for r, j := range c.point {
		out[r] = snisExactPMF(logPi, c.energies[r], c.m.K)[j]
	}
	return out
}

// exactIntegrands calls f with the probability of every configuration of
// the K − 1 other candidates (as counts over the support) and the
// package's integrand for each row of x under that configuration. The
// candidates are passed in the layout of the case: shared [K−1, d], or
// [K−1, n, d] with the same set for every row.
func (c snisCase) exactIntegrands(logPi []float64, f func(prob float64, ell []float64)) {
	p := c.m.Proposal.(*Discrete)
	d, n := p.Dim(), c.x.Dim(0)
	pts := p.Points().Data()
	lp := c.m.Proposal.LogProb(c.ctx, c.x)
	compositions(c.m.K-1, p.Len(), func(counts []int) {
		var set []float64
		for k, ck := range counts {
			for range ck {
				set = append(set, pts[k*d:(k+1)*d]...)
			}
		}
		var cand *ad.Tensor
		if c.ctx == nil && !c.m.PerPoint {
			cand = ad.New(set, c.m.K-1, d)
		} else {
			rep := make([]float64, 0, (c.m.K-1)*n*d)
			for k := range c.m.K - 1 {
				for range n {
					rep = append(rep, set[k*d:(k+1)*d]...)
				}
			}
			cand = ad.New(rep, c.m.K-1, n, d)
		}
		ell := c.m.integrandsGiven(c.ctx, c.x, lp, cand, 1).Data()
		f(math.Exp(logMultinomial(counts, logPi)), ell)
	})
}

// TestSNISExactPMF checks the enumeration itself: p_SNIS sums to one, is π
// for K = 1, and is a valid interpolation toward π·w/Z for larger K.
func TestSNISExactPMF(t *testing.T) {
	f := newFixture()
	logPi, u := f.prop.LogWeights(), f.energies()
	for _, K := range []int{1, 2, 4, 8} {
		p := snisExactPMF(logPi, u, K)
		sum := 0.0
		for _, v := range p {
			sum += v
		}
		if math.Abs(sum-1) > exactTol {
			t.Errorf("K = %d: p_SNIS sums to %v", K, sum)
		}
		if K == 1 {
			for j := range p {
				if math.Abs(p[j]-math.Exp(logPi[j])) > exactTol {
					t.Errorf("K = 1: p_SNIS(s_%d) = %v, want π = %v", j, p[j], math.Exp(logPi[j]))
				}
			}
		}
	}
	// K = 2 by hand: p(s_j) = Σ_k π_j π_k · 2 w_j/(w_j + w_k).
	p := snisExactPMF(logPi, u, 2)
	for j := range p {
		want := 0.0
		for k := range logPi {
			want += math.Exp(logPi[j]+logPi[k]) * 2 * math.Exp(-u[j]) / (math.Exp(-u[j]) + math.Exp(-u[k]))
		}
		if math.Abs(p[j]-want) > exactTol {
			t.Errorf("K = 2: p_SNIS(s_%d) = %v, want %v", j, p[j], want)
		}
	}
}

// TestSNISBoundExact computes, through the package's integrand, the exact
// expectation over the K − 1 other candidates of the Eq. (3) integrand ℓ
// and of exp ℓ: E exp ℓ = p_SNIS(x) (unbiasedness) and E ℓ < log p_SNIS(x)
// (the bound), for every support point, each candidate layout, and the
// conditional model.
func TestSNISBoundExact(t *testing.T) {
	f := newFixture()
	logPi := f.prop.LogWeights()
	for _, K := range []int{2, 4, 6} {
		for _, c := range snisCases(f, K) {
			n := c.x.Dim(0)
			el, ew := make([]float64, n), make([]float64, n)
			total := 0.0
			c.exactIntegrands(logPi, func(prob float64, ell []float64) {
				total += prob
				for r := range n {
					el[r] += prob * ell[r]
					ew[r] += prob * math.Exp(ell[r])
				}
			})
			if math.Abs(total-1) > exactTol {
				t.Fatalf("K = %d %s: configurations have total probability %v", K, c.name, total)
			}
			p := c.exactPMF(logPi)
			for r := range n {
				if math.Abs(ew[r]-p[r]) > exactTol {
					t.Errorf("K = %d %s row %d: E exp ℓ = %.15g, want p_SNIS = %.15g", K, c.name, r, ew[r], p[r])
				}
				if !(el[r] < math.Log(p[r])) {
					t.Errorf("K = %d %s row %d: E ℓ = %.15g is not below log p_SNIS = %.15g", K, c.name, r, el[r], math.Log(p[r]))
				}
			}
		}
	}
	// K = 1: the model is the proposal and the integrand is exactly log π.
	for _, c := range snisCases(f, 1) {
		got := c.m.Bound(rand.New(rand.NewPCG(1, 1)), c.ctx, c.x).Data()
		for r, j := range c.point {
			if got[r] != logPi[j] {
				t.Errorf("K = 1 %s row %d: Bound = %v, want log π = %v", c.name, r, got[r], logPi[j])
			}
		}
	}
}

// TestSNISBoundSExact computes the S-sample bound E log (1/S) Σ_s exp ℓ_s
// exactly, by enumerating the multisets of S configurations of the K − 1
// other candidates, and checks that it increases strictly with S and stays
// below log p_SNIS.
func TestSNISBoundSExact(t *testing.T) {
	const K = 3
	f := newFixture()
	logPi := f.prop.LogWeights()
	c := snisCases(f, K)[0]
	n := c.x.Dim(0)
	var probs []float64
	var ells [][]float64
	c.exactIntegrands(logPi, func(prob float64, ell []float64) {
		probs = append(probs, prob)
		ells = append(ells, append([]float64(nil), ell...))
	})
	logProbs := make([]float64, len(probs))
	for i, p := range probs {
		logProbs[i] = math.Log(p)
	}
	pmf := c.exactPMF(logPi)
	prev := make([]float64, n)
	for r := range prev {
		prev[r] = math.Inf(-1)
	}
	for S := 1; S <= 5; S++ {
		e := make([]float64, n)
		compositions(S, len(probs), func(mult []int) {
			w := math.Exp(logMultinomial(mult, logProbs))
			for r := range n {
				lse := math.Inf(-1)
				for i, k := range mult {
					if k > 0 {
						v := math.Log(float64(k)) + ells[i][r]
						lse = math.Max(lse, v) + math.Log1p(math.Exp(-math.Abs(lse-v)))
					}
				}
				e[r] += w * (lse - math.Log(float64(S)))
			}
		})
		for r := range n {
			if !(e[r] > prev[r]) || !(e[r] < math.Log(pmf[r])) {
				t.Errorf("S = %d row %d: E bound = %.15g, want in (%.15g, log p = %.15g)", S, r, e[r], prev[r], math.Log(pmf[r]))
			}
		}
		t.Logf("S = %d: gap to log p at row 0 = %.3g", S, math.Log(pmf[0])-e[0])
		prev = e
	}
}

// TestSNISBoundMC checks the random path (candidate draws inside
// Integrands) against the exact expectations: the mean of ℓ and of exp ℓ
// over R draws lie within 5 standard errors of E ℓ and p_SNIS.
func TestSNISBoundMC(t *testing.T) {
	const K, R = 4, 4000
	f := newFixture()
	logPi := f.prop.LogWeights()
	for _, c := range snisCases(f, K) {
		n := c.x.Dim(0)
		el := make([]float64, n)
		c.exactIntegrands(logPi, func(prob float64, ell []float64) {
			for r := range n {
				el[r] += prob * ell[r]
			}
		})
		p := c.exactPMF(logPi)
		rng := rand.New(rand.NewPCG(7, 8))
		ell := c.m.Integrands(rng, c.ctx, c.x, R)
		for r := range n {
			v := column(ell, r)
			mean, se := mctest.MeanSE(v)
			if math.Abs(mean-el[r]) > mcSigmas*se {
				t.Errorf("%s row %d: mean ℓ = %.6g ± %.2g, exact E ℓ = %.6g", c.name, r, mean, se, el[r])
			}
			for i := range v {
				v[i] = math.Exp(v[i])
			}
			mean, se = mctest.MeanSE(v)
			if math.Abs(mean-p[r]) > mcSigmas*se {
				t.Errorf("%s row %d: mean exp ℓ = %.6g ± %.2g, p_SNIS = %.6g", c.name, r, mean, se, p[r])
			}
		}
	}
}

// TestSNISBoundSLarge: with S = 1000 draws the S-sample bound is within
// Monte Carlo error of log p_SNIS, below by about its bias
// b = Var(exp ℓ)/(2 S p²) (the delta method; terms of order 1/S² are
// below 10⁻⁶ here, so 2b covers them), and never above.
func TestSNISBoundSLarge(t *testing.T) {
	const K, S, R = 4, 1000, 40
	f := newFixture()
	logPi := f.prop.LogWeights()
	c := snisCases(f, K)[1]
	p := c.exactPMF(logPi)
	n := c.x.Dim(0)
	ew2 := make([]float64, n)
	c.exactIntegrands(logPi, func(prob float64, ell []float64) {
		for r := range n {
			ew2[r] += prob * math.Exp(2*ell[r])
		}
	})
	rng := rand.New(rand.NewPCG(9, 10))
	reps := make([][]float64, n)
	for range R {
		b := c.m.BoundS(rng, c.ctx, c.x, S).Data()
		for r, v := range b {
			reps[r] = append(reps[r], v)
		}
	}
	for r := range reps {
		bias := (ew2[r] - p[r]*p[r]) / (2 * S * p[r] * p[r])
		mean, se := mctest.MeanSE(reps[r])
		lp := math.Log(p[r])
		if mean > lp+mcSigmas*se || mean < lp-2*bias-mcSigmas*se {
			t.Errorf("row %d: S-sample bound %.6g ± %.2g, log p_SNIS = %.6g, bias ≈ %.2g", r, mean, se, lp, bias)
		}
	}
}

// TestSNISSample: the frequencies of exact SNIS draws match the exact pmf
// (chi-square at a fixed seed), unconditionally and for each context row.
func TestSNISSample(t *testing.T) {
	const K, N = 4, 20000
	f := newFixture()
	logPi := f.prop.LogWeights()
	rng := rand.New(rand.NewPCG(11, 12))
	m := &SNIS{Proposal: f.prop, Energy: f.energy, K: K}
	x := m.Sample(rng, nil, N)
	if s := x.Shape(); len(s) != 2 || s[0] != N || s[1] != 2 {
		t.Fatalf("Sample shape %v, want [%d 2]", s, N)
	}
	pmf := snisExactPMF(logPi, f.energies(), K)
	if pv := chiSquareP(t, countDraws(t, f.prop, x), pmf); pv < chiMinP {
		t.Errorf("unconditional: chi-square p = %v", pv)
	}

	mc := &SNIS{Proposal: f.prop, Energy: f.cond, K: K}
	ctx := ad.New(append([]float64(nil), fixCtx...), len(fixCtx), 1)
	xc := mc.Sample(rng, ctx, N)
	if s := xc.Shape(); len(s) != 3 || s[0] != N || s[1] != len(fixCtx) || s[2] != 2 {
		t.Fatalf("conditional Sample shape %v, want [%d %d 2]", s, N, len(fixCtx))
	}
	cu := f.condEnergies()
	for r := range fixCtx {
		rows := make([]float64, 0, 2*N)
		for j := range N {
			at := (j*len(fixCtx) + r) * 2
			rows = append(rows, xc.Data()[at:at+2]...)
		}
		pmf := snisExactPMF(logPi, cu[r], K)
		if pv := chiSquareP(t, countDraws(t, f.prop, ad.New(rows, N, 2)), pmf); pv < chiMinP {
			t.Errorf("context %v: chi-square p = %v", fixCtx[r], pv)
		}
	}
}

// TestSNISGrad compares the gradients of Bound and BoundS in the proposal's
// and the energy's parameters with finite differences, for each candidate
// layout.
func TestSNISGrad(t *testing.T) {
	p, e, ec := gradModel()
	x, ctx := gradData()
	for _, c := range []struct {
		name string
		m    *SNIS
		ctx  *ad.Tensor
	}{
		{"shared", &SNIS{Proposal: p, Energy: e, K: 5}, nil},
		{"per-point", &SNIS{Proposal: p, Energy: e, K: 5, PerPoint: true}, nil},
		{"conditional", &SNIS{Proposal: p, Energy: ec, K: 5}, ctx},
	} {
		checkGrad(t, c.name+" Bound", c.m.Params(), func() *ad.Tensor {
			return ad.Sum(c.m.Bound(rand.New(rand.NewPCG(1, 2)), c.ctx, x))
		})
		checkGrad(t, c.name+" BoundS", c.m.Params(), func() *ad.Tensor {
			return ad.Sum(c.m.BoundS(rand.New(rand.NewPCG(1, 2)), c.ctx, x, 3))
		})
	}
}

func TestSNISPanics(t *testing.T) {
	f := newFixture()
	m := &SNIS{Proposal: f.prop, Energy: f.energy, K: 3}
	x := f.support()
	for name, fn := range map[string]func(){
		"K=0":       func() { (&SNIS{Proposal: f.prop, Energy: f.energy}).Bound(rand.New(rand.NewPCG(1, 1)), nil, x) },
		"x shape":   func() { m.Bound(rand.New(rand.NewPCG(1, 1)), nil, ad.Zeros(4, 3)) },
		"ctx shape": func() { m.Bound(rand.New(rand.NewPCG(1, 1)), ad.Zeros(5, 1), x) },
		"s=0":       func() { m.BoundS(rand.New(rand.NewPCG(1, 1)), nil, x, 0) },
		"n<0":       func() { m.Sample(rand.New(rand.NewPCG(1, 1)), nil, -1) },
	} {
		t.Run(name, func(t *testing.T) { expectPanic(t, fn) })
	}
}

// expectPanic fails unless fn panics with a message starting "eimfamily: ".
func expectPanic(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if s, ok := r.(string); !ok || len(s) < 11 || s[:11] != "eimfamily: " {
			t.Errorf("panic %v, want a message starting with \"eimfamily: \"", r)
		}
	}()
	fn()
}
