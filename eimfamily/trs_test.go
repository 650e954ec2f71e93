package eimfamily

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/internal/mctest"
)

// trsCase is one way of running the TRS model on the fixture (see
// snisCase).
type trsCase struct {
	name     string
	m        *TRS
	x, ctx   *ad.Tensor
	point    []int
	energies [][]float64
}

// trsCases returns the shared, per-point and conditional cases with
// truncation T and a fixed LogitZ (learnable, so gradients reach it).
func trsCases(f fixture, T int, logitZ float64) []trsCase {
	u := f.energies()
	m := f.prop.Len()
	uncond := func(name string, perPoint bool) trsCase {
		c := trsCase{name: name, x: f.support(),
			m: &TRS{Proposal: f.prop, Energy: f.energy, T: T, LogitZ: ad.Scalar(logitZ).RequireGrad(), PerPoint: perPoint}}
		for j := range m {
			c.point = append(c.point, j)
			c.energies = append(c.energies, u)
		}
		return c
	}
	x, ctx := f.condBatch()
	cu := f.condEnergies()
	cond := trsCase{name: "conditional", x: x, ctx: ctx,
		m: &TRS{Proposal: f.prop, Energy: f.cond, T: T, LogitZ: ad.Scalar(logitZ).RequireGrad()}}
	for r := range fixCtx {
		for j := range m {
			cond.point = append(cond.point, j)
			cond.energies = append(cond.energies, cu[r])
		}
	}
	return []trsCase{uncond("shared", false), uncond("per-point", true), cond}
}

// logPMF returns log p_TRS(x_row) for every row, by brute-force
// enumeration of Alg. 1.
func (c trsCase) logPMF(logPi []float64) []float64 {
	out := make([]float64, len(c.point))
	for r, j := range c.point {
		pmf, _ := trsBruteForce(logPi, c.energies[r], c.m.T)
		out[r] = math.Log(pmf[j])
	}
	return out
}

// layout returns the given rejected draws (points of the support, by
// index) in the case's layout: [M, d] shared, or [M, n, d] with the same
// draws for every row.
func (c trsCase) layout(seq []int) *ad.Tensor {
	p := c.m.Proposal.(*Discrete)
	d, n := p.Dim(), c.x.Dim(0)
	pts := p.Points().Data()
	var data []float64
	for _, j := range seq {
		if c.ctx == nil && !c.m.PerPoint {
			data = append(data, pts[j*d:(j+1)*d]...)
			continue
		}
		for range n {
			data = append(data, pts[j*d:(j+1)*d]...)
		}
	}
	if c.ctx == nil && !c.m.PerPoint {
		return ad.New(data, len(seq), d)
	}
	return ad.New(data, len(seq), n, d)
}

// exactBound returns E[Bound] for every row. Bound is affine in the mean
// of log(1 − a) over its draws, so its expectation is Σ_j π_j times the
// Bound computed with a single rejected draw at s_j.
func (c trsCase) exactBound(logPi []float64) []float64 {
	n := c.x.Dim(0)
	lp := c.m.Proposal.LogProb(c.ctx, c.x)
	out := make([]float64, n)
	for j := range logPi {
		b := c.m.boundGiven(c.ctx, c.x, lp, c.layout([]int{j})).Data()
		for r := range n {
			out[r] += math.Exp(logPi[j]) * b[r]
		}
	}
	return out
}

// exactIntegrands calls f with the probability, for each row, of every
// (i, x_{1:i−1}) under q and the package's integrand for it: Σ over
// i = 1..T and the m^{i−1} sequences of rejected draws.
func (c trsCase) exactIntegrands(logPi []float64, f func(prob, ell []float64)) {
	n := c.x.Dim(0)
	T := c.m.T
	lp := c.m.Proposal.LogProb(c.ctx, c.x)
	q := c.m.q()
	logQ := q.logQ(ad.LogSigmoid(ad.Neg(c.m.Energy.Energy(c.ctx, c.x))))
	lqi := c.m.logQI(c.ctx, c.x)
	prob := make([]float64, n)
	for i := 1; i <= T; i++ {
		idx := make([]int, n)
		for r := range idx {
			idx[r] = i
		}
		seq := make([]int, i-1)
		var rec func(t int, lpSeq float64)
		rec = func(t int, lpSeq float64) {
			if t < i-1 {
				for j := range logPi {
					seq[t] = j
					rec(t+1, lpSeq+logPi[j])
				}
				return
			}
			var cand *ad.Tensor
			if i > 1 {
				cand = c.layout(seq)
			}
			ell := c.m.integrandsGiven(c.ctx, lp, logQ, q, idx, cand, 1, n).Data()
			for r := range n {
				prob[r] = math.Exp(lqi[r][i-1] + lpSeq)
			}
			f(prob, ell)
		}
		rec(0, 0)
	}
}

