package eimfamily

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/estimators"
	"github.com/eimkit/eimkit/internal/mctest"
)

// hmmSteps is a hidden Markov model with K states, observed for T steps,
// with a mismatched Markov proposal: the targets γ_t = p(x_{0:t}, y_{0:t})
// with
//
//	g₀(x₀) = p(x₀) p(y₀ | x₀),   g_t(x_{t−1}, x_t) = p(x_t | x_{t−1}) p(y_t | x_t),
//
// and q₀(x₀), q(x_t | x_{t−1}). A state is its index as a float, so a set
// of n particles is [n, 1]. Everything is a constant: it is the reference
// model on which q_SMC is enumerated exactly.
type hmmSteps struct {
	K, T     int
	logInit  []float64   // log p(x₀ = j)
	logTrans [][]float64 // log p(x_t = j | x_{t−1} = i), [i][j]
	logObs   [][]float64 // log p(y_t | x_t = j), [t][j]
	logQ0    []float64   // log q₀(j)
	logQ     [][]float64 // log q(j | i), [i][j]
}

var _ SMCSteps = (*hmmSteps)(nil)

func normalizeLog(v []float64) []float64 {
	out := make([]float64, len(v))
	m := slices.Max(v)
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	for i, x := range v {
		out[i] = x - m - math.Log(s)
	}
	return out
}

// newHMM returns a 2-state HMM with T = 3, its observations favouring
// states that the proposal rarely draws, so the weights are uneven
// (resampling decisions go both ways) while every trajectory keeps a
// probability above 1% under q_SMC.
func newHMM() *hmmSteps {
	return &hmmSteps{
		K: 2, T: 3,
		logInit:  normalizeLog([]float64{0.3, -0.2}),
		logTrans: [][]float64{normalizeLog([]float64{0.8, -0.5}), normalizeLog([]float64{-0.4, 0.6})},
		logObs:   [][]float64{{-0.3, -2.1}, {-2.4, -0.2}, {-0.5, -1.6}},
		logQ0:    normalizeLog([]float64{-0.6, 0.4}),
		logQ:     [][]float64{normalizeLog([]float64{-0.5, 0.7}), normalizeLog([]float64{0.9, -0.3})},
	}
}

func (h *hmmSteps) Len() int { return h.T }

func (h *hmmSteps) Propose(rng *rand.Rand, t int, prev *ad.Tensor, n int) *ad.Tensor {
	out := make([]float64, n)
	for i := range n {
		lq := h.logQ0
		if t > 0 {
			lq = h.logQ[int(prev.Data()[i])]
		}
		out[i] = float64(sampleLogCategorical(rng, lq))
	}
	return ad.New(out, n, 1)
}

func (h *hmmSteps) LogProposal(t int, prev, x *ad.Tensor) *ad.Tensor {
	out := make([]float64, x.Dim(0))
	for i, v := range x.Data() {
		if t == 0 {
			out[i] = h.logQ0[int(v)]
		} else {
			out[i] = h.logQ[int(prev.Data()[i])][int(v)]
		}
	}
	return ad.New(out, len(out))
}

func (h *hmmSteps) LogTarget(t int, prev, x *ad.Tensor) *ad.Tensor {
	out := make([]float64, x.Dim(0))
	for i, v := range x.Data() {
		j := int(v)
		if t == 0 {
			out[i] = h.logInit[j] + h.logObs[0][j]
		} else {
			out[i] = h.logTrans[int(prev.Data()[i])][j] + h.logObs[t][j]
		}
	}
	return ad.New(out, len(out))
}

// code returns the index Σ_t x_t K^t of a trajectory.
func (h *hmmSteps) code(x []float64) int {
	c, p := 0, 1
	for _, v := range x {
		c += int(v) * p
		p *= h.K
	}
	return c
}

// trajectory returns the trajectory with index c, [T] states.
func (h *hmmSteps) trajectory(c int) []float64 {
	x := make([]float64, h.T)
	for t := range x {
		x[t] = float64(c % h.K)
		c /= h.K
	}
	return x
}

// logGamma returns log γ(x) = Σ_t log g_t of a trajectory.
func (h *hmmSteps) logGamma(x []float64) float64 {
	s := h.logInit[int(x[0])] + h.logObs[0][int(x[0])]
	for t := 1; t < h.T; t++ {
		s += h.logTrans[int(x[t-1])][int(x[t])] + h.logObs[t][int(x[t])]
	}
	return s
}

// logQTraj returns log q(x) = log q₀(x₀) + Σ_t log q(x_t | x_{t−1}).
func (h *hmmSteps) logQTraj(x []float64) float64 {
	s := h.logQ0[int(x[0])]
	for t := 1; t < h.T; t++ {
		s += h.logQ[int(x[t-1])][int(x[t])]
	}
	return s
}

