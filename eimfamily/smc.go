package eimfamily

import (
	"fmt"
	"math/rand/v2"
	"reflect"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/estimators"
)

// SMCSteps are the pieces of an SMC family over trajectories x_{0:T−1}
// of d-dimensional states: a sequence of unnormalized targets γ_t(x_{0:t})
// whose ratios are Markov, and Markov proposals,
//
//	γ_t(x_{0:t}) / γ_{t−1}(x_{0:t−1}) = g_t(x_{t−1}, x_t)   (γ₀(x₀) = g₀(x₀)),
//	q_t(x_t | x_{0:t−1})              = q_t(x_t | x_{t−1}),
//
// which covers state-space models, γ_t = p(x_{0:t}, y_{0:t}) with
// g_t = f(x_t | x_{t−1}) g(y_t | x_t). A set of n particles at one step
// is a tensor [n, d]; prev is nil at t = 0.
type SMCSteps interface {
	// Len returns the number of steps T ≥ 1.
	Len() int
	// Propose draws x_tⁱ ~ q_t(· | x_{t−1}ⁱ) for the n rows of prev
	// (n draws from q₀ at t = 0, prev nil) and returns them, [n, d];
	// reparameterized where the proposal allows it.
	Propose(rng *rand.Rand, t int, prev *ad.Tensor, n int) *ad.Tensor
	// LogProposal returns log q_t(x_tⁱ | x_{t−1}ⁱ) for the rows of x, [n].
	LogProposal(t int, prev, x *ad.Tensor) *ad.Tensor
	// LogTarget returns log g_t(x_{t−1}ⁱ, x_tⁱ), the log target
	// increment log γ_t − log γ_{t−1} (log γ₀ at t = 0), [n].
	LogTarget(t int, prev, x *ad.Tensor) *ad.Tensor
}

// SMC is the sequential Monte Carlo model of Sec. 5.3: run SMC with N
// particles on Steps (estimators.RunSMC) and return one final particle's
// trajectory, chosen with probability proportional to its final weight
// and traced back through the resampling ancestry,
//
//	λ = (all particles, all ancestors) ~ SMC,   k ~ Categorical(W_{T−1}),   x = x_{0:T−1}^{(k)}.
//
// The resulting density q_SMC(x) is intractable; like p_SNIS (of which it
// is the multi-step version: with T = 1 it is SNIS with proposal q₀ and
// weights g₀/q₀) it has the exact representation (Andrieu, Doucet &
// Holenstein 2010, the extended target of particle MCMC)
//
//	q_SMC(x) = γ(x) · E_{CSMC(x)}[ 1 / Ẑ ],   γ = γ_{T−1},
//
// where CSMC(x) is conditional SMC: SMC with one particle held at the
// reference trajectory x through every step, and Ẑ its estimate of Z.
// Jensen's inequality gives the lower bound that Bound computes,
//
//	log q_SMC(x) ≥ E_{CSMC(x)} [ log γ(x) − log Ẑ ],
//
// the analogue of Eq. (3) for SNIS (the reference trajectory is one of
// the N particles of the normalizer), and exp of its integrand is an
// unbiased estimate of q_SMC(x).
//
// As a variational family q(z | x) (Sec. 5.3), with z the returned
// trajectory, λ the rest of the run and r(λ | z) = CSMC(z), the
// auxiliary-variable bound of Eq. (4) has the integrand
//
//	log p(x, z) + log r(λ | z, x) − log q(z, λ | x) = log Ẑ,
//
// the FIVO / VSMC / AESMC bound (Maddison et al. 2017; Naesseth et al.
// 2018; Le et al. 2018): Run returns it. Package vsmc builds on this.
//
// The zero value is not usable: Steps must be set and N ≥ 1.
type SMC struct {
	Steps SMCSteps
	// N is the number of particles. N = 1 is the proposal itself.
	N int
	// Criterion decides when to resample; the zero value is
	// estimators.ESSBelow(0.5).
	Criterion estimators.Criterion
	// Resampling draws the ancestors; nil means estimators.Multinomial.
	// Bound needs multinomial resampling (see Bound).
	Resampling estimators.Resampler
}

