package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/eimkit/eimkit/ad"
)

// LogWeights is the type of a vector of n log weights in SMC: []float64 on
// the fast path, or an *ad.Tensor of shape [n] on the differentiable path,
// where log Ẑ keeps the gradient of the proposals and the incremental
// weights.
type LogWeights interface {
	[]float64 | *ad.Tensor
}

// SMCModel is a sequence of targets γ₀, …, γ_{T−1} together with their
// proposals, seen through a set of n particles: P holds all n particles
// (their whole state: current values, trajectories, anything a step needs),
// and W their log incremental weights. RunSMC calls Init once, then for
// t = 1, …, T−1 possibly Resample and then Step.
//
// The []float64 a method returns may be reused by the model on its next
// call (RunSMC copies what it keeps); a *ad.Tensor is immutable as usual.
type SMCModel[P any, W LogWeights] interface {
	// Init draws n particles x₀ⁱ ~ q₀ and returns them with the log
	// weights log α₀ⁱ = log γ₀(x₀ⁱ) − log q₀(x₀ⁱ), of length n.
	Init(rng *rand.Rand, n int) (P, W)
	// Step extends every particle by x_tⁱ ~ q_t(· | x_{0:t−1}ⁱ) and returns
	// them with the log incremental weights
	//
	//	log α_tⁱ = log γ_t(x_{0:t}ⁱ) − log γ_{t−1}(x_{0:t−1}ⁱ) − log q_t(x_tⁱ | x_{0:t−1}ⁱ).
	Step(rng *rand.Rand, t int, particles P) (P, W)
	// Resample returns the particles whose i-th is the ancestors[i]-th of
	// particles (repeats allowed); on the differentiable path, with
	// ad.IndexSelect, the selection being a constant.
	Resample(particles P, ancestors []int) P
}

// Criterion decides when SMC resamples: before step t ≥ 1, from the
// effective sample size of the current weights,
//
//	ESS = (Σᵢ wᵢ)² / Σᵢ wᵢ².
//
// Never, Always and ESSBelow(frac) are the choices; the zero value is
// ESSBelow(0.5), the usual adaptive default.
type Criterion struct {
	kind criterionKind
	frac float64
}

type criterionKind uint8

const (
	criterionDefault criterionKind = iota
	criterionNever
	criterionAlways
	criterionESS
)

var (
	// Never never resamples: SMC is then importance sampling of whole
	// trajectories, and log Ẑ is the IWAE integrand.
	Never = Criterion{kind: criterionNever}
	// Always resamples before every step t ≥ 1 (the bootstrap particle
	// filter; FIVO and VSMC as published).
	Always = Criterion{kind: criterionAlways}
)

// ESSBelow resamples when ESS < frac·n. ESSBelow(0) never resamples and
// ESSBelow(frac) with frac > 1 always does. It panics if frac is negative,
// NaN or infinite.
func ESSBelow(frac float64) Criterion {
	if !(frac >= 0) || math.IsInf(frac, 1) {
		panic(fmt.Sprintf("estimators: ESSBelow: frac = %v, want a finite frac ≥ 0", frac))
	}
	return Criterion{kind: criterionESS, frac: frac}
}

// Resample reports whether n particles with effective sample size ess are
// resampled.
func (c Criterion) Resample(ess float64, n int) bool {
	switch c.kind {
	case criterionNever:
		return false
	case criterionAlways:
		return true
	case criterionESS:
		return ess < c.frac*float64(n)
	default:
		return ess < 0.5*float64(n)
	}
}

// String returns "never", "always" or "ESS<0.5N".
func (c Criterion) String() string {
	switch c.kind {
	case criterionNever:
		return "never"
	case criterionAlways:
		return "always"
	case criterionESS:
		return fmt.Sprintf("ESS<%gN", c.frac)
	default:
		return "ESS<0.5N"
	}
}

// SMC holds the settings of sequential Monte Carlo; the model and the
// number of steps are arguments of RunSMC.
type SMC struct {
	// N is the number of particles, at least 1.
	N int
	// Resampling draws the ancestors; nil means Multinomial, as in FIVO
	// and in the theory of conditional SMC. Systematic has lower variance
	// and costs less (one uniform per resampling); VSMC's reference code
	// uses Stratified.
	Resampling Resampler
	// Criterion decides when to resample; the zero value is ESSBelow(0.5).
	Criterion Criterion
}

