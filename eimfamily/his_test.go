package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/mat"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/internal/mctest"
)

// Tolerances of the exact HIS checks.
const (
	hisInvTol  = 1e-12 // |Inverse(Forward(z)) − z|, entrywise
	hisDetTol  = 1e-10 // ||det J| − 1| of the map (x₀, ρ₀) ↦ (x_T, ρ_T)
	hisGradTol = 1e-6  // ad against central differences, absolute or relative
	hisJacTol  = 1e-7  // ad Jacobian against central differences
	hisQuadTol = 1e-10 // quadrature: total mass and resolution doubling
)

// newTestHIS returns a HIS model in d dimensions with context size c and
// T steps, away from the reference initialization so that every part of
// the map matters: a learned proposal N(loc, s²), an energy network
// 8-8 whose output weights are tripled (a potential with structure on
// the proposal's scale), step sizes ε_j = 0.35 + 0.05·j and temperatures
// α_t = σ(1.2 + 0.4·t), so α₀ = 1/∏α_t ≈ 1.4–1.7. Q's output weights are
// shrunk by 5, which makes q(ρ_T | x_T) close to N(0, I): wider than the
// posterior of ρ_T, so the importance weights have finite variance.
func newTestHIS(seed uint64, d, c, T int) *HIS {
	rng := rand.New(rand.NewPCG(seed, 7))
	loc, logScale := make([]float64, d), make([]float64, d)
	for j := range loc {
		loc[j] = 0.3 - 0.2*float64(j)
		logScale[j] = -0.1 + 0.05*float64(j)
	}
	prop := &Normal{Loc: ad.New(loc, d).RequireGrad(), LogScale: ad.New(logScale, d).RequireGrad()}
	energy := NewMLPEnergy(rng, d, c, 8, 8)
	for i := range energy.Net.Layers[2].W.Data() {
		energy.Net.Layers[2].W.Data()[i] *= 3
	}
	h := NewHIS(rng, prop, energy, T, c, 8, 8)
	for j := range h.RawEps.Data() {
		h.RawEps.Data()[j] = math.Log(math.Expm1(0.35 + 0.05*float64(j)))
	}
	for t := range h.RawAlpha.Data() {
		h.RawAlpha.Data()[t] = 1.2 + 0.4*float64(t+1)
	}
	last := h.Q.Layers[len(h.Q.Layers)-1].W.Data()
	for i := range last {
		last[i] *= 0.2
	}
	return h
}

func hisMaxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func TestNewHISInit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	h := NewHIS(rng, NewStdNormal(2, 1), NewMLPEnergy(rng, 2, 0, 20, 20), 5, 0)
	for _, e := range h.StepSize() {
		if math.Abs(e-0.1) > 1e-15 {
			t.Errorf("initial ε = %v, want 0.1", e)
		}
	}
	a := h.Alphas()
	prod := 1.0
	for i, v := range a {
		prod *= v
		if i > 0 && math.Abs(v-0.995) > 1e-15 {
			t.Errorf("initial α_%d = %v, want 0.995", i, v)
		}
	}
	if math.Abs(a[0]-math.Pow(0.995, -5)) > 1e-14 || math.Abs(prod-1) > 1e-14 {
		t.Errorf("α₀ = %v (want 0.995⁻⁵ = %v), ∏α = %v", a[0], math.Pow(0.995, -5), prod)
	}
	if got := h.Q.Layers[0].In(); got != 2 {
		t.Errorf("Q input width %d, want 2", got)
	}
	if got := h.Q.Layers[len(h.Q.Layers)-1].Out(); got != 4 {
		t.Errorf("Q output width %d, want 4", got)
	}
	// Proposal (fixed: none) + energy (3 layers) + RawEps + RawAlpha + Q (3 layers).
	if got := len(h.Params()); got != 6+2+6 {
		t.Errorf("%d parameter tensors, want 14", got)
	}
}

// hisCases are the maps checked exactly: 1-D, 2-D, and 2-D with a context.
var hisCases = []struct {
	name    string
	d, c, T int
}{
	{"1d", 1, 0, 4},
	{"2d", 2, 0, 5},
	{"2d-ctx", 2, 3, 3},
}

func hisContext(rng *rand.Rand, n, c int) *ad.Tensor {
	if c == 0 {
		return nil
	}
	return ad.Randn(rng, n, c)
}

