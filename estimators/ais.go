package estimators

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/eimkit/eimkit/ad"
)

// LogDensity is an unnormalized log density over a batch of points: it
// takes x [n, ...] and returns [n].
type LogDensity func(x *ad.Tensor) *ad.Tensor

// Kernel is a Markov transition kernel that leaves the distribution with
// log density logp invariant. Step moves a batch of n independent chains,
// x [n, ...], one transition each, and returns the new states (constants,
// of x's shape) with diagnostics.
type Kernel interface {
	Step(rng *rand.Rand, logp LogDensity, x *ad.Tensor) (*ad.Tensor, KernelInfo)
}

// KernelInfo is the diagnostics of one transition of a batch of chains.
type KernelInfo struct {
	// AcceptRate is the fraction of the chains whose proposal was accepted.
	AcceptRate float64
}

// Proposer proposes Metropolis–Hastings moves for a batch of chains.
// Propose returns x′ of x's shape [n, ...] and, for each chain, the
// Hastings correction log q(x | x′) − log q(x′ | x), [n]; a nil correction
// means a symmetric proposal (all zeros).
type Proposer interface {
	Propose(rng *rand.Rand, x *ad.Tensor) (xNew *ad.Tensor, logRatio []float64)
}

// RandomWalk is the Gaussian random-walk proposal x′ = x + Scale·ε,
// ε ~ N(0, I), which is symmetric. If Scale is 0 it is defaulted to 1.
type RandomWalk struct {
	Scale float64
}

var _ Proposer = RandomWalk{}

// Propose returns x + Scale·ε with ε drawn by ad.Randn (one
// rng.NormFloat64 per entry, row-major) and a nil (symmetric) correction.
func (r RandomWalk) Propose(rng *rand.Rand, x *ad.Tensor) (*ad.Tensor, []float64) {
	s := r.Scale
	if s == 0 {
		s = 1
	}
	return ad.Add(x.Detach(), ad.MulScalar(ad.Randn(rng, x.Shape()...), s)), nil
}

// MH is the Metropolis–Hastings kernel: for each chain, propose x′ and
// accept it with probability
//
//	α = min(1, exp( log p(x′) − log p(x) + log q(x | x′) − log q(x′ | x) )),
//
// otherwise stay at x. It leaves p invariant. If Proposal is nil it is
// defaulted to RandomWalk{Scale: 1}.
//
// Randomness: Step first calls Proposal.Propose(rng, x), then draws one
// rng.Float64 u per chain, in row order, and accepts where log u < log α.
// A NaN ratio (both densities zero) rejects.
type MH struct {
	Proposal Proposer
}

var _ Kernel = MH{}

// Step makes one Metropolis–Hastings transition of every chain. It panics
// if x is a scalar or the proposal or logp return the wrong shapes.
func (k MH) Step(rng *rand.Rand, logp LogDensity, x *ad.Tensor) (*ad.Tensor, KernelInfo) {
	n := chains("MH.Step", x)
	prop := k.Proposal
	if prop == nil {
		prop = RandomWalk{Scale: 1}
	}
	x = x.Detach()
	xp, lr := prop.Propose(rng, x)
	xp = xp.Detach()
	if !slices.Equal(xp.Shape(), x.Shape()) || (lr != nil && len(lr) != n) {
		panic(fmt.Sprintf("estimators: MH.Step: proposal of shape %v with %d corrections for x of shape %v", xp.Shape(), len(lr), x.Shape()))
	}
	lp0 := evalLogDensity("MH.Step", logp, x, n)
	lp1 := evalLogDensity("MH.Step", logp, xp, n)
	logA := make([]float64, n)
	for i := range n {
		logA[i] = lp1[i] - lp0[i]
		if lr != nil {
			logA[i] += lr[i]
		}
	}
	return acceptRows(rng, x, xp, logA)
}

// HMC is the Hamiltonian Monte Carlo kernel (Duane et al. 1987; Neal 2011,
// "MCMC using Hamiltonian dynamics"): draw a momentum ρ ~ N(0, I), run
// Leapfrog steps of size StepSize on H(x, ρ) = −log p(x) + ½|ρ|²,
//
//	ρ ← ρ + (ε/2) ∇ log p(x);   x ← x + ε ρ;   ρ ← ρ + (ε/2) ∇ log p(x)
//
// and accept the end point with probability min(1, exp(H(x, ρ) − H(x′, ρ′))).
// The gradients come from package ad (log p must be built from ad
// operations). If StepSize is 0 it is defaulted to 0.1; if Leapfrog is 0 it
// is defaulted to 10.
//
// Randomness: Step draws the momenta with ad.Randn (x's shape, row-major),
// then one rng.Float64 per chain for the acceptance, as MH does.
type HMC struct {
	StepSize float64
	Leapfrog int
}

