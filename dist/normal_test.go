package dist

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/internal/mctest"
)

// distuvNormalLogProb returns Σ_d log N(x_d; μ_d, σ_d²) from distuv for
// each row of d entries of x, with loc and scale read with the same
// row-major layout (broadcast by repetition when shorter than x).
func distuvNormalLogProb(loc, scale, x []float64, d int) []float64 {
	out := make([]float64, len(x)/d)
	for i, v := range x {
		out[i/d] += distuv.Normal{Mu: loc[i%len(loc)], Sigma: scale[i%len(scale)]}.LogProb(v)
	}
	return out
}

func TestNormalLogProbGonum(t *testing.T) {
	const n, d = 4, 3
	rng := newRNG(1)
	loc := randTensor(rng, -2, 2, n, d)
	scale := randTensor(rng, 0.3, 3, n, d)
	x := randTensor(rng, -4, 4, n, d)
	logScale := ad.Log(scale)

	wantUV := distuvNormalLogProb(loc.Data(), scale.Data(), x.Data(), d)
	for _, tc := range []struct {
		name string
		p    *Normal
	}{
		{"NewNormal", NewNormal(loc, scale)},
		{"NewNormalLogScale", NewNormalLogScale(loc, logScale)},
	} {
		lp := tc.p.LogProb(x)
		if !slices.Equal(lp.Shape(), []int{n}) {
			t.Fatalf("%s: LogProb shape %v, want [%d]", tc.name, lp.Shape(), n)
		}
		checkClose(t, tc.name+" vs distuv", lp.Data(), wantUV)

		// K samples of the batch: x [K, n, d] against Loc [n, d].
		xk := ad.Concat(0, ad.Unsqueeze(x, 0), ad.Unsqueeze(x, 0))
		lpk := tc.p.LogProb(xk)
		if !slices.Equal(lpk.Shape(), []int{2, n}) {
			t.Fatalf("%s: LogProb of [2, n, d] has shape %v, want [2 %d]", tc.name, lpk.Shape(), n)
		}
		checkClose(t, tc.name+" [K, n, d]", lpk.Data(), append(slices.Clone(wantUV), wantUV...))
	}

	// One distribution (Loc [d]) scoring a batch x [n, d].
	p := NewNormal(tensorOf(loc.Data()[:d], d), tensorOf(scale.Data()[:d], d))
	var want []float64
	for r := range n {
		want = append(want, distuvNormalLogProb(loc.Data()[:d], scale.Data()[:d], x.Data()[r*d:(r+1)*d], d)...)
	}
	checkClose(t, "Loc [d], x [n, d]", p.LogProb(x).Data(), want)
}

// TestNormalEntropyKL checks Entropy against distuv and KL against the
// textbook form Σ_d [log(σ'/σ) + (σ² + (μ − μ')²)/(2σ'²) − ½], evaluated
// directly (the code uses the expm1 form). distmv_test.go checks both
// against distmv as well.
func TestNormalEntropyKL(t *testing.T) {
	const n, d = 3, 4
	rng := newRNG(2)
	lp, sp := randTensor(rng, -2, 2, n, d), randTensor(rng, 0.3, 3, n, d)
	lq, sq := randTensor(rng, -2, 2, n, d), randTensor(rng, 0.3, 3, n, d)
	p, q := NewNormal(lp, sp), NewNormalLogScale(lq, ad.Log(sq))
	wantH := make([]float64, n)
	wantKL := make([]float64, n)
	for i := range n * d {
		mp, s1, mq, s2 := lp.Data()[i], sp.Data()[i], lq.Data()[i], sq.Data()[i]
		wantH[i/d] += distuv.Normal{Mu: mp, Sigma: s1}.Entropy()
		wantKL[i/d] += math.Log(s2/s1) + (s1*s1+(mp-mq)*(mp-mq))/(2*s2*s2) - 0.5
	}
	checkClose(t, "Entropy vs distuv", p.Entropy().Data(), wantH)
	checkClose(t, "KL vs textbook form", p.KL(q).Data(), wantKL)
}

