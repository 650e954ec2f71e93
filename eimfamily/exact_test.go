package eimfamily

// Shared fixtures and exact references for the tests of SNIS, TRS and
// LARS: a finite-support proposal, an energy network, exact enumeration of
// the samplers' distributions, a chi-square check of samplers, and a
// finite-difference check of gradients.

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/nn"
)

// Tolerances.
const (
	// exactTol is for two exact computations of the same quantity (an
	// enumeration against a closed form, or through the package's code):
	// both are sums of at most a few thousand terms of size ≤ 10 in float64,
	// so rounding stays well below 1e-12.
	exactTol = 1e-12
	// mcSigmas is the width, in standard errors, of Monte Carlo checks at a
	// fixed seed (the design's 5σ).
	mcSigmas = 5
	// chiMinP is the smallest accepted p-value of a chi-square test at a
	// fixed seed.
	chiMinP = 1e-3
)

// fixture is a discrete proposal over m = 6 points in 2-D with unequal
// probabilities, and an energy network U(x | c) with one context input
// (c = 0 for the unconditional model). Its output layer is scaled by 3 so
// that the energies at the support points spread over a few nats, which
// makes SNIS and TRS differ clearly from the proposal.
type fixture struct {
	prop   *Discrete
	energy *MLPEnergy // inputs x (2) and, if conditional, c (1)
	cond   *MLPEnergy
}

var (
	fixPoints = []float64{
		-1.5, 0.2,
		-0.5, 1.0,
		0.0, -1.0,
		0.7, 0.3,
		1.2, -0.4,
		2.0, 1.5,
	}
	fixLogits = []float64{0.3, -0.2, 0.5, 0.0, -0.7, 0.1}
	// fixCtx are two context values for the conditional model.
	fixCtx = []float64{0.5, -1.0}
)

func newFixture() fixture {
	rng := rand.New(rand.NewPCG(1, 2))
	prop := NewDiscrete(ad.New(append([]float64(nil), fixPoints...), 6, 2), ad.New(append([]float64(nil), fixLogits...), 6))
	scale := func(e *MLPEnergy) *MLPEnergy {
		last := e.Net.Layers[len(e.Net.Layers)-1]
		for i := range last.W.Data() {
			last.W.Data()[i] *= 3
		}
		return e
	}
	return fixture{
		prop:   prop,
		energy: scale(NewMLPEnergy(rng, 2, 0, 8)),
		cond:   scale(NewMLPEnergy(rng, 2, 1, 8)),
	}
}

// support returns the support points as a batch [m, d].
func (f fixture) support() *ad.Tensor { return f.prop.Points() }

// energies returns U(s_j) for the unconditional energy.
func (f fixture) energies() []float64 {
	return f.energy.Energy(nil, f.support()).Detach().Data()
}

// condEnergies returns U(s_j | c_r) for the context values fixCtx, [r][j].
func (f fixture) condEnergies() [][]float64 {
	out := make([][]float64, len(fixCtx))
	for r, c := range fixCtx {
		u := f.cond.Energy(ad.New([]float64{c}, 1, 1), ad.Reshape(f.support(), 6, 1, 2))
		out[r] = u.Detach().Data()
	}
	return out
}

// condBatch returns x and ctx for the conditional model: every support
// point under every context value, row r·m + j holding s_j with c_r.
func (f fixture) condBatch() (x, ctx *ad.Tensor) {
	m := f.prop.Len()
	xs := make([]float64, 0, len(fixCtx)*m*2)
	cs := make([]float64, 0, len(fixCtx)*m)
	for _, c := range fixCtx {
		xs = append(xs, fixPoints...)
		for range m {
			cs = append(cs, c)
		}
	}
	return ad.New(xs, len(fixCtx)*m, 2), ad.New(cs, len(fixCtx)*m, 1)
}

// compositions calls f with every vector of m non-negative counts that sum
// to n, in a fixed order. f must not keep c.
func compositions(n, m int, f func(c []int)) {
	c := make([]int, m)
	var rec func(i, left int)
	rec = func(i, left int) {
		if i == m-1 {
			c[i] = left
			f(c)
			return
		}
		for k := 0; k <= left; k++ {
			c[i] = k
			rec(i+1, left-k)
		}
	}
	rec(0, n)
}

// logMultinomial returns log of n!/Π c_k! Π p_k^{c_k}, n = Σ c_k.
func logMultinomial(c []int, logp []float64) float64 {
	n := 0
	s := 0.0
	for k, ck := range c {
		n += ck
		lg, _ := math.Lgamma(float64(ck + 1))
		s -= lg
		if ck > 0 {
			s += float64(ck) * logp[k]
		}
	}
	lg, _ := math.Lgamma(float64(n + 1))
	return s + lg
}