// TestHISInverse checks that Inverse undoes Forward, and Forward undoes
// Inverse, to 1e-12 on points spread well beyond the proposal.
func TestHISInverse(t *testing.T) {
	for _, tc := range hisCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHIS(3, tc.d, tc.c, tc.T)
			rng := rand.New(rand.NewPCG(4, 4))
			const n = 64
			ctx := hisContext(rng, n, tc.c)
			x := ad.MulScalar(ad.Randn(rng, n, tc.d), 2)
			rho := ad.MulScalar(ad.Randn(rng, n, tc.d), 2)
			xT, rT := h.Forward(ctx, x, rho)
			if e := hisMaxAbsDiff(xT.Data(), x.Data()); e < 0.1 {
				t.Fatalf("Forward moves x by at most %v: the check would be vacuous", e)
			}
			x0, r0 := h.Inverse(ctx, xT, rT)
			ex, er := hisMaxAbsDiff(x0.Data(), x.Data()), hisMaxAbsDiff(r0.Data(), rho.Data())
			if ex > hisInvTol || er > hisInvTol {
				t.Errorf("Inverse(Forward(x, ρ)): max error %.3g in x, %.3g in ρ; want ≤ %g", ex, er, hisInvTol)
			}
			xi, ri := h.Inverse(ctx, x, rho)
			x1, r1 := h.Forward(ctx, xi, ri)
			ex, er = hisMaxAbsDiff(x1.Data(), x.Data()), hisMaxAbsDiff(r1.Data(), rho.Data())
			if ex > hisInvTol || er > hisInvTol {
				t.Errorf("Forward(Inverse(x, ρ)): max error %.3g in x, %.3g in ρ; want ≤ %g", ex, er, hisInvTol)
			}
		})
	}
}

// hisAlg3 runs Alg. 3 written out line by line in float64 on a batch of
// points (x, ρ of length n·d, row-major) with step sizes eps (length d),
// any temperatures alpha[0..T] and the gradient gradU.
func hisAlg3(x, rho, eps, alpha []float64, gradU func([]float64) []float64) (xT, rhoT []float64) {
	d := len(eps)
	x, rho = slices.Clone(x), slices.Clone(rho)
	for i := range rho { // line 2
		rho[i] *= alpha[0]
	}
	for t := 1; t < len(alpha); t++ {
		g := gradU(x)
		for i := range rho { // lines 4–5
			rho[i] -= eps[i%d] / 2 * g[i]
			x[i] += eps[i%d] * rho[i]
		}
		g = gradU(x)
		for i := range rho { // line 6
			rho[i] = alpha[t] * (rho[i] - eps[i%d]/2*g[i])
		}
	}
	return x, rho
}

// TestHISForwardIsAlg3 checks Forward against Alg. 3 written out in
// float64, with ε and the temperatures computed from RawEps and RawAlpha
// by hand and ∇ₓU taken from the energy alone; and Inverse against the
// same algorithm run on the negated momentum with the temperatures
// reversed and inverted (1/α_T, …, 1/α₁, 1/α₀), its momentum negated.
func TestHISForwardIsAlg3(t *testing.T) {
	for _, tc := range hisCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHIS(18, tc.d, tc.c, tc.T)
			rng := rand.New(rand.NewPCG(19, 19))
			const n = 3
			ctx := hisContext(rng, n, tc.c)
			x0, rho0 := ad.Randn(rng, n, tc.d), ad.Randn(rng, n, tc.d)

			gradU := func(x []float64) []float64 {
				xt := ad.New(slices.Clone(x), n, tc.d).RequireGrad()
				return ad.Grad(ad.Sum(h.Energy.Energy(ctx, xt)), xt)[0].Data()
			}
			eps := make([]float64, tc.d)
			for j, r := range h.RawEps.Data() {
				eps[j] = math.Log1p(math.Exp(r)) // softplus
			}
			alpha := make([]float64, tc.T+1)
			alpha[0] = 1
			for i, r := range h.RawAlpha.Data() {
				alpha[i+1] = 1 / (1 + math.Exp(-r)) // σ
				alpha[0] /= alpha[i+1]
			}

			xT, rT := h.Forward(ctx, x0, rho0)
			x, rho := hisAlg3(x0.Data(), rho0.Data(), eps, alpha, gradU)
			ex, er := hisMaxAbsDiff(xT.Data(), x), hisMaxAbsDiff(rT.Data(), rho)
			if ex > hisInvTol || er > hisInvTol {
				t.Errorf("Forward differs from Alg. 3 by %.3g in x_T, %.3g in ρ_T", ex, er)
			}

			back := make([]float64, tc.T+1)
			for i, a := range alpha {
				back[tc.T-i] = 1 / a
			}
			neg := func(v []float64) []float64 {
				w := make([]float64, len(v))
				for i := range v {
					w[i] = -v[i]
				}
				return w
			}
			xi, ri := h.Inverse(ctx, x0, rho0)
			x, rho = hisAlg3(x0.Data(), neg(rho0.Data()), eps, back, gradU)
			ex, er = hisMaxAbsDiff(xi.Data(), x), hisMaxAbsDiff(ri.Data(), neg(rho))
			if ex > hisInvTol || er > hisInvTol {
				t.Errorf("Inverse differs from reversed Alg. 3 by %.3g in x₀, %.3g in ρ₀", ex, er)
			}
		})
	}
}