var _ Kernel = HMC{}

// Step makes one HMC transition of every chain. It panics if x is a
// scalar or logp does not return [n].
func (k HMC) Step(rng *rand.Rand, logp LogDensity, x *ad.Tensor) (*ad.Tensor, KernelInfo) {
	n := chains("HMC.Step", x)
	eps, L := k.StepSize, k.Leapfrog
	if eps == 0 {
		eps = 0.1
	}
	if L == 0 {
		L = 10
	}
	if L < 0 || !(eps > 0) {
		panic(fmt.Sprintf("estimators: HMC.Step: StepSize %v, Leapfrog %d", eps, L))
	}
	x = x.Detach()
	grad := func(x *ad.Tensor) (lp []float64, g *ad.Tensor) {
		xr := x.Clone().RequireGrad()
		y := logp(xr)
		if !isVector(y, n) {
			panic(fmt.Sprintf("estimators: HMC.Step: log density of shape %v for x of shape %v, want [%d]", y.Shape(), x.Shape(), n))
		}
		return y.Detach().Data(), ad.Grad(ad.Sum(y), xr)[0]
	}
	rho0 := ad.Randn(rng, x.Shape()...)
	lp0, g := grad(x)
	xt, rho, lp1 := x, rho0, lp0
	for range L {
		rho = ad.Add(rho, ad.MulScalar(g, eps/2))
		xt = ad.Add(xt, ad.MulScalar(rho, eps))
		lp1, g = grad(xt)
		rho = ad.Add(rho, ad.MulScalar(g, eps/2))
	}
	k0, k1 := rowHalfSq(rho0, n), rowHalfSq(rho, n)
	logA := make([]float64, n)
	for i := range n {
		// log α = −H(x′, ρ′) + H(x, ρ)
		logA[i] = (lp1[i] - k1[i]) - (lp0[i] - k0[i])
	}
	return acceptRows(rng, x, xt, logA)
}

// rowHalfSq returns ½ Σ ρ² over each of the n rows of rho.
func rowHalfSq(rho *ad.Tensor, n int) []float64 {
	d := rho.Len() / n
	rd := rho.Data()
	out := make([]float64, n)
	for i := range n {
		s := 0.0
		for _, v := range rd[i*d : (i+1)*d] {
			s += v * v
		}
		out[i] = s / 2
	}
	return out
}

// acceptRows draws one rng.Float64 per chain and returns, row by row,
// xp where log u < logA and x elsewhere.
func acceptRows(rng *rand.Rand, x, xp *ad.Tensor, logA []float64) (*ad.Tensor, KernelInfo) {
	n := len(logA)
	d := x.Len() / n
	out := make([]float64, x.Len())
	xd, pd := x.Data(), xp.Data()
	acc := 0
	for i := range n {
		src := xd
		if math.Log(rng.Float64()) < logA[i] {
			src = pd
			acc++
		}
		copy(out[i*d:(i+1)*d], src[i*d:(i+1)*d])
	}
	return ad.New(out, x.Shape()...), KernelInfo{AcceptRate: float64(acc) / float64(n)}
}

// chains returns the number of chains n of a batch x [n, ...].
func chains(who string, x *ad.Tensor) int {
	if x.Rank() < 1 || x.Dim(0) < 1 {
		panic(fmt.Sprintf("estimators: %s: x of shape %v, want [n, ...] with n ≥ 1", who, x.Shape()))
	}
	return x.Dim(0)
}

// evalLogDensity returns logp(x) as plain numbers, checking its shape [n].
func evalLogDensity(who string, logp LogDensity, x *ad.Tensor, n int) []float64 {
	y := logp(x)
	if !isVector(y, n) {
		panic(fmt.Sprintf("estimators: %s: log density of shape %v for x of shape %v, want [%d]", who, y.Shape(), x.Shape(), n))
	}
	return y.Detach().Data()
}

// AIS is annealed importance sampling (Neal 2001, "Annealed importance
// sampling") on the geometric path from a normalized initial distribution
// π₀ to an unnormalized target γ with normalizing constant Z:
//
//	π_β(x) ∝ π₀(x)^{1−β} γ(x)^β,   0 = β₀ < β₁ < … < β_T = 1,
//
//	x₀ ~ π₀
//	w  = Σ_{t=1}^{T} (β_t − β_{t−1}) (log γ(x_{t−1}) − log π₀(x_{t−1}))
//	x_t ~ K_t(x_{t−1}, ·)  for t = 1, …, T − 1,  K_t leaving π_{β_t} invariant
//
// so that exp(w) is an unbiased estimate of Z and (x_{T−1}, w) is a
// properly weighted sample of γ/Z. T = 1 is importance sampling from π₀.
// γ must vanish wherever π₀ does.
//
// The zero value is usable: a linear schedule with 100 steps and one
// random-walk Metropolis–Hastings transition of scale 1 per temperature.
// With the HMC kernel, both log densities must be differentiable in x
// (built from ad operations, as those of package dist are).
type AIS struct {
	// Betas is the schedule β₀ = 0 < β₁ < … < β_T = 1. If nil, it is
	// linear, β_t = t/T, with T = Steps.
	Betas []float64
	// Steps is T for the linear schedule; if 0 it is defaulted to 100.
	// It is ignored when Betas is set.
	Steps int
	// Kernel is the transition; if nil it is defaulted to MH{} (a Gaussian
	// random walk of scale 1).
	Kernel Kernel
	// KernelSteps is the number of transitions per intermediate
	// temperature; if 0 it is defaulted to 1.
	KernelSteps int
}

