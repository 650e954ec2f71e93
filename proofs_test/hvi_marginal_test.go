package proofs_test

// Hamiltonian VI (Lawson et al. 2019, Sec. 5.3; package hvi) is Eq. 4 with
// q the HIS sampler conditioned on x and λ = ρ_T, so
//
//	HVI = E_q[ log p(x, z_T) + log r(ρ_T | z_T, x) − log q(z_T, ρ_T | x) ]
//	    = ELBO(q(z_T | x)) − E_q KL(q(ρ_T | z_T, x) ‖ r(ρ_T | z_T, x))
//	    ≤ ELBO(q(z_T | x)) = log p(x) − KL(q(z_T | x) ‖ p(z_T | x)) ≤ log p(x),
//
// with q(z_T | x) = ∫ q(z_T, ρ_T | x) dρ_T the intractable marginal. In one
// dimension all of it is a quadrature, on a uniform grid with the trapezoid
// rule over ±10 (forward) or ±12 (backward) standard deviations: HVI over
// (z₀, ρ₀) through HIS.Forward,
// and q(z_T, ρ_T | x) = π(z₀ | x) N(ρ₀; 0, 1) at
// (z₀, ρ₀) = HIS.Inverse(z_T, ρ_T) (unit Jacobian) on a grid over
// (z_T, ρ_T), which gives the marginal q(z_T | x) and its ELBO. Two
// models: refmodel.LinearGaussian with dx = dz = 1 (the leapfrog map is
// then linear and q(z_T | x) Gaussian, so its ELBO has a closed form from
// the map's matrix), and a nonlinear one, z ~ N(0, 1),
// x | z ~ N(2 tanh(2z), 0.5²), whose log p(x) is itself a quadrature.
// hvi.New's family with three leapfrog steps, larger steps and stronger
// tempering than its defaults, and r(ρ_T | z_T, x) set to the linear
// regression of ρ_T on z_T under q, 1.3 times too wide (a random network
// would leave a gap of ~100 nats). The HVI integrand at the grid's draws
// is assembled from HIS.Forward, the model, π's and r's log densities, as
// package hvi documents it (hvi has no integrand at given draws), and its
// mean is checked against hvi.HVI.Integrands by Monte Carlo (5 standard
// errors, 4000 draws, fixed seed). Checked:
//
//   - the quadrature is converged: refining the grid from 240 to 320
//     intervals per axis moves no result by more than 1e-8 (the trapezoid
//     rule on smooth, Gaussian-tailed integrands converges faster than
//     any power of the step; the tanh model's sharper flow is the slowest,
//     about 1e-9 at 240), and q(z_T, ρ_T | x) integrates to 1 within 1e-8;
//   - HVI by the forward map equals HVI on the (z_T, ρ_T) grid (Forward
//     and Inverse agree), within 1e-8;
//   - ELBO(q(z_T | x)) − HVI = E_q KL(q(ρ_T | z_T, x) ‖ r(ρ_T | z_T, x))
//     and log p(x) − ELBO = KL(q(z_T | x) ‖ p(z_T | x)), within 1e-8;
//   - HVI < ELBO(q(z_T | x)) < log p(x), each gap above 1e-4 (far above
//     the quadrature error);
//   - for the linear-Gaussian model the quadrature ELBO equals the closed
//     form within 1e-8.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/hvi"
	"github.com/eimkit/eimkit/internal/mctest"
	"github.com/eimkit/eimkit/nn"
	"github.com/eimkit/eimkit/refmodel"
)

// tanhModel is z ~ N(0, 1), x | z ~ N(2 tanh(2z), 0.5²), in one dimension:
// LogJoint of x [n, 1] and z [..., n, 1] is [..., n], built from ad
// operations (HVI differentiates it in z).
type tanhModel struct{}

func (tanhModel) LogJoint(x, z *ad.Tensor) *ad.Tensor {
	const sd = 0.5
	prior := ad.AddScalar(ad.MulScalar(ad.Square(z), -0.5), -0.5*math.Log(2*math.Pi))
	mean := ad.MulScalar(ad.Tanh(ad.MulScalar(z, 2)), 2)
	d := ad.MulScalar(ad.Sub(x, mean), 1/sd) // x [n, 1] broadcasts against z
	lik := ad.AddScalar(ad.MulScalar(ad.Square(d), -0.5), -0.5*math.Log(2*math.Pi*sd*sd))
	return ad.Sum(ad.Add(prior, lik), -1)
}