// TestTRSClosedForm checks the closed form of p_TRS and the posterior
// p(i | x) ∝ (1 − Z)^{i−1} a(x)^{[i<T]} against brute-force enumeration of
// Alg. 1, and that q(i | x) at Ẑ = Z is that posterior.
func TestTRSClosedForm(t *testing.T) {
	f := newFixture()
	logPi := f.prop.LogWeights()
	for T := 1; T <= 4; T++ {
		for _, c := range trsCases(f, T, 0) {
			for r, j := range c.point {
				pmf, _ := trsBruteForce(logPi, c.energies[r], T)
				sum := 0.0
				for _, v := range pmf {
					sum += v
				}
				if math.Abs(sum-1) > exactTol {
					t.Fatalf("T = %d: enumerated p_TRS sums to %v", T, sum)
				}
				if cf := trsClosedForm(logPi, c.energies[r], T)[j]; math.Abs(cf-math.Log(pmf[j])) > exactTol {
					t.Errorf("T = %d %s row %d: closed form log p = %.15g, enumeration %.15g", T, c.name, r, cf, math.Log(pmf[j]))
				}
			}
			if T == 1 {
				continue
			}
			// q(i | x) at Ẑ = Z for each row's context.
			for r, j := range c.point {
				z := trsZ(logPi, c.energies[r])
				c.m.LogitZ = ad.Scalar(math.Log(z / (1 - z)))
				lqi := c.m.logQI(c.ctx, c.x)
				pmf, joint := trsBruteForce(logPi, c.energies[r], T)
				for i := 1; i <= T; i++ {
					post := joint[i-1][j] / pmf[j]
					if got := math.Exp(lqi[r][i-1]); math.Abs(got-post) > exactTol {
						t.Errorf("T = %d %s row %d: q(i = %d | x) = %.15g at Ẑ = Z, p(i | x) = %.15g", T, c.name, r, i, got, post)
					}
				}
			}
		}
	}
}

// TestTRSBoundExact: for several T and a Ẑ unequal to Z, the exact
// expectations of Bound (averaged over i analytically) and of the sampled
// integrand agree, are below log p_TRS, and exp of the sampled integrand
// has expectation exactly p_TRS (through the package's code).
func TestTRSBoundExact(t *testing.T) {
	f := newFixture()
	logPi := f.prop.LogWeights()
	for T := 2; T <= 4; T++ {
		for _, logitZ := range []float64{-1.2, 0.3} {
			for _, c := range trsCases(f, T, logitZ) {
				n := c.x.Dim(0)
				eb := c.exactBound(logPi)
				el, ew, total := make([]float64, n), make([]float64, n), make([]float64, n)
				c.exactIntegrands(logPi, func(prob, ell []float64) {
					for r := range n {
						total[r] += prob[r]
						el[r] += prob[r] * ell[r]
						ew[r] += prob[r] * math.Exp(ell[r])
					}
				})
				lp := c.logPMF(logPi)
				for r := range n {
					if math.Abs(total[r]-1) > exactTol {
						t.Fatalf("T = %d %s row %d: q has total mass %v", T, c.name, r, total[r])
					}
					if math.Abs(el[r]-eb[r]) > exactTol {
						t.Errorf("T = %d Ẑ = σ(%v) %s row %d: E[sampled integrand] = %.15g, E[Bound] = %.15g", T, logitZ, c.name, r, el[r], eb[r])
					}
					if math.Abs(ew[r]-math.Exp(lp[r])) > exactTol {
						t.Errorf("T = %d Ẑ = σ(%v) %s row %d: E exp ℓ = %.15g, p_TRS = %.15g", T, logitZ, c.name, r, ew[r], math.Exp(lp[r]))
					}
					if !(eb[r] < lp[r]) {
						t.Errorf("T = %d Ẑ = σ(%v) %s row %d: E[Bound] = %.15g not below log p = %.15g", T, logitZ, c.name, r, eb[r], lp[r])
					}
				}
			}
		}
	}
}