// snisExactPMF returns p_SNIS(s_j) by enumerating the counts of the K
// candidates of Alg. 2 over the support:
//
//	p(s_j) = Σ_c Multinomial(c; K, π) · c_j w_j / Σ_k c_k w_k,   w = exp(−U).
func snisExactPMF(logPi, u []float64, K int) []float64 {
	m := len(logPi)
	p := make([]float64, m)
	compositions(K, m, func(c []int) {
		pc := math.Exp(logMultinomial(c, logPi))
		den := 0.0
		for k, ck := range c {
			den += float64(ck) * math.Exp(-u[k])
		}
		for j, cj := range c {
			p[j] += pc * float64(cj) * math.Exp(-u[j]) / den
		}
	})
	return p
}

// trsBruteForce enumerates every run of Alg. 1 over the support: all
// x_{1:T} and b_{1:T−1}, each with probability Π π(x_t) Π a^{b_t}(1 − a)^{1−b_t},
// a = σ(−U), b_T = 1, i the first accept. It returns p_TRS(s_j) and the
// joint p(i, x = s_j), [T][m]. The cost is m^T 2^{T−1}: keep T ≤ 4.
func trsBruteForce(logPi, u []float64, T int) (pmf []float64, joint [][]float64) {
	m := len(logPi)
	pmf = make([]float64, m)
	joint = make([][]float64, T)
	for i := range joint {
		joint[i] = make([]float64, m)
	}
	xs := make([]int, T)
	var rec func(t int)
	rec = func(t int) {
		if t < T {
			for j := range m {
				xs[t] = j
				rec(t + 1)
			}
			return
		}
		px := 1.0
		for _, j := range xs {
			px *= math.Exp(logPi[j])
		}
		for bits := 0; bits < 1<<(T-1); bits++ {
			p := px
			first := T - 1
			for t := 0; t < T-1; t++ {
				a := sigmoid(-u[xs[t]])
				if bits>>t&1 == 1 {
					p *= a
					first = min(first, t)
				} else {
					p *= 1 - a
				}
			}
			pmf[xs[first]] += p
			joint[first][xs[first]] += p
		}
	}
	rec(0)
	return pmf, joint
}

// trsZ returns Z = Σ_j π_j σ(−U_j).
func trsZ(logPi, u []float64) float64 {
	z := 0.0
	for j := range logPi {
		z += math.Exp(logPi[j]) * sigmoid(-u[j])
	}
	return z
}

// trsClosedForm returns log p_TRS(s_j) = log π_j + log(a_j(1 − α)/Z + α).
func trsClosedForm(logPi, u []float64, T int) []float64 {
	z := trsZ(logPi, u)
	alpha := math.Pow(1-z, float64(T-1))
	out := make([]float64, len(logPi))
	for j := range out {
		out[j] = logPi[j] + math.Log(sigmoid(-u[j])*(1-alpha)/z+alpha)
	}
	return out
}

// chiSquareP returns the p-value of Pearson's chi-square test of counts
// against probabilities probs (m − 1 degrees of freedom). It fails the
// test if an expected count is below 5, where the chi-square
// approximation is poor.
func chiSquareP(t *testing.T, counts []int, probs []float64) float64 {
	t.Helper()
	n := 0
	for _, c := range counts {
		n += c
	}
	stat := 0.0
	for j, c := range counts {
		e := float64(n) * probs[j]
		if e < 5 {
			t.Fatalf("chi-square: expected count %v in bin %d is below 5", e, j)
		}
		stat += (float64(c) - e) * (float64(c) - e) / e
	}
	return distuv.ChiSquared{K: float64(len(counts) - 1)}.Survival(stat)
}

// countDraws returns how often each support point of p occurs among the
// rows of x ([..., d]); it fails the test on a row off the support.
func countDraws(t *testing.T, p *Discrete, x *ad.Tensor) []int {
	t.Helper()
	d := p.Dim()
	counts := make([]int, p.Len())
	xd := x.Data()
	for r := 0; r < len(xd); r += d {
		j := p.Index(xd[r : r+d])
		if j < 0 {
			t.Fatalf("draw %v is not a support point", xd[r:r+d])
		}
		counts[j]++
	}
	return counts
}

// column returns column j of a [rows, cols] tensor.
func column(x *ad.Tensor, j int) []float64 {
	rows, cols := x.Dim(0), x.Dim(1)
	out := make([]float64, rows)
	for r := range rows {
		out[r] = x.Data()[r*cols+j]
	}
	return out
}

// Gradient checks compare ad's gradient with central differences of step
// gradStep. For a function of size |f| ≲ 100 the truncation error is
// about h²|f”'|/6 ≈ 1e-11 and the rounding error about ε|f|/h ≈ 2e-8,
// so gradTol = 1e-6 (absolute, or relative to |∂f| where that exceeds 1)
// leaves a margin of ~50 while any wrong term of the gradient is off by
// far more.
const (
	gradStep = 1e-6
	gradTol  = 1e-6
)

