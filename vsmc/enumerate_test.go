package vsmc

// An exact check of the resampling gradient: on a hidden Markov model with
// K states, a fixed proposal and N = 2 particles, every run of SMC (every
// proposal draw and every resampling outcome) is enumerated, so
//
//	E[log Ẑ](θ) = Σ_runs P_θ(run) log Ẑ_θ(run)
//
// is a finite sum whose gradient in the model's parameters θ is taken by
// central differences, and the expected gradient of Bound is
// Σ_runs P_θ(run) ∇_θ Bound(run), Bound evaluated on each run by scripting
// the proposal's draws and the resampler's ancestors. The proposal does
// not depend on θ, so θ reaches E[log Ẑ] through the weights and through
// the resampling probabilities only: exactly the two terms of the
// gradient (package documentation), the first of which the published
// estimator keeps.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/diff/fd"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/nn"
)

// hmm is a K-state, M-symbol hidden Markov model with learned logits:
// states are their index as a float ([n, 1]), observations a symbol [1].
type hmm struct {
	K, M              int
	init, trans, emit *ad.Tensor // [K], [K, K], [K, M] logits
}

var _ Model = (*hmm)(nil)

func newHMM() *hmm {
	return &hmm{
		K: 3, M: 2,
		init:  ad.New([]float64{0.4, -0.3, 0.1}, 3).RequireGrad(),
		trans: ad.New([]float64{0.9, -0.4, 0.2, -0.6, 0.7, 0.1, 0.3, -0.2, 0.8}, 3, 3).RequireGrad(),
		emit:  ad.New([]float64{1.2, -0.9, -0.7, 0.8, 0.2, -0.1}, 3, 2).RequireGrad(),
	}
}

func (h *hmm) Dims() (int, int) { return 1, 1 }

func states(x *ad.Tensor) []int {
	out := make([]int, x.Dim(0))
	for i, v := range x.Data() {
		out[i] = int(v)
	}
	return out
}

func (h *hmm) LogInitial(x *ad.Tensor) *ad.Tensor {
	return ad.IndexSelect(ad.LogSoftmax(h.init, 0), 0, states(x))
}

func (h *hmm) LogTransition(prev, x *ad.Tensor) *ad.Tensor {
	idx := states(x)
	for i, p := range states(prev) {
		idx[i] += p * h.K
	}
	return ad.IndexSelect(ad.Reshape(ad.LogSoftmax(h.trans, 1), h.K*h.K), 0, idx)
}

func (h *hmm) LogEmission(x, y *ad.Tensor) *ad.Tensor {
	idx := states(x)
	for i := range idx {
		idx[i] = idx[i]*h.M + int(y.Item())
	}
	return ad.IndexSelect(ad.Reshape(ad.LogSoftmax(h.emit, 1), h.K*h.M), 0, idx)
}

func (h *hmm) Params() []*ad.Tensor { return []*ad.Tensor{h.init, h.trans, h.emit} }

// values returns the model's log probabilities as plain numbers.
func (h *hmm) values() (li []float64, lt, le [][]float64) {
	li = ad.LogSoftmax(h.init.Detach(), 0).Data()
	t := ad.LogSoftmax(h.trans.Detach(), 1).Data()
	e := ad.LogSoftmax(h.emit.Detach(), 1).Data()
	for k := range h.K {
		lt = append(lt, t[k*h.K:(k+1)*h.K])
		le = append(le, e[k*h.M:(k+1)*h.M])
	}
	return li, lt, le
}

// scripted is a fixed proposal q₀(x₀), q(x_t | x_{t−1}) whose Sample
// returns the states of a script instead of drawing them.
type scripted struct {
	logQ0  []float64
	logQ   [][]float64
	script [][]int // states of the N particles at each step
}

func (s *scripted) Sample(_ *rand.Rand, t int, _, _ *ad.Tensor, n int) *ad.Tensor {
	x := make([]float64, n)
	for i, v := range s.script[t] {
		x[i] = float64(v)
	}
	return ad.New(x, n, 1)
}

func (s *scripted) LogProb(t int, prev, _, x *ad.Tensor) *ad.Tensor {
	xs := states(x)
	out := make([]float64, len(xs))
	for i, v := range xs {
		if t == 0 {
			out[i] = s.logQ0[v]
		} else {
			out[i] = s.logQ[int(prev.Data()[i])][v]
		}
	}
	return ad.New(out, len(out))
}

func (s *scripted) Params() []*ad.Tensor { return nil }

// run is one enumerated run of SMC: the states proposed at each step, the
// ancestors of each resampling (in order), its probability and log Ẑ.
type run struct {
	script    [][]int
	ancestors [][]int
	prob      float64
	logZ      float64
}