// AISResult is the outcome of AIS.Run: the estimate of Z from the n
// chains' weights, the final states, and the mean acceptance rate of the
// transitions.
type AISResult struct {
	Estimate
	// X holds the final states x_{T−1} [n, ...]; with the weights it is
	// a properly weighted sample of the normalized target.
	X *ad.Tensor
	// AcceptRate is the acceptance rate averaged over all transitions
	// (NaN when T = 1, which makes none).
	AcceptRate float64
}

// schedule returns the β schedule, checked.
func (a AIS) schedule() []float64 {
	if a.Betas != nil {
		b := a.Betas
		if len(b) < 2 || b[0] != 0 || b[len(b)-1] != 1 {
			panic(fmt.Sprintf("estimators: AIS: Betas %v must run from 0 to 1 with at least two entries", b))
		}
		for t := 1; t < len(b); t++ {
			if !(b[t] > b[t-1]) {
				panic(fmt.Sprintf("estimators: AIS: Betas not increasing at %d: %v ≤ %v", t, b[t], b[t-1]))
			}
		}
		return b
	}
	T := a.Steps
	if T == 0 {
		T = 100
	}
	if T < 1 {
		panic(fmt.Sprintf("estimators: AIS: Steps = %d, want T ≥ 1", T))
	}
	b := make([]float64, T+1)
	for t := range b {
		b[t] = float64(t) / float64(T)
	}
	return b
}

// Run runs n independent AIS chains from init (π₀, normalized) to target
// (log γ, unnormalized) and returns the estimate of log Z. init draws all
// n starting points with one call init.Sample(rng, n); the kernel then
// draws as documented on it. The same rng state gives bitwise the same
// result. Nothing is differentiated: the states and weights are constants.
//
// It panics if n < 1, the schedule is invalid, or the densities do not
// return [n].
func (a AIS) Run(rng *rand.Rand, target LogProber, init SampleLogProber, n int) AISResult {
	if n < 1 {
		panic(fmt.Sprintf("estimators: AIS.Run: n = %d, want n ≥ 1", n))
	}
	betas := a.schedule()
	kernel := a.Kernel
	if kernel == nil {
		kernel = MH{}
	}
	reps := a.KernelSteps
	if reps == 0 {
		reps = 1
	}
	if reps < 0 {
		panic(fmt.Sprintf("estimators: AIS.Run: KernelSteps = %d", reps))
	}
	x := init.Sample(rng, n).Detach()
	if x.Rank() < 1 || x.Dim(0) != n {
		panic(fmt.Sprintf("estimators: AIS.Run: init draws of shape %v, want [%d, ...]", x.Shape(), n))
	}
	logw := make([]float64, n)
	acc, moves := 0.0, 0
	T := len(betas) - 1
	for t := 1; t <= T; t++ {
		lg := evalLogDensity("AIS.Run", target.LogProb, x, n)
		l0 := evalLogDensity("AIS.Run", init.LogProb, x, n)
		db := betas[t] - betas[t-1]
		for i := range n {
			if math.IsInf(logw[i], -1) {
				continue // a dead chain stays dead (and never becomes NaN)
			}
			if math.IsInf(lg[i], -1) {
				logw[i] = math.Inf(-1)
				continue
			}
			logw[i] += db * (lg[i] - l0[i])
		}
		if t == T {
			break
		}
		beta := betas[t]
		logp := func(x *ad.Tensor) *ad.Tensor {
			return ad.Add(ad.MulScalar(init.LogProb(x), 1-beta), ad.MulScalar(target.LogProb(x), beta))
		}
		for range reps {
			var info KernelInfo
			x, info = kernel.Step(rng, logp, x)
			acc += info.AcceptRate
			moves++
		}
	}
	res := AISResult{Estimate: EstimateFromLogWeights(logw), X: x, AcceptRate: math.NaN()}
	if moves > 0 {
		res.AcceptRate = acc / float64(moves)
	}
	return res
}