// ancestorOutcome is one outcome of a resampling step: the ancestor of
// each particle and its probability.
type ancestorOutcome struct {
	a []int
	p float64
}

// exactAncestors enumerates the outcomes of drawing n ancestors from the
// normalized weights w with the named resampler, from the resamplers'
// definitions (estimators' resample.go): multinomial draws are i.i.d.
// (enumerated in every order, which gives the same multiset of ancestors
// as the sorted draws RunSMC gets), a stratified draw inverts the
// cumulative weights at (k + u_k)/n with independent u_k, a systematic one
// at (k + u)/n with one u, enumerated over the intervals of u between
// breakpoints.
func exactAncestors(method string, w []float64, n int) []ancestorOutcome {
	cum := make([]float64, len(w))
	c := 0.0
	for i, v := range w {
		c += v
		cum[i] = c
	}
	inv := func(p float64) int { // F⁻¹(p)
		for i, ci := range cum {
			if p < ci && w[i] > 0 {
				return i
			}
		}
		return len(w) - 1
	}
	var out []ancestorOutcome
	switch method {
	case "multinomial", "stratified":
		// per particle k: the probability of each ancestor
		probs := make([][]float64, n)
		for k := range n {
			probs[k] = make([]float64, len(w))
			if method == "multinomial" {
				copy(probs[k], w)
				continue
			}
			lo, hi := float64(k)/float64(n), float64(k+1)/float64(n)
			prev := 0.0
			for i, ci := range cum {
				probs[k][i] = max(0, min(hi, ci)-max(lo, prev)) * float64(n)
				prev = ci
			}
		}
		a := make([]int, n)
		var rec func(k int, p float64)
		rec = func(k int, p float64) {
			if p == 0 {
				return
			}
			if k == n {
				out = append(out, ancestorOutcome{slices.Clone(a), p})
				return
			}
			for i := range w {
				a[k] = i
				rec(k+1, p*probs[k][i])
			}
		}
		rec(0, 1)
	case "systematic":
		// u ∈ [0, 1) changes the draw only where (k + u)/n crosses a
		// cumulative sum: u = n·cum_i − k.
		bps := []float64{0, 1}
		for k := range n {
			for _, ci := range cum {
				if u := float64(n)*ci - float64(k); u > 0 && u < 1 {
					bps = append(bps, u)
				}
			}
		}
		slices.Sort(bps)
		for j := 0; j+1 < len(bps); j++ {
			lo, hi := bps[j], bps[j+1]
			if hi <= lo {
				continue
			}
			u := (lo + hi) / 2
			a := make([]int, n)
			for k := range n {
				a[k] = inv((float64(k) + u) / float64(n))
			}
			out = append(out, ancestorOutcome{a, hi - lo})
		}
	default:
		panic("unknown resampler " + method)
	}
	return out
}

// smcExact enumerates every run of SMC with n particles on h (every
// proposal draw and every resampling outcome, resampling as crit decides
// from the ESS) and returns the probability of each trajectory under
// q_SMC (final particle chosen ∝ weight), indexed by code, with the
// number of (run prefix, step) pairs that did and did not resample at
// some t ≥ 1.
func smcExact(h *hmmSteps, n int, crit estimators.Criterion, method string) (pmf []float64, resampled, kept int) {
	size := 1
	for range h.T {
		size *= h.K
	}
	pmf = make([]float64, size)
	type particle struct {
		x    []float64 // trajectory so far
		logw float64
	}
	var rec func(t int, ps []particle, p float64)
	// propose draws every combination of next states for particles whose
	// ancestors are given, then recurses.
	propose := func(t int, anc []particle, p float64, next func([]particle, float64)) {
		cur := make([]particle, n)
		var r func(i int, p float64)
		r = func(i int, p float64) {
			if i == n {
				next(slices.Clone(cur), p)
				return
			}
			for j := range h.K {
				var lq, lg float64
				if t == 0 {
					lq, lg = h.logQ0[j], h.logInit[j]+h.logObs[0][j]
				} else {
					last := int(anc[i].x[t-1])
					lq, lg = h.logQ[last][j], h.logTrans[last][j]+h.logObs[t][j]
				}
				var x []float64
				var lw float64
				if t > 0 {
					x, lw = anc[i].x, anc[i].logw
				}
				cur[i] = particle{append(slices.Clone(x), float64(j)), lw + lg - lq}
				r(i+1, p*math.Exp(lq))
			}
		}
		r(0, p)
	}
	rec = func(t int, ps []particle, p float64) {
		w := make([]float64, n)
		s, s2 := 0.0, 0.0
		for i, q := range ps {
			w[i] = math.Exp(q.logw)
			s += w[i]
			s2 += w[i] * w[i]
		}
		if t == h.T {
			for i, q := range ps {
				pmf[h.code(q.x)] += p * w[i] / s
			}
			return
		}
		if !crit.Resample(s*s/s2, n) {
			kept++
			propose(t, ps, p, func(next []particle, p float64) { rec(t+1, next, p) })
			return
		}
		resampled++
		for i := range w {
			w[i] /= s
		}
		logZ := math.Log(s / float64(n))
		for _, o := range exactAncestors(method, w, n) {
			anc := make([]particle, n)
			for i, a := range o.a {
				anc[i] = particle{ps[a].x, logZ}
			}
			propose(t, anc, p*o.p, func(next []particle, p float64) { rec(t+1, next, p) })
		}
	}
	propose(0, nil, 1, func(ps []particle, p float64) { rec(1, ps, p) })
	return pmf, resampled, kept
}

