package nn

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/eimkit/eimkit/ad"
)

// adamHand is the update of Kingma & Ba's Algorithm 1 written out
// independently of Adam.Step: m̂ and v̂ are formed explicitly.
type adamHand struct {
	lr, b1, b2, eps float64
	t               int
	m, v            []float64
}

func (h *adamHand) step(theta, g []float64) {
	if h.m == nil {
		h.m, h.v = make([]float64, len(theta)), make([]float64, len(theta))
	}
	h.t++
	for i := range theta {
		h.m[i] = h.b1*h.m[i] + (1-h.b1)*g[i]
		h.v[i] = h.b2*h.v[i] + (1-h.b2)*g[i]*g[i]
		mHat := h.m[i] / (1 - math.Pow(h.b1, float64(h.t)))
		vHat := h.v[i] / (1 - math.Pow(h.b2, float64(h.t)))
		theta[i] -= h.lr * mHat / (math.Sqrt(vHat) + h.eps)
	}
}

func TestAdamHand(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Adam
		hand adamHand
	}{
		{"defaults", Adam{}, adamHand{lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8}},
		{"custom", Adam{LR: 0.05, Beta1: 0.5, Beta2: 0.75, Eps: 1e-3}, adamHand{lr: 0.05, b1: 0.5, b2: 0.75, eps: 1e-3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			theta := []float64{1, -0.5, 0, 2}
			p := ad.New(slices.Clone(theta), 2, 2).RequireGrad()
			grads := [][]float64{
				{0.5, -2, 0, 1e-6},
				{-2, 3, 0, 1e-6},
				{1, 0.25, 1, -4},
				{0.1, -0.1, 0, 0},
			}
			for k, g := range grads {
				tc.opt.Step([]*ad.Tensor{p}, []*ad.Tensor{ad.New(slices.Clone(g), 2, 2)})
				tc.hand.step(theta, g)
				checkClose(t, "step "+string(rune('1'+k)), p.Data(), theta, tolHand)
				if tc.opt.StepCount() != k+1 {
					t.Fatalf("StepCount = %d after %d steps", tc.opt.StepCount(), k+1)
				}
			}
		})
	}
}

// TestAdamFirstStep: m̂₁ = g and v̂₁ = g², so the first step moves each
// coordinate by exactly α·g/(|g| + ε).
func TestAdamFirstStep(t *testing.T) {
	g := []float64{3, -1e-3, 0, 1e-9}
	p := ad.New(make([]float64, 4), 4)
	var opt Adam
	opt.Step([]*ad.Tensor{p}, []*ad.Tensor{ad.New(g, 4)})
	want := make([]float64, 4)
	for i, gi := range g {
		want[i] = -1e-3 * gi / (math.Abs(gi) + 1e-8)
	}
	checkClose(t, "first step", p.Data(), want, tolHand)
}

// torchAdamRun runs the problem of testdata/adam_torch.py: two
// parameters and gradients g = 2(p − c) + r_t with exact binary fractions
// c and r_t, so both sides compute the same gradients bit for bit.
func torchAdamRun(opt *Adam, steps int) [][]float64 {
	p1 := ad.New([]float64{-0.5, -0.375, -0.25, -0.25, -0.125, 0}, 2, 3)
	p2 := ad.New([]float64{1, -2, 0}, 3)
	ps := []*ad.Tensor{p1, p2}
	var out [][]float64
	for t := 1; t <= steps; t++ {
		gs := make([]*ad.Tensor, 2)
		for k, p := range ps {
			g := make([]float64, p.Len())
			for i, v := range p.Data() {
				c := float64(i%3) / 4
				r := float64((7*i+3*t)%11-5) / 4 * math.Pow(2, float64(i%3))
				g[i] = 2*(v-c) + r
			}
			gs[k] = ad.New(g, p.Shape()...)
		}
		opt.Step(ps, gs)
		out = append(out, append(slices.Clone(p1.Data()), p2.Data()...))
	}
	return out
}

