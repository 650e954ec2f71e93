package vsmc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"

	"github.com/eimkit/eimkit/ad"
	"github.com/eimkit/eimkit/eimfamily"
	"github.com/eimkit/eimkit/estimators"
)

// DefaultN is the number of particles of an Objective whose N is 0: the
// N = 4 of the linear-Gaussian experiment of Naesseth et al. (2018) and
// the smallest particle count of Maddison et al. (2017).
const DefaultN = 4

// Objective chooses the bound E[log Ẑ]: how many particles SMC runs with,
// when it resamples and how. The model, the proposal and the data are
// arguments of its methods, never part of it. The zero value is FIVO with
// DefaultN particles: resampling when ESS < N/2, multinomially.
type Objective struct {
	// N is the number of particles; 0 means DefaultN.
	N int
	// Criterion decides when to resample; the zero value is
	// estimators.ESSBelow(0.5).
	Criterion estimators.Criterion
	// Resampling draws the ancestors; nil means estimators.Multinomial.
	Resampling estimators.Resampler
}

// ELBO is the evidence lower bound: one particle, E_q[log p(x, y) − log q(x | y)].
func ELBO() Objective { return Objective{N: 1, Criterion: estimators.Never} }

// IWAE is the importance weighted bound with n whole trajectories (Burda
// et al. 2016): SMC that never resamples.
func IWAE(n int) Objective { return Objective{N: n, Criterion: estimators.Never} }

// FIVO is the filtering variational objective with n particles and
// adaptive resampling when ESS < n/2 (Maddison et al. 2017).
func FIVO(n int) Objective { return Objective{N: n, Criterion: estimators.ESSBelow(0.5)} }

// AESMC is SMC resampling before every step, as variational SMC
// (Naesseth et al. 2018) and AESMC (Le et al. 2018) were published.
func AESMC(n int) Objective { return Objective{N: n, Criterion: estimators.Always} }

// Options choose the gradient estimator of Bound, separately from the
// bound itself. The zero value is the published estimator.
type Options struct {
	// ResamplingGradient adds the score-function term of the resampling
	// steps, which makes the gradient unbiased for a resampling schedule
	// fixed in advance (see the package documentation). Without it
	// resampling passes no gradient, as in FIVO, VSMC and AESMC: biased
	// whenever SMC resamples. It needs ancestors drawn independently from
	// the weights, so Bound panics if it is set together with
	// estimators.Stratified, Systematic or Residual.
	ResamplingGradient bool
	// Baseline, if not nil, is subtracted from the coefficient of the
	// score term of each resampling and then updated with it (a control
	// variate learned across calls). nil subtracts only log Ẑ_{t−1}.
	Baseline *Baseline
}

// Baseline is a control variate for the score term of ResamplingGradient:
// for each step t, an exponential moving average b_t, over earlier calls
// of Bound, of the coefficient log Ẑ − log Ẑ_{t−1} of a resampling before
// step t (the log-likelihood of y_{t:T−1} that SMC estimates after it).
// That coefficient is far from zero (about (T − t) times the per-step
// log-likelihood), which makes the score term's variance huge; the term
// used is
//
//	(log Ẑ − log Ẑ_{t−1} − b_t) · ∇ log P(a_t),
//
// still unbiased because b_t comes from earlier, independent runs. The
// update after each call is b_t ← Decay·b_t + (1 − Decay)·(log Ẑ − log Ẑ_{t−1})
// for every t resampled in it (the first one sets b_t). A Baseline is
// state owned by the caller, like an optimizer's moments: one per
// training run, not shared between goroutines. The zero value is ready to
// use.
type Baseline struct {
	// Decay is the weight of the old average; 0 means 0.9.
	Decay float64
	mean  []float64
	seen  []bool
}

// Value returns b_t and whether any call has set it.
func (b *Baseline) Value(t int) (float64, bool) {
	if t < len(b.mean) && b.seen[t] {
		return b.mean[t], true
	}
	return 0, false
}

func (b *Baseline) update(t int, v float64) {
	for len(b.mean) <= t {
		b.mean = append(b.mean, 0)
		b.seen = append(b.seen, false)
	}
	d := b.Decay
	if d == 0 {
		d = 0.9
	}
	if b.seen[t] {
		b.mean[t] = d*b.mean[t] + (1-d)*v
	} else {
		b.mean[t], b.seen[t] = v, true
	}
}

