package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
	"gonum.org/v1/gonum/mat"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/dist"
	"github.com/eimkit/eimkit/internal/mctest"
	"github.com/eimkit/eimkit/statespace"
)

// smcCriteria are the resampling criteria under test. With N = 2
// particles ESS ≥ 1 always, so ESSBelow(0.5) never fires there and
// ESSBelow(0.8) is the adaptive case that does.
var smcCriteria = []Criterion{Never, Always, ESSBelow(0.5), ESSBelow(0.8)}

// ---------------------------------------------------------------------
// Exact unbiasedness by enumeration.

// smcEnumerator walks every run of a computation whose random choices are
// all made through choose, by replaying prefixes of choices depth first,
// and keeps the probability of the current run.
type smcEnumerator struct {
	script, arity []int
	pos           int
	prob          float64
}

// choose returns the scripted option at this point of the run (the first
// one the first time the point is reached) and multiplies the run's
// probability by its probability.
func (e *smcEnumerator) choose(probs []float64) int {
	if e.pos == len(e.script) {
		e.script = append(e.script, 0)
		e.arity = append(e.arity, len(probs))
	} else if e.arity[e.pos] != len(probs) {
		panic("smcEnumerator: a replayed choice changed its number of options")
	}
	c := e.script[e.pos]
	e.pos++
	e.prob *= probs[c]
	return c
}

// rewind starts the current run again from its first choice.
func (e *smcEnumerator) rewind() { e.pos, e.prob = 0, 1 }

// next moves to the next run; it reports false after the last.
func (e *smcEnumerator) next() bool {
	for i := len(e.script) - 1; i >= 0; i-- {
		if e.script[i]+1 < e.arity[i] {
			e.script[i]++
			e.script, e.arity = e.script[:i+1], e.arity[:i+1]
			e.rewind()
			return true
		}
	}
	return false
}

// smcHMM is a hidden Markov model with finite states and observations,
// with proposals unlike its own transitions, so that the weights vary:
//
//	γ_t(x_{0:t}) = π₀(x₀) E(x₀, y₀) Π_{s≤t} P(x_{s−1}, x_s) E(x_s, y_s)
//	q₀ = Q0,   q_t(x_t | x_{t−1}) = Q(x_{t−1}, x_t)
//
// Some emissions have probability 0, so particles of zero weight (and runs
// where every particle has zero weight) occur.
type smcHMM struct {
	pi0, q0 []float64
	P, E, Q [][]float64
	ys      []int
}

var smcHMM3 = smcHMM{
	pi0: []float64{0.5, 0.3, 0.2},
	q0:  []float64{0.2, 0.3, 0.5},
	P:   [][]float64{{0.7, 0.2, 0.1}, {0.1, 0.6, 0.3}, {0.25, 0.25, 0.5}},
	E:   [][]float64{{0.9, 0.1}, {0.4, 0.6}, {0, 1}},
	Q:   [][]float64{{0.4, 0.3, 0.3}, {0.3, 0.4, 0.3}, {0.2, 0.2, 0.6}},
	ys:  []int{0, 1, 0, 1},
}

var smcHMM2 = smcHMM{
	pi0: []float64{0.6, 0.4},
	q0:  []float64{0.3, 0.7},
	P:   [][]float64{{0.8, 0.2}, {0.35, 0.65}},
	E:   [][]float64{{0.75, 0.25}, {0, 1}},
	Q:   [][]float64{{0.5, 0.5}, {0.6, 0.4}},
	ys:  []int{1, 0, 1, 1},
}

// logZ returns log p(y_{0:T−1}) by the forward algorithm.
func (h smcHMM) logZ(T int) float64 {
	k := len(h.pi0)
	alpha := make([]float64, k)
	for x := range k {
		alpha[x] = h.pi0[x] * h.E[x][h.ys[0]]
	}
	for t := 1; t < T; t++ {
		next := make([]float64, k)
		for x := range k {
			for xp := range k {
				next[x] += alpha[xp] * h.P[xp][x]
			}
			next[x] *= h.E[x][h.ys[t]]
		}
		alpha = next
	}
	z := 0.0
	for _, a := range alpha {
		z += a
	}
	return math.Log(z)
}

// smcHMMModel runs smcHMM with every proposal draw made by the
// enumerator; particles are their current states.
type smcHMMModel struct {
	h smcHMM
	e *smcEnumerator
}

func (m smcHMMModel) Init(_ *rand.Rand, n int) ([]int, []float64) {
	xs, logw := make([]int, n), make([]float64, n)
	for i := range xs {
		x := m.e.choose(m.h.q0)
		xs[i] = x
		logw[i] = math.Log(m.h.pi0[x]) + math.Log(m.h.E[x][m.h.ys[0]]) - math.Log(m.h.q0[x])
	}
	return xs, logw
}