// TestAdamMatchesTorch compares Adam with torch.optim.Adam bit for bit:
// six steps with two settings, and the end of a 3000-step run. Reference:
// testdata/adam_torch.py run with torch 1.13.0 (Debian's python3-torch,
// amd64), float64.
func TestAdamMatchesTorch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opt   Adam
		steps int
		want  [][]float64 // after each step, or only after the last
	}{
		{"defaults", Adam{}, 6, [][]float64{
			{-0.49900000000666667, -0.375999999992, -0.24900000002, -0.249000000008, -0.125999999992, 0.0009999999900000003, 0.9990000000066667, -1.999000000005, 0.0},
			{-0.4980682113446946, -0.3755994106894196, -0.24959847756684966, -0.24810203575083034, -0.1255994106894196, 0.0006335240911528977, 0.9980091333274103, -1.998082178847266, -0.0007441368200599645},
			{-0.49734941172816405, -0.37506887017496404, -0.24921356997561578, -0.24753846717273292, -0.12506887017496407, 0.0011331258435512133, 0.9970218055983047, -1.9971337489492018, -0.0004920176448883948},
			{-0.49652576875892956, -0.37467984989577857, -0.24870054476781595, -0.24679630944074202, -0.1246798498957786, 0.0017502505611954244, 0.9960974449991152, -1.9961996432453224, -0.00010799151048432461},
			{-0.49566248038353405, -0.37405272392846817, -0.24830992436192378, -0.24600073871151065, -0.12464694790673218, 0.0022715912443921626, 0.9951659109950626, -1.995244340180961, 0.00012500527653952468},
			{-0.4948412926788725, -0.37334520076922134, -0.24825866949663633, -0.24526664250461694, -0.12435214299241831, 0.0024805555634208973, 0.9942106239032389, -1.9942739588623615, 1.2155613574816993e-05},
		}},
		{"lr=0.1 betas=(0.8,0.99) eps=1e-6", Adam{LR: 0.1, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}, 6, [][]float64{
			{-0.40000006666662224, -0.474999920000064, -0.15000019999960001, -0.15000007999993598, -0.22499992000006402, 0.09999990000010002, 0.9000000666666222, -1.900000049999975, 0.0},
			{-0.3137754134180867, -0.42726461015649037, -0.21565522485659405, -0.07036779286101175, -0.17726461015649037, 0.0545589388950974, 0.7995542936531578, -1.805421700758108, -0.07837071859075374},
			{-0.2691362915994436, -0.367793514331682, -0.17393225505030968, -0.04881055732275923, -0.11779351433168199, 0.10752591780284394, 0.6981771991444136, -1.7091182182785982, -0.045691977542568936},
			{-0.198036889878987, -0.32755087167043057, -0.11982720183454781, 0.009656287604033219, -0.07755087167043054, 0.1717173609989818, 0.6136900813466091, -1.6180276198217904, 0.00026836964468117397},
			{-0.12588517058545323, -0.2578661473475061, -0.0852179786219006, 0.07020480812244931, -0.08077768347031196, 0.2189182444144554, 0.5322560723056284, -1.5208284306128699, 0.025602976362565012},
			{-0.07548853516563689, -0.18158734293615597, -0.09478244954706697, 0.10511331589953737, -0.0511305769887756, 0.22330011438120584, 0.44673910066078704, -1.422695518998293, 0.007209967366341077},
		}},
		{"3000 steps lr=0.01", Adam{LR: 0.01}, 3000, [][]float64{
			{-0.00020634529853546905, 0.24981257776473698, 0.4994979956527111, 0.0004685152255161258, 0.24828153704348613, 0.5013646333387662, -0.00020505585958673062, 0.2498164934019402, 0.4994978532702532},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := torchAdamRun(&tc.opt, tc.steps)
			got = got[len(got)-len(tc.want):]
			for k := range tc.want {
				for i, w := range tc.want[k] {
					if g := got[k][i]; math.Float64bits(g) != math.Float64bits(w) {
						t.Errorf("row %d entry %d: %.17g, torch %.17g (%.0f ulps)", k, i, g, w, math.Abs(g-w)/ulp(w))
					}
				}
			}
		})
	}
}

func ulp(x float64) float64 {
	x = math.Abs(x)
	return math.Nextafter(x, math.Inf(1)) - x
}