// TestTRSTightAtZ checks the claim that the family of q(i | x) contains
// the posterior: at Ẑ = Z the exact gap log p_TRS − E[Bound] equals
// E_p(i|x)[i − 1] · (log(1 − Z) − E_π log(1 − a)), the cost of drawing the
// rejected x_t from π instead of their posterior; and with a constant
// energy (a constant, so that cost is zero) every draw of Bound equals
// log p_TRS.
func TestTRSTightAtZ(t *testing.T) {
	f := newFixture()
	logPi := f.prop.LogWeights()
	u := f.energies()
	const T = 4
	z := trsZ(logPi, u)
	eLogRej := 0.0
	for j := range u {
		eLogRej += math.Exp(logPi[j]) * math.Log(1-sigmoid(-u[j]))
	}
	c := trsCases(f, T, math.Log(z/(1-z)))[0]
	eb := c.exactBound(logPi)
	lp := c.logPMF(logPi)
	pmf, joint := trsBruteForce(logPi, u, T)
	for r, j := range c.point {
		ei := 0.0
		for i := 1; i <= T; i++ {
			ei += float64(i-1) * joint[i-1][j] / pmf[j]
		}
		want := ei * (math.Log(1-z) - eLogRej)
		if gap := lp[r] - eb[r]; math.Abs(gap-want) > exactTol || !(gap > 0) {
			t.Errorf("row %d: gap %.15g at Ẑ = Z, want %.15g", r, gap, want)
		}
	}

	const u0 = 0.4 // a = σ(−0.4) everywhere, Z = a
	a := sigmoid(-u0)
	m := &TRS{Proposal: f.prop, Energy: constEnergy(u0), T: T, LogitZ: ad.Scalar(math.Log(a / (1 - a)))}
	rng := rand.New(rand.NewPCG(13, 14))
	for range 5 {
		b := m.Bound(rng, nil, f.support()).Data()
		for j := range b {
			// p_TRS = π when a is constant (the accept index carries no
			// information about x).
			if math.Abs(b[j]-logPi[j]) > exactTol {
				t.Errorf("constant energy: Bound(s_%d) = %.15g, want log p = log π = %.15g", j, b[j], logPi[j])
			}
		}
	}
}

// constEnergy is U(x) = u for every x.
type constEnergy float64

func (u constEnergy) Energy(_, x *ad.Tensor) *ad.Tensor {
	return ad.Full(float64(u), x.Shape()[:x.Rank()-1]...)
}
func (constEnergy) Params() []*ad.Tensor { return nil }

// TestTRSQNumerics compares log Q(x) and E_q[i − 1] with direct sums over
// i = 1..T, for long truncations and Ẑ from 10⁻⁹ to 0.999 (where the
// closed form of Σ j r^j would cancel catastrophically).
func TestTRSQNumerics(t *testing.T) {
	for _, T := range []int{2, 3, 50, 1000} {
		for _, z := range []float64{1e-9, 1e-3, 0.3, 0.999} {
			for _, la := range []float64{-7, -0.1} {
				lr := math.Log1p(-z)
				// direct: log q̃_i = (i − 1) log r + [i < T] log a
				lt := make([]float64, T)
				mx := math.Inf(-1)
				for i := 1; i <= T; i++ {
					lt[i-1] = float64(i-1) * lr
					if i < T {
						lt[i-1] += la
					}
					mx = math.Max(mx, lt[i-1])
				}
				s, si := 0.0, 0.0
				for i := 1; i <= T; i++ {
					w := math.Exp(lt[i-1] - mx)
					s += w
					si += float64(i-1) * w
				}
				wantQ, wantE := mx+math.Log(s), si/s
				q := newTRSQ(ad.Scalar(math.Log(z)), ad.Scalar(lr), T)
				logA := ad.New([]float64{la}, 1)
				gotQ := q.logQ(logA)
				gotE := q.meanRejections(logA, gotQ).Item()
				// 1e-12 relative: the direct sums have up to 1000 terms.
				if math.Abs(gotQ.Item()-wantQ) > exactTol*max(1, math.Abs(wantQ)) ||
					math.Abs(gotE-wantE) > exactTol*max(1, wantE) {
					t.Errorf("T = %d Ẑ = %g log a = %g: log Q = %.15g, E[i−1] = %.15g; direct sums %.15g, %.15g",
						T, z, la, gotQ.Item(), gotE, wantQ, wantE)
				}
			}
		}
	}
}