func (m smcHMMModel) Step(_ *rand.Rand, t int, prev []int) ([]int, []float64) {
	xs, logw := make([]int, len(prev)), make([]float64, len(prev))
	for i, xp := range prev {
		x := m.e.choose(m.h.Q[xp])
		xs[i] = x
		logw[i] = math.Log(m.h.P[xp][x]) + math.Log(m.h.E[x][m.h.ys[t]]) - math.Log(m.h.Q[xp][x])
	}
	return xs, logw
}

func (m smcHMMModel) Resample(xs []int, anc []int) []int {
	out := make([]int, len(anc))
	for i, a := range anc {
		out[i] = xs[a]
	}
	return out
}

// smcTensorModel runs a fast-path model on the differentiable path: its
// log weights become tensors.
type smcTensorModel[P any] struct{ m SMCModel[P, []float64] }

func (m smcTensorModel[P]) Init(rng *rand.Rand, n int) (P, *ad.Tensor) {
	p, w := m.m.Init(rng, n)
	return p, ad.New(slices.Clone(w), len(w))
}

func (m smcTensorModel[P]) Step(rng *rand.Rand, t int, p P) (P, *ad.Tensor) {
	p, w := m.m.Step(rng, t, p)
	return p, ad.New(slices.Clone(w), len(w))
}

func (m smcTensorModel[P]) Resample(p P, anc []int) P { return m.m.Resample(p, anc) }

// smcScriptedResampler draws the ancestors through the enumerator from the
// exact distribution of the named scheme (rsExact).
func smcScriptedResampler(e *smcEnumerator, method string) Resampler {
	return func(_ *rand.Rand, logw []float64, dst []int) {
		out := rsExact(method, logw, len(dst))
		probs := make([]float64, len(out))
		for i, o := range out {
			probs[i] = o.p
		}
		copy(dst, out[e.choose(probs)].a)
	}
}