// TestAdamQuadratic: Adam finds the minimum of an ill-conditioned convex
// quadratic f(θ) = ½ Σ aᵢ(θᵢ − cᵢ)².
func TestAdamQuadratic(t *testing.T) {
	a := []float64{1, 10, 100, 0.1}
	c := []float64{1, -2, 0.5, 3}
	p := ad.Zeros(4).RequireGrad()
	A, C := ad.New(a, 4), ad.New(c, 4)
	opt := Adam{LR: 0.05, Schedule: PiecewiseConstant([]int{2000, 3000}, []float64{1, 0.1, 0.01})}
	for range 4000 {
		f := ad.MulScalar(ad.Sum(ad.Mul(A, ad.Square(ad.Sub(p, C)))), 0.5)
		opt.Step([]*ad.Tensor{p}, ad.Grad(f, p))
	}
	checkClose(t, "minimizer", p.Data(), c, 1e-4)
}

// TestAdamSchedule: the schedule is called with the 1-based step and
// multiplies LR, so a schedule of a constant s is the same, bit for bit,
// as LR·s without one.
func TestAdamSchedule(t *testing.T) {
	var calls []int
	sched := Adam{LR: 0.1, Schedule: func(step int) float64 { calls = append(calls, step); return 0.25 }}
	plain := Adam{LR: 0.1 * 0.25}
	p1 := ad.New([]float64{1, 2, 3}, 3)
	p2 := ad.New([]float64{1, 2, 3}, 3)
	for k := range 5 {
		g := []float64{float64(k) - 2, 0.5, -1}
		sched.Step([]*ad.Tensor{p1}, []*ad.Tensor{ad.New(slices.Clone(g), 3)})
		plain.Step([]*ad.Tensor{p2}, []*ad.Tensor{ad.New(slices.Clone(g), 3)})
	}
	if !slices.Equal(calls, []int{1, 2, 3, 4, 5}) {
		t.Errorf("Schedule called with %v, want [1 2 3 4 5]", calls)
	}
	if !bitsEqual(p1.Data(), p2.Data()) {
		t.Errorf("scheduled %v, plain %v: want bitwise equal", p1.Data(), p2.Data())
	}

	// A factor of 0 freezes the parameters but still counts the step and
	// accumulates the moments.
	frozen := Adam{Schedule: PiecewiseConstant([]int{3}, []float64{0, 1})}
	free := Adam{}
	p3 := ad.New([]float64{1}, 1)
	p4 := ad.New([]float64{1}, 1)
	for k := range 4 {
		g := ad.New([]float64{1}, 1)
		frozen.Step([]*ad.Tensor{p3}, []*ad.Tensor{g})
		if k < 2 && p3.Data()[0] != 1 {
			t.Fatalf("step %d with factor 0 moved the parameter to %v", k+1, p3.Data()[0])
		}
		free.Step([]*ad.Tensor{p4}, []*ad.Tensor{g})
	}
	fm, fv := frozen.Moments()
	gm, gv := free.Moments()
	if !bitsEqual(fm[0], gm[0]) || !bitsEqual(fv[0], gv[0]) {
		t.Error("moments differ between a frozen and a free run on the same gradients")
	}
}