// String returns "ELBO", "IWAE(N=n)", "FIVO(N=n)", "AESMC(N=n)" for the
// named objectives and "SMC(N=n, criterion)" otherwise.
func (o Objective) String() string {
	n := o.n()
	switch {
	case n == 1 && o.Criterion == estimators.Never:
		return "ELBO"
	case o.Criterion == estimators.Never:
		return fmt.Sprintf("IWAE(N=%d)", n)
	case o.Criterion == estimators.ESSBelow(0.5) || o.Criterion == estimators.Criterion{}:
		return fmt.Sprintf("FIVO(N=%d)", n)
	case o.Criterion == estimators.Always:
		return fmt.Sprintf("AESMC(N=%d)", n)
	}
	return fmt.Sprintf("SMC(N=%d, %v)", n, o.Criterion)
}

func (o Objective) n() int {
	if o.N == 0 {
		return DefaultN
	}
	return o.N
}

// Family returns the SMC family of package eimfamily with these settings
// on the model p, the proposal q and the observations ys ([T, dy], row t
// holding y_t): its Sample draws exact trajectories x_{0:T−1} from the
// variational distribution q_SMC(x | y), its Bound bounds their log
// density, and its Run gives log Ẑ. It panics if N < 0, if ys is not
// [T, dy] with T ≥ 1 and dy the model's, or if the proposal's dimensions
// (when it reports them) differ from the model's.
func (o Objective) Family(p Model, q Proposal, ys *ad.Tensor) *eimfamily.SMC {
	if o.N < 0 {
		panic(fmt.Sprintf("vsmc: N = %d, want N ≥ 1 (or 0 for DefaultN)", o.N))
	}
	return &eimfamily.SMC{
		Steps:      newSteps(p, q, ys),
		N:          o.n(),
		Criterion:  o.Criterion,
		Resampling: o.Resampling,
	}
}

// Run runs SMC once and returns the run with its record (see
// eimfamily.SMCRun); run.LogZ is log Ẑ with the published gradient.
func (o Objective) Run(rng *rand.Rand, p Model, q Proposal, ys *ad.Tensor) *eimfamily.SMCRun {
	return o.Family(p, q, ys).Run(rng)
}

// Bound returns one draw of log Ẑ, the integrand of the bound
//
//	E[log Ẑ] ≤ log p(y_{0:T−1}),
//
// as a scalar tensor whose value is log Ẑ and whose gradient is the
// estimator opts chooses: the reparameterization gradient through the
// proposal draws and the log densities with the ancestors held fixed, and
// with opts.ResamplingGradient also the score-function term of the
// ancestors (see the package documentation),
//
//	Σ_{t resampled} (log Ẑ − log Ẑ_{t−1}) · ∇ log P(a_t | W_{t−1}),
//
// attached so that it changes the gradient and not the value. Maximize
// it: a loss is its negation.
//
// It panics as Family does, and if opts.ResamplingGradient is set with a
// resampler whose ancestors are not independent draws from the weights.
func (o Objective) Bound(rng *rand.Rand, p Model, q Proposal, ys *ad.Tensor, opts Options) *ad.Tensor {
	if opts.ResamplingGradient && o.Criterion != estimators.Never && o.Resampling != nil {
		for _, r := range []estimators.Resampler{estimators.Stratified, estimators.Systematic, estimators.Residual} {
			if reflect.ValueOf(o.Resampling).Pointer() == reflect.ValueOf(r).Pointer() {
				panic("vsmc: Bound: ResamplingGradient needs ancestors drawn independently from the weights (estimators.Multinomial); stratified, systematic and residual resampling have another distribution")
			}
		}
	}
	run := o.Run(rng, p, q, ys)
	if !opts.ResamplingGradient {
		return run.LogZ
	}
	return ad.Add(run.LogZ, resamplingScore(run, opts.Baseline))
}