// SMCResult is one run of RunSMC. Steps are numbered t = 0, …, T−1.
type SMCResult[P any, W LogWeights] struct {
	// LogZ is log Ẑ; Ẑ is an unbiased estimate of Z = ∫ γ_{T−1}, and
	// E[log Ẑ] ≤ log Z.
	LogZ float64
	// LogWeights are the final log weights log w_{T−1}ⁱ, unnormalized so
	// that their mean is Ẑ: LogZ = log (1/N) Σᵢ exp(LogWeights[i]). On the
	// differentiable path ad.LogMeanExp(LogWeights, 0) is therefore log Ẑ as
	// a tensor, with the gradient of every proposal draw and incremental
	// weight (resampling indices are constants).
	LogWeights W
	// Particles are the particles the last Step (or Init, if T = 1)
	// returned, weighted by LogWeights.
	Particles P
	// Ancestry[t][i] is the index at step t−1 of the parent of particle i
	// at step t. Ancestry[0] and every step not resampled are the identity.
	Ancestry [][]int
	// Resampled[t] reports whether the particles were resampled before
	// step t; Resampled[0] is false.
	Resampled []bool
	// ESS[t] is the effective sample size of the weights after step t.
	ESS []float64
}

// RunSMC runs sequential Monte Carlo with s.N particles for T steps on
// model and returns the estimate of the normalizing constant Z of its last
// target with the record of the run. With w_{t}ⁱ the weight of particle i
// after step t and W_{t}ⁱ = w_{t}ⁱ / Σⱼ w_{t}ʲ:
//
//	w₀ⁱ = α₀ⁱ
//	before step t ≥ 1, if s.Criterion says so (from ESS of W_{t−1}):
//	    aⁱ ~ s.Resampling(W_{t−1}),   particles ← particles[a],   w_{t−1}ⁱ ← Ẑ_{t−1}
//	w_tⁱ = w_{t−1}ⁱ α_tⁱ
//	Ẑ_t  = (1/N) Σᵢ w_tⁱ,   Ẑ = Ẑ_{T−1}
//
// Resetting every weight to the running estimate Ẑ_{t−1} (rather than to
// 1) keeps Ẑ_t the mean weight at every step, and gives
//
//	Ẑ_t / Ẑ_{t−1} = Σᵢ W_{t−1}ⁱ α_tⁱ
//
// at every step whether or not it resampled, so
// log Ẑ = log Ẑ₀ + Σ_{t≥1} log Σᵢ W_{t−1}ⁱ α_tⁱ for any resampling
// schedule. E[Ẑ] = Z for every Resampler and Criterion (Del Moral 2004;
// the tests check it exactly by enumeration), and log Ẑ is the FIVO / VSMC
// / AESMC bound's integrand (Maddison et al. 2017; Naesseth et al. 2018; Le
// et al. 2018).
//
// If every weight becomes zero, or a weight NaN or +Inf, SMC stops
// resampling and LogZ comes out −Inf, NaN or +Inf; RunSMC itself does not
// panic on values.
//
// On the fast path (W = []float64) RunSMC allocates its result and nothing
// per step. On the differentiable path the weights are ad operations
// (Add, and LogMeanExp with BroadcastTo at a resampling step).
//
// It panics if s.N < 1, T < 1, or the model returns log weights that are
// not of length s.N.
func RunSMC[P any, W LogWeights](rng *rand.Rand, s SMC, model SMCModel[P, W], T int) SMCResult[P, W] {
	n := s.N
	if n < 1 || T < 1 {
		panic(fmt.Sprintf("estimators: RunSMC: N = %d, T = %d, want N ≥ 1 and T ≥ 1", n, T))
	}
	resample := s.Resampling
	if resample == nil {
		resample = Multinomial
	}
	ops := smcWeightOpsFor[W]()
	logN := math.Log(float64(n))

	anc := make([]int, T*n)
	res := SMCResult[P, W]{
		Ancestry:  make([][]int, T),
		Resampled: make([]bool, T),
		ESS:       make([]float64, T),
	}
	for t := range T {
		res.Ancestry[t] = anc[t*n : (t+1)*n : (t+1)*n]
	}
	smcIdentity(res.Ancestry[0])
	particles, inc := model.Init(rng, n)
	logw := ops.own(smcCheckWeights(ops, inc, n, "Init"))
	lse, ess := smcWeightStats(ops.values(logw))
	res.ESS[0] = ess
	for t := 1; t < T; t++ {
		a := res.Ancestry[t]
		// Resampling needs finite log Σ w: with every weight zero Ẑ = 0
		// whatever happens next, and NaN or +Inf have no distribution.
		if !math.IsInf(lse, 0) && !math.IsNaN(lse) && s.Criterion.Resample(ess, n) {
			resample(rng, ops.values(logw), a)
			particles = model.Resample(particles, a)
			logw = ops.reset(logw, lse-logN)
			res.Resampled[t] = true
		} else {
			smcIdentity(a)
		}
		particles, inc = model.Step(rng, t, particles)
		logw = ops.add(logw, smcCheckWeights(ops, inc, n, "Step"))
		lse, ess = smcWeightStats(ops.values(logw))
		res.ESS[t] = ess
	}
	res.LogZ = lse - logN
	res.LogWeights = logw
	res.Particles = particles
	return res
}