// TestSMCExactUnbiased enumerates every run of SMC — every proposal draw
// and every resampling outcome with its exact probability — on finite
// hidden Markov models, and checks E[Ẑ] = Z (the forward algorithm) to
// rsExactTol for every resampling scheme and criterion, on the fast path
// and, run for run, on the differentiable path.
func TestSMCExactUnbiased(t *testing.T) {
	configs := []struct {
		name    string
		h       smcHMM
		n, T    int
		tensors bool // replay every run on the differentiable path too
	}{
		{"K=3/N=1/T=4", smcHMM3, 1, 4, true},
		{"K=3/N=2/T=3", smcHMM3, 2, 3, true},
		{"K=2/N=2/T=4", smcHMM2, 2, 4, false},
		{"K=2/N=3/T=3", smcHMM2, 3, 3, false},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	adaptiveMixed := false
	for _, cfg := range configs {
		logZ := cfg.h.logZ(cfg.T)
		for _, meth := range rsMethods {
			for _, crit := range smcCriteria {
				name := fmt.Sprintf("%s/%s/%v", cfg.name, meth.name, crit)
				e := &smcEnumerator{prob: 1}
				s := SMC{N: cfg.n, Resampling: smcScriptedResampler(e, meth.name), Criterion: crit}
				model := smcHMMModel{cfg.h, e}
				mean, mass := 0.0, 0.0
				runs, resampledRuns, zeroRuns := 0, 0, 0
				for {
					res := RunSMC(rng, s, model, cfg.T)
					p := e.prob
					if math.IsNaN(res.LogZ) {
						t.Fatalf("%s: log Ẑ is NaN", name)
					}
					mean += p * math.Exp(res.LogZ)
					mass += p
					runs++
					if slices.Contains(res.Resampled, true) {
						resampledRuns++
					}
					if math.IsInf(res.LogZ, -1) {
						zeroRuns++
					}
					if cfg.tensors {
						e.rewind()
						tres := RunSMC(rng, s, smcTensorModel[[]int]{model}, cfg.T)
						if !slices.Equal(tres.Resampled, res.Resampled) ||
							!(tres.LogZ == res.LogZ || math.Abs(tres.LogZ-res.LogZ) < rsExactTol) {
							t.Fatalf("%s: differentiable path log Ẑ %v (resampled %v), fast path %v (%v)",
								name, tres.LogZ, tres.Resampled, res.LogZ, res.Resampled)
						}
						if lz := ad.LogMeanExp(tres.LogWeights, 0).Item(); !(lz == tres.LogZ || math.Abs(lz-tres.LogZ) < rsExactTol) {
							t.Fatalf("%s: LogMeanExp(LogWeights) = %v, LogZ = %v", name, lz, tres.LogZ)
						}
					}
					if !e.next() {
						break
					}
				}
				if testing.Verbose() {
					t.Logf("%s: %d runs, %d resampled, %d with Ẑ = 0", name, runs, resampledRuns, zeroRuns)
				}
				if math.Abs(mass-1) > rsExactTol {
					t.Errorf("%s: the %d runs have total probability %.17g", name, runs, mass)
				}
				if rel := mean/math.Exp(logZ) - 1; math.Abs(rel) > rsExactTol {
					t.Errorf("%s: E[Ẑ] = %.17g, Z = %.17g (relative error %.3g, %d runs)", name, mean, math.Exp(logZ), rel, runs)
				}
				switch {
				case crit == Never && resampledRuns > 0:
					t.Errorf("%s: %d runs resampled", name, resampledRuns)
				case crit == Always && cfg.T > 1 && resampledRuns < runs-zeroRuns:
					t.Errorf("%s: only %d of %d runs resampled", name, resampledRuns, runs)
				case crit != Never && crit != Always && resampledRuns > 0 && resampledRuns < runs:
					adaptiveMixed = true
				}
				if zeroRuns == 0 {
					t.Errorf("%s: no run has Ẑ = 0; the zero-weight paths go untested", name)
				}
			}
		}
	}
	if !adaptiveMixed {
		t.Error("no adaptive criterion both resampled and did not in some runs; the test does not exercise adaptive schedules")
	}
}

// ---------------------------------------------------------------------
// The linear-Gaussian model (package statespace) on the fast path.

// smcLGParticles holds n particles [n, dx] and a spare buffer of the same
// size; steps and resampling write into the spare and swap, so a run
// allocates nothing per step.
type smcLGParticles struct{ x, spare, logw []float64 }

// smcLGModel runs a statespace.Proposal (bootstrap or locally optimal)
// as an SMCModel.
type smcLGModel struct {
	q  statespace.Proposal
	dx int
}

func newSMCLGModel(m *statespace.LinearGaussian, ys *mat.Dense) smcLGModel {
	dx, _ := m.Dims()
	return smcLGModel{q: m.Bootstrap(ys), dx: dx}
}

func newSMCLGOptimal(m *statespace.LinearGaussian, ys *mat.Dense) smcLGModel {
	dx, _ := m.Dims()
	q, err := m.LocallyOptimal(ys)
	if err != nil {
		panic(err)
	}
	return smcLGModel{q: q, dx: dx}
}

func (m smcLGModel) Init(rng *rand.Rand, n int) (*smcLGParticles, []float64) {
	p := &smcLGParticles{x: make([]float64, n*m.dx), spare: make([]float64, n*m.dx), logw: make([]float64, n)}
	m.q.Init(rng, p.x, p.logw)
	return p, p.logw
}

func (m smcLGModel) Step(rng *rand.Rand, t int, p *smcLGParticles) (*smcLGParticles, []float64) {
	m.q.Step(rng, t, p.x, p.spare, p.logw)
	p.x, p.spare = p.spare, p.x
	return p, p.logw
}

func (m smcLGModel) Resample(p *smcLGParticles, anc []int) *smcLGParticles {
	dx := m.dx
	for i, a := range anc {
		copy(p.spare[i*dx:(i+1)*dx], p.x[a*dx:(a+1)*dx])
	}
	p.x, p.spare = p.spare, p.x
	return p
}

// smcLGData returns the VSMC example model and T observations drawn from
// it with a fixed seed.
func smcLGData(T int) (*statespace.LinearGaussian, *mat.Dense) {
	m := statespace.VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(2018, 5)), T)
	return m, ys
}