func TestPiecewiseConstant(t *testing.T) {
	f := PiecewiseConstant([]int{10, 20}, []float64{1, 0.5, 0.25})
	for _, tc := range []struct {
		step int
		want float64
	}{{1, 1}, {9, 1}, {10, 0.5}, {19, 0.5}, {20, 0.25}, {1 << 40, 0.25}} {
		if got := f(tc.step); got != tc.want {
			t.Errorf("f(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
	if g := PiecewiseConstant(nil, []float64{3}); g(1) != 3 || g(1e9) != 3 {
		t.Error("no boundaries: not constant")
	}
	// The paper's drop, 3e-4 to 1e-4 on step 10⁶.
	paper := PiecewiseConstant([]int{1_000_000}, []float64{3e-4, 1e-4})
	if paper(999_999) != 3e-4 || paper(1_000_000) != 1e-4 {
		t.Error("paper schedule: wrong rates around step 10⁶")
	}
	// The slices are copied.
	b, fs := []int{5}, []float64{1, 2}
	h := PiecewiseConstant(b, fs)
	b[0], fs[1] = 100, 7
	if h(5) != 2 {
		t.Error("PiecewiseConstant does not copy its arguments")
	}
	mustPanic(t, func() { PiecewiseConstant([]int{1, 2}, []float64{1, 2}) }, "nn: PiecewiseConstant", "2 boundaries need 3 factors")
	mustPanic(t, func() { PiecewiseConstant([]int{5, 5}, []float64{1, 2, 3}) }, "nn: PiecewiseConstant", "increase")
}

func TestAdamPanics(t *testing.T) {
	p := ad.Zeros(2, 3)
	var opt Adam
	mustPanic(t, func() { opt.Step([]*ad.Tensor{p}, nil) }, "nn: Adam.Step: 1 parameters but 0 gradients")
	mustPanic(t, func() { opt.Step([]*ad.Tensor{p}, []*ad.Tensor{ad.Zeros(3, 2)}) },
		"nn: Adam.Step", "shape [2 3]", "shape [3 2]")
	mustPanic(t, func() { opt.Step([]*ad.Tensor{p}, []*ad.Tensor{nil}) }, "nn: Adam.Step", "shape nil")
	if opt.StepCount() != 0 {
		t.Fatal("a panicking Step counted a step")
	}
	opt.Step([]*ad.Tensor{p}, []*ad.Tensor{ad.Ones(2, 3)})
	mustPanic(t, func() { opt.Step([]*ad.Tensor{p, p}, []*ad.Tensor{ad.Ones(2, 3), ad.Ones(2, 3)}) },
		"nn: Adam.Step: 2 parameters, but the optimizer state holds 1")
	q := ad.Zeros(7)
	mustPanic(t, func() { opt.Step([]*ad.Tensor{q}, []*ad.Tensor{ad.Ones(7)}) },
		"nn: Adam.Step", "shape [7] (7 entries)", "holds 6 entries")
	if opt.StepCount() != 1 {
		t.Fatal("a panicking Step counted a step")
	}
	opt.Reset()
	opt.Step([]*ad.Tensor{q}, []*ad.Tensor{ad.Ones(7)}) // a new set after Reset
	if opt.StepCount() != 1 {
		t.Fatalf("StepCount after Reset and a step = %d, want 1", opt.StepCount())
	}
}

// TestAdamAllocs: after the first step, Step allocates nothing.
func TestAdamAllocs(t *testing.T) {
	ps := []*ad.Tensor{ad.Zeros(20, 20), ad.Zeros(20), ad.Zeros(20, 1)}
	gs := []*ad.Tensor{ad.Ones(20, 20), ad.Ones(20), ad.Ones(20, 1)}
	opt := Adam{Schedule: PiecewiseConstant([]int{100}, []float64{1, 0.5})}
	opt.Step(ps, gs)
	if n := testing.AllocsPerRun(100, func() { opt.Step(ps, gs) }); n != 0 {
		t.Errorf("Step allocates %v times per call, want 0", n)
	}
}

func BenchmarkAdamStep(b *testing.B) {
	// The paper's 2-20-20-1 energy network: 501 parameters.
	ps := []*ad.Tensor{ad.Zeros(2, 20), ad.Zeros(20), ad.Zeros(20, 20), ad.Zeros(20), ad.Zeros(20, 1), ad.Zeros(1)}
	gs := make([]*ad.Tensor, len(ps))
	for i, p := range ps {
		gs[i] = ad.Full(0.1, p.Shape()...)
	}
	var opt Adam
	b.ReportAllocs()
	for b.Loop() {
		opt.Step(ps, gs)
	}
}

// TestPowInt compares powInt with xⁿ computed by big.Float at 256 bits
// (relative error below n·2⁻²⁵⁶) and rounded once to float64.
func TestPowInt(t *testing.T) {
	ref := func(x float64, n int) float64 {
		r, b := new(big.Float).SetPrec(256).SetFloat64(1), new(big.Float).SetPrec(256).SetFloat64(x)
		for k := n; k > 0; k >>= 1 {
			if k&1 == 1 {
				r.Mul(r, b)
			}
			b.Mul(b, b)
		}
		f, _ := r.Float64()
		return f
	}
	ns := []int{0, 1, 2, 3, 4, 5, 10, 99, 1000, 4321, 1 << 20, 1_000_000, 3_000_001}
	for n := 6; n < 300; n++ {
		ns = append(ns, n)
	}
	for _, x := range []float64{0.9, 0.999, 0.8, 0.99, 0.95, 0.9999, 0.5, 1 - 1e-12} {
		for _, n := range ns {
			if got, want := powInt(x, n), ref(x, n); got != want {
				t.Errorf("powInt(%v, %d) = %v, want %v", x, n, got, want)
			}
		}
	}
}

// adamStepSerial is Adam.Step's update as it was before Step skipped the
// division by √(1 − β₂ᵗ) = 1, kept as the reference for TestAdamBitwise:
// one loop over each parameter, with the constants computed as Step
// computes them.
func adamStepSerial(a *Adam, t int, params, grads [][]float64, m, v [][]float64) {
	lr, b1, b2, eps := a.hyper()
	if a.Schedule != nil {
		lr *= a.Schedule(t)
	}
	bc1 := 1 - powInt(b1, t)
	bc2 := 1 - powInt(b2, t)
	negStep := -(lr / bc1)
	bc2Sqrt := math.Sqrt(bc2)
	c1, c2 := 1-b1, 1-b2
	for i, pd := range params {
		gd, m, v := grads[i], m[i], v[i]
		for j, g := range gd {
			mj := math.FMA(g, c1, float64(m[j]*b1))
			vj := math.FMA(float64(c2*g), g, float64(v[j]*b2))
			m[j], v[j] = mj, vj
			denom := math.Sqrt(vj)/bc2Sqrt + eps
			pd[j] += float64(negStep*mj) / denom
		}
	}
}

// TestAdamBitwise: Step gives the same bits for the parameters and both
// moments as the reference adamStepSerial over several steps, with the
// default and with other hyperparameters and a schedule, from the first
// step and across the step from which 1 − β₂ᵗ rounds to 1 (where Step
// skips the division by it), on small tensors and the VAE's largest
// layers, with gradients of very different sizes, zeros of both signs,
// an infinity and a NaN.
func TestAdamBitwise(t *testing.T) {
	sizes := map[string][][]int{
		"small": {{3, 5}, {5}, {20, 20}, {1}},
		"vae":   {{784, 300}, {300}, {300, 784}, {784}},
	}
	opts := map[string]func() *Adam{
		"default": func() *Adam { return &Adam{} },
		"custom": func() *Adam {
			return &Adam{LR: 0.03, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6,
				Schedule: PiecewiseConstant([]int{3}, []float64{1, 0.25})}
		},
	}
	for sn, shapes := range sizes {
		for on, mk := range opts {
			for _, late := range []bool{false, true} {
				rng := rand.New(rand.NewPCG(7, 8))
				opt := mk()
				start := 0
				if late {
					// Cross the step from which 1 − β₂ᵗ rounds to 1.
					_, _, b2, _ := opt.hyper()
					for 1-powInt(b2, start+3) != 1 {
						start++
					}
					opt.step = start
				}
				ps := make([]*ad.Tensor, len(shapes))
				ref := make([][]float64, len(shapes))
				rm, rv := make([][]float64, len(shapes)), make([][]float64, len(shapes))
				for i, s := range shapes {
					ps[i] = ad.Randn(rng, s...)
					ref[i] = slices.Clone(ps[i].Data())
					rm[i], rv[i] = make([]float64, ps[i].Len()), make([]float64, ps[i].Len())
				}
				for step := 1; step <= 5; step++ {
					gs := make([]*ad.Tensor, len(shapes))
					gd := make([][]float64, len(shapes))
					for i, s := range shapes {
						gs[i] = ad.Randn(rng, s...)
						gd[i] = gs[i].Data()
						for j := range gd[i] {
							switch j % 7 {
							case 0:
								gd[i][j] = math.Copysign(0, float64(j%2)-0.5)
							case 1:
								gd[i][j] *= 1e-9
							case 2:
								gd[i][j] *= 1e6
							}
						}
						if len(gd[i]) > 12 && step == 2 {
							gd[i][11], gd[i][12] = math.Inf(-1), math.NaN()
						}
					}
					opt.Step(ps, gs)
					adamStepSerial(opt, start+step, ref, gd, rm, rv)
					m, v := opt.Moments()
					for i := range ps {
						for j, x := range ps[i].Data() {
							if math.Float64bits(x) != math.Float64bits(ref[i][j]) ||
								math.Float64bits(m[i][j]) != math.Float64bits(rm[i][j]) ||
								math.Float64bits(v[i][j]) != math.Float64bits(rv[i][j]) {
								t.Fatalf("%s, %s, step %d, parameter %d entry %d: θ, m, v = %v, %v, %v, want %v, %v, %v",
									sn, on, start+step, i, j, x, m[i][j], v[i][j], ref[i][j], rm[i][j], rv[i][j])
							}
						}
					}
				}
			}
		}
	}
}