// checkGrad compares ad.Grad of the scalar f() with respect to params with
// central finite differences (gonum's diff/fd). f must be deterministic in
// the parameter values (it re-seeds its generator on every call).
func checkGrad(t *testing.T, name string, params []*ad.Tensor, f func() *ad.Tensor) {
	t.Helper()
	if len(params) == 0 {
		t.Fatalf("%s: no parameters", name)
	}
	theta := nn.Flatten(params)
	set := func(x []float64) { nn.SetFlat(params, x) }
	got := nn.Flatten(ad.Grad(f(), params...))
	want := fd.Gradient(nil, func(x []float64) float64 {
		set(x)
		return f().Item()
	}, append([]float64(nil), theta...), &fd.Settings{Formula: fd.Central, Step: gradStep})
	set(theta)
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > gradTol*max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
			t.Errorf("%s: ∂f/∂θ[%d] = %.12g by ad, %.12g by finite differences", name, i, got[i], want[i])
		}
	}
}

// gradModel returns a reparameterized proposal N(μ, diag σ²) with learned μ
// and log σ, and energy networks (unconditional and with one context
// input), for gradient checks.
func gradModel() (*Normal, *MLPEnergy, *MLPEnergy) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := &Normal{
		Loc:      ad.New([]float64{0.2, -0.1}, 2).RequireGrad(),
		LogScale: ad.New([]float64{0.1, -0.3}, 2).RequireGrad(),
	}
	return p, NewMLPEnergy(rng, 2, 0, 5), NewMLPEnergy(rng, 2, 1, 5)
}

// gradData returns a small batch x [4, 2] and contexts [4, 1].
func gradData() (x, ctx *ad.Tensor) {
	return ad.New([]float64{0.3, -0.7, 1.1, 0.4, -0.9, 0.2, 0.05, 1.6}, 4, 2),
		ad.New([]float64{0.5, -1, 0.2, 1.3}, 4, 1)
}

func TestDiscrete(t *testing.T) {
	f := newFixture()
	p := f.prop
	lw := p.LogWeights()
	lp := p.LogProb(nil, f.support()).Data()
	for j := range lw {
		if math.Abs(lp[j]-lw[j]) > exactTol {
			t.Errorf("LogProb(s_%d) = %v, want %v", j, lp[j], lw[j])
		}
	}
	sum := 0.0
	for _, v := range lw {
		sum += math.Exp(v)
	}
	if math.Abs(sum-1) > exactTol {
		t.Errorf("probabilities sum to %v", sum)
	}
	off := p.LogProb(nil, ad.New([]float64{-1.5, 0.2 + 1e-15, 0, -1}, 2, 2)).Data()
	if !math.IsInf(off[0], -1) || off[1] != lw[2] {
		t.Errorf("LogProb off and on the support = %v, want [-Inf %v]", off, lw[2])
	}
	negZero := p.LogProb(nil, ad.New([]float64{math.Copysign(0, -1), -1}, 2)).Item()
	if negZero != lw[2] {
		t.Errorf("LogProb at (−0, −1) = %v, want %v", negZero, lw[2])
	}

	// Gradient in learnable logits, at points on the support only (off the
	// support log π is −Inf and constant).
	logits := ad.New(append([]float64(nil), fixLogits...), 6).RequireGrad()
	q := NewDiscrete(f.support(), logits)
	x := ad.New([]float64{-1.5, 0.2, 2.0, 1.5, 0.0, -1.0, -1.5, 0.2}, 4, 2)
	checkGrad(t, "Discrete.LogProb", q.Params(), func() *ad.Tensor {
		return ad.Sum(q.LogProb(nil, x))
	})

	// Sampling frequencies match π, unconditionally and with a context.
	rng := rand.New(rand.NewPCG(5, 6))
	probs := make([]float64, len(lw))
	for j, v := range lw {
		probs[j] = math.Exp(v)
	}
	if pv := chiSquareP(t, countDraws(t, p, p.Sample(rng, nil, 20000)), probs); pv < chiMinP {
		t.Errorf("Discrete.Sample: chi-square p = %v", pv)
	}
	s := p.Sample(rng, ad.Zeros(3, 1), 5000)
	if got := s.Shape(); len(got) != 3 || got[0] != 5000 || got[1] != 3 || got[2] != 2 {
		t.Fatalf("Sample with ctx [3, 1]: shape %v, want [5000 3 2]", got)
	}
	if pv := chiSquareP(t, countDraws(t, p, s), probs); pv < chiMinP {
		t.Errorf("Discrete.Sample with ctx: chi-square p = %v", pv)
	}
}

func TestDiscretePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"duplicate": func() { NewDiscrete(ad.New([]float64{1, 2, 1, 2}, 2, 2), nil) },
		"logits":    func() { NewDiscrete(ad.New([]float64{1, 2, 3, 4}, 2, 2), ad.Zeros(3)) },
		"rank":      func() { NewDiscrete(ad.Zeros(4), nil) },
		"nan":       func() { NewDiscrete(ad.New([]float64{math.NaN(), 0}, 1, 2), nil) },
	} {
		t.Run(name, func(t *testing.T) { expectPanic(t, f) })
	}
}