// TestSMCLinearGaussian runs SMC many times on the VSMC example and
// checks against the Kalman filter's exact log Z that the mean of Ẑ/Z is 1
// and the mean of log Ẑ at most log Z, both within rsSigmas standard
// errors estimated from the runs, for every resampling method and
// criterion:
//
//   - with the locally optimal proposal on all T = 10 steps, where the
//     weights are even enough that ESSBelow(0.5) resamples at some steps
//     and not others;
//   - with the bootstrap proposal (the benchmark's) on the first 2 steps.
//     The bootstrap filter needs thousands of particles on this model (its
//     ESS stays below 0.05·N), and importance sampling with it (Never) has
//     a relative variance of about 10¹⁸/N on all 10 steps, computed
//     exactly below: no affordable number of runs would estimate E[Ẑ/Z]
//     there.
func TestSMCLinearGaussian(t *testing.T) {
	m, ysAll := smcLGData(statespace.VSMCExampleT)
	scale := 1
	if testing.Short() {
		scale = 4
	}
	cases := []struct {
		name     string
		model    func(ys *mat.Dense) smcLGModel
		T, n     int
		runs     int
		criteria []Criterion
	}{
		{"optimal", func(ys *mat.Dense) smcLGModel { return newSMCLGOptimal(m, ys) }, statespace.VSMCExampleT, 16, 4000,
			[]Criterion{Never, Always, ESSBelow(0.5)}},
		{"bootstrap", func(ys *mat.Dense) smcLGModel { return newSMCLGModel(m, ys) }, 2, 1024, 1000,
			[]Criterion{Never, Always}},
	}
	for _, c := range cases {
		ys := ysAll.Slice(0, c.T, 0, 3).(*mat.Dense)
		logZ := m.KalmanLogLikelihood(ys)
		model := c.model(ys)
		for _, crit := range c.criteria {
			for _, meth := range rsMethods {
				if crit == Never && meth.name != rsMethods[0].name {
					continue // the method is never used
				}
				name := fmt.Sprintf("%s/T=%d/N=%d/%s/%v", c.name, c.T, c.n, meth.name, crit)
				rng := rand.New(rand.NewPCG(uint64(c.T), 77))
				s := SMC{N: c.n, Resampling: meth.fn, Criterion: crit}
				var r, l []float64
				resampled := 0
				for range c.runs / scale {
					res := RunSMC(rng, s, model, c.T)
					r = append(r, math.Exp(res.LogZ-logZ))
					l = append(l, res.LogZ)
					for _, b := range res.Resampled {
						if b {
							resampled++
						}
					}
				}
				mr, ser := mctest.MeanSE(r)
				ml, sel := mctest.MeanSE(l)
				if math.Abs(mr-1) > rsSigmas*ser {
					t.Errorf("%s: mean Ẑ/Z = %.4f ± %.4f, want 1", name, mr, ser)
				}
				if ml > logZ+rsSigmas*sel {
					t.Errorf("%s: mean log Ẑ = %.4f ± %.4f, above log Z = %.4f", name, ml, sel, logZ)
				}
				frac := float64(resampled) / float64(len(r)*(c.T-1))
				if crit == ESSBelow(0.5) && !(frac > 0.02 && frac < 0.98) {
					t.Errorf("%s: resampled at %.2f of the steps; the adaptive schedule is not exercised", name, frac)
				}
				if testing.Verbose() {
					t.Logf("%s: Ẑ/Z = %.4f ± %.4f, log Z − E log Ẑ = %.4f ± %.4f, resampled at %.2f of the steps",
						name, mr, ser, logZ-ml, sel, frac)
				}
			}
		}
	}
	// Never with the bootstrap proposal on all T steps: w = Π_t N(y_t; C x_t,
	// R) with x ~ p(x), and N(y; Cx, R)² = N(y; Cx, R/2) / ((4π)^{dy/2}
	// det(R)^{1/2}), so E[w²] = p_{R/2}(y) / ((4π)^{dy/2} det(R)^{1/2})^T with
	// p_{R/2} the marginal likelihood of the model with R halved (a Kalman
	// filter), and the relative variance of one weight is E[w²]/Z² − 1.
	p := m.Params()
	p.R.ScaleSym(0.5, p.R)
	half, err := statespace.New(p)
	if err != nil {
		t.Fatal(err)
	}
	T := statespace.VSMCExampleT
	logC := float64(T) * (1.5*math.Log(4*math.Pi) + 0.5*3*math.Log(0.1))
	relVar := math.Exp(half.KalmanLogLikelihood(ysAll)-logC-2*m.KalmanLogLikelihood(ysAll)) - 1
	if relVar < 1e8 {
		t.Errorf("bootstrap importance sampling on T=%d has relative variance %.3g per particle; the test could include it", T, relVar)
	}
	if testing.Verbose() {
		t.Logf("bootstrap importance sampling on T=%d: relative variance %.3g per particle", T, relVar)
	}
}