// TestTRSBoundMC checks the random paths (the T − 1 draws inside Bound and
// i with its draws inside Integrands) against the exact expectations
// within 5 standard errors.
func TestTRSBoundMC(t *testing.T) {
	const T, R = 4, 4000
	f := newFixture()
	logPi := f.prop.LogWeights()
	for _, c := range trsCases(f, T, -0.5) {
		n := c.x.Dim(0)
		eb := c.exactBound(logPi)
		lp := c.logPMF(logPi)
		rng := rand.New(rand.NewPCG(15, 16))
		bs := make([][]float64, n)
		for range R {
			for r, v := range c.m.Bound(rng, c.ctx, c.x).Data() {
				bs[r] = append(bs[r], v)
			}
		}
		ell := c.m.Integrands(rng, c.ctx, c.x, R)
		for r := range n {
			if mean, se := mctest.MeanSE(bs[r]); math.Abs(mean-eb[r]) > mcSigmas*se {
				t.Errorf("%s row %d: mean Bound %.6g ± %.2g, exact %.6g", c.name, r, mean, se, eb[r])
			}
			v := column(ell, r)
			if mean, se := mctest.MeanSE(v); math.Abs(mean-eb[r]) > mcSigmas*se {
				t.Errorf("%s row %d: mean integrand %.6g ± %.2g, exact %.6g", c.name, r, mean, se, eb[r])
			}
			for i := range v {
				v[i] = math.Exp(v[i])
			}
			if mean, se := mctest.MeanSE(v); math.Abs(mean-math.Exp(lp[r])) > mcSigmas*se {
				t.Errorf("%s row %d: mean exp integrand %.6g ± %.2g, p_TRS %.6g", c.name, r, mean, se, math.Exp(lp[r]))
			}
		}
	}
}

// TestTRSBoundS: the S-sample bound with S = 1000 is within Monte Carlo
// error of log p_TRS, below it by about Var(exp ℓ)/(2 S p²) (computed
// exactly by enumeration; 2× covers the higher-order terms).
func TestTRSBoundS(t *testing.T) {
	const T, S, R = 4, 1000, 40
	f := newFixture()
	logPi := f.prop.LogWeights()
	c := trsCases(f, T, -0.5)[1]
	n := c.x.Dim(0)
	lp := c.logPMF(logPi)
	ew2 := make([]float64, n)
	c.exactIntegrands(logPi, func(prob, ell []float64) {
		for r := range n {
			ew2[r] += prob[r] * math.Exp(2*ell[r])
		}
	})
	rng := rand.New(rand.NewPCG(17, 18))
	reps := make([][]float64, n)
	for range R {
		for r, v := range c.m.BoundS(rng, c.ctx, c.x, S).Data() {
			reps[r] = append(reps[r], v)
		}
	}
	for r := range n {
		p := math.Exp(lp[r])
		bias := (ew2[r] - p*p) / (2 * S * p * p)
		mean, se := mctest.MeanSE(reps[r])
		if mean > lp[r]+mcSigmas*se || mean < lp[r]-2*bias-mcSigmas*se {
			t.Errorf("row %d: S-sample bound %.6g ± %.2g, log p_TRS %.6g, bias ≈ %.2g", r, mean, se, lp[r], bias)
		}
	}
}

// TestTRSSample: frequencies of exact TRS draws match p_TRS (chi-square),
// for T = 1 (the proposal), T = 3 (truncation matters: α = (1 − Z)² ≈ 0.28)
// and with a context.
func TestTRSSample(t *testing.T) {
	const N = 20000
	f := newFixture()
	logPi := f.prop.LogWeights()
	rng := rand.New(rand.NewPCG(19, 20))
	for _, T := range []int{1, 3} {
		m := NewTRS(f.prop, f.energy, T)
		checkTRSSampler(t, "TRS", f, T, m.Sample(rng, nil, N), f.energies(), logPi)
		mc := NewTRS(f.prop, f.cond, T)
		ctx := ad.New(append([]float64(nil), fixCtx...), len(fixCtx), 1)
		xc := mc.Sample(rng, ctx, N)
		for r, u := range f.condEnergies() {
			checkTRSSampler(t, "TRS conditional", f, T, contextRows(xc, r), u, logPi)
		}
	}
}

// contextRows returns the draws [n, d] for context row r of x [n, m, d].
func contextRows(x *ad.Tensor, r int) *ad.Tensor {
	n, m, d := x.Dim(0), x.Dim(1), x.Dim(2)
	out := make([]float64, 0, n*d)
	for j := range n {
		at := (j*m + r) * d
		out = append(out, x.Data()[at:at+d]...)
	}
	return ad.New(out, n, d)
}

func checkTRSSampler(t *testing.T, name string, f fixture, T int, x *ad.Tensor, u, logPi []float64) {
	t.Helper()
	if x.Rank() != 2 || x.Dim(1) != 2 {
		t.Fatalf("%s T = %d: draws of shape %v", name, T, x.Shape())
	}
	lp := trsClosedForm(logPi, u, T)
	pmf := make([]float64, len(lp))
	for j, v := range lp {
		pmf[j] = math.Exp(v)
	}
	if pv := chiSquareP(t, countDraws(t, f.prop, x), pmf); pv < chiMinP {
		t.Errorf("%s T = %d: chi-square p = %v", name, T, pv)
	}
}

