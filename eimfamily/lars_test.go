package eimfamily

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// TestLARSLogProbExact: at the exact Z, LARS's closed form is log p_TRS by
// brute-force enumeration of Alg. 1, unconditionally and with a context.
func TestLARSLogProbExact(t *testing.T) {
	f := newFixture()
	logPi := f.prop.LogWeights()
	u := f.energies()
	for T := 1; T <= 4; T++ {
		pmf, _ := trsBruteForce(logPi, u, T)
		m := NewLARS(f.prop, f.energy, T, 16)
		got := m.LogProb(nil, f.support(), ZEstimate{Z: []float64{trsZ(logPi, u)}}).Data()
		for j := range got {
			if math.Abs(got[j]-math.Log(pmf[j])) > exactTol {
				t.Errorf("T = %d: LogProb(s_%d) = %.15g, enumeration %.15g", T, j, got[j], math.Log(pmf[j]))
			}
		}
		x, ctx := f.condBatch()
		cu := f.condEnergies()
		var zs []float64
		var want []float64
		for r := range fixCtx {
			pmf, _ := trsBruteForce(logPi, cu[r], T)
			for j := range pmf {
				zs = append(zs, trsZ(logPi, cu[r]))
				want = append(want, math.Log(pmf[j]))
			}
		}
		mc := NewLARS(f.prop, f.cond, T, 16)
		got = mc.LogProb(ctx, x, ZEstimate{Z: zs}).Data()
		for r := range got {
			if math.Abs(got[r]-want[r]) > exactTol {
				t.Errorf("T = %d conditional row %d: LogProb = %.15g, enumeration %.15g", T, r, got[r], want[r])
			}
		}
	}
}

// aMoments returns the exact mean, standard deviation, and the standard
// error of the sample standard deviation from n draws, of a = σ(−U) under π.
func aMoments(logPi, u []float64, n int) (mean, sd, sdSE float64) {
	var m2, m4 float64
	for j := range u {
		mean += math.Exp(logPi[j]) * sigmoid(-u[j])
	}
	for j := range u {
		d := sigmoid(-u[j]) - mean
		m2 += math.Exp(logPi[j]) * d * d
		m4 += math.Exp(logPi[j]) * d * d * d * d
	}
	// Var(s²) ≈ (μ₄ − σ⁴)/n, and s ≈ σ + (s² − σ²)/(2σ).
	return mean, math.Sqrt(m2), math.Sqrt((m4-m2*m2)/float64(n)) / (2 * math.Sqrt(m2))
}

// TestLARSEstimateZ: the chunked estimate of Z (n spans four chunks) is
// within 5 standard errors of the exact Z, its reported standard error
// within 5 standard errors of the exact sd(a)/√n, for the unconditional
// model and each context row; the same seed gives bitwise the same
// estimate; a cancelled context stops it.
func TestLARSEstimateZ(t *testing.T) {
	const n = 200_000
	f := newFixture()
	logPi := f.prop.LogWeights()
	check := func(name string, est ZEstimate, r int, u []float64) {
		t.Helper()
		mean, sd, sdSE := aMoments(logPi, u, n)
		se := sd / math.Sqrt(n)
		if math.Abs(est.Z[r]-mean) > mcSigmas*se {
			t.Errorf("%s: Ẑ = %.6g, exact Z = %.6g, SE %.2g", name, est.Z[r], mean, se)
		}
		if math.Abs(est.StdErr[r]-se) > mcSigmas*sdSE/math.Sqrt(n) {
			t.Errorf("%s: StdErr = %.6g, exact %.6g", name, est.StdErr[r], se)
		}
	}
	m := NewLARS(f.prop, f.energy, 3, 16)
	est, err := m.EstimateZ(context.Background(), rand.New(rand.NewPCG(21, 22)), nil, n)
	if err != nil || est.N != n || len(est.Z) != 1 {
		t.Fatalf("EstimateZ: %+v, %v", est, err)
	}
	check("unconditional", est, 0, f.energies())
	again, _ := m.EstimateZ(context.Background(), rand.New(rand.NewPCG(21, 22)), nil, n)
	if again.Z[0] != est.Z[0] || again.StdErr[0] != est.StdErr[0] {
		t.Errorf("same seed: %v ± %v, then %v ± %v", est.Z[0], est.StdErr[0], again.Z[0], again.StdErr[0])
	}

	mc := NewLARS(f.prop, f.cond, 3, 16)
	ctx := ad.New(append([]float64(nil), fixCtx...), len(fixCtx), 1)
	est, err = mc.EstimateZ(context.Background(), rand.New(rand.NewPCG(23, 24)), ctx, n)
	if err != nil || len(est.Z) != len(fixCtx) {
		t.Fatalf("conditional EstimateZ: %+v, %v", est, err)
	}
	for r, u := range f.condEnergies() {
		check("conditional", est, r, u)
	}

	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.EstimateZ(cctx, rand.New(rand.NewPCG(1, 1)), nil, n); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
}