// TestSMCNeverIsImportanceSampling checks that SMC that never resamples
// is importance sampling of whole trajectories: log Ẑ is the log-mean-exp
// of the summed incremental weights (the IWAE integrand), computed here by
// running the model by hand with the same random numbers; and that with
// T = 1 it is this package's Importance estimate.
func TestSMCNeverIsImportanceSampling(t *testing.T) {
	m, ys := smcLGData(statespace.VSMCExampleT)
	model := newSMCLGModel(m, ys)
	for _, T := range []int{1, 4, statespace.VSMCExampleT} {
		for _, n := range []int{1, 7} {
			res := RunSMC(rand.New(rand.NewPCG(5, 5)), SMC{N: n, Criterion: Never}, model, T)
			rng := rand.New(rand.NewPCG(5, 5))
			p, w := model.Init(rng, n)
			sum := slices.Clone(w)
			for t := 1; t < T; t++ {
				p, w = model.Step(rng, t, p)
				for i := range sum {
					sum[i] += w[i]
				}
			}
			want := smcLogMeanExp(sum)
			if !scalar.EqualWithinAbsOrRel(res.LogZ, want, 1e-12, 1e-12) {
				t.Errorf("T=%d N=%d: log Ẑ = %.15g, IWAE integrand %.15g", T, n, res.LogZ, want)
			}
			if !slices.Equal(res.LogWeights, sum) {
				t.Errorf("T=%d N=%d: final log weights %v, want the summed increments %v", T, n, res.LogWeights, sum)
			}
			for tt := range T {
				if res.Resampled[tt] || !slices.Equal(res.Ancestry[tt], smcIdentityOf(n)) {
					t.Errorf("T=%d N=%d: step %d resampled %v, ancestry %v", T, n, tt, res.Resampled[tt], res.Ancestry[tt])
				}
			}
		}
	}

	// T = 1: one importance sampling estimate, as Importance computes it.
	target := dist.NewNormal(ad.New([]float64{0.5, -1}, 2), ad.New([]float64{0.7, 1.3}, 2))
	proposal := dist.NewNormal(ad.Zeros(2), ad.Full(1.5, 2))
	is := smcISModel{target, proposal}
	for _, crit := range smcCriteria {
		res := RunSMC(rand.New(rand.NewPCG(9, 9)), SMC{N: 50, Criterion: crit}, is, 1)
		want := Importance(rand.New(rand.NewPCG(9, 9)), target, proposal, 50)
		if !scalar.EqualWithinAbsOrRel(res.LogZ, want.LogZ, 1e-12, 1e-12) {
			t.Errorf("T=1 %v: RunSMC log Ẑ = %.15g, Importance %.15g", crit, res.LogZ, want.LogZ)
		}
	}
}

// smcISModel is importance sampling of target from proposal as a
// one-step SMC model on the differentiable path.
type smcISModel struct{ target, proposal *dist.Normal }

func (m smcISModel) Init(rng *rand.Rand, n int) (*ad.Tensor, *ad.Tensor) {
	x := m.proposal.Sample(rng, n)
	return x, ad.Sub(m.target.LogProb(x), m.proposal.LogProb(x))
}

func (m smcISModel) Step(*rand.Rand, int, *ad.Tensor) (*ad.Tensor, *ad.Tensor) {
	panic("smcISModel has one step")
}

func (m smcISModel) Resample(x *ad.Tensor, anc []int) *ad.Tensor { return ad.IndexSelect(x, 0, anc) }

func smcLogMeanExp(v []float64) float64 {
	m := slices.Max(v)
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s/float64(len(v)))
}

func smcIdentityOf(n int) []int {
	a := make([]int, n)
	smcIdentity(a)
	return a
}

// ---------------------------------------------------------------------
// The differentiable path.

// smcGaussModel is a one-dimensional linear-Gaussian model with a
// reparameterized proposal whose mean is shifted by a learned b:
//
//	x₀ ~ N(0, 1),  x_t ~ N(a x_{t−1}, q),  y_t ~ N(x_t, r)
//	q₀ = N(b, s²),  q_t = N(a x_{t−1} + b, s²)
//
// Particles are tensors [n, 1]; the log weights are built with dist.
type smcGaussModel struct {
	a, sq, sr, s float64
	ys           []float64
	b            *ad.Tensor // [1]
}

func (m smcGaussModel) weigh(t int, prev, x, loc *ad.Tensor) *ad.Tensor {
	var prior *dist.Normal
	if prev == nil {
		prior = dist.NewNormal(ad.Zeros(1), ad.Ones(1))
	} else {
		prior = dist.NewNormal(ad.MulScalar(prev, m.a), ad.Full(m.sq, 1))
	}
	obs := dist.NewNormal(x, ad.Full(m.sr, 1))
	prop := dist.NewNormal(loc, ad.Full(m.s, 1))
	return ad.Sub(ad.Add(prior.LogProb(x), obs.LogProb(ad.Full(m.ys[t], 1))), prop.LogProb(x))
}

func (m smcGaussModel) Init(rng *rand.Rand, n int) (*ad.Tensor, *ad.Tensor) {
	loc := ad.BroadcastTo(m.b, n, 1)
	x := dist.NewNormal(loc, ad.Full(m.s, 1)).RSample(rng)
	return x, m.weigh(0, nil, x, loc)
}