var smcResamplers = map[string]estimators.Resampler{
	"multinomial": estimators.Multinomial,
	"stratified":  estimators.Stratified,
	"systematic":  estimators.Systematic,
}

// TestSMCSampleExact checks that SMC.Sample draws trajectories from q_SMC
// as enumerated by smcExact (chi-square over the K^T = 8 trajectories),
// for every criterion and for three resamplers.
func TestSMCSampleExact(t *testing.T) {
	h := newHMM()
	const n, draws = 3, 20000
	cases := []struct {
		crit   estimators.Criterion
		method string
	}{
		{estimators.Never, "multinomial"},
		{estimators.Always, "multinomial"},
		{estimators.ESSBelow(0.5), "multinomial"},
		{estimators.Always, "stratified"},
		{estimators.ESSBelow(0.5), "systematic"},
	}
	for ci, c := range cases {
		name := fmt.Sprintf("%v/%s", c.crit, c.method)
		pmf, res, kept := smcExact(h, n, c.crit, c.method)
		total := 0.0
		for _, p := range pmf {
			total += p
		}
		if math.Abs(total-1) > exactTol {
			t.Fatalf("%s: enumerated q_SMC sums to %v", name, total)
		}
		if c.crit == estimators.ESSBelow(0.5) && (res == 0 || kept == 0) {
			t.Fatalf("%s: the enumeration resampled %d times and kept %d times; the model should exercise both", name, res, kept)
		}
		m := &SMC{Steps: h, N: n, Criterion: c.crit, Resampling: smcResamplers[c.method]}
		x := m.Sample(rand.New(rand.NewPCG(11, uint64(ci))), draws)
		if got := x.Shape(); !slices.Equal(got, []int{draws, h.T, 1}) {
			t.Fatalf("%s: Sample shape %v", name, got)
		}
		counts := make([]int, len(pmf))
		for r := range draws {
			counts[h.code(x.Data()[r*h.T:(r+1)*h.T])]++
		}
		if pv := chiSquareP(t, counts, pmf); pv < chiMinP {
			t.Errorf("%s: chi-square p = %v; counts %v, expected %v·%v", name, pv, counts, draws, pmf)
		}
	}
}

// TestSMCSampleNeverIsSNIS checks the enumeration itself on a case with a
// closed form: without resampling, q_SMC is SNIS over whole trajectories,
// q_SMC(x) = E[ N w(x)/ Σ_j w(x_j) ] with w = γ/q, which for N = 1 is q.
func TestSMCSampleNeverIsSNIS(t *testing.T) {
	h := newHMM()
	pmf, _, _ := smcExact(h, 1, estimators.Always, "multinomial")
	for c, p := range pmf {
		want := math.Exp(h.logQTraj(h.trajectory(c)))
		if math.Abs(p-want) > exactTol {
			t.Errorf("N = 1: q_SMC(%v) = %v, want q = %v", h.trajectory(c), p, want)
		}
	}
	// N = 2 without resampling: sum over the other trajectory x'.
	pmf, _, _ = smcExact(h, 2, estimators.Never, "multinomial")
	for c := range pmf {
		x := h.trajectory(c)
		wx := math.Exp(h.logGamma(x) - h.logQTraj(x))
		want := 0.0
		for c2 := range pmf {
			x2 := h.trajectory(c2)
			w2 := math.Exp(h.logGamma(x2) - h.logQTraj(x2))
			want += math.Exp(h.logQTraj(x)+h.logQTraj(x2)) * 2 * wx / (wx + w2)
		}
		if math.Abs(pmf[c]-want) > exactTol {
			t.Errorf("N = 2, never: q_SMC(%v) = %v, want %v", x, pmf[c], want)
		}
	}
}