// grid1 returns n+1 equally spaced points on [lo, hi] and the trapezoid
// weights (the end points halved; the integrands vanish there anyway).
func grid1(lo, hi float64, n int) (pts, wts []float64) {
	h := (hi - lo) / float64(n)
	for i := range n + 1 {
		pts = append(pts, lo+float64(i)*h)
		w := h
		if i == 0 || i == n {
			w = h / 2
		}
		wts = append(wts, w)
	}
	return pts, wts
}

// logStdNormal is log N(r; 0, 1).
func logStdNormal(r float64) float64 { return -0.5*r*r - 0.5*math.Log(2*math.Pi) }

// proposalMoments returns the mean and sd of the Gaussian π(z₀ | x), read
// off three values of its log density.
func proposalMoments(h *hvi.HVI, x float64) (mu, s float64) {
	lp := h.HIS.Proposal.LogProb(ad.Full(x, 3, 1), ad.New([]float64{-1, 0, 1}, 3, 1)).Data()
	s = 1 / math.Sqrt(2*lp[1]-lp[0]-lp[2])
	return (lp[2] - lp[0]) * s * s / 2, s
}

// flowGrid is the forward quadrature grid: (z₀, ρ₀) over ±10 sd of π × N,
// mapped by HIS.Forward, with each node's log q and quadrature mass q, and
// the moments of (z_T, ρ_T) under q.
type flowGrid struct {
	m                   int
	zT, rT              *ad.Tensor
	logq, q             []float64
	mZ, sZ, mR, sR, cZR float64
}

func forwardGrid(h *hvi.HVI, x float64, n int) flowGrid {
	mu, s := proposalMoments(h, x)
	zs, zw := grid1(mu-10*s, mu+10*s, n)
	rs, rw := grid1(-10, 10, n)
	g := flowGrid{m: len(zs) * len(rs)}
	z0, r0 := make([]float64, g.m), make([]float64, g.m)
	for i := range zs {
		for j := range rs {
			z0[i*len(rs)+j], r0[i*len(rs)+j] = zs[i], rs[j]
		}
	}
	xs := ad.Full(x, g.m, 1)
	z0t := ad.New(z0, g.m, 1)
	g.zT, g.rT = h.HIS.Forward(xs, z0t, ad.New(r0, g.m, 1))
	lpi := h.HIS.Proposal.LogProb(xs, z0t).Data()
	g.logq, g.q = make([]float64, g.m), make([]float64, g.m)
	var ez, ez2, er, er2, ezr float64
	for i := range zs {
		for j := range rs {
			e := i*len(rs) + j
			g.logq[e] = lpi[e] + logStdNormal(rs[j])
			g.q[e] = math.Exp(g.logq[e]) * zw[i] * rw[j]
			z, r := g.zT.Data()[e], g.rT.Data()[e]
			ez, ez2, er, er2, ezr = ez+g.q[e]*z, ez2+g.q[e]*z*z, er+g.q[e]*r, er2+g.q[e]*r*r, ezr+g.q[e]*z*r
		}
	}
	g.mZ, g.sZ = ez, math.Sqrt(ez2-ez*ez)
	g.mR, g.sR = er, math.Sqrt(er2-er*er)
	g.cZR = ezr - ez*er
	return g
}

// setLinearReverse makes r(ρ_T | z_T, x) the Gaussian with the linear
// regression of ρ_T on z_T under q as its mean and spread times the
// residual sd, as one affine layer on [z_T, x]: close to q(ρ_T | z_T, x)
// (equal for spread 1 when that is Gaussian, as for a linear-Gaussian
// model), so the KL gap is small but positive.
func setLinearReverse(h *hvi.HVI, g flowGrid, spread float64) {
	beta := g.cZR / (g.sZ * g.sZ)
	resid := math.Sqrt(g.sR*g.sR - beta*g.cZR)
	W := ad.New([]float64{beta, 0, 0, 0}, 2, 2) // rows: z_T, x; columns: μ, log s
	B := ad.New([]float64{g.mR - beta*g.mZ, math.Log(spread * resid)}, 2)
	h.HIS.Q = &nn.MLP{Layers: []*nn.Linear{{W: W, B: B}}}
}

// hviQuadrature holds the quadrature results at one grid step.
type hviQuadrature struct {
	forward, backward, elbo, klRho, klZ, mass float64
	mZ, sZ, mR, sR                            float64 // moments of (z_T, ρ_T) under q
}