// hisJacobian returns the Jacobian ∂(x_T, ρ_T)/∂(x₀, ρ₀) at one point,
// (2d)×(2d), computed by ad: exact up to rounding.
func hisJacobian(h *HIS, ctx *ad.Tensor, x0, rho0 []float64) *mat.Dense {
	d := len(x0)
	x := ad.New(slices.Clone(x0), 1, d).RequireGrad()
	r := ad.New(slices.Clone(rho0), 1, d).RequireGrad()
	xT, rT := h.Forward(ctx, x, r)
	out := ad.Concat(1, xT, rT) // [1, 2d]
	J := mat.NewDense(2*d, 2*d, nil)
	for i := range 2 * d {
		g := ad.Grad(ad.Slice(out, 1, i, i+1), x, r)
		for j := range d {
			J.Set(i, j, g[0].Data()[j])
			J.Set(i, d+j, g[1].Data()[j])
		}
	}
	return J
}

// TestHISJacobian checks |det ∂(x_T, ρ_T)/∂(x₀, ρ₀)| = 1 to 1e-10 for the
// whole map, the scaling by α₀ included (2×2 in 1-D, 4×4 in 2-D), with
// the Jacobian from ad, itself checked against central differences.
func TestHISJacobian(t *testing.T) {
	for _, tc := range hisCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHIS(5, tc.d, tc.c, tc.T)
			rng := rand.New(rand.NewPCG(6, 6))
			a := h.Alphas()
			if a[0] < 1.1 {
				t.Fatalf("α₀ = %v: too close to 1 for the test to see a missing α₀", a[0])
			}
			for k := range 5 {
				ctx := hisContext(rng, 1, tc.c)
				x0, rho0 := make([]float64, tc.d), make([]float64, tc.d)
				for j := range x0 {
					x0[j], rho0[j] = 1.5*rng.NormFloat64(), 1.5*rng.NormFloat64()
				}
				J := hisJacobian(h, ctx, x0, rho0)
				if det := mat.Det(J); math.Abs(math.Abs(det)-1) > hisDetTol {
					t.Errorf("point %d: det J = %.15g, want |det J| = 1 within %g", k, det, hisDetTol)
				}
				// The ad Jacobian is the Jacobian of the map.
				f := func(y, z []float64) {
					xT, rT := h.Forward(ctx, ad.New(slices.Clone(z[:tc.d]), 1, tc.d), ad.New(slices.Clone(z[tc.d:]), 1, tc.d))
					copy(y, xT.Data())
					copy(y[tc.d:], rT.Data())
				}
				Jfd := mat.NewDense(2*tc.d, 2*tc.d, nil)
				fd.Jacobian(Jfd, f, append(slices.Clone(x0), rho0...), &fd.JacobianSettings{Formula: fd.Central})
				if !mat.EqualApprox(J, Jfd, hisJacTol) {
					t.Errorf("point %d: ad Jacobian\n%v\ndiffers from central differences\n%v", k, mat.Formatted(J), mat.Formatted(Jfd))
				}
			}
		})
	}
}

// hisEnergyGradBound returns G ≥ sup_x |U′(x)| for a 1-D MLPEnergy of tanh
// layers: U′(x) = W_Lᵀ D_{L−1} W_{L−1}ᵀ ⋯ D_1 W_1ᵀ with diagonal
// D_k = 1 − h_k² ∈ [0, 1], so |U′| is at most the product of the weight
// matrices' entrywise absolute values.
func hisEnergyGradBound(e *MLPEnergy) float64 {
	v := []float64{1}
	for _, l := range e.Net.Layers {
		in, out := l.In(), l.Out()
		w := l.W.Data()
		next := make([]float64, out)
		for i := range in {
			for j := range out {
				next[j] += v[i] * math.Abs(w[i*out+j])
			}
		}
		v = next
	}
	return v[0]
}