func (m smcGaussModel) Step(rng *rand.Rand, t int, prev *ad.Tensor) (*ad.Tensor, *ad.Tensor) {
	loc := ad.Add(ad.MulScalar(prev, m.a), m.b)
	x := dist.NewNormal(loc, ad.Full(m.s, 1)).RSample(rng)
	return x, m.weigh(t, prev, x, loc)
}

func (m smcGaussModel) Resample(x *ad.Tensor, anc []int) *ad.Tensor { return ad.IndexSelect(x, 0, anc) }

// TestSMCGradient checks the differentiable path: the gradient of
// ad.LogMeanExp(LogWeights) with respect to the proposal's shift equals
// the central finite difference of LogZ with the same random numbers and
// the same resampling record (resampling held constant, as the gradient
// treats it).
func TestSMCGradient(t *testing.T) {
	ys := []float64{0.3, -0.5, 1.2, 0.8, -0.1, 0.4}
	for _, crit := range []Criterion{Never, Always, ESSBelow(0.7)} {
		for _, meth := range rsMethods {
			run := func(b float64) (SMCResult[*ad.Tensor, *ad.Tensor], *ad.Tensor) {
				bt := ad.New([]float64{b}, 1).RequireGrad()
				m := smcGaussModel{a: 0.9, sq: 0.8, sr: 0.5, s: 0.9, ys: ys, b: bt}
				return RunSMC(rand.New(rand.NewPCG(21, 4)), SMC{N: 8, Resampling: meth.fn, Criterion: crit}, m, len(ys)), bt
			}
			const b0, h = 0.2, 1e-5
			res, bt := run(b0)
			g := ad.Grad(ad.LogMeanExp(res.LogWeights, 0), bt)[0].Item()
			hi, _ := run(b0 + h)
			lo, _ := run(b0 - h)
			name := fmt.Sprintf("%s/%v", meth.name, crit)
			if !slices.Equal(hi.Resampled, res.Resampled) || !slices.Equal(lo.Resampled, res.Resampled) ||
				!slices.EqualFunc(hi.Ancestry, res.Ancestry, slices.Equal) || !slices.EqualFunc(lo.Ancestry, res.Ancestry, slices.Equal) {
				t.Fatalf("%s: the resampling record changed within ±%g; pick another seed", name, h)
			}
			fd := (hi.LogZ - lo.LogZ) / (2 * h)
			if !scalar.EqualWithinAbsOrRel(g, fd, 1e-6, 1e-6) {
				t.Errorf("%s: ∂log Ẑ/∂b = %.10g, finite difference %.10g", name, g, fd)
			}
			if crit == Always && g == 0 {
				t.Errorf("%s: zero gradient", name)
			}
		}
	}
}

// ---------------------------------------------------------------------
// The record, determinism, edge cases, misuse.

func TestSMCRecord(t *testing.T) {
	m, ys := smcLGData(statespace.VSMCExampleT)
	model := newSMCLGModel(m, ys)
	const n, T = 50, statespace.VSMCExampleT
	for _, crit := range smcCriteria {
		res := RunSMC(rand.New(rand.NewPCG(3, 1)), SMC{N: n, Resampling: Systematic, Criterion: crit}, model, T)
		if len(res.Ancestry) != T || len(res.ESS) != T || len(res.Resampled) != T || len(res.LogWeights) != n {
			t.Fatalf("%v: record lengths %d, %d, %d, %d", crit, len(res.Ancestry), len(res.ESS), len(res.Resampled), len(res.LogWeights))
		}
		if res.Resampled[0] {
			t.Errorf("%v: resampled before step 0", crit)
		}
		if lz := smcLogMeanExp(res.LogWeights); !scalar.EqualWithinAbsOrRel(lz, res.LogZ, 1e-12, 1e-12) {
			t.Errorf("%v: log-mean-exp of LogWeights %v, LogZ %v", crit, lz, res.LogZ)
		}
		for tt := range T {
			a := res.Ancestry[tt]
			if len(a) != n {
				t.Fatalf("%v: Ancestry[%d] has length %d", crit, tt, len(a))
			}
			if !res.Resampled[tt] && !slices.Equal(a, smcIdentityOf(n)) {
				t.Errorf("%v: step %d not resampled but ancestry %v", crit, tt, a)
			}
			if e := res.ESS[tt]; !(e >= 1-1e-9 && e <= n+1e-9) {
				t.Errorf("%v: ESS[%d] = %v", crit, tt, e)
			}
			if tt > 0 {
				want := crit.Resample(res.ESS[tt-1], n)
				if res.Resampled[tt] != want {
					t.Errorf("%v: step %d resampled %v with ESS %.3g before it", crit, tt, res.Resampled[tt], res.ESS[tt-1])
				}
			}
		}
	}
}