// hviQuad computes the quadratures for h at data x (one 1-D point), with
// n intervals per axis over ±10 standard deviations.
func hviQuad(h *hvi.HVI, p hvi.Model, x float64, logp float64, n int) hviQuadrature {
	xs := func(m int) *ad.Tensor { return ad.Full(x, m, 1) }
	pi := h.HIS.Proposal

	var out hviQuadrature
	// Forward: (z₀, ρ₀) on a grid, weighted by π N.
	fw := forwardGrid(h, x, n)
	zT, rT := fw.zT, fw.rT
	w := ad.Add(p.LogJoint(xs(fw.m), zT), h.Reverse().LogProb(xs(fw.m), zT, rT)).Data()
	for e, q := range fw.q {
		out.forward += q * (w[e] - fw.logq[e])
	}
	out.mZ, out.sZ, out.mR, out.sR = fw.mZ, fw.sZ, fw.mR, fw.sR
	m := fw.m

	// Backward: (z_T, ρ_T) on a grid, q by the inverse map.
	zs, zw := grid1(out.mZ-12*out.sZ, out.mZ+12*out.sZ, n)
	rs, rw := grid1(out.mR-12*out.sR, out.mR+12*out.sR, n)
	zg, rg := make([]float64, m), make([]float64, m)
	for i := range zs {
		for j := range rs {
			zg[i*len(rs)+j], rg[i*len(rs)+j] = zs[i], rs[j]
		}
	}
	zgt, rgt := ad.New(zg, m, 1), ad.New(rg, m, 1)
	z0b, r0b := h.HIS.Inverse(xs(m), zgt, rgt)
	lpib := pi.LogProb(xs(m), z0b).Data()
	logr := h.Reverse().LogProb(xs(m), zgt, rgt).Data()
	logpz := p.LogJoint(xs(m), zgt).Data()
	lqJoint := make([]float64, m)
	for e := range m {
		lqJoint[e] = lpib[e] + logStdNormal(r0b.Data()[e])
	}
	for i := range zs {
		qz := 0.0 // q(z_T | x) = ∫ q(z_T, ρ_T | x) dρ_T
		for j := range rs {
			qz += math.Exp(lqJoint[i*len(rs)+j]) * rw[j]
		}
		if qz == 0 {
			continue
		}
		lqz := math.Log(qz)
		e0 := i * len(rs)
		out.mass += qz * zw[i]
		out.elbo += qz * zw[i] * (logpz[e0] - lqz)
		out.klZ += qz * zw[i] * (lqz - (logpz[e0] - logp))
		for j := range rs {
			e := e0 + j
			q := math.Exp(lqJoint[e]) * zw[i] * rw[j]
			if q == 0 {
				continue
			}
			out.backward += q * (logpz[e] + logr[e] - lqJoint[e])
			out.klRho += q * (lqJoint[e] - lqz - logr[e])
		}
	}
	return out
}

// linearELBO returns the ELBO of q(z_T | x) for the linear-Gaussian model
// in closed form: the leapfrog map is affine, (z_T, ρ_T) = A (z₀, ρ₀) + b,
// read off Forward at three points, so z_T ~ N(A₀₀ μ + b₀, A₀₀² s² + A₀₁²),
// and E_q log p(x, z) is a Gaussian expectation of a quadratic.
func linearELBO(h *hvi.HVI, m refmodel.LinearGaussian, x float64) float64 {
	xs := ad.Full(x, 3, 1)
	zT, _ := h.HIS.Forward(xs, ad.New([]float64{0, 1, 0}, 3, 1), ad.New([]float64{0, 0, 1}, 3, 1))
	b := zT.Data()[0]
	a00, a01 := zT.Data()[1]-b, zT.Data()[2]-b
	mu, s := proposalMoments(h, x)
	mean, v := a00*mu+b, a00*a00*s*s+a01*a01
	w, sig := m.W[0][0], m.Sigma
	// E log N(z; 0, 1) + E log N(x; w z, σ²) + entropy of N(mean, v).
	eLogPrior := -0.5*(mean*mean+v) - 0.5*math.Log(2*math.Pi)
	eLogLik := -((x-w*mean)*(x-w*mean)+w*w*v)/(2*sig*sig) - 0.5*math.Log(2*math.Pi*sig*sig)
	return eLogPrior + eLogLik + 0.5*math.Log(2*math.Pi*math.E*v)
}