// hisGL returns the nodes and weights of the composite Gauss–Legendre rule
// on the panels [edges[i], edges[i+1]], with nodes(width) nodes on a panel.
func hisGL(edges []float64, nodes func(width float64) int) (x, w []float64) {
	for i := 0; i+1 < len(edges); i++ {
		n := nodes(edges[i+1] - edges[i])
		px, pw := make([]float64, n), make([]float64, n)
		quad.Legendre{}.FixedLocations(px, pw, edges[i], edges[i+1])
		x = append(x, px...)
		w = append(w, pw...)
	}
	return x, w
}

// hisEdges returns the edges of equal panels of width at most width
// covering [lo, hi].
func hisEdges(lo, hi, width float64) []float64 {
	k := int(math.Ceil((hi - lo) / width))
	e := make([]float64, k+1)
	for i := range e {
		e[i] = lo + (hi-lo)*float64(i)/float64(k)
	}
	return e
}

// hisTail is where the quadratures cut Gaussian tails, in standard
// deviations: 2Φ(−8) ≈ 1.2e-15.
const hisTail = 8

// hisDensity1D returns the exact density of a 1-D unconditional HIS model
// at each of xs,
//
//	p_HIS(x_T) = ∫ π(x₀) N(ρ₀; 0, 1) dρ_T,   (x₀, ρ₀) = Inverse(x_T, ρ_T),
//
// (the map has Jacobian 1) by composite 20-point Gauss–Legendre
// quadrature over ρ_T on panels of the given width.
//
// Range: running the dynamics backward, ρ₀ = ρ_T + b with
// |b| ≤ Σ_t ε|∇U| ∏_{s≥t} α_s ≤ εGT (every α_s < 1 for s ≥ 1 and
// ∏_{s=0}^{T} α_s = 1; G ≥ sup|U′|). So for |ρ_T| > εGT the integrand is
// at most max π · φ(|ρ_T| − εGT), and cutting at |ρ_T| = εGT + 8 leaves
// out less than 2 max π Φ(−8) < 1e-15. The integrand is analytic (tanh
// networks, Gaussians) and varies on a scale of order one in ρ_T, so
// 20-point rules on panels of width ≤ 2 converge to rounding;
// TestHISDensity1D checks this by halving the width.
func hisDensity1D(h *HIS, xs []float64, width float64) []float64 {
	G := hisEnergyGradBound(h.Energy.(*MLPEnergy))
	R := h.StepSize()[0]*G*float64(h.T) + hisTail
	rho, w := hisGL(hisEdges(-R, R, width), func(float64) int { return 20 })
	nr := len(rho)
	p := make([]float64, len(xs))
	const chunk = 8 // values of x_T per batch
	for lo := 0; lo < len(xs); lo += chunk {
		hi := min(lo+chunk, len(xs))
		m := (hi - lo) * nr
		X, P := make([]float64, m), make([]float64, m)
		for i := lo; i < hi; i++ {
			for k := range nr {
				X[(i-lo)*nr+k] = xs[i]
				P[(i-lo)*nr+k] = rho[k]
			}
		}
		x0, r0 := h.Inverse(nil, ad.New(X, m, 1), ad.New(P, m, 1))
		lp := h.Proposal.LogProb(nil, x0.Detach()).Data()
		for i := lo; i < hi; i++ {
			s := 0.0
			for k := range nr {
				r := r0.Data()[(i-lo)*nr+k]
				s += w[k] * math.Exp(lp[(i-lo)*nr+k]-0.5*r*r-0.5*math.Log(2*math.Pi))
			}
			p[i] = s
		}
	}
	return p
}

// hisXRange returns the center c and half-width K of an interval that
// holds x_T with probability at least 1 − 2Φ(−8), for a 1-D model with a
// Normal proposal N(loc, s²). Running Alg. 3 forward, the momentum of the
// t-th position update is c_t ρ₀ + k_t with c_t = α₀ ∏_{s=1}^{t−1} α_s and
// |k_t| ≤ (2t − 1)(ε/2)G (that many half kicks, each shrunk afterwards by
// temperatures below 1). So x_T = x₀ + εCρ₀ + B with C = Σ_t c_t and
// |B| ≤ ε²GT²/2, where x₀ + εCρ₀ ~ N(loc, s² + ε²C²) exactly.
func hisXRange(h *HIS) (c, K float64) {
	G := hisEnergyGradBound(h.Energy.(*MLPEnergy))
	eps, a := h.StepSize()[0], h.Alphas()
	prop := h.Proposal.(*Normal)
	s := math.Exp(prop.LogScale.Data()[0])
	C, ct := 0.0, a[0]
	for t := 1; t <= h.T; t++ {
		C += ct
		ct *= a[t]
	}
	T := float64(h.T)
	return prop.Loc.Data()[0], eps*eps*G*T*T/2 + hisTail*math.Hypot(s, eps*C)
}