func TestNormalMoments(t *testing.T) {
	loc := tensorOf([]float64{-1, 0.5, 2, 0, 10, -3}, 2, 3)
	scale := tensorOf([]float64{0.5, 1, 3, 0.1, 2, 1}, 2, 3)
	for _, p := range []*Normal{NewNormal(loc, scale), NewNormalLogScale(loc, ad.Log(scale))} {
		x := p.Sample(newRNG(3), nMC)
		if want := []int{nMC, 2, 3}; !slices.Equal(x.Shape(), want) {
			t.Fatalf("Sample shape %v, want %v", x.Shape(), want)
		}
		for j := range 6 {
			m, s := loc.Data()[j], scale.Data()[j]
			checkMoments(t, "Normal", column(x.Data(), j, 6), m, s*s, 3*s*s*s*s)
		}
	}
}

func TestNormalLogProbGrad(t *testing.T) {
	rng := newRNG(4)
	loc := randTensor(rng, -1, 1, 3)
	scale := randTensor(rng, 0.5, 2, 4, 3)
	x := randTensor(rng, -2, 2, 2, 4, 3)
	checkGrad(t, "Normal.LogProb", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewNormal(ps[0], ps[1]).LogProb(ps[2]))
	}, loc, scale, x)
	checkGrad(t, "Normal(log σ).LogProb", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewNormalLogScale(ps[0], ps[1]).LogProb(ps[2]))
	}, loc, ad.Log(scale), x)
}

// TestNormalLogProbSecondOrder differentiates the score ∇ₓ log p(x), as
// Hamiltonian importance sampling does through ∇U, and checks it against
// the closed form −(x − μ)/σ² and its gradient against finite differences.
func TestNormalLogProbSecondOrder(t *testing.T) {
	rng := newRNG(5)
	loc := randTensor(rng, -1, 1, 3)
	scale := randTensor(rng, 0.5, 2, 3)
	x := randTensor(rng, -2, 2, 4, 3)
	score := func(ps []*ad.Tensor) *ad.Tensor {
		xx := ps[2]
		if !xx.RequiresGrad() {
			xx = xx.Clone().RequireGrad()
		}
		lp := ad.Sum(NewNormal(ps[0], ps[1]).LogProb(xx))
		return ad.GradGraph(lp, xx)[0]
	}
	g := score([]*ad.Tensor{loc, scale, x})
	want := make([]float64, x.Len())
	for i, v := range x.Data() {
		m, s := loc.Data()[i%3], scale.Data()[i%3]
		want[i] = -(v - m) / (s * s)
	}
	checkClose(t, "∇ₓ log p", g.Data(), want)
	checkGrad(t, "∇ₓ log p", func(ps []*ad.Tensor) *ad.Tensor { return weightedSum(score(ps)) }, loc, scale, x)
}

func TestNormalRSampleGrad(t *testing.T) {
	rng := newRNG(6)
	loc := randTensor(rng, -1, 1, 3)
	scale := randTensor(rng, 0.5, 2, 2, 3)
	// The same seed on every call gives the same ε, so the function of the
	// parameters is deterministic and smooth.
	const seed = 7
	checkGrad(t, "Normal.RSample", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(ad.Tanh(NewNormal(ps[0], ps[1]).RSample(newRNG(seed), 5)))
	}, loc, scale)
	checkGrad(t, "Normal(log σ).RSample", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(ad.Tanh(NewNormalLogScale(ps[0], ps[1]).RSample(newRNG(seed), 5)))
	}, loc, ad.Log(scale))
}