// TestSMCBound checks the conditional-SMC representation of q_SMC on
// every trajectory: exp of Bound's integrand averages to q_SMC(x) (it is
// unbiased) and the integrand itself averages to at most log q_SMC(x)
// (the bound), both within 5 standard errors; with N = 1 the integrand is
// exactly log q(x).
func TestSMCBound(t *testing.T) {
	h := newHMM()
	const runs = 3000
	for ci, crit := range []estimators.Criterion{estimators.Always, estimators.ESSBelow(0.5), estimators.Never} {
		pmf, _, _ := smcExact(h, 3, crit, "multinomial")
		m := &SMC{Steps: h, N: 3, Criterion: crit}
		rng := rand.New(rand.NewPCG(21, uint64(ci)))
		for c, p := range pmf {
			traj := h.trajectory(c)
			x := make([]float64, 0, runs*h.T)
			for range runs {
				x = append(x, traj...)
			}
			ell := m.Bound(rng, ad.New(x, runs, h.T, 1)).Data()
			ratio := make([]float64, runs)
			for r, v := range ell {
				ratio[r] = math.Exp(v) / p
			}
			mr, se := mctest.MeanSE(ratio)
			if math.Abs(mr-1) > mcSigmas*se {
				t.Errorf("%v, x = %v: E[exp(bound)]/q_SMC(x) = %.4f ± %.4f, want 1", crit, traj, mr, se)
			}
			mb, seb := mctest.MeanSE(ell)
			if mb > math.Log(p)+mcSigmas*seb {
				t.Errorf("%v, x = %v: bound %.4f ± %.4f above log q_SMC(x) = %.4f", crit, traj, mb, seb, math.Log(p))
			}
		}
	}
	// N = 1: Ẑ = γ(x)/q(x), so the integrand is log q(x).
	m := &SMC{Steps: h, N: 1, Criterion: estimators.Always}
	for c := range 1 << h.T {
		traj := h.trajectory(c)
		got := m.Bound(rand.New(rand.NewPCG(1, 1)), ad.New(traj, 1, h.T, 1)).Item()
		if want := h.logQTraj(traj); math.Abs(got-want) > exactTol {
			t.Errorf("N = 1: bound at %v = %v, want log q = %v", traj, got, want)
		}
	}
}

// TestSMCRun checks the record of a run: LogZ is the log-mean-exp of the
// final weights and Trajectory follows Ancestry.
func TestSMCRun(t *testing.T) {
	h := newHMM()
	m := &SMC{Steps: h, N: 4, Criterion: estimators.ESSBelow(0.7)}
	rng := rand.New(rand.NewPCG(5, 5))
	for range 20 {
		r := m.Run(rng)
		if got, want := r.LogZ.Item(), ad.LogMeanExp(r.LogWeights, 0).Item(); got != want {
			t.Fatalf("LogZ %v, want %v", got, want)
		}
		for k := range m.N {
			traj := r.Trajectory(k).Data()
			i := k
			for s := h.T - 1; s >= 0; s-- {
				if traj[s] != r.States[s].Data()[i] {
					t.Fatalf("Trajectory(%d)[%d] = %v, want States[%d][%d] = %v", k, s, traj[s], s, i, r.States[s].Data()[i])
				}
				i = r.Ancestry[s][i]
			}
		}
	}
}

func TestSMCPanics(t *testing.T) {
	h := newHMM()
	x := ad.Zeros(2, h.T, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name, want string
		f          func()
	}{
		{"nil steps", "nil Steps", func() { (&SMC{N: 2}).Run(rng) }},
		{"N = 0", "N = 0", func() { (&SMC{Steps: h}).Sample(rng, 1) }},
		{"x rank", "x shape [2 3]", func() { (&SMC{Steps: h, N: 2}).Bound(rng, ad.Zeros(2, 3)) }},
		{"x steps", "x shape [2 4 1]", func() { (&SMC{Steps: h, N: 2}).Bound(rng, ad.Zeros(2, 4, 1)) }},
		{"systematic bound", "multinomial", func() {
			(&SMC{Steps: h, N: 2, Resampling: estimators.Systematic}).Bound(rng, x)
		}},
		{"negative n", "n = -1", func() { (&SMC{Steps: h, N: 2}).Sample(rng, -1) }},
	}
	for _, c := range cases {
		func() {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil || !strings.HasPrefix(msg, "eimfamily: ") || !strings.Contains(msg, c.want) {
					t.Errorf("%s: panic %v, want an eimfamily: message containing %q", c.name, r, c.want)
				}
			}()
			c.f()
		}()
	}
	// Never resamples nothing, so any resampler will do for Bound.
	(&SMC{Steps: h, N: 2, Criterion: estimators.Never, Resampling: estimators.Systematic}).Bound(rng, x)
}