// his1DRef is the 1-D model of the exact checks with its distribution
// function by quadrature.
type his1DRef struct {
	h     *HIS
	edges []float64 // panel edges over [c − K, c + K] (hisXRange)
	F     []float64 // F(edges[i]) − F(edges[0])
}

// his1D builds the reference once for the tests that share it: panels of
// width 0.1 with 6-point rules over the bulk [c − 6, c + 6], where the
// sampler check compares distribution functions, and of width ≤ 2 with
// 20-point rules over the tails, each rule integrating hisDensity1D.
var his1D = sync.OnceValue(func() his1DRef {
	h := newTestHIS(8, 1, 0, 4)
	c, K := hisXRange(h)
	edges := hisEdges(c-K, c-6, 2)
	edges = append(edges[:len(edges)-1], hisEdges(c-6, c+6, 0.1)...)
	edges = append(edges[:len(edges)-1], hisEdges(c+6, c+K, 2)...)
	nodes := func(width float64) int {
		if width < 0.5 {
			return 6
		}
		return 20
	}
	x, w := hisGL(edges, nodes)
	p := hisDensity1D(h, x, 2)
	F := make([]float64, len(edges))
	k := 0
	for i := 1; i < len(edges); i++ {
		s := 0.0
		for range nodes(edges[i] - edges[i-1]) {
			s += w[k] * p[k]
			k++
		}
		F[i] = F[i-1] + s
	}
	return his1DRef{h, edges, F}
})

// TestHISDensity1D checks the quadrature density itself: it integrates to
// 1 within 1e-10 (which also checks |det J| = 1 globally: with a wrong
// Jacobian the formula would not give a density), and halving the ρ_T
// panels changes it by no more than rounding.
func TestHISDensity1D(t *testing.T) {
	ref := his1D()
	if mass := ref.F[len(ref.F)-1]; math.Abs(mass-1) > hisQuadTol {
		t.Errorf("∫ p_HIS = %.15g over [%.3g, %.3g], want 1 within %g", mass, ref.edges[0], ref.edges[len(ref.edges)-1], hisQuadTol)
	}
	xs := []float64{-2, -0.5, 0.3, 1.2, 3}
	p1, p2 := hisDensity1D(ref.h, xs, 2), hisDensity1D(ref.h, xs, 1)
	for i := range xs {
		if math.Abs(p1[i]-p2[i]) > hisQuadTol*p2[i] {
			t.Errorf("p_HIS(%v): %.15g with panels of width 2, %.15g with 1", xs[i], p1[i], p2[i])
		}
	}
	// The model is not its proposal: the dynamics matter for the checks.
	lp := ref.h.Proposal.LogProb(nil, ad.New(slices.Clone(xs), len(xs), 1)).Data()
	if d := math.Abs(math.Log(p2[2]) - lp[2]); d < 0.05 {
		t.Errorf("log p_HIS(0.3) − log π(0.3) = %v: the dynamics barely move the density", d)
	}
}

// TestHISSampleExact checks that Sample draws from p_HIS: the largest
// distance between the empirical distribution function of n samples and
// the quadrature one, over the panel edges (every 0.1 over the bulk), must
// stay below the Dvoretzky–Kiefer–Wolfowitz bound that is exceeded with
// probability 1e-9, sqrt(log(2/1e-9)/(2n)).
func TestHISSampleExact(t *testing.T) {
	ref := his1D()
	const n = 40000
	xs := slices.Clone(ref.h.Sample(rand.New(rand.NewPCG(9, 9)), nil, n).Data())
	slices.Sort(xs)
	bound := math.Sqrt(math.Log(2/1e-9) / (2 * n))
	prop := ref.h.Proposal.(*Normal)
	loc, s := prop.Loc.Data()[0], math.Exp(prop.LogScale.Data()[0])
	D, Dp := 0.0, 0.0
	for i, e := range ref.edges {
		emp := float64(hisCountLE(xs, e)) / n
		D = math.Max(D, math.Abs(emp-ref.F[i]))
		Dp = math.Max(Dp, math.Abs(emp-0.5*math.Erfc(-(e-loc)/(s*math.Sqrt2))))
	}
	if D > bound {
		t.Errorf("sup |F_n − F| = %.4g over the grid, want ≤ %.4g (DKW, 1e-9)", D, bound)
	}
	// The same check against the proposal must fail, or it has no power.
	if Dp <= bound {
		t.Errorf("the samples also pass as draws from the proposal (distance %.4g): the check has no power", Dp)
	}
	t.Logf("distance to p_HIS %.4g, to π %.4g, DKW bound %.4g", D, Dp, bound)
}