// enumerate calls f with every run of SMC with n particles, computing the
// weights, the resampling decisions (crit, from the ESS) and log Ẑ itself,
// with i.i.d. ancestors (ordered, so each multiset of ancestors appears in
// every order: the same distribution of runs as Multinomial's sorted
// draws).
func enumerate(li []float64, lt, le [][]float64, q *scripted, ys []int, n int, crit estimators.Criterion, f func(run)) {
	K, T := len(li), len(ys)
	type state struct {
		x    []int     // current states
		logw []float64 // log weights
	}
	lme := func(v []float64) float64 {
		m := slices.Max(v)
		s := 0.0
		for _, x := range v {
			s += math.Exp(x - m)
		}
		return m + math.Log(s/float64(len(v)))
	}
	var step func(t int, prev state, script [][]int, anc [][]int, p float64)
	// draw enumerates the states at step t given the parents' states
	// (after any resampling) and their log weights.
	draw := func(t int, parents []int, logw []float64, script [][]int, anc [][]int, p float64) {
		x := make([]int, n)
		var r func(i int, p float64, lw []float64)
		r = func(i int, p float64, lw []float64) {
			if i == n {
				step(t+1, state{slices.Clone(x), lw}, append(slices.Clone(script), slices.Clone(x)), anc, p)
				return
			}
			for k := range K {
				x[i] = k
				var lq, lg float64
				if t == 0 {
					lq, lg = q.logQ0[k], li[k]+le[k][ys[0]]
				} else {
					lq, lg = q.logQ[parents[i]][k], lt[parents[i]][k]+le[k][ys[t]]
				}
				w := slices.Clone(lw)
				w[i] += lg - lq
				r(i+1, p*math.Exp(lq), w)
			}
		}
		r(0, p, logw)
	}
	step = func(t int, prev state, script [][]int, anc [][]int, p float64) {
		if t == T {
			f(run{script: script, ancestors: anc, prob: p, logZ: lme(prev.logw)})
			return
		}
		m := slices.Max(prev.logw)
		s, s2 := 0.0, 0.0
		for _, l := range prev.logw {
			w := math.Exp(l - m)
			s += w
			s2 += w * w
		}
		if !crit.Resample(s*s/s2, n) {
			draw(t, prev.x, prev.logw, script, anc, p)
			return
		}
		logZ := lme(prev.logw)
		reset := make([]float64, n)
		for i := range reset {
			reset[i] = logZ
		}
		a := make([]int, n)
		var r func(i int, p float64)
		r = func(i int, p float64) {
			if i == n {
				parents := make([]int, n)
				for j, aj := range a {
					parents[j] = prev.x[aj]
				}
				draw(t, parents, reset, script, append(slices.Clone(anc), slices.Clone(a)), p)
				return
			}
			for j := range n {
				a[i] = j
				r(i+1, p*math.Exp(prev.logw[j]-m)/s)
			}
		}
		r(0, p)
	}
	draw(0, nil, make([]float64, n), nil, nil, 1)
}

// scriptResampler returns a Resampler that hands out the ancestor vectors
// of anc in order, and a func reporting how many it handed out.
func scriptResampler(anc [][]int) (estimators.Resampler, func() int) {
	k := 0
	return func(_ *rand.Rand, _ []float64, dst []int) {
		if k >= len(anc) {
			panic(fmt.Sprintf("resampler called %d times, the run has %d resampling steps", k+1, len(anc)))
		}
		copy(dst, anc[k])
		k++
	}, func() int { return k }
}

