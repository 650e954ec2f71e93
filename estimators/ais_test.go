package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/internal/mctest"
)

// replaySource is a rand.Source that returns scripted values, so that a
// test controls every uniform that a kernel draws.
type replaySource struct {
	vals []uint64
	i    int
}

func (r *replaySource) Uint64() uint64 {
	if r.i >= len(r.vals) {
		panic("replaySource: out of values")
	}
	v := r.vals[r.i]
	r.i++
	return v
}

// uniformBits returns the source value v for which rand.Rand.Float64
// returns u rounded down to a multiple of 2⁻⁵³ (Float64 keeps the low 53
// bits of v and divides by 2⁵³; the test checks that this still holds).
func uniformBits(u float64) uint64 { return uint64(u * (1 << 53)) }

// scriptedMoves is a Metropolis–Hastings proposal over the states 0..m−1
// that proposes scripted states. With each state proposed with probability
// 1/m it is the uniform (symmetric) proposal; logRatio is the Hastings
// correction it reports (0 for the correct symmetric proposal).
type scriptedMoves struct {
	next     []int
	logRatio float64
}

func (s *scriptedMoves) Propose(_ *rand.Rand, x *ad.Tensor) (*ad.Tensor, []float64) {
	n := x.Dim(0)
	out := states(s.next[:n]...)
	s.next = s.next[n:]
	lr := make([]float64, n)
	for i := range lr {
		lr[i] = s.logRatio
	}
	return out, lr
}

// cell is an interval of [0, 1) on which every accept/reject decision of
// a run is the same: the run is made at its midpoint and weighted by its
// width.
type cell struct{ mid, width float64 }

// acceptCells cuts [0, 1) at every acceptance probability α < 1 that a
// Metropolis–Hastings step with the uniform proposal can meet on the path
// π_β ∝ π₀^{1−β} γ^β at the given temperatures, so that within a cell
// every comparison u < α comes out the same.
func acceptCells(logPi0, gamma table, betas []float64) []cell {
	cuts := []float64{0, 1}
	for _, b := range betas {
		for _, from := range []int{0, 1, 2} {
			for _, to := range []int{0, 1, 2} {
				la := (1-b)*(logPi0[to]-logPi0[from]) + b*(gamma[to]-gamma[from])
				if la < 0 {
					cuts = append(cuts, math.Exp(la))
				}
			}
		}
	}
	slices.Sort(cuts)
	var cells []cell
	for i := 1; i < len(cuts); i++ {
		if w := cuts[i] - cuts[i-1]; w > 1e-9 {
			cells = append(cells, cell{(cuts[i] + cuts[i-1]) / 2, w})
		}
	}
	return cells
}

// enumerateAIS returns E[Ẑ] of AIS.Run with one chain on the 3-state
// fixture, computed exactly by running it on every possible course: the
// initial state x₀ (probability π₀(x₀)), and for each transition the
// proposed state (probability 1/3) and the cell of the acceptance uniform
// (probability its width). It also returns the total probability of the
// courses, which must be 1, and their number.
func enumerateAIS(t *testing.T, logPi0, gamma table, betas []float64, reps int, logRatio float64) (mean, mass float64, runs int) {
	t.Helper()
	moves := (len(betas) - 2) * reps // transitions in a run
	cells := acceptCells(logPi0, gamma, betas[1:len(betas)-1])
	js := make([]int, moves)
	us := make([]uint64, moves)
	var rec func(i int, x0 int, p float64)
	rec = func(i int, x0 int, p float64) {
		if i < moves {
			for j := range 3 {
				for _, c := range cells {
					js[i], us[i] = j, uniformBits(c.mid)
					rec(i+1, x0, p*c.width/3)
				}
			}
			return
		}
		init := &scripted{table: logPi0, next: []int{x0}}
		prop := &scriptedMoves{next: slices.Clone(js), logRatio: logRatio}
		src := &replaySource{vals: slices.Clone(us)}
		a := AIS{Betas: betas, Kernel: MH{Proposal: prop}, KernelSteps: reps}
		res := a.Run(rand.New(src), gamma, init, 1)
		if src.i != moves || len(prop.next) != 0 || len(init.next) != 0 {
			t.Fatalf("AIS.Run used %d of %d uniforms and left %d proposals, %d initial states", src.i, moves, len(prop.next), len(init.next))
		}
		mean += p * math.Exp(res.LogZ)
		mass += p
		runs++
	}
	for x0 := range 3 {
		rec(0, x0, math.Exp(logPi0[x0]))
	}
	return mean, mass, runs
}