// hisCountLE returns the number of entries of the sorted xs that are ≤ v.
func hisCountLE(xs []float64, v float64) int {
	i, _ := slices.BinarySearchFunc(xs, v, func(a, b float64) int {
		if a <= b {
			return -1
		}
		return 1
	})
	return i
}

// TestHISBound1D checks the bound against the exact density of the 1-D
// model at three points (the bulk and both tails). exp(integrand) is an
// unbiased estimate of p_HIS(x): its Monte Carlo mean is within 5 standard
// errors of p_HIS(x), and the bound lies below log p_HIS(x). The s-sample
// bound increases with s and stays below log p_HIS(x), and for s ≥ 16 its
// gap log p − E[bound_s] is within 5 standard errors of [0, 2g], where
// g = v/(2s) is the delta-method gap (v the relative variance of the
// weights, estimated from the first check); the factor 2 allows for the
// O(s⁻²) terms and the error of v. So the gap goes to 0 like 1/s.
func TestHISBound1D(t *testing.T) {
	h := his1D().h
	xs := []float64{-2, 0.3, 3}
	np := len(xs)
	p := hisDensity1D(h, xs, 2)
	X := ad.New(slices.Clone(xs), np, 1)
	rng := rand.New(rand.NewPCG(10, 10))

	const M = 4000
	w := h.Integrands(rng, nil, X, M).Data() // [M, np]
	v := make([]float64, np)
	for j := range np {
		lw, ew := make([]float64, M), make([]float64, M)
		for i := range M {
			lw[i] = w[i*np+j]
			ew[i] = math.Exp(lw[i] - math.Log(p[j]))
		}
		m, se := mctest.MeanSE(lw)
		if m > math.Log(p[j])+5*se {
			t.Errorf("x = %v: bound %.5f ± %.5f above log p_HIS = %.5f", xs[j], m, se, math.Log(p[j]))
		}
		me, see := mctest.MeanSE(ew)
		if math.Abs(me-1) > 5*see {
			t.Errorf("x = %v: E[exp(w)]/p_HIS = %.5f ± %.5f, want 1 (unbiased)", xs[j], me, see)
		}
		v[j] = see * see * M
		t.Logf("x = %5.2f: log p %.5f, bound %.5f ± %.5f, E[exp w]/p %.4f ± %.4f", xs[j], math.Log(p[j]), m, se, me, see)
	}

	const R = 500
	rep := make([]float64, R*np)
	for r := range R {
		copy(rep[r*np:], xs)
	}
	Xr := ad.New(rep, R*np, 1)
	prev, prevSE := make([]float64, np), make([]float64, np)
	for k, S := range []int{1, 4, 16, 64} {
		b := h.BoundS(rng, nil, Xr, S).Data()
		for j := range np {
			col := make([]float64, R)
			for r := range R {
				col[r] = b[r*np+j]
			}
			m, se := mctest.MeanSE(col)
			lp := math.Log(p[j])
			gap, pred := lp-m, v[j]/(2*float64(S))
			if gap < -5*se {
				t.Errorf("x = %v, S = %d: bound %.5f ± %.5f above log p_HIS = %.5f", xs[j], S, m, se, lp)
			}
			if k > 0 && m < prev[j]-5*math.Hypot(se, prevSE[j]) {
				t.Errorf("x = %v: bound decreases from %.5f to %.5f at S = %d", xs[j], prev[j], m, S)
			}
			if S >= 16 && gap > 2*pred+5*se {
				t.Errorf("x = %v, S = %d: gap %.5f ± %.5f, delta method %.5f", xs[j], S, gap, se, pred)
			}
			t.Logf("x = %5.2f, S = %2d: gap %.5f ± %.5f (v/2S = %.5f)", xs[j], S, gap, se, pred)
			prev[j], prevSE[j] = m, se
		}
	}
}