func TestHVIBelowMarginalELBO(t *testing.T) {
	lin := refmodel.LinearGaussian{W: [][]float64{{1.5}}, Sigma: 0.8}
	const x = 1.3
	// log p(x) of the tanh model by quadrature over z.
	zs, zw := grid1(-12, 12, 4800)
	jt := tanhModel{}.LogJoint(ad.Full(x, len(zs), 1), ad.New(zs, len(zs), 1)).Data()
	px := 0.0
	for i, v := range jt {
		px += zw[i] * math.Exp(v)
	}
	for _, c := range []struct {
		name string
		p    hvi.Model
		logp float64
		eps  float64
	}{
		{"linear-Gaussian", lin, lin.LogEvidence([]float64{x}), 0.4},
		{"tanh", tanhModel{}, math.Log(px), 0.15},
	} {
		rng := rand.New(rand.NewPCG(5, 3))
		h := hvi.New(rng, c.p, 1, 1, 3, math.Log(0.7), nil, nil)
		// Larger steps and stronger tempering than the defaults, so that the
		// flow moves z₀ well away (α_t = 0.9), and r the regression of ρ_T
		// on z_T, 1.3 times too wide.
		h.HIS.RawEps = ad.New([]float64{math.Log(math.Expm1(c.eps))}, 1)
		h.HIS.RawAlpha = ad.Full(math.Log(0.9/0.1), 3)
		setLinearReverse(h, forwardGrid(h, x, 150), 1.3)
		coarse := hviQuad(h, c.p, x, c.logp, 240)
		fine := hviQuad(h, c.p, x, c.logp, 320)
		t.Logf("%s: HVI = %.12f (forward) %.12f (backward) ≤ ELBO(q(z_T|x)) = %.12f ≤ log p(x) = %.12f; E KL(q(ρ|z)‖r) = %.3e, KL(q(z_T)‖post) = %.3e; mass %.12f; z_T ~ %.3f ± %.3f",
			c.name, fine.forward, fine.backward, fine.elbo, c.logp, fine.klRho, fine.klZ, fine.mass, fine.mZ, fine.sZ)
		const tol = 1e-8
		for _, d := range []struct {
			name      string
			got, want float64
		}{
			{"HVI, grid step halved", fine.forward, coarse.forward},
			{"ELBO, grid step halved", fine.elbo, coarse.elbo},
			{"E KL(q(ρ|z)‖r), grid step halved", fine.klRho, coarse.klRho},
			{"∫ q(z_T, ρ_T | x)", fine.mass, 1},
			{"HVI forward − backward", fine.forward, fine.backward},
			{"ELBO − HVI", fine.elbo - fine.backward, fine.klRho},
			{"log p(x) − ELBO", c.logp - fine.elbo, fine.klZ},
		} {
			if math.Abs(d.got-d.want) > tol {
				t.Errorf("%s: %s: %.15g, want %.15g", c.name, d.name, d.got, d.want)
			}
		}
		if !(fine.elbo-fine.forward > 1e-4 && c.logp-fine.elbo > 1e-4) {
			t.Errorf("%s: want HVI < ELBO(q(z_T | x)) < log p(x) by more than 1e-4: %v, %v, %v", c.name, fine.forward, fine.elbo, c.logp)
		}
		// The package's own integrand (hvi.HVI.Integrands, which draws
		// z₀ and ρ₀ itself) has the quadrature's mean: 5 standard errors of
		// 4000 draws at a fixed seed.
		draws := h.Integrands(rand.New(rand.NewPCG(7, 7)), c.p, ad.Full(x, 1, 1), 4000).Data()
		mean, se := mctest.MeanSE(draws)
		if math.Abs(mean-fine.forward) > 5*se {
			t.Errorf("%s: hvi.Integrands mean %.5f ± %.5f, quadrature HVI %.5f", c.name, mean, se, fine.forward)
		}
		t.Logf("%s: hvi.Integrands, 4000 draws: %.5f ± %.5f", c.name, mean, se)
		if c.name == "linear-Gaussian" {
			if cf := linearELBO(h, lin, x); math.Abs(cf-fine.elbo) > tol {
				t.Errorf("linear-Gaussian: ELBO by quadrature %.15g, closed form %.15g", fine.elbo, cf)
			}
		}
	}
}