// SMCRun is one run of SMC on the differentiable path. Steps are numbered
// t = 0, …, T−1 and particles i = 0, …, N−1.
type SMCRun struct {
	// LogZ is log Ẑ as a scalar tensor, log (1/N) Σᵢ exp(LogWeights[i]),
	// differentiable through every proposal draw and every log weight; the
	// ancestors are constants.
	LogZ *ad.Tensor
	// LogWeights are the final log weights [N], unnormalized so that their
	// mean is Ẑ (see estimators.SMCResult).
	LogWeights *ad.Tensor
	// States[t] are the particles [N, d] drawn at step t; row i descends
	// from row Ancestry[t][i] of States[t−1].
	States []*ad.Tensor
	// LogAlphas[t] are the log incremental weights [N] of step t,
	// log g_t − log q_t.
	LogAlphas []*ad.Tensor
	// Ancestry, Resampled and ESS are as in estimators.SMCResult.
	Ancestry  [][]int
	Resampled []bool
	ESS       []float64
}

// Trajectory returns the trajectory of final particle k, [T, d]: the rows
// of States reached by following Ancestry back from k. It is
// differentiable through the states.
func (r *SMCRun) Trajectory(k int) *ad.Tensor {
	T := len(r.States)
	rows := make([]*ad.Tensor, T)
	for t := T - 1; t >= 0; t-- {
		rows[t] = ad.IndexSelect(r.States[t], 0, []int{k})
		k = r.Ancestry[t][k]
	}
	return ad.Concat(0, rows...)
}

func (m *SMC) check(who string) {
	if m.Steps == nil {
		panic(fmt.Sprintf("eimfamily: SMC.%s: nil Steps", who))
	}
	if m.N < 1 || m.Steps.Len() < 1 {
		panic(fmt.Sprintf("eimfamily: SMC.%s: N = %d, T = %d, want N ≥ 1 and T ≥ 1", who, m.N, m.Steps.Len()))
	}
}

func (m *SMC) settings() estimators.SMC {
	return estimators.SMC{N: m.N, Resampling: m.Resampling, Criterion: m.Criterion}
}

// Run runs SMC once (estimators.RunSMC on the differentiable path) and
// returns the run with its record. LogZ is the integrand of the FIVO bound.
func (m *SMC) Run(rng *rand.Rand) *SMCRun {
	m.check("Run")
	return m.run(rng, m.settings(), nil)
}

// run runs SMC with settings s, conditional on the reference trajectory
// ref ([T, d], held as particle 0) if ref is not nil.
func (m *SMC) run(rng *rand.Rand, s estimators.SMC, ref *ad.Tensor) *SMCRun {
	T := m.Steps.Len()
	model := &smcModel{steps: m.Steps, ref: ref}
	res := estimators.RunSMC[*ad.Tensor, *ad.Tensor](rng, s, model, T)
	return &SMCRun{
		LogZ:       ad.LogMeanExp(res.LogWeights, 0),
		LogWeights: res.LogWeights,
		States:     model.states,
		LogAlphas:  model.logAlphas,
		Ancestry:   res.Ancestry,
		Resampled:  res.Resampled,
		ESS:        res.ESS,
	}
}

// Sample draws n exact trajectories from q_SMC, [n, T, d]: n independent
// runs, from each one final particle k with probability ∝ exp(LogWeights[k])
// traced back through the ancestry. The draws are constants. n = 0 gives
// an empty [0, T, 0] (the state dimension is known only from a run). It
// panics if every final weight of a run is zero.
func (m *SMC) Sample(rng *rand.Rand, n int) *ad.Tensor {
	m.check("Sample")
	if n < 0 {
		panic(fmt.Sprintf("eimfamily: SMC.Sample: n = %d", n))
	}
	T := m.Steps.Len()
	var out []float64
	d := 0
	for range n {
		r := m.run(rng, m.settings(), nil)
		k := sampleLogCategorical(rng, r.LogWeights.Data())
		d = r.States[0].Dim(1)
		if out == nil {
			out = make([]float64, 0, n*T*d)
		}
		start := len(out)
		out = out[:start+T*d]
		for t := T - 1; t >= 0; t-- {
			copy(out[start+t*d:start+(t+1)*d], r.States[t].Data()[k*d:(k+1)*d])
			k = r.Ancestry[t][k]
		}
	}
	if n == 0 {
		return ad.Zeros(0, T, 0)
	}
	return ad.New(out, n, T, d)
}