func TestNormalEntropyKLGrad(t *testing.T) {
	rng := newRNG(8)
	lp, sp := randTensor(rng, -1, 1, 2, 3), randTensor(rng, 0.5, 2, 2, 3)
	lq, sq := randTensor(rng, -1, 1, 3), randTensor(rng, 0.5, 2, 3)
	checkGrad(t, "Normal.Entropy", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewNormal(ps[0], ps[1]).Entropy())
	}, lp, sp)
	checkGrad(t, "Normal(log σ).Entropy", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewNormalLogScale(ps[0], ps[1]).Entropy())
	}, lp, ad.Log(sp))
	checkGrad(t, "Normal.KL", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewNormal(ps[0], ps[1]).KL(NewNormal(ps[2], ps[3])))
	}, lp, sp, lq, sq)
	checkGrad(t, "Normal(log σ).KL", func(ps []*ad.Tensor) *ad.Tensor {
		return weightedSum(NewNormalLogScale(ps[0], ps[1]).KL(NewNormalLogScale(ps[2], ps[3])))
	}, lp, ad.Log(sp), lq, ad.Log(sq))
}

func TestNormalKLProperties(t *testing.T) {
	rng := newRNG(9)
	const d = 3
	// KL(p, p) = 0 exactly, by the expm1 form.
	for range 20 {
		p := NewNormal(randTensor(rng, -3, 3, d), randTensor(rng, 0.01, 10, d))
		if kl := p.KL(p).Item(); kl != 0 {
			t.Errorf("KL(p, p) = %g, want 0", kl)
		}
	}
	// KL ≥ 0 over random pairs, including nearly equal ones.
	for i := range 200 {
		lp, sp := randTensor(rng, -3, 3, d), randTensor(rng, 0.01, 10, d)
		lq, sq := randTensor(rng, -3, 3, d), randTensor(rng, 0.01, 10, d)
		if i%2 == 0 { // perturb p slightly
			lq = ad.AddScalar(lp, 1e-9*rng.NormFloat64())
			sq = ad.MulScalar(sp, 1+1e-9*rng.NormFloat64())
		}
		if kl := NewNormal(lp, sp).KL(NewNormal(lq, sq)).Item(); !(kl >= 0) {
			t.Errorf("KL = %g < 0 for p = (%v, %v), q = (%v, %v)", kl, lp, sp, lq, sq)
		}
	}
	// Monte Carlo: KL(p ‖ q) = E_p[log p(x) − log q(x)] and H = −E_p[log p].
	p := NewNormal(tensorOf([]float64{0, 1, -1}, d), tensorOf([]float64{1, 0.5, 2}, d))
	q := NewNormal(tensorOf([]float64{0.5, 0, -1}, d), tensorOf([]float64{1.5, 1, 1}, d))
	x := p.Sample(newRNG(10), nMC)
	lpx := p.LogProb(x).Data()
	ratio := make([]float64, nMC)
	floats.SubTo(ratio, lpx, q.LogProb(x).Data())
	if m, se := mctest.MeanSE(ratio); math.Abs(m-p.KL(q).Item()) > zMax*se {
		t.Errorf("KL = %.6g, Monte Carlo %.6g ± %.3g", p.KL(q).Item(), m, se)
	}
	negLP := slices.Clone(lpx)
	floats.Scale(-1, negLP)
	if m, se := mctest.MeanSE(negLP); math.Abs(m-p.Entropy().Item()) > zMax*se {
		t.Errorf("Entropy = %.6g, Monte Carlo %.6g ± %.3g", p.Entropy().Item(), m, se)
	}
}

func TestNormalDetach(t *testing.T) {
	loc := tensorOf([]float64{0.5, -1}, 2).RequireGrad()
	logScale := tensorOf([]float64{0.1, -0.2}, 2).RequireGrad()
	p := NewNormalLogScale(loc, logScale)
	x := tensorOf([]float64{1, 1}, 2)
	if !sameBits(p.Detach().LogProb(x).Data(), p.LogProb(x).Data()) {
		t.Errorf("Detach changed LogProb")
	}
	g := ad.Grad(p.Detach().LogProb(x), loc, logScale)
	for _, gi := range g {
		if slices.ContainsFunc(gi.Data(), func(v float64) bool { return v != 0 }) {
			t.Errorf("gradient through Detach = %v, want 0", gi)
		}
	}
}