func TestSMCDeterministic(t *testing.T) {
	m, ys := smcLGData(statespace.VSMCExampleT)
	model := newSMCLGModel(m, ys)
	for _, meth := range rsMethods {
		s := SMC{N: 100, Resampling: meth.fn}
		a := RunSMC(rand.New(rand.NewPCG(8, 8)), s, model, 10)
		b := RunSMC(rand.New(rand.NewPCG(8, 8)), s, model, 10)
		if math.Float64bits(a.LogZ) != math.Float64bits(b.LogZ) || !slices.Equal(a.LogWeights, b.LogWeights) ||
			!slices.EqualFunc(a.Ancestry, b.Ancestry, slices.Equal) {
			t.Errorf("%s: two runs from one seed differ", meth.name)
		}
	}
}

// TestSMCAllocations checks that the fast path allocates per run, not per
// step: the count does not grow with T.
func TestSMCAllocations(t *testing.T) {
	m, ys := smcLGData(50)
	model := newSMCLGModel(m, ys)
	rng := rand.New(rand.NewPCG(1, 1))
	count := func(T int) float64 {
		return testing.AllocsPerRun(5, func() { RunSMC(rng, SMC{N: 200, Criterion: Always}, model, T) })
	}
	if short, long := count(5), count(50); short != long {
		t.Errorf("a run allocates %v times with T = 5 and %v with T = 50; want no allocation per step", short, long)
	}
}

// smcFuncModel is a model given by a function of t that returns each
// step's log weights; particles are nothing.
type smcFuncModel func(t, n int) []float64

func (f smcFuncModel) Init(_ *rand.Rand, n int) (struct{}, []float64) { return struct{}{}, f(0, n) }
func (f smcFuncModel) Step(_ *rand.Rand, t int, _ struct{}) (struct{}, []float64) {
	return struct{}{}, f(t, 0)
}
func (f smcFuncModel) Resample(struct{}, []int) struct{} { return struct{}{} }

func TestSMCDegenerateWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 4
	weights := func(v float64) smcFuncModel {
		return func(t, _ int) []float64 {
			w := []float64{0, -1, -2, -3}
			if t == 1 {
				w = []float64{v, v, v, v}
			}
			return w
		}
	}
	for _, c := range []struct {
		v    float64
		want float64
	}{{math.Inf(-1), math.Inf(-1)}, {math.NaN(), math.NaN()}, {math.Inf(1), math.Inf(1)}} {
		for _, crit := range smcCriteria {
			res := RunSMC(rng, SMC{N: n, Criterion: crit}, weights(c.v), 4)
			if !(res.LogZ == c.want || math.IsNaN(res.LogZ) && math.IsNaN(c.want)) {
				t.Errorf("weights %v at step 1, %v: log Ẑ = %v, want %v", c.v, crit, res.LogZ, c.want)
			}
			if res.Resampled[2] || res.Resampled[3] {
				t.Errorf("weights %v at step 1, %v: resampled after the weights broke", c.v, crit)
			}
		}
	}
}

func TestSMCPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	good := smcFuncModel(func(_, n int) []float64 { return make([]float64, 3) })
	short := smcFuncModel(func(t, _ int) []float64 { return make([]float64, 3-t) })
	cases := map[string]func(){
		"N=0":           func() { RunSMC(rng, SMC{}, good, 2) },
		"T=0":           func() { RunSMC(rng, SMC{N: 3}, good, 0) },
		"Init length":   func() { RunSMC(rng, SMC{N: 2}, good, 2) },
		"Step length":   func() { RunSMC(rng, SMC{N: 3}, short, 2) },
		"tensor shape":  func() { RunSMC(rng, SMC{N: 3}, smcTensorShapeModel{}, 2) },
		"ESSBelow(-1)":  func() { ESSBelow(-1) },
		"ESSBelow(NaN)": func() { ESSBelow(math.NaN()) },
	}
	for name, f := range cases {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "estimators: ") {
					t.Errorf("%s: recovered %v, want a panic starting with \"estimators: \"", name, r)
				}
			}()
			f()
		}()
	}
}

type smcTensorShapeModel struct{}

func (smcTensorShapeModel) Init(_ *rand.Rand, n int) (struct{}, *ad.Tensor) {
	return struct{}{}, ad.Zeros(n, 1)
}
func (smcTensorShapeModel) Step(*rand.Rand, int, struct{}) (struct{}, *ad.Tensor) {
	return struct{}{}, nil
}
func (smcTensorShapeModel) Resample(struct{}, []int) struct{} { return struct{}{} }