// TestAISExact checks that AIS is unbiased, E[Ẑ] = Z, exactly on a 3-state
// space: π₀ and γ are tables, the kernel is Metropolis–Hastings with the
// uniform proposal, and the expectation over every course of the chain
// (initial state, proposals and acceptance uniforms, see enumerateAIS) is
// computed by running the real AIS.Run on each. With a kernel that does
// not leave π_β invariant (always accept) the same enumeration is off,
// which shows the check has power.
func TestAISExact(t *testing.T) {
	// rand.Rand.Float64 must map uniformBits(u) back to u (to 2⁻⁵³).
	for _, u := range []float64{0.1, 0.5, 0.987654321} {
		if got := rand.New(&replaySource{vals: []uint64{uniformBits(u)}}).Float64(); math.Abs(got-u) > 0x1p-53 {
			t.Fatalf("rand.Float64 of uniformBits(%v) = %v: math/rand/v2 changed how it makes floats", u, got)
		}
	}
	logPi0 := table{math.Log(0.5), math.Log(0.3), math.Log(0.2)}
	gamma := table{0.4, -0.9, 1.6}
	Z := math.Exp(gamma.logZ())
	for _, c := range []struct {
		betas []float64
		reps  int
	}{
		{[]float64{0, 1.0 / 3, 2.0 / 3, 1}, 1}, // two intermediate distributions
		{[]float64{0, 0.5, 1}, 2},              // one, with two transitions
		{[]float64{0, 1}, 1},                   // T = 1: importance sampling from π₀
	} {
		mean, mass, runs := enumerateAIS(t, logPi0, gamma, c.betas, c.reps, 0)
		if !scalar.EqualWithinRel(mean, Z, enumTol) || !scalar.EqualWithinAbs(mass, 1, enumTol) {
			t.Errorf("β = %v, %d transitions each: E[Ẑ] = %.15g, Z = %.15g (total probability %.15g)", c.betas, c.reps, mean, Z, mass)
		}
		t.Logf("β = %v, %d transition(s) each: %d courses, E[Ẑ]/Z − 1 = %.1e", c.betas, c.reps, runs, mean/Z-1)
	}
	// Always accepting leaves the uniform distribution invariant, not π_β.
	mean, _, _ := enumerateAIS(t, logPi0, gamma, []float64{0, 1.0 / 3, 2.0 / 3, 1}, 1, math.Inf(1))
	if math.Abs(mean/Z-1) < 1e-3 {
		t.Errorf("non-invariant kernel: E[Ẑ]/Z = %.15g, expected a clear bias", mean/Z)
	}
	t.Logf("non-invariant kernel: E[Ẑ]/Z − 1 = %.3g", mean/Z-1)
}

