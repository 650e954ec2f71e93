package vae

import (
	"fmt"

	"github.com/eimkit/eimkit/nn"
)

// Schedule is App. D.2's training schedule scaled to a run of Steps
// steps: the KL weight β rises linearly from 0 to 1 over the first
// AnnealFrac·Steps steps, and the learning rate drops from LR to DropLR
// at step DropFrac·Steps. The paper anneals over the first 10⁵ steps and
// drops 3·10⁻⁴ → 10⁻⁴ on step 10⁶; the authors' code runs 10⁷ steps
// (max_steps), so the defaults are the fractions 1/100 and 1/10.
type Schedule struct {
	// Steps is the run's budget.
	Steps int
	// AnnealFrac is the fraction of Steps over which β rises; 0 means
	// 0.01. A negative value means no annealing (β = 1 throughout).
	AnnealFrac float64
	// DropFrac is the fraction of Steps at which the learning rate drops;
	// 0 means 0.1. A value ≥ 1 means no drop.
	DropFrac float64
	// LR and DropLR are the learning rates before and after the drop; 0
	// means 3·10⁻⁴ and 10⁻⁴.
	LR, DropLR float64
}

func (s Schedule) withDefaults() Schedule {
	if s.Steps < 1 {
		panic(fmt.Sprintf("vae: Schedule: Steps = %d, want ≥ 1", s.Steps))
	}
	if s.AnnealFrac == 0 {
		s.AnnealFrac = 0.01
	}
	if s.DropFrac == 0 {
		s.DropFrac = 0.1
	}
	if s.LR == 0 {
		s.LR = 3e-4
	}
	if s.DropLR == 0 {
		s.DropLR = 1e-4
	}
	return s
}

// AnnealSteps returns the number of steps over which β rises (0 for no
// annealing).
func (s Schedule) AnnealSteps() int {
	s = s.withDefaults()
	if s.AnnealFrac < 0 {
		return 0
	}
	return max(1, int(s.AnnealFrac*float64(s.Steps)+0.5))
}

// DropStep returns the 1-based optimizer step from which the lower
// learning rate applies (Steps + 1 for no drop).
func (s Schedule) DropStep() int {
	s = s.withDefaults()
	if s.DropFrac >= 1 {
		return s.Steps + 1
	}
	return max(1, int(s.DropFrac*float64(s.Steps)+0.5))
}

// KLWeight returns β for the 0-based step (the number of steps taken):
// min(1, step/AnnealSteps), as the authors' clip(step/anneal_kl_step, 0, 1).
func (s Schedule) KLWeight(step int) float64 {
	a := s.AnnealSteps()
	if a == 0 {
		return 1
	}
	return min(1, max(0, float64(step)/float64(a)))
}

// LearningRate returns the learning rate of the 1-based optimizer step t.
func (s Schedule) LearningRate(t int) float64 {
	d := s.withDefaults()
	if t >= s.DropStep() {
		return d.DropLR
	}
	return d.LR
}

// Adam returns an Adam optimizer (β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸) whose
// learning rate follows LearningRate.
func (s Schedule) Adam() *nn.Adam {
	d := s.withDefaults()
	return &nn.Adam{LR: 1, Schedule: nn.PiecewiseConstant([]int{s.DropStep()}, []float64{d.LR, d.DropLR})}
}