func TestCriterion(t *testing.T) {
	cases := []struct {
		c    Criterion
		name string
		ess  float64
		want bool
	}{
		{Criterion{}, "ESS<0.5N", 4.9, true},
		{Criterion{}, "ESS<0.5N", 5, false},
		{ESSBelow(0.5), "ESS<0.5N", 4.9, true},
		{ESSBelow(0.25), "ESS<0.25N", 2.6, false},
		{ESSBelow(0), "ESS<0N", 1, false},
		{ESSBelow(1.5), "ESS<1.5N", 10, true},
		{Never, "never", 1, false},
		{Always, "always", 10, true},
	}
	for _, c := range cases {
		if got := c.c.Resample(c.ess, 10); got != c.want {
			t.Errorf("%v.Resample(%v, 10) = %v, want %v", c.c, c.ess, got, c.want)
		}
		if s := c.c.String(); s != c.name {
			t.Errorf("String() = %q, want %q", s, c.name)
		}
	}
}

// ExampleRunSMC runs particle filters on the VSMC example and compares
// their estimates with the Kalman filter's exact log-likelihood: the
// bootstrap proposal needs far more particles than the locally optimal one.
// (smcLGModel adapts a statespace.Proposal to SMCModel: particles in a
// [N, dx] slice, moved and resampled into a spare buffer.)
func ExampleRunSMC() {
	m := statespace.VSMCExample()
	_, ys := m.Sample(rand.New(rand.NewPCG(0, 0)), statespace.VSMCExampleT)
	fmt.Printf("Kalman:                    log Z = %.2f\n", m.KalmanLogLikelihood(ys))
	rng := rand.New(rand.NewPCG(1, 1))
	for _, q := range []struct {
		name  string
		model smcLGModel
	}{{"bootstrap", newSMCLGModel(m, ys)}, {"locally optimal", newSMCLGOptimal(m, ys)}} {
		for _, n := range []int{100, 10000} {
			res := RunSMC(rng, SMC{N: n, Resampling: Systematic}, q.model, statespace.VSMCExampleT)
			fmt.Printf("%-15s N = %5d: log Ẑ = %.2f\n", q.name, n, res.LogZ)
		}
	}
	// Output:
	// Kalman:                    log Z = -44.93
	// bootstrap       N =   100: log Ẑ = -61.83
	// bootstrap       N = 10000: log Ẑ = -45.21
	// locally optimal N =   100: log Ẑ = -44.81
	// locally optimal N = 10000: log Ẑ = -44.92
}

// TestReplicateSMC checks that replicated SMC reports a standard error
// that covers the Kalman filter's exact value: on the VSMC example with
// the locally optimal proposal, |Ẑ/Z − 1| is within rsSigmas of the
// reported relative standard error, and that error matches the spread of
// independent replicate sets.
func TestReplicateSMC(t *testing.T) {
	m, ys := smcLGData(statespace.VSMCExampleT)
	logZ := m.KalmanLogLikelihood(ys)
	model := newSMCLGOptimal(m, ys)
	rng := rand.New(rand.NewPCG(11, 12))
	s := SMC{N: 16, Criterion: ESSBelow(0.5)}
	var ratios []float64
	var reported []float64
	for range 20 {
		est := ReplicateSMC(rng, s, model, statespace.VSMCExampleT, 200)
		if len(est.LogWeights) != 200 || !(est.ESS > 1 && est.ESS <= 200) {
			t.Fatalf("estimate %+v: want 200 replicate log weights and 1 < ESS ≤ 200", est)
		}
		r := math.Exp(est.LogZ - logZ)
		if math.Abs(r-1) > rsSigmas*est.StdErr {
			t.Errorf("Ẑ/Z = %.4f with reported relative standard error %.4f", r, est.StdErr)
		}
		ratios = append(ratios, r)
		reported = append(reported, est.StdErr)
	}
	// The spread of the 20 estimates is what the reported errors claim: the
	// sample standard deviation of n draws has a relative standard error of
	// about 1/√(2(n−1)), here 0.16, so the ratio must be within rsSigmas of
	// that of 1 (the mean of 20 reported errors is much less noisy).
	_, se := mctest.MeanSE(ratios)
	sd := se * math.Sqrt(float64(len(ratios)))
	mRep, _ := mctest.MeanSE(reported)
	if ratio := sd / mRep; math.Abs(ratio-1) > rsSigmas/math.Sqrt(2*float64(len(ratios)-1)) {
		t.Errorf("spread of replicate sets %.4f against mean reported standard error %.4f", sd, mRep)
	}
	if testing.Verbose() {
		t.Logf("spread %.4f, reported %.4f", sd, mRep)
	}
	defer func() {
		if recover() == nil {
			t.Error("ReplicateSMC with r = 1 did not panic")
		}
	}()
	ReplicateSMC(rng, s, model, 2, 1)
}