// TestAISGaussian checks unbiasedness by Monte Carlo where the state space
// is continuous: π₀ = N(0, 3²I), γ = Z·N(μ, diag σ²) with log Z = 1.3. The
// chains are independent, so the mean of exp(wᵢ)/Z over n chains is 1
// within 5 standard errors (from the sample variance). Both kernels are
// checked, random-walk MH in 1-D and HMC in 2-D. It also checks that
// annealing beats importance sampling from π₀ by the ESS.
func TestAISGaussian(t *testing.T) {
	for _, c := range []struct {
		name      string
		mu, sigma []float64
		ais       AIS
		n         int
	}{
		{"MH", []float64{1}, []float64{0.5}, AIS{Steps: 30, Kernel: MH{Proposal: RandomWalk{Scale: 0.5}}}, 20000},
		{"HMC", []float64{1, -0.5}, []float64{0.5, 0.8}, AIS{Steps: 20, Kernel: HMC{StepSize: 0.25, Leapfrog: 5}}, 5000},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := len(c.mu)
			target := newGaussTarget(1.3, c.mu, c.sigma)
			init := dist.NewNormal(ad.Zeros(d), ad.Full(3, d))
			rng := seededRNG(2)
			res := c.ais.Run(rng, target, init, c.n)
			ratio := make([]float64, c.n)
			for i, w := range res.LogWeights {
				ratio[i] = math.Exp(w - target.logZ)
			}
			m, se := mctest.MeanSE(ratio)
			if math.Abs(m-1) > mcSigmas*se {
				t.Errorf("mean Ẑ/Z = %.5f ± %.5f over %d chains, want 1", m, se, c.n)
			}
			is := Importance(rng, target, init, c.n)
			if !(res.ESS > is.ESS) {
				t.Errorf("AIS ESS %.0f not above IS ESS %.0f", res.ESS, is.ESS)
			}
			if got := res.X.Shape(); !slices.Equal(got, []int{c.n, d}) {
				t.Errorf("X shape %v, want [%d %d]", got, c.n, d)
			}
			t.Logf("AIS-%s: mean Ẑ/Z = %.4f ± %.4f; log Ẑ − log Z = %+.4f (StdErr %.4f); ESS %.0f of %d (IS from π₀: %.0f); accept %.2f",
				c.name, m, se, res.LogZ-target.logZ, res.StdErr, res.ESS, c.n, is.ESS, res.AcceptRate)
		})
	}
}

// TestAISDeterministic checks that the same seed gives bitwise the same
// run.
func TestAISDeterministic(t *testing.T) {
	target := newGaussTarget(0, []float64{1}, []float64{0.5})
	init := dist.NewNormal(ad.Zeros(1), ad.Full(3, 1))
	a := AIS{Steps: 5, Kernel: HMC{}}
	r1 := a.Run(seededRNG(3), target, init, 50)
	r2 := a.Run(seededRNG(3), target, init, 50)
	if !slices.Equal(r1.LogWeights, r2.LogWeights) || !slices.Equal(r1.X.Data(), r2.X.Data()) {
		t.Error("same seed gave different results")
	}
}

// TestAISPanics checks the caller errors.
func TestAISPanics(t *testing.T) {
	gamma := table{0, 0}
	init := func() *scripted { return &scripted{table: gamma, next: []int{0, 1}} }
	for _, b := range [][]float64{{0}, {0.1, 1}, {0, 0.9}, {0, 0.5, 0.5, 1}} {
		mustPanic(t, "bad Betas", func() { AIS{Betas: b}.Run(nil, gamma, init(), 2) })
	}
	mustPanic(t, "n = 0", func() { AIS{}.Run(nil, gamma, init(), 0) })
	mustPanic(t, "Steps < 0", func() { AIS{Steps: -1}.Run(nil, gamma, init(), 2) })
	mustPanic(t, "HMC Leapfrog < 0", func() {
		HMC{Leapfrog: -1}.Step(nil, gamma.LogProb, states(0))
	})
}

// Annealed importance sampling of the same Z as ExampleImportance, from the
// broader N(0, 3²), with 100 temperatures and two random-walk
// Metropolis–Hastings steps at each.
func ExampleAIS() {
	target := newGaussTarget(math.Log(2), []float64{1}, []float64{0.5})
	init := dist.NewNormal(ad.Zeros(1), ad.Full(3, 1))
	ais := AIS{Steps: 100, Kernel: MH{Proposal: RandomWalk{Scale: 0.5}}, KernelSteps: 2}
	res := ais.Run(rand.New(rand.NewPCG(1, 2)), target, init, 5000)
	fmt.Printf("log Ẑ = %.2f ± %.2f (log Z = %.2f), acceptance %.2f\n", res.LogZ, res.StdErr, math.Log(2), res.AcceptRate)
	// Output:
	// log Ẑ = 0.70 ± 0.01 (log Z = 0.69), acceptance 0.78
}
