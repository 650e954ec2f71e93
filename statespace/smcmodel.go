package statespace

import (
	"fmt"
	"math/rand/v2"
)

// Particles is a set of n particles of a state-space model, row-major
// [n, dx] in X (particle i is X[i·dx : (i+1)·dx]), with a spare buffer of
// the same size that steps and resampling write into before swapping, so
// that a particle filter allocates nothing per step. X changes at every
// Step and Resample; copy it to keep it.
type Particles struct {
	X           []float64
	spare, logw []float64
}

// SMCModel runs a Proposal (Bootstrap, LocallyOptimal, or any other) as an
// estimators.SMCModel[*Particles, []float64], the fast path of
// estimators.RunSMC:
//
//	res := estimators.RunSMC(rng, estimators.SMC{N: 1000}, m.SMCModel(m.Bootstrap(ys)), T)
//
// gives log Ẑ, an estimate of the Kalman filter's log p(y_{0:T−1})
// (unbiased in Ẑ). It satisfies the interface by its methods: this package
// does not import estimators, so that estimators' tests can use it.
type SMCModel struct {
	Proposal Proposal
	dx       int
}

// SMCModel returns the adapter for a proposal of this model. It panics if
// q is nil.
func (m *LinearGaussian) SMCModel(q Proposal) SMCModel {
	if q == nil {
		panic("statespace: LinearGaussian.SMCModel: nil proposal")
	}
	return SMCModel{Proposal: q, dx: m.dx}
}

// Init draws n particles from q₀ and returns them with their log α₀.
func (s SMCModel) Init(rng *rand.Rand, n int) (*Particles, []float64) {
	s.check("Init")
	if n < 1 {
		panic(fmt.Sprintf("statespace: SMCModel.Init: n = %d, want n ≥ 1", n))
	}
	p := &Particles{X: make([]float64, n*s.dx), spare: make([]float64, n*s.dx), logw: make([]float64, n)}
	s.Proposal.Init(rng, p.X, p.logw)
	return p, p.logw
}

// Step moves every particle by q_t and returns them with their log α_t.
// The returned weights share memory with p (they are overwritten by the
// next Step).
func (s SMCModel) Step(rng *rand.Rand, t int, p *Particles) (*Particles, []float64) {
	s.check("Step")
	s.Proposal.Step(rng, t, p.X, p.spare, p.logw)
	p.X, p.spare = p.spare, p.X
	return p, p.logw
}

// Resample makes particle i a copy of particle ancestors[i].
func (s SMCModel) Resample(p *Particles, ancestors []int) *Particles {
	s.check("Resample")
	dx := s.dx
	if len(ancestors)*dx != len(p.X) {
		panic(fmt.Sprintf("statespace: SMCModel.Resample: %d ancestors for %d particles", len(ancestors), len(p.X)/dx))
	}
	for i, a := range ancestors {
		copy(p.spare[i*dx:(i+1)*dx], p.X[a*dx:(a+1)*dx])
	}
	p.X, p.spare = p.spare, p.X
	return p
}

func (s SMCModel) check(who string) {
	if s.Proposal == nil || s.dx < 1 {
		panic(fmt.Sprintf("statespace: SMCModel.%s: the zero SMCModel; build one with LinearGaussian.SMCModel", who))
	}
}