// TestHISGradients checks the gradients of Bound and BoundS with respect
// to every parameter tensor (proposal, energy, RawEps, RawAlpha, Q) and
// to x against central differences, with the noise fixed by reseeding.
// The bound depends on ∇ₓU, so this checks the double backpropagation.
func TestHISGradients(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d, c, T int
		S       int // 0: Bound
	}{
		{"1d", 1, 0, 4, 0},
		{"2d-ctx", 2, 3, 3, 0},
		{"2d-S3", 2, 0, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHIS(12, tc.d, tc.c, tc.T)
			rng := rand.New(rand.NewPCG(13, 13))
			const n = 5
			ctx := hisContext(rng, n, tc.c)
			x := ad.Randn(rng, n, tc.d).RequireGrad()
			f := func() *ad.Tensor {
				rng := rand.New(rand.NewPCG(14, 14))
				if tc.S == 0 {
					return ad.Sum(h.Bound(rng, ctx, x))
				}
				return ad.Sum(h.BoundS(rng, ctx, x, tc.S))
			}
			params := append(h.Params(), x)
			names := hisParamNames(h)
			grads := ad.Grad(f(), params...)
			for i, p := range params {
				orig := slices.Clone(p.Data())
				want := fd.Gradient(nil, func(v []float64) float64 {
					copy(p.Data(), v)
					return f().Item()
				}, orig, &fd.Settings{Formula: fd.Central, Step: 1e-6})
				copy(p.Data(), orig)
				for j, g := range grads[i].Data() {
					if math.Abs(g-want[j]) > hisGradTol*math.Max(1, math.Abs(want[j])) {
						t.Errorf("%s[%d]: ad %.10g, central differences %.10g", names[i], j, g, want[j])
					}
				}
			}
		})
	}
}

// hisParamNames names h.Params() followed by x, for messages.
func hisParamNames(h *HIS) []string {
	var names []string
	for range h.Proposal.Params() {
		names = append(names, fmt.Sprintf("proposal %d", len(names)))
	}
	for i := range h.Energy.Params() {
		names = append(names, fmt.Sprintf("energy %d", i))
	}
	names = append(names, "RawEps", "RawAlpha")
	for i := range h.Q.Params() {
		names = append(names, fmt.Sprintf("Q %d", i))
	}
	return append(names, "x")
}

// TestHISShapes checks the conditional and unconditional shapes and that
// a seed fixes the result.
func TestHISShapes(t *testing.T) {
	h := newTestHIS(15, 2, 3, 2)
	rng := rand.New(rand.NewPCG(16, 16))
	ctx := ad.Randn(rng, 4, 3)
	x := ad.Randn(rng, 4, 2)
	if s := h.Sample(rng, ctx, 7).Shape(); !slices.Equal(s, []int{7, 4, 2}) {
		t.Errorf("conditional Sample shape %v, want [7 4 2]", s)
	}
	if s := h.Integrands(rng, ctx, x, 5).Shape(); !slices.Equal(s, []int{5, 4}) {
		t.Errorf("Integrands shape %v, want [5 4]", s)
	}
	if s := h.Bound(rng, ctx, x).Shape(); !slices.Equal(s, []int{4}) {
		t.Errorf("Bound shape %v, want [4]", s)
	}
	if s := h.BoundS(rng, ctx, x, 3).Shape(); !slices.Equal(s, []int{4}) {
		t.Errorf("BoundS shape %v, want [4]", s)
	}
	u := newTestHIS(15, 2, 0, 2)
	a := u.Sample(rand.New(rand.NewPCG(1, 2)), nil, 6)
	b := u.Sample(rand.New(rand.NewPCG(1, 2)), nil, 6)
	if !slices.Equal(a.Shape(), []int{6, 2}) || !slices.Equal(a.Data(), b.Data()) || a.RequiresGrad() {
		t.Errorf("Sample: shape %v, same seed equal: %v, constant: %v", a.Shape(), slices.Equal(a.Data(), b.Data()), !a.RequiresGrad())
	}
	if s := u.Sample(rng, nil, 0).Shape(); !slices.Equal(s, []int{0, 2}) {
		t.Errorf("Sample(0) shape %v, want [0 2]", s)
	}
	// The bound with S = 1 is the integrand.
	b1 := u.BoundS(rand.New(rand.NewPCG(3, 4)), nil, x, 1).Data()
	b2 := u.Bound(rand.New(rand.NewPCG(3, 4)), nil, x).Data()
	if !slices.Equal(b1, b2) {
		t.Errorf("BoundS(S = 1) %v differs from Bound %v", b1, b2)
	}
}