// TestLARSEval: Eval is LogProb at the estimate it returns.
func TestLARSEval(t *testing.T) {
	f := newFixture()
	m := NewLARS(f.prop, f.energy, 3, 16)
	lp, z, err := m.Eval(context.Background(), rand.New(rand.NewPCG(25, 26)), nil, f.support(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	want := m.LogProb(nil, f.support(), z).Data()
	for j, v := range lp.Data() {
		if v != want[j] {
			t.Errorf("Eval(s_%d) = %v, LogProb at its Ẑ = %v", j, v, want[j])
		}
	}
}

// larsZCur recomputes the training step's estimate Ẑ_cur from the same
// draws: TrainBound's first use of rng is the K proposal draws.
func larsZCur(m *LARS, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, seed))
	cand := m.Proposal.Sample(rng, nil, m.K)
	z := 0.0
	for _, v := range m.Energy.Energy(nil, cand).Data() {
		z += sigmoid(-v)
	}
	return z / float64(m.K)
}

// TestLARSTrainBound: the forward value is the closed form at
// Z_smooth = Decay·ZAvg + (1 − Decay)·Ẑ_cur (at Ẑ_cur on the first step),
// and the second result is Z_smooth; the conditional objective uses the
// per-point estimates and returns NaN.
func TestLARSTrainBound(t *testing.T) {
	p, e, ec := gradModel()
	x, ctx := gradData()
	m := NewLARS(p, e, 4, 32)
	for _, zavg := range []float64{0, 0.4} {
		m.ZAvg = zavg
		zc := larsZCur(m, 7)
		want := zc
		if zavg > 0 {
			want = m.Decay*zavg + (1-m.Decay)*zc
		}
		b, zs := m.TrainBound(rand.New(rand.NewPCG(7, 7)), nil, x)
		if math.Abs(zs-want) > exactTol {
			t.Errorf("ZAvg = %v: Z_smooth = %.15g, want %.15g", zavg, zs, want)
		}
		lp := m.LogProb(nil, x, ZEstimate{Z: []float64{want}}).Data()
		for i, v := range b.Data() {
			if math.Abs(v-lp[i]) > exactTol {
				t.Errorf("ZAvg = %v: objective[%d] = %.15g, closed form at Z_smooth %.15g", zavg, i, v, lp[i])
			}
		}
	}

	mc := NewLARS(p, ec, 4, 32)
	b, zs := mc.TrainBound(rand.New(rand.NewPCG(8, 8)), ctx, x)
	if !math.IsNaN(zs) {
		t.Errorf("conditional: second result %v, want NaN", zs)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	u := ec.Energy(ctx, p.Sample(rng, ctx, mc.K)).Data() // [K, n]
	n := x.Dim(0)
	zrow := make([]float64, n)
	for k := range mc.K {
		for i := range n {
			zrow[i] += sigmoid(-u[k*n+i]) / float64(mc.K)
		}
	}
	lp := mc.LogProb(ctx, x, ZEstimate{Z: zrow}).Data()
	for i, v := range b.Data() {
		if math.Abs(v-lp[i]) > exactTol {
			t.Errorf("conditional objective[%d] = %.15g, closed form at Ẑ_cur %.15g", i, v, lp[i])
		}
	}
}

// TestLARSGrad compares gradients with finite differences. Without
// smoothing the objective is differentiated as it is. With smoothing the
// gradient flows through Ẑ_cur while the forward pass uses Z_smooth: it is
// the derivative of θ ↦ L_θ(Ẑ_cur(θ) + δ) with δ = Z_smooth − Ẑ_cur frozen
// at the current θ, whose values the test computes from LogProb.
func TestLARSGrad(t *testing.T) {
	p, e, ec := gradModel()
	x, ctx := gradData()
	for _, T := range []int{1, 2, 5} {
		m := &LARS{Proposal: p, Energy: e, T: T, K: 8}
		checkGrad(t, "TrainBound", m.Params(), func() *ad.Tensor {
			b, _ := m.TrainBound(rand.New(rand.NewPCG(1, 2)), nil, x)
			return ad.Sum(b)
		})
		mc := &LARS{Proposal: p, Energy: ec, T: T, K: 8, Decay: 0.9, ZAvg: 0.3}
		checkGrad(t, "conditional TrainBound", mc.Params(), func() *ad.Tensor {
			b, _ := mc.TrainBound(rand.New(rand.NewPCG(1, 2)), ctx, x)
			return ad.Sum(b)
		})
		checkGrad(t, "LogProb", m.Params(), func() *ad.Tensor {
			return ad.Sum(m.LogProb(nil, x, ZEstimate{Z: []float64{0.37}}))
		})

		s := &LARS{Proposal: p, Energy: e, T: T, K: 8, Decay: 0.9, ZAvg: 0.3}
		const seed = 5
		_, zs := s.TrainBound(rand.New(rand.NewPCG(seed, seed)), nil, x)
		delta := zs - larsZCur(s, seed)
		checkGrad(t, "smoothed TrainBound", s.Params(), func() *ad.Tensor {
			b, _ := s.TrainBound(rand.New(rand.NewPCG(seed, seed)), nil, x)
			// The value is L at Z_smooth(θ) (not what is differentiated);
			// replace it by L_θ(Ẑ_cur(θ) + δ), the function whose
			// derivative the gradient is, and keep b's graph for ad.Grad.
			want := ad.Sum(s.LogProb(nil, x, ZEstimate{Z: []float64{larsZCur(s, seed) + delta}})).Item()
			return ad.AddScalar(ad.Sum(b), want-ad.Sum(b).Item())
		})
	}
}

// TestLARSSample: LARS samples the TRS process (chi-square against p_TRS).
func TestLARSSample(t *testing.T) {
	f := newFixture()
	m := NewLARS(f.prop, f.energy, 3, 16)
	checkTRSSampler(t, "LARS", f, 3, m.Sample(rand.New(rand.NewPCG(27, 28)), nil, 20000), f.energies(), f.prop.LogWeights())
}

func TestLARSPanics(t *testing.T) {
	f := newFixture()
	m := NewLARS(f.prop, f.energy, 3, 16)
	x := f.support()
	rng := rand.New(rand.NewPCG(1, 1))
	bg := context.Background()
	for name, fn := range map[string]func(){
		"K=0":      func() { NewLARS(f.prop, f.energy, 3, 0).TrainBound(rng, nil, x) },
		"T=0":      func() { NewLARS(f.prop, f.energy, 0, 4).TrainBound(rng, nil, x) },
		"decay":    func() { (&LARS{Proposal: f.prop, Energy: f.energy, T: 2, K: 2, Decay: 1}).TrainBound(rng, nil, x) },
		"x shape":  func() { m.TrainBound(rng, nil, ad.Zeros(3)) },
		"z count":  func() { m.LogProb(nil, x, ZEstimate{Z: []float64{0.1, 0.2}}) },
		"n=0":      func() { m.EstimateZ(bg, rng, nil, 0) },
		"ctx rank": func() { m.EstimateZ(bg, rng, ad.Zeros(3), 10) },
	} {
		t.Run(name, func(t *testing.T) { expectPanic(t, fn) })
	}
}