// TestTRSGrad compares the gradients of Bound, Integrands and BoundS in
// the proposal's and the energy's parameters and LogitZ with finite
// differences.
func TestTRSGrad(t *testing.T) {
	p, e, ec := gradModel()
	x, ctx := gradData()
	for _, T := range []int{2, 5} {
		for _, c := range []struct {
			name string
			m    *TRS
			ctx  *ad.Tensor
		}{
			{"shared", NewTRS(p, e, T), nil},
			{"per-point", &TRS{Proposal: p, Energy: e, T: T, LogitZ: ad.Scalar(-0.7).RequireGrad(), PerPoint: true}, nil},
			{"conditional", NewTRS(p, ec, T), ctx},
		} {
			if len(c.m.Params()) != len(p.Params())+len(c.m.Energy.Params())+1 {
				t.Fatalf("%s: Params has %d tensors", c.name, len(c.m.Params()))
			}
			checkGrad(t, c.name+" Bound", c.m.Params(), func() *ad.Tensor {
				return ad.Sum(c.m.Bound(rand.New(rand.NewPCG(1, 2)), c.ctx, x))
			})
			checkGrad(t, c.name+" Integrands", c.m.Params(), func() *ad.Tensor {
				return ad.Sum(c.m.Integrands(rand.New(rand.NewPCG(1, 2)), c.ctx, x, 3))
			})
			checkGrad(t, c.name+" BoundS", c.m.Params(), func() *ad.Tensor {
				return ad.Sum(c.m.BoundS(rand.New(rand.NewPCG(1, 2)), c.ctx, x, 3))
			})
		}
	}
}

func TestTRSPanics(t *testing.T) {
	f := newFixture()
	m := NewTRS(f.prop, f.energy, 3)
	x := f.support()
	rng := rand.New(rand.NewPCG(1, 1))
	for name, fn := range map[string]func(){
		"T=0":       func() { NewTRS(f.prop, f.energy, 0).Bound(rng, nil, x) },
		"LogitZ":    func() { (&TRS{Proposal: f.prop, Energy: f.energy, T: 2, LogitZ: ad.Zeros(2)}).Bound(rng, nil, x) },
		"x shape":   func() { m.Bound(rng, nil, ad.Zeros(4, 3)) },
		"ctx shape": func() { m.Integrands(rng, ad.Zeros(5, 1), x, 1) },
		"s=0":       func() { m.BoundS(rng, nil, x, 0) },
		"n<0":       func() { m.Sample(rng, nil, -1) },
	} {
		t.Run(name, func(t *testing.T) { expectPanic(t, fn) })
	}
}

// TestTRSIndexMatchesQ: TRSIndex's scalar log Q(x) equals the tensor
// q.logQ that the bounds use, and q(i | x) from its numbers sums to one
// over i = 1..T and equals logQI, for several Ẑ and T.
func TestTRSIndexMatchesQ(t *testing.T) {
	f := newFixture()
	x := f.support()
	for _, T := range []int{2, 3, 10, 100} {
		for _, logit := range []float64{-6, -0.3, 0, 2.5} {
			m := &TRS{Proposal: f.prop, Energy: f.energy, T: T, LogitZ: ad.Scalar(logit)}
			qi := m.Index()
			logA := ad.LogSigmoid(ad.Neg(m.Energy.Energy(nil, x))).Data()
			want := m.q().logQ(ad.New(logA, len(logA))).Data()
			ref := m.logQI(nil, x)
			for p, la := range logA {
				if got := qi.LogQ(la); math.Abs(got-want[p]) > 1e-14*math.Max(1, math.Abs(want[p])) {
					t.Errorf("T=%d logit=%g point %d: LogQ = %.17g, q.logQ = %.17g", T, logit, p, got, want[p])
				}
				sum := 0.0
				for i := 1; i <= T; i++ {
					lq := qi.LogAlpha - qi.LogQ(la)
					if i < T {
						lq = float64(i-1)*qi.LogR + la - qi.LogQ(la)
					}
					if math.Abs(lq-ref[p][i-1]) > 1e-12 {
						t.Errorf("T=%d logit=%g point %d: log q(%d | x) = %.15g, logQI %.15g", T, logit, p, i, lq, ref[p][i-1])
					}
					sum += math.Exp(lq)
				}
				if math.Abs(sum-1) > 1e-13 {
					t.Errorf("T=%d logit=%g point %d: Σ_i q(i | x) = %.17g", T, logit, p, sum)
				}
			}
		}
	}
}