func TestHISPanics(t *testing.T) {
	h := newTestHIS(17, 2, 0, 2)
	rng := rand.New(rand.NewPCG(1, 1))
	for name, f := range map[string]func(){
		"NewHIS T=0":      func() { NewHIS(rng, NewStdNormal(2, 1), h.Energy, 0, 0) },
		"Bound x [4 3]":   func() { h.Bound(rng, nil, ad.Zeros(4, 3)) },
		"BoundS S=0":      func() { h.BoundS(rng, nil, ad.Zeros(4, 2), 0) },
		"Bound ctx rows":  func() { h.Bound(rng, ad.Zeros(3, 1), ad.Zeros(4, 2)) },
		"Forward shapes":  func() { h.Forward(nil, ad.Zeros(4, 2), ad.Zeros(3, 2)) },
		"Sample n=-1":     func() { h.Sample(rng, nil, -1) },
		"Sample ctx [4]":  func() { h.Sample(rng, ad.Zeros(4), 2) },
		"nil Energy":      func() { g := *h; g.Energy = nil; g.Bound(rng, nil, ad.Zeros(1, 2)) },
		"RawAlpha length": func() { g := *h; g.T = 3; g.Inverse(nil, ad.Zeros(1, 2), ad.Zeros(1, 2)) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "eimfamily: ") {
					t.Errorf("%s: panic %v, want a message starting with \"eimfamily: \"", name, r)
				}
			}()
			f()
		}()
	}
}

// TestHISZeroEnergyIsABlur checks the closed form behind docs/table2.md's
// account of HIS's starting point: with a constant energy (∇U = 0) and
// q(ρ_T | x) = N(0, I), the dynamics are a drift, x_T = x₀ + ε S ρ₀ with
// S = Σ_{t=1}^{T} α₀ ∏_{s<t} α_s, and ρ_T = ρ₀ (∏α = 1). The integrand at
// ρ_T = ξ is then log π(x − ε S ξ) exactly (log N(ρ₀) − log q(ρ_T) = 0), so
// for π = N(m, σ²) its expectation over ξ falls short of log π(x) by
// Σ_j (ε_j S)² / (2σ_j²): the blur's cost grows with (ε S)². Checked
// pointwise at fixed draws, to rounding.
func TestHISZeroEnergyIsABlur(t *testing.T) {
	const d, T = 3, 5
	loc, logScale := []float64{0.4, -1.1, 2.0}, []float64{-0.3, 0.2, 0.5}
	prop := &Normal{Loc: ad.New(loc, d), LogScale: ad.New(logScale, d)}
	rng := rand.New(rand.NewPCG(3, 9))
	energy := NewMLPEnergy(rng, d, 0, 8)
	clear(energy.Net.Layers[len(energy.Net.Layers)-1].W.Data()) // U constant
	for _, alpha := range []float64{0.9, 0.9995} {
		h := NewHIS(rng, prop, energy, T, 0, 8)
		last := h.Q.Layers[len(h.Q.Layers)-1]
		clear(last.W.Data())
		clear(last.B.Data()) // q(ρ_T | x) = N(0, I)
		eps := []float64{0.01, 0.1, 0.37}
		for j, e := range eps {
			h.RawEps.Data()[j] = math.Log(math.Expm1(e))
		}
		for i := range h.RawAlpha.Data() {
			h.RawAlpha.Data()[i] = math.Log(alpha) - math.Log1p(-alpha)
		}
		// S from the temperatures as the docs define it, and in closed form
		// for equal α_t = α: α⁻ᵀ (1 − αᵀ) / (1 − α).
		a := h.Alphas()
		S, w := 0.0, a[0]
		for tt := 1; tt <= T; tt++ {
			S += w
			w *= a[tt]
		}
		if closed := math.Pow(alpha, -T) * -math.Expm1(T*math.Log(alpha)) / (1 - alpha); math.Abs(S-closed) > 1e-12*closed {
			t.Errorf("α = %v: S = %.15g from the temperatures, want α⁻ᵀ (1 − αᵀ)/(1 − α) = %.15g", alpha, S, closed)
		}
		stepSize := h.StepSize()
		x := []float64{0.1, -0.7, 2.5, 1.3, 0.0, -0.4}
		xi := []float64{0.5, -1.2, 0.8, -0.3, 1.9, 0.05, 2.2, 0.7, -1.4, 0.0, -0.6, 1.1}
		got := h.IntegrandsAt(nil, ad.New(x, 2, d), ad.New(xi, 2, 2, d)).Data()
		for s := range 2 {
			for i := range 2 {
				want := 0.0
				for j := range d {
					x0 := x[i*d+j] - stepSize[j]*S*xi[(s*2+i)*d+j]
					sd := math.Exp(logScale[j])
					z := (x0 - loc[j]) / sd
					want += -0.5*z*z - math.Log(sd) - 0.5*math.Log(2*math.Pi)
				}
				if g := got[s*2+i]; math.Abs(g-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("α = %v, draw %d, x %d: integrand %.15g, want log π(x − εSξ) = %.15g (S = %v)", alpha, s, i, g, want, S)
				}
			}
		}
	}
}