// smcWeightOps is the arithmetic RunSMC does on log weights, one
// implementation per LogWeights type, chosen once per run.
type smcWeightOps[W LogWeights] struct {
	length func(w W) (int, bool)     // n, and whether w is a vector
	own    func(w W) W               // a copy RunSMC may modify
	values func(w W) []float64       // the values, not to be modified
	add    func(w, inc W) W          // w + inc (in place on the fast path)
	reset  func(w W, logZ float64) W // every entry log Ẑ
}

var smcFloatOps = smcWeightOps[[]float64]{
	length: func(w []float64) (int, bool) { return len(w), true },
	own:    func(w []float64) []float64 { return append([]float64(nil), w...) },
	values: func(w []float64) []float64 { return w },
	add: func(w, inc []float64) []float64 {
		for i, v := range inc {
			w[i] += v
		}
		return w
	},
	reset: func(w []float64, logZ float64) []float64 {
		for i := range w {
			w[i] = logZ
		}
		return w
	},
}

var smcTensorOps = smcWeightOps[*ad.Tensor]{
	length: func(w *ad.Tensor) (int, bool) {
		if w == nil || w.Rank() != 1 {
			return 0, false
		}
		return w.Dim(0), true
	},
	own:    func(w *ad.Tensor) *ad.Tensor { return w },
	values: func(w *ad.Tensor) []float64 { return w.Data() },
	add:    ad.Add,
	reset: func(w *ad.Tensor, _ float64) *ad.Tensor {
		// The graph's own log Ẑ, so the gradient flows through it.
		return ad.BroadcastTo(ad.LogMeanExp(w, 0), w.Dim(0))
	},
}

func smcWeightOpsFor[W LogWeights]() *smcWeightOps[W] {
	var w W
	switch any(w).(type) {
	case []float64:
		return any(&smcFloatOps).(*smcWeightOps[W])
	default: // *ad.Tensor
		return any(&smcTensorOps).(*smcWeightOps[W])
	}
}

func smcCheckWeights[W LogWeights](ops *smcWeightOps[W], w W, n int, method string) W {
	if got, ok := ops.length(w); ok && got == n {
		return w
	}
	var desc string
	switch v := any(w).(type) {
	case []float64:
		desc = fmt.Sprintf("%d log weights", len(v))
	case *ad.Tensor:
		if v == nil {
			desc = "nil log weights"
		} else {
			desc = fmt.Sprintf("log weights of shape %v", v.Shape())
		}
	}
	panic(fmt.Sprintf("estimators: RunSMC: model %s returned %s, want [%d]", method, desc, n))
}

// smcWeightStats returns log Σᵢ exp(lᵢ) and the effective sample size
// (Σᵢ wᵢ)²/Σᵢ wᵢ² of the log weights l: −Inf and 0 if every weight is zero;
// NaN and NaN if a log weight is NaN, else +Inf and NaN if one is +Inf.
func smcWeightStats(logw []float64) (lse, ess float64) {
	m := math.Inf(-1)
	for _, l := range logw {
		if math.IsNaN(l) {
			return l, l
		}
		m = max(m, l)
	}
	switch {
	case math.IsInf(m, -1):
		return m, 0
	case math.IsInf(m, 1):
		return m, math.NaN()
	}
	s, s2 := 0.0, 0.0
	for _, l := range logw {
		w := math.Exp(l - m)
		s += w
		s2 += w * w
	}
	return m + math.Log(s), s * s / s2
}

func smcIdentity(a []int) {
	for i := range a {
		a[i] = i
	}
}

// ReplicateSMC runs SMC r times independently and combines the r
// estimates: their mean is again an unbiased estimate of Z, and their
// spread gives the standard error that a single run cannot report
// (Estimate.StdErr, relative; Estimate.ESS is the effective number of
// replicates and Estimate.LogWeights their log Ẑ). It panics if r < 2.
func ReplicateSMC[P any](rng *rand.Rand, s SMC, model SMCModel[P, []float64], T, r int) Estimate {
	if r < 2 {
		panic(fmt.Sprintf("estimators: ReplicateSMC: r = %d, want r ≥ 2", r))
	}
	logZ := make([]float64, r)
	for i := range logZ {
		logZ[i] = RunSMC(rng, s, model, T).LogZ
	}
	return EstimateFromLogWeights(logZ)
}