// resamplingScore returns a tensor of value 0 whose gradient is
//
//	Σ_{t resampled} c_t ∇ Σᵢ log W_{t−1}^{a_tⁱ},   c_t = log Ẑ − log Ẑ_{t−1} − b_t (constants),
//
// b_t from the Baseline if there is one (and set), else 0; the Baseline is
// then updated.
// built as S − stop(S) with S = Σ_t c_t Σᵢ log W_{t−1}^{a_tⁱ}. The
// normalized weights W_{t−1} are recomputed from the incremental weights
// since the last resampling (the reset to Ẑ is the same for every particle
// and cancels in the normalization), on the graph, so their gradient
// includes the reparameterized states' dependence on the parameters.
func resamplingScore(run *eimfamily.SMCRun, b *Baseline) *ad.Tensor {
	logZ := run.LogZ.Item()
	var s *ad.Tensor
	type event struct {
		t int
		v float64
	}
	var events []event
	defer func() {
		if b != nil {
			for _, e := range events {
				b.update(e.t, e.v)
			}
		}
	}()
	base := 0.0 // log Ẑ at the last resampling
	u := run.LogAlphas[0]
	for t := 1; t < len(run.LogAlphas); t++ {
		if !run.Resampled[t] {
			u = ad.Add(u, run.LogAlphas[t])
			continue
		}
		prev := base + ad.LogMeanExp(u.Detach(), 0).Item() // log Ẑ_{t−1}
		c := logZ - prev
		if math.IsNaN(c) || math.IsInf(c, 0) {
			events = nil
			return ad.Scalar(0) // log Ẑ is not finite: no gradient is meaningful
		}
		events = append(events, event{t, c})
		if b != nil {
			if v, ok := b.Value(t); ok {
				c -= v
			}
		}
		logP := ad.Sum(ad.IndexSelect(ad.LogSoftmax(u, 0), 0, run.Ancestry[t]))
		term := ad.MulScalar(logP, c)
		if s == nil {
			s = term
		} else {
			s = ad.Add(s, term)
		}
		base = prev
		u = run.LogAlphas[t]
	}
	if s == nil {
		return ad.Scalar(0)
	}
	return ad.Sub(s, s.Detach())
}

// steps adapts a Model, a Proposal and observations to eimfamily.SMCSteps:
//
//	q_t = q(x_t | x_{t−1}, y_t),   g₀ = μ(x₀) g(y₀ | x₀),   g_t = f(x_t | x_{t−1}) g(y_t | x_t).
type steps struct {
	p  Model
	q  Proposal
	ys []*ad.Tensor // y_t as [dy]
}

func newSteps(p Model, q Proposal, ys *ad.Tensor) *steps {
	if p == nil || q == nil {
		panic("vsmc: nil Model or Proposal")
	}
	dx, dy := p.Dims()
	if ys == nil || ys.Rank() != 2 || ys.Dim(0) < 1 || ys.Dim(1) != dy {
		panic(fmt.Sprintf("vsmc: observations of shape %v, want [T, %d] with T ≥ 1", shapeOf(ys), dy))
	}
	if d, ok := q.(interface{ Dims() (int, int) }); ok {
		if qx, qy := d.Dims(); qx != dx || qy != dy {
			panic(fmt.Sprintf("vsmc: proposal dimensions (%d, %d), model dimensions (%d, %d)", qx, qy, dx, dy))
		}
	}
	T := ys.Dim(0)
	s := &steps{p: p, q: q, ys: make([]*ad.Tensor, T)}
	for t := range T {
		s.ys[t] = ad.Reshape(ad.Slice(ys, 0, t, t+1), dy)
	}
	return s
}

func (s *steps) Len() int { return len(s.ys) }

func (s *steps) Propose(rng *rand.Rand, t int, prev *ad.Tensor, n int) *ad.Tensor {
	return s.q.Sample(rng, t, prev, s.ys[t], n)
}

func (s *steps) LogProposal(t int, prev, x *ad.Tensor) *ad.Tensor {
	return s.q.LogProb(t, prev, s.ys[t], x)
}

func (s *steps) LogTarget(t int, prev, x *ad.Tensor) *ad.Tensor {
	if t == 0 {
		return ad.Add(s.p.LogInitial(x), s.p.LogEmission(x, s.ys[0]))
	}
	return ad.Add(s.p.LogTransition(prev, x), s.p.LogEmission(x, s.ys[t]))
}