// Bound returns, for each trajectory of x ([n, T, d]), one draw of the
// lower bound on log q_SMC(x) (see the type's comment),
//
//	log γ(x) − log Ẑ_CSMC(x),
//
// as a tensor [n]: its mean over draws is at most log q_SMC(x), and its
// exp is an unbiased estimate of q_SMC(x). It is differentiable in
// whatever the log targets and log proposals depend on.
//
// Conditional SMC holds the reference trajectory as particle 0: before
// every resampling that Criterion calls for (from the ESS of all N
// weights, the reference's included), particle 0 keeps ancestor 0 and
// the other N − 1 ancestors are drawn by Multinomial; at each step
// particle 0 is the reference state and the others are proposed. This is
// conditional SMC for multinomial resampling, so Bound panics if
// Resampling is set to anything but estimators.Multinomial, unless
// Criterion is estimators.Never (nothing is resampled then). It panics
// also if x is not [n, T, d].
func (m *SMC) Bound(rng *rand.Rand, x *ad.Tensor) *ad.Tensor {
	m.check("Bound")
	T := m.Steps.Len()
	if x == nil || x.Rank() != 3 || x.Dim(1) != T || x.Dim(2) < 1 {
		var s any = "nil"
		if x != nil {
			s = x.Shape()
		}
		panic(fmt.Sprintf("eimfamily: SMC.Bound: x shape %v, want [n, %d, d]", s, T))
	}
	if m.Criterion != estimators.Never && m.Resampling != nil && !sameFunc(m.Resampling, estimators.Multinomial) {
		panic("eimfamily: SMC.Bound: conditional SMC needs multinomial resampling (Resampling nil or estimators.Multinomial)")
	}
	n, d := x.Dim(0), x.Dim(2)
	// log γ(x) for all n trajectories at once.
	var logGamma *ad.Tensor
	for t := range T {
		xt := ad.Reshape(ad.Slice(x, 1, t, t+1), n, d)
		var prev *ad.Tensor
		if t > 0 {
			prev = ad.Reshape(ad.Slice(x, 1, t-1, t), n, d)
		}
		g := m.Steps.LogTarget(t, prev, xt)
		if logGamma == nil {
			logGamma = g
		} else {
			logGamma = ad.Add(logGamma, g)
		}
	}
	s := m.settings()
	s.Resampling = conditionalMultinomial
	logZ := make([]*ad.Tensor, n)
	for i := range n {
		ref := ad.Reshape(ad.Slice(x, 0, i, i+1), T, d)
		logZ[i] = m.run(rng, s, ref).LogZ
	}
	return ad.Sub(logGamma, ad.Stack(0, logZ...))
}

// conditionalMultinomial keeps particle 0's ancestor at 0 (the reference
// trajectory's lineage) and draws the others multinomially from all N
// weights.
func conditionalMultinomial(rng *rand.Rand, logw []float64, dst []int) {
	if len(dst) == 0 {
		return
	}
	dst[0] = 0
	estimators.Multinomial(rng, logw, dst[1:])
}

// sameFunc reports whether a and b are the same top-level function.
func sameFunc(a, b estimators.Resampler) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

// smcModel adapts SMCSteps to estimators.SMCModel on the differentiable
// path, recording the states and incremental weights of every step. With
// ref set it is the model of conditional SMC: row 0 of every step is the
// reference state.
type smcModel struct {
	steps     SMCSteps
	ref       *ad.Tensor // [T, d] or nil
	states    []*ad.Tensor
	logAlphas []*ad.Tensor
}

var _ estimators.SMCModel[*ad.Tensor, *ad.Tensor] = (*smcModel)(nil)

func (m *smcModel) Init(rng *rand.Rand, n int) (*ad.Tensor, *ad.Tensor) {
	return m.step(rng, 0, nil, n)
}

func (m *smcModel) Step(rng *rand.Rand, t int, prev *ad.Tensor) (*ad.Tensor, *ad.Tensor) {
	return m.step(rng, t, prev, prev.Dim(0))
}

func (m *smcModel) Resample(particles *ad.Tensor, ancestors []int) *ad.Tensor {
	return ad.IndexSelect(particles, 0, ancestors)
}

func (m *smcModel) step(rng *rand.Rand, t int, prev *ad.Tensor, n int) (*ad.Tensor, *ad.Tensor) {
	x := m.steps.Propose(rng, t, prev, n)
	if x == nil || x.Rank() != 2 || x.Dim(0) != n {
		var s any = "nil"
		if x != nil {
			s = x.Shape()
		}
		panic(fmt.Sprintf("eimfamily: SMC: Propose at t = %d returned shape %v, want [%d, d]", t, s, n))
	}
	if m.ref != nil {
		d := x.Dim(1)
		if m.ref.Dim(1) != d {
			panic(fmt.Sprintf("eimfamily: SMC.Bound: x has states of dimension %d, Propose returns %d", m.ref.Dim(1), d))
		}
		x = ad.Concat(0, ad.Slice(m.ref, 0, t, t+1), ad.Slice(x, 0, 1, n))
	}
	la := ad.Sub(m.steps.LogTarget(t, prev, x), m.steps.LogProposal(t, prev, x))
	m.states = append(m.states, x)
	m.logAlphas = append(m.logAlphas, la)
	return x, la
}