// TestResamplingGradientExact checks, by enumeration, that Bound with
// ResamplingGradient is an unbiased estimator of ∇E[log Ẑ] and that the
// published gradient is not: for SMC resampling at every step and for
// adaptive resampling (where, with finite states and a fixed proposal, the
// resampling decisions are locally constant in θ).
func TestResamplingGradientExact(t *testing.T) {
	// Tolerances: sums of ≤ 11664 terms of size ≲ 10 are exact to ~1e-12;
	// central differences of step 1e-5 on a smooth function of size ~10
	// carry truncation ~1e-10 and rounding ~1e-11·10/1e-5 = 1e-10, so
	// gradTol = 1e-7 has a wide margin while a missing or wrong term is
	// off by ≳ 1e-3 (the published estimator's bias, asserted below).
	const (
		valueTol = 1e-11
		gradStep = 1e-5
		gradTol  = 1e-7
		biasMin  = 1e-3
	)
	h := newHMM()
	q := &scripted{
		logQ0: []float64{math.Log(0.5), math.Log(0.3), math.Log(0.2)},
		logQ: [][]float64{
			{math.Log(0.2), math.Log(0.5), math.Log(0.3)},
			{math.Log(0.4), math.Log(0.4), math.Log(0.2)},
			{math.Log(0.1), math.Log(0.3), math.Log(0.6)},
		},
	}
	ys := []int{0, 1, 1}
	yt := ad.New([]float64{0, 1, 1}, 3, 1)
	const n = 2
	params := h.Params()
	for _, crit := range []estimators.Criterion{estimators.Always, estimators.ESSBelow(0.9)} {
		name := crit.String()
		// E[log Ẑ] by enumeration, as a function of θ (for differences).
		theta := nn.Flatten(params)
		set := func(x []float64) { nn.SetFlat(params, x) }
		expect := func(x []float64) float64 {
			set(x)
			li, lt, le := h.values()
			e := 0.0
			enumerate(li, lt, le, q, ys, n, crit, func(r run) { e += r.prob * r.logZ })
			return e
		}
		want := fd.Gradient(nil, expect, slices.Clone(theta), &fd.Settings{Formula: fd.Central, Step: gradStep})
		set(theta)

		// Σ P(run) · (Bound, ∇Bound) over the scripted runs.
		li, lt, le := h.values()
		total, value, zhat, expZ := 0.0, 0.0, 0.0, 0.0
		unbiased := make([]float64, len(theta))
		published := make([]float64, len(theta))
		withBaseline := make([]float64, len(theta))
		// A baseline fixed across runs (Decay 1 never moves it), as it is
		// within one step of training.
		frozen := &Baseline{Decay: 1, mean: []float64{0, -1.3, -0.7}, seen: []bool{false, true, true}}
		runs, resampledRuns, keptRuns := 0, 0, 0
		enumerate(li, lt, le, q, ys, n, crit, func(r run) {
			runs++
			total += r.prob
			if len(r.ancestors) == len(ys)-1 {
				resampledRuns++
			} else {
				keptRuns++
			}
			q.script = r.script
			for gi, opts := range []Options{{ResamplingGradient: true}, {}, {ResamplingGradient: true, Baseline: frozen}} {
				res, used := scriptResampler(r.ancestors)
				o := Objective{N: n, Criterion: crit, Resampling: res}
				b := o.Bound(rand.New(rand.NewPCG(1, 1)), h, q, yt, opts)
				if used() != len(r.ancestors) {
					t.Fatalf("%s: Bound resampled %d times, the enumeration %d times (run %v)", name, used(), len(r.ancestors), r.script)
				}
				if math.Abs(b.Item()-r.logZ) > valueTol {
					t.Fatalf("%s: Bound = %v, enumeration log Ẑ = %v", name, b.Item(), r.logZ)
				}
				dst := unbiased
				switch gi {
				case 2:
					dst = withBaseline
				case 1:
					dst = published
					value += r.prob * b.Item()
					zhat += r.prob * math.Exp(b.Item())
				}
				off := 0
				for _, g := range ad.Grad(b, params...) {
					for j, v := range g.Data() {
						dst[off+j] += r.prob * v
					}
					off += g.Len()
				}
			}
		})
		if math.Abs(total-1) > valueTol {
			t.Fatalf("%s: run probabilities sum to %v", name, total)
		}
		if crit != estimators.Always && (resampledRuns == 0 || keptRuns == 0) {
			t.Fatalf("%s: %d runs resampled at every step, %d did not; the case should exercise both", name, resampledRuns, keptRuns)
		}
		// E[Ẑ] = p(y) (the forward algorithm over K^T trajectories).
		expZ = 0
		for c := range 27 {
			x := []int{c % 3, c / 3 % 3, c / 9}
			l := li[x[0]] + le[x[0]][ys[0]]
			for s := 1; s < 3; s++ {
				l += lt[x[s-1]][x[s]] + le[x[s]][ys[s]]
			}
			expZ += math.Exp(l)
		}
		if math.Abs(zhat-expZ) > valueTol {
			t.Errorf("%s: E[Ẑ] = %.15g, p(y) = %.15g", name, zhat, expZ)
		}
		if e := expect(theta); math.Abs(value-e) > valueTol || value > math.Log(expZ) {
			t.Errorf("%s: E[Bound] = %.15g, enumeration %.15g, log p(y) = %.15g", name, value, e, math.Log(expZ))
		}
		set(theta)
		bias := 0.0
		for j := range want {
			if d := math.Abs(unbiased[j] - want[j]); d > gradTol*max(1, math.Abs(want[j])) {
				t.Errorf("%s: E[∇Bound] with ResamplingGradient, θ[%d]: %.12g, ∇E[log Ẑ] = %.12g", name, j, unbiased[j], want[j])
			}
			if d := math.Abs(withBaseline[j] - want[j]); d > gradTol*max(1, math.Abs(want[j])) {
				t.Errorf("%s: E[∇Bound] with ResamplingGradient and a Baseline, θ[%d]: %.12g, ∇E[log Ẑ] = %.12g", name, j, withBaseline[j], want[j])
			}
			bias = max(bias, math.Abs(published[j]-want[j]))
		}
		if bias < biasMin {
			t.Errorf("%s: the published gradient's largest bias is %g; the test needs a case where it is biased", name, bias)
		}
		t.Logf("%s: %d runs; E[log Ẑ] = %.6f ≤ log p(y) = %.6f; published gradient's largest bias %.4f", name, runs, value, math.Log(expZ), bias)
	}
}
